"""ListToolTasks, GetToolTask, DecideApproval and AnswerQuestion (RunService delegates here).

Tool tasks and their receipts are a fold of the run's events (core/tool_tasks.py);
nothing else is stored. A decision or an answer is an event appended with the seq the
fold ended at, so two racing decisions (or a decision racing the run's own timeout)
cannot both land: the loser re-folds and sees the winner. Once recorded, the run is
started on this replica (a no-op if it runs here already).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from openagents.runtime.v1 import run_service_pb2

from ..core import events as ev
from ..core.errors import (
    AlreadyDecided,
    ApprovalNotFound,
    InvalidArgument,
    QuestionNotFound,
    RunFinished,
    RunNotFound,
    SeqConflict,
    ToolTaskNotFound,
)
from ..core.records import RunRecord
from ..core.tool_tasks import Receipt, ReceiptFolder, sha256_text
from ..core.validation import require_id
from ..ports import AppendRequest, EventStore
from . import convert

if TYPE_CHECKING:
    from .run_service import Runtime

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_REASON_CHARS = 1000
MAX_ANSWER_BYTES = 64 * 1024
MAX_TOOL_CALL_ID_CHARS = 256
_READ_PAGE = 1000
_APPEND_TRIES = 20  # optimistic retries against concurrent appends (tokens of other steps)


async def _record(rt: Runtime, run_id: str) -> RunRecord:
    record = await rt.store.get_run(require_id("run_id", run_id))
    if record is None:
        raise RunNotFound(run_id)
    return record


async def catch_up(store: EventStore, folder: ReceiptFolder) -> ReceiptFolder:
    """Feeds `folder` every event of its run after the ones it has seen."""
    while True:
        page = await store.read_events(folder.run_id, folder.last_seq, _READ_PAGE)
        folder.feed_all(page)
        if len(page) < _READ_PAGE:
            return folder


async def list_tool_tasks(
    rt: Runtime, request: run_service_pb2.ListToolTasksRequest
) -> run_service_pb2.ListToolTasksResponse:
    if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    size = request.page_size or DEFAULT_PAGE_SIZE
    record = await _record(rt, request.run_id)
    after = _decode_page_token(request.page_token, record.run_id) if request.page_token else 0
    receipts = [
        r for r in (await catch_up(rt.store, ReceiptFolder(record.run_id))).ordered() if r.request_seq > after
    ]
    page, more = receipts[:size], len(receipts) > size
    return run_service_pb2.ListToolTasksResponse(
        tool_tasks=[convert.tool_task_to_proto(r) for r in page],
        next_page_token=_encode_page_token(page[-1].request_seq, record.run_id) if more else "",
    )


async def get_tool_task(
    rt: Runtime, request: run_service_pb2.GetToolTaskRequest
) -> run_service_pb2.GetToolTaskResponse:
    call_id = _require_call_id(request.tool_call_id)
    record = await _record(rt, request.run_id)
    folder = await catch_up(rt.store, ReceiptFolder(record.run_id))
    receipt = folder.receipts.get(call_id)
    if receipt is None:
        raise ToolTaskNotFound(record.run_id, call_id)
    return run_service_pb2.GetToolTaskResponse(tool_task=convert.tool_task_to_proto(receipt))


async def decide_approval(
    rt: Runtime, request: run_service_pb2.DecideApprovalRequest
) -> run_service_pb2.DecideApprovalResponse:
    approval_id = require_id("approval_id", request.approval_id)
    if not request.HasField("approved"):
        raise InvalidArgument("approved", "is required (true or false)")
    if len(request.reason) > MAX_REASON_CHARS:
        raise InvalidArgument("reason", f"must be at most {MAX_REASON_CHARS} characters")
    record = await _record(rt, request.run_id)
    wanted = "approved" if request.approved else "denied"
    folder = ReceiptFolder(record.run_id)
    for _ in range(_APPEND_TRIES):
        await catch_up(rt.store, folder)
        call_id = folder.approvals.get(approval_id)
        if call_id is None:
            raise ApprovalNotFound(record.run_id, approval_id)
        receipt = folder.receipts[call_id]
        if receipt.approval == wanted:  # the same decision again: nothing new to record
            return await _decision_response(rt, record.run_id, receipt, recorded=False)
        if receipt.approval != "requested":
            raise AlreadyDecided("approval", approval_id, receipt.approval)
        _check_open(folder, receipt, record)
        event = ev.approval_decided(approval_id, call_id, approved=request.approved, reason=request.reason)
        if await _append_at(rt, folder, event):
            return await _decision_response(rt, record.run_id, receipt, recorded=True)
    raise SeqConflict(record.run_id, folder.last_seq, folder.last_seq)


async def answer_question(
    rt: Runtime, request: run_service_pb2.AnswerQuestionRequest
) -> run_service_pb2.AnswerQuestionResponse:
    question_id = require_id("question_id", request.question_id)
    if not request.answer:
        raise InvalidArgument("answer", "is required")
    if len(request.answer.encode("utf-8")) > MAX_ANSWER_BYTES:
        raise InvalidArgument("answer", f"must be at most {MAX_ANSWER_BYTES} bytes")
    record = await _record(rt, request.run_id)
    folder = ReceiptFolder(record.run_id)
    for _ in range(_APPEND_TRIES):
        await catch_up(rt.store, folder)
        call_id = folder.questions.get(question_id)
        if call_id is None:
            raise QuestionNotFound(record.run_id, question_id)
        receipt = folder.receipts[call_id]
        if receipt.answer:
            if receipt.answer == request.answer:
                return await _answer_response(rt, record.run_id, receipt, recorded=False)
            raise AlreadyDecided("question", question_id, "answered")
        if receipt.state.is_terminal:
            raise AlreadyDecided("question", question_id, receipt.state.value)
        _check_open(folder, receipt, record)
        if await _append_at(rt, folder, ev.question_answered(question_id, call_id, request.answer)):
            return await _answer_response(rt, record.run_id, receipt, recorded=True)
    raise SeqConflict(record.run_id, folder.last_seq, folder.last_seq)


def _check_open(folder: ReceiptFolder, receipt: Receipt, record: RunRecord) -> None:
    if folder.finished:
        raise RunFinished(record.run_id, "finished")
    if receipt.state.is_terminal:
        raise AlreadyDecided("tool call", receipt.tool_call_id, receipt.state.value)


async def _append_at(rt: Runtime, folder: ReceiptFolder, event: ev.NewEvent) -> bool:
    """Appends `event` right after what `folder` has seen; False when others wrote first."""
    try:
        await rt.writer.append(AppendRequest(folder.run_id, [event], expected_previous_seq=folder.last_seq))
    except SeqConflict:
        return False
    # The run continues here; the executor ignores a run it is already executing.
    rt.executor.start(folder.run_id)
    return True


async def _after(rt: Runtime, run_id: str, receipt: Receipt) -> tuple[RunRecord | None, Receipt]:
    folder = await catch_up(rt.store, ReceiptFolder(run_id))
    return await rt.store.get_run(run_id), folder.receipts.get(receipt.tool_call_id, receipt)


async def _decision_response(
    rt: Runtime, run_id: str, receipt: Receipt, *, recorded: bool
) -> run_service_pb2.DecideApprovalResponse:
    record, current = await _after(rt, run_id, receipt)
    return run_service_pb2.DecideApprovalResponse(
        run=convert.run_to_proto(record) if record else None,
        tool_task=convert.tool_task_to_proto(current),
        recorded=recorded,
    )


async def _answer_response(
    rt: Runtime, run_id: str, receipt: Receipt, *, recorded: bool
) -> run_service_pb2.AnswerQuestionResponse:
    record, current = await _after(rt, run_id, receipt)
    return run_service_pb2.AnswerQuestionResponse(
        run=convert.run_to_proto(record) if record else None,
        tool_task=convert.tool_task_to_proto(current),
        recorded=recorded,
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
