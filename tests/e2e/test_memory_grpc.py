"""MemoryService over gRPC on loopback, on SQLite and PostgreSQL: compact a seeded thread now,
list, get and expand its chunks, ask a map/reduce question; validation, access and agent ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from openagents.runtime.v1 import agent_service_pb2 as agent_pb
from openagents.runtime.v1 import agent_service_pb2_grpc as agent_grpc
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from tests.e2e.helpers import error_info, events, start
from tests.e2e.tool_helpers import results
from tests.support.memory import compact_until_settled, seed_past_thread
from tests.support.runtime import RuntimeHandle, running_runtime

THREAD = "t-mem"


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[RuntimeHandle]:
    await seed_past_thread(database_url, THREAD, "run-mem")
    async with running_runtime(database_url) as handle:
        yield handle


def stub(rt: RuntimeHandle) -> pb_grpc.MemoryServiceStub:
    return pb_grpc.MemoryServiceStub(rt.channel)


async def wait_chunks(
    rt: RuntimeHandle, count: int, request: pb.ListMemoryChunksRequest | None = None, **claims: str
) -> list[pb.MemoryChunk]:
    """At least `count` chunks listed by `request` (default: THREAD's) with a token of `claims`."""
    request = request or pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=500)
    claims = claims or {"thread_id": THREAD}
    async with asyncio.timeout(30):
        while True:
            listed = await stub(rt).ListMemoryChunks(request, metadata=rt.md(**claims))
            if len(listed.chunks) >= count:
                return list(listed.chunks)
            await asyncio.sleep(0.1)


async def settled_chunks(rt: RuntimeHandle) -> list[pb.MemoryChunk]:
    """THREAD's chunks once everything due is written: a compaction then plans nothing (its
    plan is read from the stored chunks, so an L3 still to follow its hours is planned)."""
    await compact_until_settled(rt, THREAD)
    return await wait_chunks(rt, 0)


async def test_compact_list_get_expand_and_ask(seeded: RuntimeHandle) -> None:
    rt = seeded
    planned = (
        await stub(rt).CompactMemoryNow(
            pb.CompactMemoryNowRequest(thread_id=THREAD), metadata=rt.md(thread_id=THREAD)
        )
    ).planned
    # 24 events over 2 hours: 12 windows of 10 minutes (planned now); their hours roll up next.
    assert [p.level for p in planned] == [pb.MEMORY_LEVEL_L1] * 12
    chunks = await settled_chunks(rt)  # with a day's roll-up when the seeded hours ended a day
    l1 = [c for c in chunks if c.level == pb.MEMORY_LEVEL_L1]
    hours = [c.chunk_id for c in chunks if c.level == pb.MEMORY_LEVEL_L2]
    assert (len(l1), len(hours)) == (12, 2)  # an L3 too when the seeded hours ended a day
    first_l1 = l1[0]
    assert (first_l1.seq_range.first_seq, first_l1.seq_range.last_seq) == (1, 3)
    assert first_l1.provider == "scripted" and first_l1.summary.startswith("L1 thread:t-mem ")
    assert first_l1.usage_counted_by == "provider"  # the scripted model reports its usage
    got = await stub(rt).GetMemoryChunk(
        pb.GetMemoryChunkRequest(chunk_id=first_l1.chunk_id), metadata=rt.md(thread_id=THREAD)
    )
    assert got.chunk == first_l1
    hour = next(c for c in chunks if c.level == pb.MEMORY_LEVEL_L2)
    expanded = await stub(rt).ExpandMemoryChunk(
        pb.ExpandMemoryChunkRequest(chunk_id=hour.chunk_id, max_items=4), metadata=rt.md(thread_id=THREAD)
    )
    assert [c.depth for c in expanded.chunks] == [0, 1, 1, 1] and expanded.truncated
    assert (expanded.raw_ranges[0].first_seq, expanded.raw_ranges[0].last_seq) == (1, 3)
    start = timestamp_pb2.Timestamp(seconds=hour.window_start_time.seconds)
    end = timestamp_pb2.Timestamp(seconds=hour.window_start_time.seconds + 7200)
    request = pb.StartMemoryQueryRequest(
        query_id="q-1",
        thread_id=THREAD,
        question="what happened?",
        window_start_time=start,
        window_end_time=end,
    )
    started = await stub(rt).StartMemoryQuery(request, metadata=rt.md(thread_id=THREAD))
    assert started.created
    async with asyncio.timeout(30):
        while True:
            query = (
                await stub(rt).GetMemoryQuery(
                    pb.GetMemoryQueryRequest(query_id="q-1"), metadata=rt.md(thread_id=THREAD)
                )
            ).query
            if query.state == pb.MEMORY_QUERY_STATE_DONE:
                break
            await asyncio.sleep(0.1)
    assert list(query.used_chunk_ids) == hours and query.maps_done == query.map_count == 2
    assert query.answer == "2 partial answers; used " + " ".join(f"[{h}]" for h in hours)
    await check_agent_tokens(rt, first_l1.chunk_id, hour.chunk_id, "q-1")
    again = await stub(rt).StartMemoryQuery(request, metadata=rt.md(thread_id=THREAD))
    assert not again.created and again.query.state == pb.MEMORY_QUERY_STATE_DONE
    request.question = "another question"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub(rt).StartMemoryQuery(request, metadata=rt.md(thread_id=THREAD))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(err.value).reason == "MEMORY_QUERY_ALREADY_EXISTS"


