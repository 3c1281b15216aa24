"""Agent schedules and timers over gRPC with an injected clock, on SQLite and PostgreSQL: a
sleeping agent is woken by its cron schedule and by a timer its own turn set through the
timer tool; each instant fires once, also after a restart of the service on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2
from openagents.runtime.v1 import agent_event_pb2, agent_pb2

from tests.e2e.agent_helpers import create, events_until, get, prompt, slept_after_turns, submit, types
from tests.support.runtime import RuntimeHandle, running_runtime

T0 = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
FAST = {"RUNTIME_CLAIM_INTERVAL_S": "0.1"}


class Clock:
    """The time the service's agents decide by; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@asynccontextmanager
async def service(database_url: str, clock: Clock) -> AsyncIterator[RuntimeHandle]:
    async with running_runtime(database_url, env=FAST, clock=clock) as rt:
        yield rt


def fired(events: list[agent_event_pb2.AgentEvent]) -> list[str]:
    return [e.timer_fired.frame_id for e in events if e.type == "agent.timer_fired"]


async def test_a_cron_schedule_wakes_a_sleeping_agent_once_per_instant(database_url: str) -> None:
    clock = Clock(T0)
    schedule = agent_pb2.Schedule(
        schedule_id="every",
        cron="* * * * *",
        text="/say tick",
        catch_up=agent_pb2.CATCH_UP_POLICY_ONCE,
        misfire_grace=duration_pb2.Duration(seconds=30),
    )
    async with service(database_url, clock) as rt:
        created = await create(rt, "c1", schedules=[schedule])
        assert created.agent.wake_time.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
        clock.advance(timedelta(seconds=35))  # 12:01:05
        first = await events_until(rt, "c1", slept_after_turns(1))
        assert fired(first) == ["cron:every:20261130T120100Z"]
        started = next(e.turn_started for e in first if e.type == "agent.turn_started")
        assert list(started.frame_ids) == ["cron:every:20261130T120100Z"]
        # Down for four minutes: the instants older than the grace are caught up once.
        clock.advance(timedelta(minutes=4))  # 12:05:05
        after = await events_until(rt, "c1", slept_after_turns(1), after_seq=first[-1].seq)
        assert fired(after)[-1] == "cron:every:20261130T120500Z"
        last_seq = (await get(rt, "c1")).last_seq
    async with service(database_url, clock) as rt:  # a restart at the same instant fires nothing
        agent = await get(rt, "c1")
        assert agent.last_seq == last_seq and agent.state == agent_pb2.AGENT_STATE_SLEEPING
        everything = await events_until(rt, "c1", lambda es: len(es) >= last_seq)
        ids = fired(everything)
        assert len(ids) == len(set(ids))


async def test_a_turn_sets_a_timer_that_wakes_the_agent(database_url: str) -> None:
    clock = Clock(T0)
    async with service(database_url, clock) as rt:
        await create(rt, "t1")
        call = (
            '/tool timer {"action": "set", "timer_id": "remind", "after_seconds": 60, "text": "/say wake up"}'
        )
        await submit(rt, "t1", prompt("f1", call))
        first = await events_until(rt, "t1", slept_after_turns(1))
        assert "agent.timer_set" in types(first)
        agent = await get(rt, "t1")
        assert [t.timer_id for t in agent.timers] == ["remind"]
        due = T0 + timedelta(seconds=60)
        assert agent.timers[0].fire_at.ToDatetime(tzinfo=UTC) == due
        assert agent.wake_time.ToDatetime(tzinfo=UTC) == due
        clock.advance(timedelta(seconds=61))
        second = await events_until(rt, "t1", slept_after_turns(1), after_seq=first[-1].seq)
        timer_seq = next(e.seq for e in first if e.type == "agent.timer_set")
        assert fired(second) == [f"timer:remind:{timer_seq}"]
        assert [e.turn_started.frame_ids[0] for e in second if e.type == "agent.turn_started"] == [
            f"timer:remind:{timer_seq}"
        ]
        assert list((await get(rt, "t1")).timers) == []
