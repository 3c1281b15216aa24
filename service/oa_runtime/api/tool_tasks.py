"""ListToolTasks and GetToolTask (queries over the receipts fold), and the conversion of
DecideApproval and AnswerQuestion to their use cases in `app/waits.py`. RunService
delegates here."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from openagents.runtime.v1 import run_service_pb2

from .. import app
from ..core.errors import InvalidArgument, ToolTaskNotFound
from ..core.tool_tasks import ReceiptFolder, sha256_text
from . import convert

if TYPE_CHECKING:
    from ..app import Runtime

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_TOOL_CALL_ID_CHARS = 256


async def list_tool_tasks(
    rt: Runtime, request: run_service_pb2.ListToolTasksRequest
) -> run_service_pb2.ListToolTasksResponse:
    if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    size = request.page_size or DEFAULT_PAGE_SIZE
    record = await app.get_run(rt, request.run_id)
    after = _decode_page_token(request.page_token, record.run_id) if request.page_token else 0
    folder = await app.catch_up(rt.store, ReceiptFolder(record.run_id))
    receipts = [r for r in folder.ordered() if r.request_seq > after]
    page, more = receipts[:size], len(receipts) > size
    return run_service_pb2.ListToolTasksResponse(
        tool_tasks=[convert.tool_task_to_proto(r) for r in page],
        next_page_token=_encode_page_token(page[-1].request_seq, record.run_id) if more else "",
    )


async def get_tool_task(
    rt: Runtime, request: run_service_pb2.GetToolTaskRequest
) -> run_service_pb2.GetToolTaskResponse:
    call_id = _require_call_id(request.tool_call_id)
    record = await app.get_run(rt, request.run_id)
    folder = await app.catch_up(rt.store, ReceiptFolder(record.run_id))
    receipt = folder.receipts.get(call_id)
    if receipt is None:
        raise ToolTaskNotFound(record.run_id, call_id)
    return run_service_pb2.GetToolTaskResponse(tool_task=convert.tool_task_to_proto(receipt))


async def decide_approval(
    rt: Runtime, request: run_service_pb2.DecideApprovalRequest
) -> run_service_pb2.DecideApprovalResponse:
    if not request.HasField("approved"):
        raise InvalidArgument("approved", "is required (true or false)")
    outcome = await app.decide_approval(
        rt, request.run_id, request.approval_id, request.approved, request.reason
    )
    return run_service_pb2.DecideApprovalResponse(
        run=convert.run_to_proto(outcome.record) if outcome.record else None,
        tool_task=convert.tool_task_to_proto(outcome.receipt),
        recorded=outcome.recorded,
    )


async def answer_question(
    rt: Runtime, request: run_service_pb2.AnswerQuestionRequest
) -> run_service_pb2.AnswerQuestionResponse:
    outcome = await app.answer_question(rt, request.run_id, request.question_id, request.answer)
    return run_service_pb2.AnswerQuestionResponse(
        run=convert.run_to_proto(outcome.record) if outcome.record else None,
        tool_task=convert.tool_task_to_proto(outcome.receipt),
        recorded=outcome.recorded,
    )


def _require_call_id(value: str) -> str:
    # Call ids come from models (any text), so only their size and presence are checked.
    if not value:
        raise InvalidArgument("tool_call_id", "is required")
    if len(value) > MAX_TOOL_CALL_ID_CHARS:
        raise InvalidArgument("tool_call_id", f"must be at most {MAX_TOOL_CALL_ID_CHARS} characters")
    return value


def _encode_page_token(request_seq: int, run_id: str) -> str:
    doc = {"s": request_seq, "r": sha256_text(run_id)[:16]}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def _decode_page_token(token: str, run_id: str) -> int:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        seq, run = int(doc["s"]), doc["r"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidArgument("page_token", "is not a token this service issued") from exc
    if run != sha256_text(run_id)[:16] or seq < 0:
        raise InvalidArgument("page_token", "was issued for another run")
    return seq
