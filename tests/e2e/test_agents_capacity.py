"""A replica executes at most RUNTIME_MAX_AWAKE_AGENTS agent tasks at once (SQLite and
PostgreSQL): 10 agents given frames at once with 2 slots. The frames taken locally start no
task past the bound; the rest stay due in the database and are claimed as slots free, so every
agent's frames are consumed exactly once and the backlog drains."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from oa_runtime.observability import admission_metrics
from oa_runtime.observability.metrics import REGISTRY
from openagents.runtime.v1 import agent_event_pb2

from tests.e2e.agent_helpers import create, events_until, prompt, submit
from tests.support.runtime import RuntimeHandle, running_runtime

SLOTS, AGENTS = 2, 10
FRAMES = ("f1", "f2")


@pytest.fixture
async def capped(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[RuntimeHandle, list[int]]]:
    """One replica with 2 agent slots; the second item records every awake-agents count it set."""
    counts: list[int] = []
    gauge_set = admission_metrics.AGENTS_AWAKE.set

    def record(value: float) -> None:
        counts.append(int(value))
        gauge_set(value)

    monkeypatch.setattr(admission_metrics.AGENTS_AWAKE, "set", record)
    env = {"RUNTIME_MAX_AWAKE_AGENTS": str(SLOTS), "RUNTIME_CLAIM_INTERVAL_S": "0.05"}
    async with running_runtime(database_url, env) as handle:
        yield handle, counts


def consumed(frame_ids: tuple[str, ...]) -> Callable[[list[agent_event_pb2.AgentEvent]], bool]:
    """Done once turns consumed every frame and the agent slept after its last turn."""

    def done(events: list[agent_event_pb2.AgentEvent]) -> bool:
        taken = {f for e in events if e.type == "agent.turn_started" for f in e.turn_started.frame_ids}
        ends = [i for i, e in enumerate(events) if e.type == "agent.turn_finished"]
        return (
            taken >= set(frame_ids)
            and bool(ends)
            and any(e.type == "agent.slept" for e in events[ends[-1] :])
        )

    return done


async def test_awake_agents_stay_within_the_slots_and_the_backlog_drains(
    capped: tuple[RuntimeHandle, list[int]],
) -> None:
    rt, counts = capped
    ids = [f"cap-{i}" for i in range(AGENTS)]
    for agent_id in ids:
        await create(rt, agent_id)
    await asyncio.gather(*(submit(rt, a, *(prompt(f, f"/say {f}") for f in FRAMES)) for a in ids))
    streams = await asyncio.gather(*(events_until(rt, a, consumed(FRAMES), timeout_s=60) for a in ids))
    for agent_id, events in zip(ids, streams, strict=True):
        taken = [f for e in events if e.type == "agent.turn_started" for f in e.turn_started.frame_ids]
        assert sorted(taken) == list(FRAMES), agent_id  # each frame consumed exactly once
    assert max(counts) == SLOTS  # the slots were used, and never exceeded
    for _ in range(200):  # the last task ends just after its agent.slept commits
        if counts[-1] == 0:
            break
        await asyncio.sleep(0.01)
    assert REGISTRY.get_sample_value("oa_agents_awake") == 0
