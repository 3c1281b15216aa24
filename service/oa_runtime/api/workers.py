"""CodexWorkerService: converts requests to core types, calls the use cases (`app/workers.py`)
and converts the answers. Errors are DomainErrors, mapped to statuses by the edge interceptor.

HTTP status: the transcoder answers 200 for every success; calls that record something new
answer 202 by sending `x-oa-http-status: 202` as initial metadata, which the gateway's Lua
filter turns into the response status (and removes).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from google.api import httpbody_pb2
from google.protobuf import json_format, struct_pb2
from openagents.runtime.v1 import codex_worker_service_pb2 as pb
from openagents.runtime.v1 import codex_worker_service_pb2_grpc as pb_grpc

from ..app import workers as app
from ..app.workers import ControlRequest, WorkerOutcome, Workers, WorkerView
from ..auth.interceptor import USER_ID_HEADER, current_claims
from ..auth.rpc_status import HTTP_STATUS_HEADER
from ..core.errors import DomainError, InvalidArgument, NotReady
from ..core.frames import encode_chunk, sse_comment
from ..core.validation import canonical_user_id, require_id, validate_cursor
from ..core.workers import WorkerEvent, WorkerSpec
from ..engine.worker_streams import check_cursor, check_retained, stream_worker_events
from .convert import _timestamp, user_id_to_proto
from .errors import abort
from .sse import CONTENT_TYPE, resume_cursor

log = logging.getLogger(__name__)
MAX_TAIL_MS = 3_600_000


class CodexWorkerService(pb_grpc.CodexWorkerServiceServicer):  # type: ignore[misc]
    def __init__(self, workers: Workers) -> None:
        self.w = workers

    async def CreateCodexWorker(
        self, request: pb.CreateCodexWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCodexWorkerResponse:
        owner = acting_user(request.user_id, context)
        if owner is None:
            raise InvalidArgument(
                "user_id", "a worker needs an owner: the token's user_id claim or X-OA-USER-ID"
            )
        spec = WorkerSpec(
            request.worker_id,
            owner,
            request.workspace_ref,
            request.codex_home_ref,
            request.adapter,
            _value(request.metadata) if request.HasField("metadata") else None,
        )
        outcome = await app.create_worker(self.w, spec)
        await _accepted(context, outcome)
        worker = worker_to_proto(outcome.view)
        return pb.CreateCodexWorkerResponse(
            worker_id=worker.worker_id, status=worker.status, idempotent_replay=outcome.replay, worker=worker
        )

    async def ListCodexWorkers(
        self, request: pb.ListCodexWorkersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCodexWorkersResponse:
        views, token = await app.list_workers(
            self.w,
            owner=acting_user(request.user_id, context),
            status=request.status,
            workspace_ref=request.workspace_ref,
            limit=request.limit,
            page_token=request.page_token,
        )
        return pb.ListCodexWorkersResponse(workers=[worker_to_proto(v) for v in views], next_page_token=token)

    async def GetCodexWorkerSnapshot(
        self, request: pb.GetCodexWorkerSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCodexWorkerSnapshotResponse:
        return pb.GetCodexWorkerSnapshotResponse(
            worker=worker_to_proto(await app.get_worker(self.w, request.worker_id))
        )

    async def ControlCodexWorker(
        self, request: pb.ControlCodexWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.ControlCodexWorkerResponse:
        r = request.request
        control = ControlRequest(
            request_id=r.request_id,
            method=r.method,
            params=_value(r.params) if r.HasField("params") else None,
            request_version=r.request_version,
            sent_at=r.sent_at,
            source=r.source,
            session_id=r.session_id,
            thread_id=r.thread_id,
        )
        outcome = await app.control_worker(self.w, request.worker_id, control)
        await _accepted(context, outcome)
        return pb.ControlCodexWorkerResponse(
            worker_id=request.worker_id,
            request_id=r.request_id,
            method=r.method,
            seq=outcome.seq,
            idempotent_replay=outcome.replay,
            status=outcome.view.state.status.value,
        )

    async def StopCodexWorker(
        self, request: pb.StopCodexWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.StopCodexWorkerResponse:
        outcome = await app.stop_worker(self.w, request.worker_id, request.reason)
        await _accepted(context, outcome)
        worker = worker_to_proto(outcome.view)
        return pb.StopCodexWorkerResponse(
            worker_id=worker.worker_id, status=worker.status, idempotent_replay=outcome.replay, worker=worker
        )

    async def IngestCodexWorkerEvent(
        self, request: pb.IngestCodexWorkerEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.IngestCodexWorkerEventResponse:
        e = request.event
        payload = _value(e.payload) if e.HasField("payload") else None
        outcome = await app.report_event(self.w, request.worker_id, e.event_type, payload)
        await _accepted(context, outcome)
        return pb.IngestCodexWorkerEventResponse(
            worker_id=request.worker_id,
            seq=outcome.seq,
            event_type=e.event_type,
            status=outcome.view.state.status.value,
        )

    async def StreamCodexWorkerEvents(
        self, request: pb.StreamCodexWorkerEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamCodexWorkerEventsResponse]:
        worker_id = require_id("worker_id", request.worker_id)
        after = validate_cursor("after_seq", request.after_seq)
        tail_s = _tail_s(request)
        async for event in stream_worker_events(
            self.w.store, self.w.hub, worker_id, after, poll_s=self.w.poll_s, tail_s=tail_s
        ):
            if event is not None:
                yield pb.StreamCodexWorkerEventsResponse(event=event_to_proto(event))

    async def StreamCodexWorkerSse(
        self, request: pb.StreamCodexWorkerSseRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamCodexWorkerSseResponse]:
        try:
            worker_id = require_id("worker_id", request.worker_id)
            cursor = resume_cursor(request, context)
            tail_s = _tail_s(request)
            # WorkerNotFound and InvalidCursor as statuses, before any byte is sent.
            head = (await app.get_worker(self.w, worker_id)).state.latest_seq
            check_cursor(cursor, head)
            await check_retained(self.w.store, worker_id, cursor, head)  # 410 below the floor
        except DomainError as err:
            await abort(context, err)
            return
        await context.send_initial_metadata(
            (("cache-control", "no-cache"), ("x-accel-buffering", "no"), ("x-oa-worker-id", worker_id))
        )
        yield _sse(sse_comment("ok"))
        try:
            async for event in stream_worker_events(
                self.w.store,
                self.w.hub,
                worker_id,
                cursor,
                idle_timeout=self.w.sse_heartbeat_s,
                poll_s=self.w.poll_s,
                tail_s=tail_s,
            ):
                yield _sse(sse_comment("keep-alive") if event is None else sse_event(event))
        except NotReady:
            yield _sse(sse_comment("reconnect: this replica is shutting down"))
        except DomainError as err:
            log.warning("worker sse stream failed", extra={"worker_id": worker_id, "reason": err.reason})
            yield _sse(b"event: error\ndata: " + encode_chunk({"errorText": err.message}) + b"\n\n")


# ----- conversion -----


def worker_to_proto(v: WorkerView) -> pb.CodexWorker:
    s, hb = v.state, v.heartbeat
    out = pb.CodexWorker(
        worker_id=s.worker_id,
        user_id=user_id_to_proto(s.owner),
        status=s.status.value,
        workspace_ref=s.workspace_ref,
        codex_home_ref=s.codex_home_ref,
        adapter=s.adapter,
        latest_seq=s.latest_seq,
        created_at=_timestamp(s.created_at),
        updated_at=_timestamp(s.updated_at),
        heartbeat_state=hb.state.value,
        heartbeat_stale_after_ms=hb.stale_after_ms,
        stop_reason=s.stop_reason,
        last_error=s.last_error,
        reattach_count=s.reattach_count,
    )
    out.metadata.update(dict(s.metadata))
    if hb.age_ms is not None:
        out.heartbeat_age_ms = hb.age_ms
    if s.last_heartbeat_at is not None:
        out.last_heartbeat_at.CopyFrom(_timestamp(s.last_heartbeat_at))
    if s.stopped_at is not None:
        out.stopped_at.CopyFrom(_timestamp(s.stopped_at))
    return out


def event_to_proto(e: WorkerEvent) -> pb.CodexWorkerEvent:
    out = pb.CodexWorkerEvent(
        worker_id=e.worker_id,
        seq=e.seq,
        event_id=e.event_id,
        event_type=e.type,
        occurred_at=_timestamp(e.occurred_at),
    )
    out.payload.update(dict(e.payload))
    return out


def sse_event(e: WorkerEvent) -> bytes:
    """One SSE event per worker event; `id:` is the seq, the resume cursor."""
    data = {
        "type": e.type,
        "workerId": e.worker_id,
        "seq": e.seq,
        "eventId": e.event_id,
        "occurredAt": e.occurred_at.isoformat(),
        "payload": dict(e.payload),
    }
    return f"id: {e.seq}\n".encode() + b"data: " + encode_chunk(data) + b"\n\n"


def _sse(data: bytes) -> pb.StreamCodexWorkerSseResponse:
    return pb.StreamCodexWorkerSseResponse(body=httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data))


def _value(value: struct_pb2.Value) -> Any:
    return json_format.MessageToDict(value)


def _tail_s(request: pb.StreamCodexWorkerSseRequest | pb.StreamCodexWorkerEventsRequest) -> float | None:
    if not request.HasField("tail_ms"):
        return None
    if not 1 <= request.tail_ms <= MAX_TAIL_MS:
        raise InvalidArgument("tail_ms", f"must be between 1 and {MAX_TAIL_MS}")
    tail_ms: int = request.tail_ms
    return tail_ms / 1000


async def _accepted(context: grpc.aio.ServicerContext, outcome: WorkerOutcome) -> None:
    """202 over HTTP when the call recorded something new; 200 for a replay."""
    if not outcome.replay:
        await context.send_initial_metadata(((HTTP_STATUS_HEADER, "202"),))


def acting_user(explicit: int, context: grpc.aio.ServicerContext) -> str | None:
    """Who the call acts for: the request's `user_id`, else the token's `user_id` claim, else
    X-OA-USER-ID. The interceptor already checked that those given agree with each other."""
    if explicit:
        try:
            return canonical_user_id(explicit)
        except ValueError as err:
            raise InvalidArgument("user_id", str(err)) from None
    claims = current_claims()
    if claims is not None and claims.user_id is not None:
        return claims.user_id
    headers = [str(v) for k, v in context.invocation_metadata() or () if k == USER_ID_HEADER]
    if headers:
        try:
            return canonical_user_id(headers[0])
        except ValueError as err:
            raise InvalidArgument("X-OA-USER-ID", str(err)) from None
    return None
