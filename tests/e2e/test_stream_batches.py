"""StreamRunEvents with `batched`: the backlog arrives several events per message (a replay
costs one message per page, not per event), the live tail one event per message as it is
written, and the events are exactly those of an unbatched stream. Real gRPC, both backends."""

from __future__ import annotations

from google.protobuf import struct_pb2
from oa_runtime.engine.streams import PAGE_EVENTS
from openagents.runtime.v1 import run_event_pb2, run_service_pb2

from tests.e2e.helpers import events, start
from tests.support.runtime import RuntimeHandle, running_runtime


async def _batched(rt: RuntimeHandle, run_id: str, after_seq: int = 0) -> list[list[run_event_pb2.RunEvent]]:
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq, batched=True),
        metadata=rt.md(run_id=run_id),
    )
    messages = []
    async for message in call:
        assert not message.HasField("event")  # a batched stream uses `events` only
        messages.append(list(message.events))
    return messages


def _bytes(evs: list[run_event_pb2.RunEvent]) -> list[bytes]:
    return [e.SerializeToString() for e in evs]


async def _long_log(rt: RuntimeHandle, run_id: str, externals: int) -> list[run_event_pb2.RunEvent]:
    """A finished run with `externals` appended events (the run loop coalesces tokens, so
    external appends are the way to a long log), canceled at the end."""
    await start(rt, run_id, "/sleep 30000")
    for n in range(0, externals, 100):
        await rt.stub.AppendRunEvents(
            run_service_pb2.AppendRunEventsRequest(
                run_id=run_id,
                idempotency_key=f"k{n}",
                events=[
                    run_service_pb2.AppendedEvent(kind="test.note", data=struct_pb2.Struct(fields={}))
                    for _ in range(min(100, externals - n))
                ],
            ),
            metadata=rt.md(run_id=run_id),
        )
    await rt.stub.CancelRun(run_service_pb2.CancelRunRequest(run_id=run_id), metadata=rt.md(run_id=run_id))
    single = await events(rt, run_id)
    assert single[-1].type == "run.finished" and len(single) > externals
    return single


async def test_a_long_backlog_goes_out_in_pages_with_the_same_events(runtime: RuntimeHandle) -> None:
    single = await _long_log(runtime, "long", 700)
    messages = await _batched(runtime, "long")
    assert _bytes([e for batch in messages for e in batch]) == _bytes(single)
    assert len(messages) <= len(single) // PAGE_EVENTS + 1
    assert max(len(batch) for batch in messages) == PAGE_EVENTS
    resumed = [e for batch in await _batched(runtime, "long", after_seq=5) for e in batch]
    assert _bytes(resumed) == _bytes(single[5:])


async def test_the_live_tail_comes_one_event_per_message(runtime: RuntimeHandle) -> None:
    await start(runtime, "live", "/tokens 30 30")  # about 1 s of tokens
    messages = await _batched(runtime, "live")
    flat = [e for batch in messages for e in batch]
    assert _bytes(flat) == _bytes(await events(runtime, "live"))
    assert flat[-1].type == "run.finished"
    # Opened at once, the stream is live for nearly the whole run: most messages carry one event.
    assert sum(1 for batch in messages if len(batch) == 1) >= len(flat) - 5


async def test_an_sse_backlog_goes_out_as_pages_of_frames_per_message(database_url: str) -> None:
    # No coalescing window: every token is its own delta event, so its own SSE frame.
    async with running_runtime(database_url, {"RUNTIME_FLUSH_WINDOW_MS": "0"}) as rt:
        await start(rt, "sse-long", "/tokens 700")
        assert len(await events(rt, "sse-long")) > 700
        call = rt.stub.StreamRunSse(
            run_service_pb2.StreamRunSseRequest(run_id="sse-long"), metadata=rt.md(run_id="sse-long")
        )
        bodies = [message.body.data async for message in call]
    body = b"".join(bodies)
    assert bodies[0] == b": ok\n\n" and body.endswith(b"data: [DONE]\n\n")
    assert body.count(b'"type":"text-delta"') == 700
    assert len(bodies) <= 700 // PAGE_EVENTS + 3  # several SSE events per HttpBody, a page each
