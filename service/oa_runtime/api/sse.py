"""StreamRunSse: a run as AI SDK UI-message-stream SSE inside HttpBody messages.

Envoy writes each message's bytes to the HTTP client as it arrives and turns
the initial metadata into response headers. The first message is an SSE
comment so headers flush at once; idle streams get comment heartbeats. Errors
before the first message are statuses (→ HTTP 4xx/5xx with a JSON body);
after it they travel in-band as an `error` frame, then `finish` and `[DONE]`.
When the replica shuts down, the body just ends (no `[DONE]`): the client
reconnects with Last-Event-ID and another replica carries on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Protocol

import grpc.aio
from google.api import httpbody_pb2
from openagents.runtime.v1 import run_service_pb2

from ..core import events as ev
from ..core.errors import DomainError, InvalidArgument, InvalidCursor, NotReady, RunNotFound
from ..core.frames import (
    SSE_DONE,
    FrameMapper,
    encode_chunk,
    encode_sse,
    mapper_from_run_state,
    sse_comment,
)
from ..core.memory.retention import check_cursor
from ..core.run_state import RunState
from ..core.validation import parse_cursor, require_id, validate_cursor
from ..engine.broker import Broker
from ..engine.streams import PAGE_CHARS, PAGE_EVENTS, stream_batches
from ..ports import EventStore
from .errors import abort

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/event-stream"
SSE_HEADERS = (
    ("cache-control", "no-cache"),
    ("x-vercel-ai-ui-message-stream", "v1"),
    ("x-accel-buffering", "no"),
)


def _body(data: bytes) -> run_service_pb2.StreamRunSseResponse:
    return run_service_pb2.StreamRunSseResponse(
        body=httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data)
    )


class _Resumable(Protocol):
    """A stream request with an optional `cursor` field (runs and Codex workers)."""

    cursor: int

    def HasField(self, field_name: str) -> bool: ...


def resume_cursor(request: _Resumable, context: grpc.aio.ServicerContext) -> int:
    """The resume cursor from `cursor` and/or `Last-Event-ID`; both given must agree.

    The header is ASCII digits within int64 (int() would also read an Arabic-Indic five as 5 and
    "99999999999999999999" as a number no seq can reach), sent once: two headers
    are refused rather than one of them picked.
    """
    headers = [str(v) for k, v in context.invocation_metadata() or () if k == "last-event-id"]
    if len(headers) > 1:
        raise InvalidCursor("Last-Event-ID was sent more than once", cursor=",".join(headers)[:100])
    from_header: int | None = None
    if headers and headers[0]:
        try:
            from_header = parse_cursor("Last-Event-ID", headers[0])
        except InvalidArgument:
            raise InvalidCursor(
                "Last-Event-ID must be a sequence number (ASCII digits within int64)",
                cursor=headers[0][:100],
            ) from None
    from_param = validate_cursor("cursor", request.cursor) if request.HasField("cursor") else None
    if from_header is not None and from_param is not None and from_header != from_param:
        raise InvalidCursor(
            f"cursor {from_param} and Last-Event-ID {from_header} disagree", cursor=from_param
        )
    return from_param if from_param is not None else (from_header or 0)


async def mapper_at(store: EventStore, run_id: str, cursor: int) -> FrameMapper:
    """A frame mapper that has seen events 1..cursor, so resumed frames continue consistently.

    It never folds the whole log of a long run: it starts from the run's latest checkpoint
    at or before the cursor (the executor saves one at every step end) and folds the events
    after it; when that is more than a page, a client reconnecting to a long answer still
    being written gets the mapper of the run's head instead (`_mapper_at_head`). Without a
    checkpoint (a run in its first step, or written elsewhere) it folds from the start.
    """
    if not cursor:
        return FrameMapper()
    mapper, after = FrameMapper(), 0
    checkpoint = await store.latest_checkpoint(run_id, at_or_before=cursor)
    if checkpoint is not None:
        try:
            state = RunState.from_json(checkpoint.state)
        except (KeyError, TypeError, ValueError):
            log.warning("unreadable checkpoint; folding the log", extra={"run_id": run_id})
        else:
            if state.last_seq <= cursor:  # covers_seq is its state's last seq; never trust more
                mapper, after = mapper_from_run_state(state), state.last_seq
    if cursor - after > PAGE_EVENTS:
        at_head = await _mapper_at_head(store, run_id, cursor)
        if at_head is not None:
            return at_head
    while after < cursor:
        page = await store.read_events(run_id, after, min(PAGE_EVENTS, cursor - after), max_chars=PAGE_CHARS)
        if not page:
            break
        for event in page:
            mapper.feed(event)
        after = page[-1].seq
    return mapper


async def _mapper_at_head(store: EventStore, run_id: str, cursor: int) -> FrameMapper | None:
    """The mapper at `cursor` from the run row's state, when the events from the cursor to
    the head (at most a page) are all deltas of the text part open at the head: deltas of
    an open part change nothing the mapper keeps, so its state at the cursor is the one at
    the head. None when that does not hold."""
    head = await store.run_state(run_id)
    if head is None or not (head.step_open and head.open_text_id) or head.last_seq - cursor >= PAGE_EVENTS:
        return None
    count = head.last_seq - cursor + 1
    tail = await store.read_events(run_id, cursor - 1, count)
    if len(tail) != count or any(
        e.type != ev.MESSAGE_DELTA or e.payload.get("message_id") != head.open_text_id for e in tail
    ):
        return None
    mapper = mapper_from_run_state(head)
    mapper.last_seq = cursor
    return mapper


def _stream_error(message: str) -> bytes:
    """An in-band failure of the stream itself (not of the run): no `id:` so the
    client's resume cursor stays at the last event it really received."""
    return b"data: " + encode_chunk({"type": "error", "errorText": message}) + b"\n\n" + SSE_DONE


