"""RunService: StartRun, GetRun, ListRuns, CancelRun, StreamRunEvents,
AppendRunEvents, GetThreadState. StreamRunSse lives in `sse.py`; ListToolTasks,
GetToolTask, DecideApproval and AnswerQuestion in `tool_tasks.py`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc.aio
from openagents.runtime.v1 import run_service_pb2, run_service_pb2_grpc

from ..core import events as ev
from ..core.errors import InvalidArgument, RunNotFound, ThreadNotFound
from ..core.records import RunRecord
from ..core.validation import (
    fingerprint,
    require_id,
    sha256_hex,
    validate_append,
    validate_cursor,
    validate_start,
)
from ..engine.broker import Broker
from ..engine.executor import RunExecutor
from ..engine.streams import stream_batches
from ..engine.thread_history import run_messages
from ..engine.writer import EventWriter
from ..models.registry import ModelRegistry
from ..ports import AppendRequest, EventStore
from . import convert, tool_tasks
from .errors import streaming, unary
from .sse import stream_sse

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


@dataclass
class Runtime:
    """What the servicers share; built and owned by the server's lifecycle."""

    store: EventStore
    broker: Broker
    writer: EventWriter
    executor: RunExecutor
    models: ModelRegistry
    sse_heartbeat_s: float = 15.0


class RunService(run_service_pb2_grpc.RunServiceServicer):  # type: ignore[misc]
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def _run(self, run_id: str) -> RunRecord:
        record = await self.rt.store.get_run(require_id("run_id", run_id))
        if record is None:
            raise RunNotFound(run_id)
        return record

    @unary
    async def StartRun(
        self, request: run_service_pb2.StartRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.StartRunResponse:
        start = validate_start(convert.start_request_from_proto(request))
        self.rt.models.resolve(start.model)  # UnknownModel before anything is written
        # The run records the model that serves it, so GetRun says which one did.
        start = replace(start, model=start.model or self.rt.models.default_model)
        executor = self.rt.executor
        result = await self.rt.store.create_run(
            start,
            fingerprint(start),
            ev.run_accepted(
                start.thread_id, start.model or self.rt.models.default_model, f"msg-{start.run_id}"
            ),
            # A replica that is shutting down accepts the run but leaves it to its peers.
            lease_owner=None if executor.closing else executor.policy.owner,
            lease_ttl_s=executor.policy.ttl_s,
        )
        self.rt.broker.publish(result.events)
        if not result.record.status.is_terminal:
            executor.start(start.run_id, result.lease, result.record)
        return run_service_pb2.StartRunResponse(
            run_id=start.run_id,
            status="accepted",
            run=convert.run_to_proto(result.record),
            created=result.created,
        )

    @unary
    async def GetRun(
        self, request: run_service_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetRunResponse:
        return run_service_pb2.GetRunResponse(run=convert.run_to_proto(await self._run(request.run_id)))

    @unary
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

    @unary
    async def CancelRun(
        self, request: run_service_pb2.CancelRunRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.CancelRunResponse:
        run_id = require_id("run_id", request.run_id)
        if len(request.reason) > 1000:
            raise InvalidArgument("reason", "must be at most 1000 characters")
        result = await self.rt.store.request_cancel(run_id, ev.cancel_requested(request.reason))
        if result.event is not None:
            self.rt.broker.publish([result.event])
        canceled_here = self.rt.executor.cancel(run_id)
        record = await self.rt.store.get_run(run_id)
        if not canceled_here and result.recorded and record and not record.status.is_terminal:
            # Not executing anywhere here (a run waiting for a human holds no task): start
            # it so it records its end at once.
            self.rt.executor.start(run_id)
        return run_service_pb2.CancelRunResponse(
            run=convert.run_to_proto(record) if record else None, cancel_recorded=result.recorded
        )

    @streaming
    async def StreamRunEvents(
        self, request: run_service_pb2.StreamRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[run_service_pb2.StreamRunEventsResponse]:
        run_id = require_id("run_id", request.run_id)
        after = validate_cursor("after_seq", request.after_seq)
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
        async for message in stream_sse(
            self.rt.store, self.rt.broker, self.rt.sse_heartbeat_s, request, context
        ):
            yield message

    @unary
    async def AppendRunEvents(
        self, request: run_service_pb2.AppendRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.AppendRunEventsResponse:
        run_id = require_id("run_id", request.run_id)
        items = convert.appended_events_from_proto(request)
        validate_append(items, request.idempotency_key)
        expected = None
        if request.HasField("expected_previous_seq"):
            expected = validate_cursor("expected_previous_seq", request.expected_previous_seq)
        result = await self.rt.writer.append(
            AppendRequest(
                run_id,
                [ev.external(kind, data) for kind, data in items],
                expected_previous_seq=expected,
                idempotency_key=request.idempotency_key,
                request_hash=sha256_hex([[k, d] for k, d in items]),
            )
        )
        return run_service_pb2.AppendRunEventsResponse(seqs=list(result.seqs), replayed=result.replayed)

    @unary
    async def GetThreadState(
        self, request: run_service_pb2.GetThreadStateRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetThreadStateResponse:
        thread_id = require_id("thread_id", request.thread_id)
        runs = await self.rt.store.thread_runs(thread_id)
        if not runs:
            raise ThreadNotFound(thread_id)
        response = run_service_pb2.GetThreadStateResponse(thread_id=thread_id)
        for record in runs:
            for m in await run_messages(self.rt.store, record):
                response.messages.append(convert.message_to_proto(m.role, m.content, m.id))
            response.runs.append(convert.run_to_proto(record))
        active = [r.run_id for r in runs if not r.status.is_terminal]
        response.active_run_id = active[-1] if active else ""
        return response

    @unary
    async def ListToolTasks(
        self, request: run_service_pb2.ListToolTasksRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.ListToolTasksResponse:
        return await tool_tasks.list_tool_tasks(self.rt, request)

    @unary
    async def GetToolTask(
        self, request: run_service_pb2.GetToolTaskRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.GetToolTaskResponse:
        return await tool_tasks.get_tool_task(self.rt, request)

    @unary
    async def DecideApproval(
        self, request: run_service_pb2.DecideApprovalRequest, context: grpc.aio.ServicerContext
    ) -> run_service_pb2.DecideApprovalResponse:
        return await tool_tasks.decide_approval(self.rt, request)

    @unary
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
