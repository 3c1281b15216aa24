"""The `memory_query` tool across a service restart, on SQLite and PostgreSQL: the service stops
while the tool waits for its question (a map answered, the rest not); the next incarnation runs
the call again, which waits for the same question; the question resumes without redoing an
answered map, and the call's result is recorded once."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, timedelta

from oa_runtime.core.memory.records import QUERY_STREAM
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc
from openagents.runtime.v1 import run_event_pb2

from tests.e2e.helpers import events, start
from tests.support.memory import compact_until_settled, memory_stream, seed_past_thread
from tests.support.runtime import RuntimeHandle, running_runtime

THREAD = "t-ask-restart"
RUN = "run-ask-restart"
SLOW = {"RUNTIME_SCRIPTED_MEMORY_DELAY_MS": "400"}  # each map takes a while: time to stop


def memory(rt: RuntimeHandle) -> pb_grpc.MemoryServiceStub:
    return pb_grpc.MemoryServiceStub(rt.channel)


async def compacted_hours(rt: RuntimeHandle) -> list[pb.MemoryChunk]:
    """The seeded thread's hour chunks, once a compaction plans nothing more."""
    await compact_until_settled(rt, THREAD)
    listed = await memory(rt).ListMemoryChunks(
        pb.ListMemoryChunksRequest(thread_id=THREAD, level=pb.MEMORY_LEVEL_L2),
        metadata=rt.md(thread_id=THREAD),
    )
    return list(listed.chunks)


async def query_state(rt: RuntimeHandle, query_id: str) -> pb.MemoryQuery | None:
    try:
        response = await memory(rt).GetMemoryQuery(
            pb.GetMemoryQueryRequest(query_id=query_id), metadata=rt.md(thread_id=THREAD)
        )
    except Exception:  # not created yet (the run has not reached the call)
        return None
    query: pb.MemoryQuery = response.query
    return query


async def test_a_memory_query_call_survives_a_restart(database_url: str) -> None:
    await seed_past_thread(database_url, THREAD, "run-seed")
    async with running_runtime(database_url) as rt:
        hours = await compacted_hours(rt)
    assert len(hours) == 2
    begin = hours[0].window_start_time.ToDatetime(tzinfo=UTC)
    call = {
        "name": "memory_query",
        "input": {
            "question": "what was noted?",
            "window_start": begin.isoformat(),
            "window_end": (begin + timedelta(hours=2)).isoformat(),
        },
    }
    query_id = "tool." + hashlib.sha256(f"{RUN}\x00call_1_0_0".encode()).hexdigest()[:40]

    async with running_runtime(database_url, SLOW) as rt:
        await start(rt, RUN, "/tools " + json.dumps([call]) + "\n/say done", thread_id=THREAD, user_id=42)
        async with asyncio.timeout(30):
            while True:  # stop once a map is answered and the question is not
                query = await query_state(rt, query_id)
                if query is not None and query.maps_done >= 1:
                    break
                await asyncio.sleep(0.02)
        assert query.state in (pb.MEMORY_QUERY_STATE_MAPPING, pb.MEMORY_QUERY_STATE_REDUCING)
        assert query.map_count == 2

    async with running_runtime(database_url) as rt:
        evs = await events(rt, RUN)
        query = await query_state(rt, query_id)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    (result,) = [e.tool_call_result for e in evs if e.type == "tool.result"]
    assert result.tool_call_id == "call_1_0_0" and not result.error_text
    answer = json.loads(result.output_json)
    assert answer["used_chunk_ids"] == [h.chunk_id for h in hours]
    assert (
        query is not None and query.state == pb.MEMORY_QUERY_STATE_DONE and answer["answer"] == query.answer
    )
    await check_each_step_once(database_url, query_id)


async def check_each_step_once(database_url: str, query_id: str) -> None:
    """The question's stream: its plan, each map and the answer, once each."""
    stream = await memory_stream(database_url, QUERY_STREAM, query_id)
    assert [e.type for e in stream] == [
        "memory.query_started",
        "memory.map_done",
        "memory.map_done",
        "memory.reduce_done",
    ]
    assert len({e.payload.get("map_id") for e in stream if e.type == "memory.map_done"}) == 2
