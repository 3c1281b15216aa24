"""Schedules across two replicas on one PostgreSQL database, with one injected clock: 40 agents
with a cron schedule each, the clock moved minute by minute; both replicas' claimers race for
every due agent, and each instant fires exactly once (no duplicate, no miss)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from openagents.runtime.v1 import agent_event_pb2, agent_pb2, run_service_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb
from openagents.runtime.v1 import agent_service_pb2_grpc as pb_grpc

from tests.e2e.test_agents_schedules import Clock
from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
AGENTS, MINUTES = 40, 6
# 10 agent slots a replica for 40 due agents: neither replica can take every due agent of a
# minute (without a cap the first claimer to look took all 40, and over 6 minutes one replica
# sometimes took every turn: the flaky "both replicas" check).
FAST = {"RUNTIME_CLAIM_INTERVAL_S": "0.05", "RUNTIME_AGENT_POLL_S": "0.05", "RUNTIME_MAX_AWAKE_AGENTS": "10"}


async def fired(rt: RuntimeHandle, agent_id: str) -> list[agent_event_pb2.AgentEvent]:
    stub = pb_grpc.AgentServiceStub(rt.channel)
    last = (await stub.GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=rt.md())).agent.last_seq
    out = []
    call = stub.StreamAgentEvents(pb.StreamAgentEventsRequest(agent_id=agent_id), metadata=rt.md())
    async for message in call:
        out.append(message.event)
        if message.event.seq >= last:
            call.cancel()
            break
    return [e for e in out if e.type == "agent.timer_fired"]


async def executor_of(rt: RuntimeHandle, run_id: str) -> str:
    """The executor id of the run's `run.started` event."""
    request = run_service_pb2.StreamRunEventsRequest(run_id=run_id)
    async for message in rt.stub.StreamRunEvents(request, metadata=rt.md()):
        if message.event.type == "run.started":
            return str(message.event.run_started.executor_id)
    raise AssertionError(f"{run_id} has no run.started")


async def test_each_instant_fires_once_across_two_replicas(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("agents_schedules_replicas")
    clock = Clock(T0)
    schedule = agent_pb2.Schedule(schedule_id="tick", cron="* * * * *", text="/say tick")
    async with (
        running_runtime(url, env={**FAST, "RUNTIME_EXECUTOR_ID": "replica-a"}, clock=clock) as a,
        running_runtime(
            url, env={**FAST, "RUNTIME_EXECUTOR_ID": "replica-b"}, clock=clock, secret=a.secret
        ) as b,
    ):
        ids = [f"cron-{i:02d}" for i in range(AGENTS)]
        for i, agent_id in enumerate(ids):
            replica = (a, b)[i % 2]
            await pb_grpc.AgentServiceStub(replica.channel).CreateAgent(
                pb.CreateAgentRequest(agent_id=agent_id, thread_id=f"t-{agent_id}", schedules=[schedule]),
                metadata=replica.md(),
            )
        for minute in range(1, MINUTES + 1):
            clock.advance(timedelta(minutes=1))
            deadline = asyncio.get_running_loop().time() + 30
            while True:  # every agent has fired this minute's instant and gone back to sleep
                states = await asyncio.gather(
                    *(
                        pb_grpc.AgentServiceStub(a.channel).GetAgent(
                            pb.GetAgentRequest(agent_id=x), metadata=a.md()
                        )
                        for x in ids
                    )
                )
                due = T0.replace(second=0) + timedelta(minutes=minute + 1)
                if all(
                    s.agent.state == agent_pb2.AGENT_STATE_SLEEPING
                    and s.agent.wake_time.ToDatetime(tzinfo=UTC) == due
                    and s.agent.pending_frame_count == 0
                    for s in states
                ):
                    break
                assert asyncio.get_running_loop().time() < deadline, f"minute {minute} did not settle"
                await asyncio.sleep(0.05)
        counts: Counter[tuple[str, str]] = Counter()
        for agent_id in ids:
            for event in await fired(b, agent_id):
                counts[agent_id, event.timer_fired.frame_id] += 1
        assert len(counts) == AGENTS * MINUTES  # no miss
        assert set(counts.values()) == {1}  # no duplicate
        runs = [f"{agent_id}:turn:{turn}" for agent_id in ids for turn in range(1, MINUTES + 1)]
        executors = set(await asyncio.gather(*(executor_of(a, run_id) for run_id in runs)))
        assert executors == {"replica-a", "replica-b"}  # both replicas took due agents