async def _open_stream(
    store: EventStore, request: run_service_pb2.StreamRunSseRequest, context: grpc.aio.ServicerContext
) -> tuple[str, int, int, FrameMapper]:
    """Checks the run and the cursor before anything is sent; answers the run id, the
    cursor, the seq to read after, and the frame mapper placed there."""
    run_id = require_id("run_id", request.run_id)
    cursor = resume_cursor(request, context)
    record = await store.get_run(run_id)
    if record is None:
        raise RunNotFound(run_id)
    if cursor > record.last_seq and record.status.is_terminal:
        beyond = f"cursor {cursor} is beyond the run's last event {record.last_seq}"
        raise InvalidCursor(beyond, cursor=cursor)
    # Below the retention floor: STALE_CURSOR (HTTP 410), never a silent partial replay.
    check_cursor(cursor, await store.oldest_retained_seq(run_id), record.last_seq)
    # A cursor past the head of a live run: read from the head (the mapper sees every
    # event) and send the frames of events after the cursor once they exist.
    base = min(cursor, record.last_seq)
    return run_id, cursor, base, await mapper_at(store, run_id, base)


async def stream_sse(
    store: EventStore,
    broker: Broker,
    heartbeat_s: float,
    request: run_service_pb2.StreamRunSseRequest,
    context: grpc.aio.ServicerContext,
) -> AsyncIterator[run_service_pb2.StreamRunSseResponse]:
    try:
        run_id, cursor, base, mapper = await _open_stream(store, request, context)
    except DomainError as err:
        await abort(context, err)
        return
    await context.send_initial_metadata((*SSE_HEADERS, ("x-oa-run-id", run_id)))
    if mapper.done:
        # Resumed at (or after) the end: the client may have missed only `[DONE]`.
        yield _body(sse_comment("ok") + SSE_DONE)
        return
    yield _body(sse_comment("ok"))
    sent_done = False
    try:
        # A backlog page goes out as one message of many SSE events; live events one each.
        async for batch in stream_batches(store, broker, run_id, base, idle_timeout=heartbeat_s):
            if batch is None:
                yield _body(sse_comment("keep-alive"))
                continue
            frames = [frame for event in batch for frame in mapper.feed(event) if frame.seq > cursor]
            if frames:
                sent_done = frames[-1].is_done
                yield _body(encode_sse(frames))
        if not sent_done:
            # The run ended at or below the cursor: nothing more to send but the end.
            yield _body(SSE_DONE)
    except NotReady:
        yield _body(sse_comment("reconnect: this replica is shutting down"))
    except DomainError as err:
        log.warning("sse stream failed", extra={"run_id": run_id, "reason": err.reason})
        yield _body(_stream_error(err.message))
    except Exception:
        log.exception("sse stream failed", extra={"run_id": run_id})
        yield _body(_stream_error("internal error"))
