"""An agent's memory over gRPC, on SQLite and PostgreSQL: an agent whose memory policy enables
memory makes its thread keep memory; its turns are compacted on request by agent id, listed
by agent id, and a later turn's context is planned from memory within the agent's budget.
Requests by agent id follow the agent's access rule; an unknown agent is AGENT_NOT_FOUND."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from openagents.runtime.v1 import agent_pb2
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from tests.e2e.agent_helpers import OWNER, create, events_until, prompt, slept_after_turns, submit
from tests.e2e.helpers import error_info
from tests.e2e.test_agents_schedules import Clock
from tests.e2e.test_memory_grpc import wait_chunks
from tests.support.runtime import RuntimeHandle, running_runtime

AGENT = "mem-agent"
THREAD = f"thread-{AGENT}"
BUDGET = 3000  # under the deployment's default (16,000): the agent's own budget applies


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
async def runtime(database_url: str, clock: Clock) -> AsyncIterator[RuntimeHandle]:
    """The service with the clock agents and memory go by (compaction closes windows by it)."""
    async with running_runtime(database_url, clock=clock) as rt:
        yield rt


def memory(rt: RuntimeHandle) -> pb_grpc.MemoryServiceStub:
    return pb_grpc.MemoryServiceStub(rt.channel)


def context_plans(database_url: str) -> list[dict[str, Any]]:
    """The `memory.context_planned` records of the agent's thread, read from the log table
    (the runtime holds SQLite's single-node lock, so a second store cannot open it)."""
    sql = (
        "SELECT payload FROM events WHERE stream_kind = 'memory' AND stream_id = {p}"
        " AND type = 'memory.context_planned' ORDER BY seq"
    )
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(sql.format(p="?"), (THREAD,)).fetchall()
        return [json.loads(payload) for (payload,) in rows]
    with psycopg.connect(database_url) as conn:
        found = conn.execute(sql.format(p="%s"), (THREAD,)).fetchall()
    return [dict(payload) for (payload,) in found]


async def test_an_agent_with_memory_is_compacted_listed_and_planned_by_agent_id(
    runtime: RuntimeHandle, clock: Clock
) -> None:
    policy = agent_pb2.MemoryPolicy(enabled=True, context_token_budget=BUDGET)
    created = await create(runtime, AGENT, memory_policy=policy)
    assert created.agent.memory_policy.enabled and created.agent.memory_policy.context_token_budget == BUDGET
    for n in (1, 2, 3):
        await submit(runtime, AGENT, prompt(f"f{n}", f"/say note number {n}"))
        await events_until(runtime, AGENT, slept_after_turns(n))
    # The thread keeps memory since the agent was created: every turn was planned from it.
    plans = context_plans(runtime.database_url)
    assert [p["run_id"] for p in plans] == [f"{AGENT}:turn:{n}" for n in (1, 2, 3)]
    assert {p["plan"]["budget_tokens"] for p in plans} == {BUDGET}
    assert plans[2]["plan"]["raw"] is not None  # turns 1 and 2, verbatim

    clock.advance(timedelta(minutes=20))  # the turns' 10-minute window has closed
    planned = (
        await memory(runtime).CompactMemoryNow(
            pb.CompactMemoryNowRequest(agent_id=AGENT), metadata=runtime.md(agent_id=AGENT)
        )
    ).planned
    assert planned and {p.level for p in planned} == {pb.MEMORY_LEVEL_L1}
    by_agent = pb.ListMemoryChunksRequest(agent_id=AGENT, page_size=500)
    chunks = await wait_chunks(runtime, len(planned), by_agent, agent_id=AGENT)
    assert {(c.stream_kind, c.stream_id) for c in chunks} == {("thread", THREAD)}
    by_thread = await memory(runtime).ListMemoryChunks(
        pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=500), metadata=runtime.md(user_id=OWNER)
    )
    # The agent's memory is its thread's. Compared by L1: when the clock's move crossed an hour
    # (the wall time the test starts at decides), the background compactor may add the hour's L2.
    assert [c for c in by_thread.chunks if c.level == pb.MEMORY_LEVEL_L1] == [
        c for c in chunks if c.level == pb.MEMORY_LEVEL_L1
    ]
    l1 = [c.chunk_id for c in chunks if c.level == pb.MEMORY_LEVEL_L1]

    # A fourth turn's context: the summaries of the first three turns, within the budget.
    await submit(runtime, AGENT, prompt("f4", "/say what happened"))
    await events_until(runtime, AGENT, slept_after_turns(4))
    last = (context_plans(runtime.database_url))[-1]
    assert last["run_id"] == f"{AGENT}:turn:4"
    assert last["plan"]["budget_tokens"] == BUDGET and last["plan"]["total_tokens"] <= BUDGET
    # The chunk stands for turns 1-3 and the newest raw events follow on to its last event.
    # (Plus the hour's L2 roll-up of them when the clock's move crossed an hour: see above.)
    in_context = [c[0] for c in last["plan"]["chunks"]]
    assert set(l1) <= set(in_context)
    assert all(c in l1 or c.startswith("mc2_") for c in in_context), in_context
    assert last["plan"]["raw"][1] == max(
        c.seq_range.last_seq for c in chunks if c.level == pb.MEMORY_LEVEL_L1
    )


async def test_requests_by_agent_id_follow_the_agents_access_rule(runtime: RuntimeHandle) -> None:
    await create(runtime, AGENT, memory_policy=agent_pb2.MemoryPolicy(enabled=True))
    request = pb.ListMemoryChunksRequest(agent_id=AGENT)
    for claims in ({"agent_id": AGENT}, {"thread_id": THREAD}, {"user_id": OWNER}):
        listed = await memory(runtime).ListMemoryChunks(request, metadata=runtime.md(**claims))
        assert list(listed.chunks) == []
    refusals: list[tuple[Any, dict[str, Any], grpc.StatusCode, str]] = [
        (request, {"agent_id": "someone-else"}, grpc.StatusCode.PERMISSION_DENIED, "CLAIM_MISMATCH"),
        (request, {"user_id": OWNER + 1}, grpc.StatusCode.PERMISSION_DENIED, "CLAIM_MISMATCH"),
        (pb.ListMemoryChunksRequest(agent_id="no-such"), {}, grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND"),
        (
            pb.ListMemoryChunksRequest(agent_id="no-such"),
            {"agent_id": "no-such"},
            grpc.StatusCode.NOT_FOUND,
            "AGENT_NOT_FOUND",
        ),
        (pb.CompactMemoryNowRequest(agent_id="no-such"), {}, grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND"),
        (
            pb.ListMemoryChunksRequest(agent_id="bad id!"),
            {},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
    ]
    for message, claims, code, reason in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            if isinstance(message, pb.CompactMemoryNowRequest):
                await memory(runtime).CompactMemoryNow(message, metadata=runtime.md(**claims))
            else:
                await memory(runtime).ListMemoryChunks(message, metadata=runtime.md(**claims))
        assert (err.value.code(), error_info(err.value).reason) == (code, reason), (message, claims)
