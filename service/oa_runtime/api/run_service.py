"""RunService: converts requests to core types, calls the use cases (`app/`) or the read
queries here (GetRun, ListRuns, GetThreadState), and converts the answers. StreamRunSse lives
in `sse.py`; ListToolTasks, GetToolTask, DecideApproval and AnswerQuestion in `tool_tasks.py`.
Errors are DomainErrors, mapped to statuses by the edge interceptor."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator

import grpc.aio
from openagents.runtime.v1 import run_service_pb2, run_service_pb2_grpc

from .. import app
from ..app import Runtime
from ..auth.interceptor import nonce_to_spend
from ..core.agents.turns import agent_of_run
from ..core.errors import InvalidArgument, ThreadNotFound
from ..core.records import RunRecord
from ..core.run_state import RunStatus
from ..core.validation import require_id, sha256_hex, validate_cursor
from ..engine.streams import stream_batches
from ..engine.thread_history import thread_conversation
from . import convert, tool_tasks
from .sse import stream_sse

__all__ = ["RunService", "Runtime"]

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class RunService(run_service_pb2_grpc.RunServiceServicer):  # type: ignore[misc]
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def StartRun(
        self, request: run_service_pb2.StartRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.StartRunResponse:
        if agent_of_run(request.run_id) is not None:
            # Reserved: the timer and delegate tools act for the agent a turn's run id names, so
            # a run started under such an id could act for (or block the turns of) that agent.
            raise InvalidArgument("run_id", "run ids '<agent id>:turn:<n>' are reserved for agents' turns")
        result = await app.start_run(
            self.rt,
            convert.start_request_from_proto(request),
            convert.thread_policy_from_proto(request.thread_input_policy),
            convert.overload_policy_from_proto(request.overload_policy),
            nonce=nonce_to_spend(),  # spent by create_run's transaction: one store trip less
        )
        return run_service_pb2.StartRunResponse(
            run_id=result.record.run_id,
            status="accepted",
            run=convert.run_to_proto(result.record),
            created=result.created,
        )

    async def GetRun(
        self, request: run_service_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetRunResponse:
        record = await app.get_run(self.rt, request.run_id)
        run = convert.run_to_proto(record)
        if record.status is RunStatus.QUEUED:  # where it stands: one more read, queued runs only
            run.queue_position, run.waiting_for_run_id = await self.rt.store.queue_place(record.run_id)
        return run_service_pb2.GetRunResponse(run=run)

    async def ListRuns(
        self, request: run_service_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.ListRunsResponse:
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        size = request.page_size or DEFAULT_PAGE_SIZE
        thread_id = require_id("thread_id", request.thread_id) if request.thread_id else None
        status = convert.status_from_proto(request.state) if request.state else None
        if request.state and status is None:
            raise InvalidArgument("state", "is not a known run state")
        filters: dict[str, object] = {"thread_id": thread_id, "state": request.state}
        before = _decode_page_token(request.page_token, filters) if request.page_token else None
        records = await self.rt.store.list_runs(
            thread_id=thread_id, status=status, limit=size + 1, before=before
        )
        page, more = records[:size], len(records) > size
        token = _encode_page_token(page[-1], filters) if more else ""
        return run_service_pb2.ListRunsResponse(
            runs=[convert.run_to_proto(r) for r in page], next_page_token=token
        )

    async def CancelRun(
        self, request: run_service_pb2.CancelRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.CancelRunResponse:
        outcome = await app.cancel_run(self.rt, request.run_id, request.reason)
        return run_service_pb2.CancelRunResponse(
            run=convert.run_to_proto(outcome.record) if outcome.record else None,
            cancel_recorded=outcome.recorded,
        )

    async def StreamRunEvents(
        self, request: run_service_pb2.StreamRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[run_service_pb2.StreamRunEventsResponse]:
        run_id = require_id("run_id", request.run_id)
        after = validate_cursor("after_seq", request.after_seq)
        with self.rt.admission.stream_slot():  # RESOURCE_EXHAUSTED past the replica's limit
            async for batch in stream_batches(self.rt.store, self.rt.broker, run_id, after):
                if batch is None:
                    continue
                if request.batched:
                    # A backlog page per message: one message's cost spread over many events.
                    yield run_service_pb2.StreamRunEventsResponse(events=convert.events_to_proto(batch))
                else:
                    for event in batch:
                        yield run_service_pb2.StreamRunEventsResponse(event=convert.event_to_proto(event))

    async def StreamRunSse(
        self, request: run_service_pb2.StreamRunSseRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[run_service_pb2.StreamRunSseResponse]:
        with self.rt.admission.stream_slot():  # HTTP 429 past the replica's limit
            async for message in stream_sse(
                self.rt.store, self.rt.broker, self.rt.sse_heartbeat_s, request, context
            ):
                yield message

    async def AppendRunEvents(
        self, request: run_service_pb2.AppendRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.AppendRunEventsResponse:
        expected = request.expected_previous_seq if request.HasField("expected_previous_seq") else None
        result = await app.append_events(
            self.rt,
            request.run_id,
            convert.appended_events_from_proto(request),
            request.idempotency_key,
            expected,
        )
        return run_service_pb2.AppendRunEventsResponse(seqs=list(result.seqs), replayed=result.replayed)

    async def GetThreadState(
        self, request: run_service_pb2.GetThreadStateRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetThreadStateResponse:
        thread_id = require_id("thread_id", request.thread_id)
        runs, conversation = await thread_conversation(self.rt.store, thread_id)
        if not runs:
            raise ThreadNotFound(thread_id)
        response = run_service_pb2.GetThreadStateResponse(thread_id=thread_id)
        for record, messages in conversation:
            for m in messages:
                response.messages.append(convert.message_to_proto(m.role, m.content, m.id))
            response.runs.append(convert.run_to_proto(record))
        active = [r.run_id for r in runs if not r.status.is_terminal]
        response.active_run_id = active[-1] if active else ""
        return response

    async def ListToolTasks(
        self, request: run_service_pb2.ListToolTasksRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.ListToolTasksResponse:
        return await tool_tasks.list_tool_tasks(self.rt, request)

    async def GetToolTask(
        self, request: run_service_pb2.GetToolTaskRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetToolTaskResponse:
        return await tool_tasks.get_tool_task(self.rt, request)

    async def DecideApproval(
        self, request: run_service_pb2.DecideApprovalRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.DecideApprovalResponse:
        return await tool_tasks.decide_approval(self.rt, request)

    async def AnswerQuestion(
        self, request: run_service_pb2.AnswerQuestionRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.AnswerQuestionResponse:
        return await tool_tasks.answer_question(self.rt, request)


def _encode_page_token(last: RunRecord, filters: dict[str, object]) -> str:
    doc = {"c": last.created_at.isoformat(), "r": last.run_id, "f": sha256_hex(filters)[:16]}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def _decode_page_token(token: str, filters: dict[str, object]) -> tuple[str, str]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, run_id, fp = doc["c"], doc["r"], doc["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidArgument("page_token", "is not a token this service issued") from exc
    if fp != sha256_hex(filters)[:16]:
        raise InvalidArgument("page_token", "was issued for different filters")
    return str(created), str(run_id)
