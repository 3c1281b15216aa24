"""StreamRunEvents from a cursor past the head of a running run (issue 11, repro 6): the
stream waits for the events after the cursor and ends cleanly when the run finishes, also
when its terminal event is at or below the cursor. Real gRPC, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from openagents.runtime.v1 import run_pb2, run_service_pb2

from tests.e2e.helpers import events, start
from tests.support.runtime import RuntimeHandle

# About 2 s of tokens: the stream is opened while the run is still writing.
SLOW_PROMPT = "/tokens 40 20"


async def _run(rt: RuntimeHandle, run_id: str) -> run_pb2.Run:
    response = await rt.stub.GetRun(
        run_service_pb2.GetRunRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
    )
    run: run_pb2.Run = response.run
    return run


async def test_a_cursor_far_past_the_head_ends_cleanly_when_the_run_finishes(runtime: RuntimeHandle) -> None:
    await start(runtime, "far", SLOW_PROMPT)
    assert (await _run(runtime, "far")).state in (run_pb2.RUN_STATE_QUEUED, run_pb2.RUN_STATE_RUNNING)
    async with asyncio.timeout(30):
        got = await events(runtime, "far", after_seq=1_000_000)
    assert got == []
    run = await _run(runtime, "far")
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert run.last_seq < 1_000_000


async def test_a_cursor_just_past_the_head_waits_for_the_events_after_it(runtime: RuntimeHandle) -> None:
    await start(runtime, "near", SLOW_PROMPT)
    head = (await _run(runtime, "near")).last_seq
    cursor = head + 5
    async with asyncio.timeout(30):
        got = await events(runtime, "near", after_seq=cursor)
    full = await events(runtime, "near")
    assert full[-1].type == "run.finished" and len(full) > cursor + 1
    assert [e.SerializeToString() for e in got] == [e.SerializeToString() for e in full[cursor:]]