async def check_agent_tokens(rt: RuntimeHandle, chunk_id: str, hour_id: str, query_id: str) -> None:
    """A thread can host several agents: a token bound to any agent on the chunk's (or the
    question's) thread reads it; another thread's agent, an unknown agent and another user's
    token are refused (CLAIM_MISMATCH), and nothing else about the chunk is said."""
    agents = agent_grpc.AgentServiceStub(rt.channel)
    for agent_id, thread_id, user_id in (("ag-a", THREAD, 42), ("ag-b", THREAD, 42), ("ag-far", "t-far", 42)):
        await agents.CreateAgent(
            agent_pb.CreateAgentRequest(agent_id=agent_id, thread_id=thread_id, user_id=user_id),
            metadata=rt.md(user_id=user_id),
        )
    get = pb.GetMemoryChunkRequest(chunk_id=chunk_id)
    expand = pb.ExpandMemoryChunkRequest(chunk_id=hour_id, max_items=2)
    ask = pb.GetMemoryQueryRequest(query_id=query_id)
    for agent_id in ("ag-a", "ag-b"):
        got = await stub(rt).GetMemoryChunk(get, metadata=rt.md(agent_id=agent_id))
        assert got.chunk.chunk_id == chunk_id
        walked = await stub(rt).ExpandMemoryChunk(expand, metadata=rt.md(agent_id=agent_id))
        assert [c.depth for c in walked.chunks] == [0, 1]
        asked = await stub(rt).GetMemoryQuery(ask, metadata=rt.md(agent_id=agent_id))
        assert asked.query.state == pb.MEMORY_QUERY_STATE_DONE
    listed = await stub(rt).ListMemoryChunks(
        pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=1), metadata=rt.md(agent_id="ag-a")
    )
    assert len(listed.chunks) == 1
    refused: list[tuple[dict[str, str | int], str]] = [
        ({"agent_id": "ag-far"}, "agent_id"),  # an agent on another thread
        ({"agent_id": "ghost"}, "agent_id"),  # no such agent
        ({"user_id": 7}, "user_id"),  # another user
        ({"agent_id": "ag-a", "user_id": 7}, "user_id"),  # the agent, but another user
    ]
    calls: list[Callable[[Any], Any]] = [
        lambda md: stub(rt).GetMemoryChunk(get, metadata=md),
        lambda md: stub(rt).ExpandMemoryChunk(expand, metadata=md),
        lambda md: stub(rt).GetMemoryQuery(ask, metadata=md),
    ]
    for claims, claim in refused:
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(rt.md(**claims))
            info = error_info(err.value)
            assert (err.value.code(), info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CLAIM_MISMATCH")
            assert dict(info.metadata) == {"claim": claim}, claims


async def test_refusals(seeded: RuntimeHandle) -> None:
    rt = seeded
    cases: list[tuple[object, grpc.StatusCode, str]] = [
        (
            pb.GetMemoryChunkRequest(chunk_id="mc1_nothing"),
            grpc.StatusCode.NOT_FOUND,
            "MEMORY_CHUNK_NOT_FOUND",
        ),
        (pb.GetMemoryQueryRequest(query_id="nope"), grpc.StatusCode.NOT_FOUND, "MEMORY_QUERY_NOT_FOUND"),
        (pb.ListMemoryChunksRequest(agent_id="a1"), grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND"),
        (
            pb.ListMemoryChunksRequest(agent_id="a1", thread_id=THREAD),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (pb.ListMemoryChunksRequest(thread_id="no-such"), grpc.StatusCode.NOT_FOUND, "THREAD_NOT_FOUND"),
        (pb.ListMemoryChunksRequest(), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (pb.GetMemoryQueryRequest(query_id="bad id!"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    ]
    for request, code, reason in cases:
        method = {
            pb.GetMemoryChunkRequest: stub(rt).GetMemoryChunk,
            pb.GetMemoryQueryRequest: stub(rt).GetMemoryQuery,
            pb.ListMemoryChunksRequest: stub(rt).ListMemoryChunks,
        }[type(request)]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(request, metadata=rt.md())
        assert (err.value.code(), error_info(err.value).reason) == (code, reason), request
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub(rt).ListMemoryChunks(
            pb.ListMemoryChunksRequest(thread_id=THREAD, level=7), metadata=rt.md(thread_id=THREAD)
        )
    assert error_info(err.value).reason == "INVALID_ARGUMENT"
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a token bound to another thread
        await stub(rt).ListMemoryChunks(
            pb.ListMemoryChunksRequest(thread_id=THREAD), metadata=rt.md(thread_id="x")
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_model_expands_a_summary_with_memory_expand(seeded: RuntimeHandle) -> None:
    rt = seeded
    await stub(rt).CompactMemoryNow(
        pb.CompactMemoryNowRequest(thread_id=THREAD), metadata=rt.md(thread_id=THREAD)
    )
    chunks = await wait_chunks(rt, 14)
    hour = next(c for c in chunks if c.level == pb.MEMORY_LEVEL_L2)
    first_l1 = next(c for c in chunks if c.level == pb.MEMORY_LEVEL_L1)
    hours = [c.chunk_id for c in chunks if c.level == pb.MEMORY_LEVEL_L2]
    begin = hour.window_start_time.ToDatetime(tzinfo=UTC).isoformat()
    end = (hour.window_start_time.ToDatetime(tzinfo=UTC) + timedelta(hours=2)).isoformat()
    calls = [
        {"name": "memory_expand", "input": {"chunk_id": hour.chunk_id, "max_items": 3}},
        {"name": "memory_expand", "input": {"chunk_id": first_l1.chunk_id, "raw": True}},
        {"name": "memory_expand", "input": {"chunk_id": "mc1_" + "0" * 32}},
        {"name": "memory_query", "input": {"question": "what?", "window_start": begin, "window_end": end}},
    ]
    await start(rt, "run-zoom", "/tools " + json.dumps(calls), thread_id=THREAD, user_id=42)
    by_call = results(await events(rt, "run-zoom"))
    walked = json.loads(by_call["call_1_0_0"].output_json)
    assert [c["depth"] for c in walked["chunks"]] == [0, 1, 1] and walked["truncated"]
    assert walked["chunks"][1]["summary"] == next(
        c.summary for c in chunks if c.chunk_id == walked["chunks"][1]["chunk_id"]
    )
    raw = json.loads(by_call["call_1_0_1"].output_json)["raw_events"]
    assert [line.split(" ")[0] for line in raw] == ["#1", "#2", "#3"]
    assert raw[0].split(" ")[2] == "run.accepted" and "prompt=hello" in raw[0]
    assert "no memory chunk" in by_call["call_1_0_2"].error_text
    asked = json.loads(by_call["call_1_0_3"].output_json)  # the agent's map/reduce question
    assert asked["used_chunk_ids"] == hours and all(f"[{h}]" in asked["answer"] for h in hours)
