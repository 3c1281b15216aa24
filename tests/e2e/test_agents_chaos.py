"""Agent chaos on PostgreSQL with two replica processes: kill -9 of one while 10 agents run
turns (frames given to both replicas) and 200 agents sleep. Every acknowledged frame is
consumed by exactly one turn, in order; every agent ends asleep; sleeping agents hold no lease.
And kill -9 of one while cron instants and one-shot timers fire on both (one clock the two
processes share): every instant fires once, every timer once, every frame is consumed once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from openagents.runtime.v1 import agent_event_pb2, agent_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb
from openagents.runtime.v1 import agent_service_pb2_grpc as pb_grpc

from tests.e2e.chaos_helpers import run_events
from tests.e2e.helpers import events_so_far
from tests.support.clocked_replica import write_time
from tests.support.postgres import PostgresServer
from tests.support.replica import Replica

pytestmark = pytest.mark.slow

FAST_LEASES = {"RUNTIME_LEASE_TTL_S": "2", "RUNTIME_CLAIM_INTERVAL_S": "0.2", "RUNTIME_STREAM_POLL_S": "0.3"}
TURN = "/tokens 40 40\n/say ok"  # about a second of streaming per turn: a kill lands mid-turn
BUSY, ASLEEP, FRAMES = 10, 200, 4


def stub(replica: Replica) -> pb_grpc.AgentServiceStub:
    return pb_grpc.AgentServiceStub(replica.channel)


@pytest.fixture
async def replicas(
    postgres_server: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[Replica, Replica, str]]:
    url = postgres_server.create_database("agents_chaos")
    a = Replica("replica-a", url, tmp_path, env=FAST_LEASES)
    b = Replica("replica-b", url, tmp_path, env=FAST_LEASES, secret=a.secret)
    for replica in (a, b):
        replica.start()
    await asyncio.gather(a.ready(), b.ready())
    try:
        yield a, b, url
    finally:
        await a.close()
        await b.close()


async def submit(replica: Replica, agent_id: str, frame_id: str) -> bool:
    """True once the frame is acknowledged (durable); False when the replica is gone."""
    frame = agent_pb2.Frame(frame_id=frame_id, kind=agent_pb2.FRAME_KIND_USER_PROMPT, text=TURN)
    try:
        await stub(replica).SubmitFrames(
            pb.SubmitFramesRequest(agent_id=agent_id, frames=[frame]), metadata=replica.md(), timeout=10
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.CANCELLED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ):
            return False
        raise
    return True


async def all_events(replica: Replica, agent_id: str, last_seq: int) -> list[agent_event_pb2.AgentEvent]:
    out: list[agent_event_pb2.AgentEvent] = []
    call = stub(replica).StreamAgentEvents(
        pb.StreamAgentEventsRequest(agent_id=agent_id), metadata=replica.md(), timeout=30
    )
    async for message in call:
        out.append(message.event)
        if message.event.seq >= last_seq:
            call.cancel()
            break
    return out


async def settled(replica: Replica, agent_ids: list[str], within_s: float = 90) -> dict[str, agent_pb2.Agent]:
    """Each agent once it sleeps with nothing pending."""
    deadline = time.monotonic() + within_s
    done: dict[str, agent_pb2.Agent] = {}
    while len(done) < len(agent_ids):
        assert time.monotonic() < deadline, f"not settled: {sorted(set(agent_ids) - set(done))}"
        for agent_id in agent_ids:
            if agent_id in done:
                continue
            agent = (
                await stub(replica).GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=replica.md())
            ).agent
            if agent.state == agent_pb2.AGENT_STATE_SLEEPING and agent.pending_frame_count == 0:
                done[agent_id] = agent
        await asyncio.sleep(0.2)
    return done


async def turns_running_on(
    victim: Replica, observer: Replica, agent_ids: list[str], at_least: int = 2
) -> None:
    """Waits until `victim` is streaming the turns of at least `at_least` agents (so a kill cuts them)."""
    deadline = time.monotonic() + 60
    while True:
        running = 0
        for agent_id in agent_ids:
            request = pb.GetAgentRequest(agent_id=agent_id)
            agent = (await stub(observer).GetAgent(request, metadata=observer.md())).agent
            if agent.state != agent_pb2.AGENT_STATE_RUNNING or not agent.current_run_id:
                continue
            with contextlib.suppress(grpc.aio.AioRpcError):  # the run may be a moment from existing
                events = await events_so_far(observer, agent.current_run_id)
                executors = [e.run_started.executor_id for e in events if e.type == "run.started"]
                deltas = sum(e.type == "message.delta" for e in events)
                running += (
                    executors[-1:] == [victim.name] and deltas > 0 and events[-1].type != "run.finished"
                )
        if running >= at_least:
            return
        assert time.monotonic() < deadline, "the victim never ran turns"
        await asyncio.sleep(0.05)


async def test_kill_9_while_agents_run_turns_loses_and_repeats_no_frame(
    replicas: tuple[Replica, Replica, str],
) -> None:
    a, b, url = replicas
    busy = [f"busy-{i}" for i in range(BUSY)]
    asleep = [f"asleep-{i:03d}" for i in range(ASLEEP)]
    for i, agent_id in enumerate(busy + asleep):
        owner = a if i % 2 else b
        await stub(owner).CreateAgent(
            pb.CreateAgentRequest(agent_id=agent_id, thread_id=f"thread-{agent_id}"), metadata=owner.md()
        )
    acknowledged: dict[str, list[str]] = {agent_id: [] for agent_id in busy}

    async def feed(agent_id: str, replica: Replica, first: int, count: int) -> None:
        for n in range(first, first + count):
            if await submit(replica, agent_id, f"f{n}"):
                acknowledged[agent_id].append(f"f{n}")
            await asyncio.sleep(0.3)

    # Half the frames through each replica while turns run, then A dies mid-turn.
    feeding = [asyncio.create_task(feed(x, a if i % 2 else b, 0, FRAMES // 2)) for i, x in enumerate(busy)]
    await turns_running_on(a, b, busy[1::2])
    a.kill()
    await asyncio.gather(*feeding)
    await asyncio.gather(*(feed(x, b, FRAMES // 2, FRAMES // 2) for x in busy))
    finals = await settled(b, busy)

    resumed_runs = 0
    for agent_id in busy:
        events = await all_events(b, agent_id, finals[agent_id].last_seq)
        assert [e.seq for e in events] == list(range(1, finals[agent_id].last_seq + 1))
        received = [e.frame_received.frame_id for e in events if e.type == "agent.frame_received"]
        consumed = [
            f
            for e in events
            if e.type == "agent.turn_started" and e.turn_started.attempt == 1
            for f in e.turn_started.frame_ids
        ]
        assert set(acknowledged[agent_id]) <= set(received), (agent_id, acknowledged[agent_id], received)
        assert consumed == received, (agent_id, consumed, received)  # each once, in order
        finished = [e.turn_finished.run_id for e in events if e.type == "agent.turn_finished"]
        started = [e.turn_started.run_id for e in events if e.type == "agent.turn_started"]
        assert finished == started  # every turn ended, none twice
        for run_id in started:
            runs = [e for e in await run_events(b, run_id) if e.type == "run.started"]
            resumed_runs += len(runs) > 1
    assert resumed_runs > 0, "the kill cut no turn: the test proved nothing"

    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (
            await conn.execute("SELECT count(*) FROM agents WHERE lease_owner IS NOT NULL")
        ).fetchone()
        assert rows is not None and rows[0] == 0  # everyone sleeps: nobody holds a lease
        rows = await (await conn.execute("SELECT count(*) FROM agents WHERE status = 'sleeping'")).fetchone()
        assert rows is not None and rows[0] == BUSY + ASLEEP


# ----- schedules and timers across a kill -9 (one clock the replica processes share) -----

CRON_AGENTS, MINUTES, KILL_AT = 12, 4, 2
CLOCK_T0 = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
# 1.5 s of streaming, so the kill lands mid-turn (a line of its own: the frame label comes first).
TICK = "\n/tokens 60 40\n/say tick"
SET_TIMER = '/tool timer {"action": "set", "timer_id": "once", "after_seconds": 90, "text": "/say rung"}'


@pytest.fixture
async def clocked(
    postgres_server: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[Replica, Replica, Path]]:
    """Two replica processes whose agents decide by one clock file (tests/support/clocked_replica.py),
    at second 30 of a minute (so each +60 s move crosses exactly one instant)."""
    url = postgres_server.create_database("agents_clock_chaos")
    clock = tmp_path / "clock"
    write_time(clock, CLOCK_T0)
    env = {**FAST_LEASES, "PYTHONPATH": str(Path(__file__).parents[2])}
    args = ("-m", "tests.support.clocked_replica", str(clock))
    a = Replica("replica-a", url, tmp_path, env=env, args=args)
    b = Replica("replica-b", url, tmp_path, env=env, secret=a.secret, args=args)
    for replica in (a, b):
        replica.start()
    await asyncio.gather(a.ready(), b.ready())
    try:
        yield a, b, clock
    finally:
        await a.close()
        await b.close()


async def fired_minute(replica: Replica, agent_ids: list[str], due: datetime, within_s: float = 60) -> None:
    """Until every agent fired the instants before `due` and sleeps until `due`."""
    deadline = time.monotonic() + within_s
    while True:
        states = await asyncio.gather(
            *(
                stub(replica).GetAgent(pb.GetAgentRequest(agent_id=x), metadata=replica.md())
                for x in agent_ids
            )
        )
        if all(
            s.agent.state == agent_pb2.AGENT_STATE_SLEEPING
            and s.agent.pending_frame_count == 0
            and s.agent.wake_time.ToDatetime(tzinfo=UTC) == due
            for s in states
        ):
            return
        assert time.monotonic() < deadline, f"instants before {due} did not settle"
        await asyncio.sleep(0.1)


async def turn_streaming_on(observer: Replica, agent_ids: list[str], within_s: float = 30) -> str:
    """The replica (name) streaming some agent's turn now: claimers race, either may hold them all."""
    deadline = time.monotonic() + within_s
    while True:
        for agent_id in agent_ids:
            agent = (
                await stub(observer).GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=observer.md())
            ).agent
            if agent.state != agent_pb2.AGENT_STATE_RUNNING or not agent.current_run_id:
                continue
            with contextlib.suppress(grpc.aio.AioRpcError):  # the run may be a moment from existing
                events = await events_so_far(observer, agent.current_run_id)
                started = [e.run_started.executor_id for e in events if e.type == "run.started"]
                if (
                    started
                    and any(e.type == "message.delta" for e in events)
                    and events[-1].type != "run.finished"
                ):
                    return str(started[-1])
        assert time.monotonic() < deadline, "no turn streamed"
        await asyncio.sleep(0.02)


async def test_kill_9_while_schedules_fire_each_instant_and_timer_fires_once(
    clocked: tuple[Replica, Replica, Path],
) -> None:
    a, b, clock = clocked
    schedule = agent_pb2.Schedule(
        schedule_id="tick", cron="* * * * *", text=TICK, catch_up=agent_pb2.CATCH_UP_POLICY_ALL
    )
    ids = [f"cron-{i:02d}" for i in range(CRON_AGENTS)]
    for i, agent_id in enumerate(ids):
        owner = (a, b)[i % 2]
        request = pb.CreateAgentRequest(agent_id=agent_id, thread_id=f"t-{agent_id}", schedules=[schedule])
        await stub(owner).CreateAgent(request, metadata=owner.md())
        frame = agent_pb2.Frame(frame_id="set", kind=agent_pb2.FRAME_KIND_USER_PROMPT, text=SET_TIMER)
        await stub(owner).SubmitFrames(
            pb.SubmitFramesRequest(agent_id=agent_id, frames=[frame]), metadata=owner.md()
        )
    first = (await stub(b).GetAgent(pb.GetAgentRequest(agent_id=ids[0]), metadata=b.md())).agent
    instant = first.wake_time.ToDatetime(tzinfo=UTC)  # the next whole minute: every agent's first instant
    await fired_minute(b, ids, instant)
    for agent_id in ids:  # each turn set its one-shot timer (due between the second and third instant)
        agent = (await stub(b).GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=b.md())).agent
        assert [t.timer_id for t in agent.timers] == ["once"], agent_id
    alive = b
    for minute in range(1, MINUTES + 1):
        write_time(clock, CLOCK_T0 + timedelta(minutes=minute))
        if minute == KILL_AT:  # instants and timers fire: kill the replica running turns, mid-turn
            victim = await turn_streaming_on(a, ids)
            alive = b if victim == a.name else a
            (a if victim == a.name else b).kill()
        await fired_minute(alive, ids, instant + timedelta(minutes=minute))

    expected_cron = {f"cron:tick:{(instant + timedelta(minutes=m)):%Y%m%dT%H%M%SZ}" for m in range(MINUTES)}
    resumed = 0
    for agent_id in ids:
        request = pb.GetAgentRequest(agent_id=agent_id)
        last_seq = (await stub(alive).GetAgent(request, metadata=alive.md())).agent.last_seq
        events = await all_events(alive, agent_id, last_seq)
        assert [e.seq for e in events] == list(range(1, last_seq + 1))
        fired = [e.timer_fired.frame_id for e in events if e.type == "agent.timer_fired"]
        assert sorted(f for f in fired if f.startswith("cron:")) == sorted(expected_cron), agent_id
        assert len([f for f in fired if f.startswith("timer:once:")]) == 1, (agent_id, fired)  # fired once
        received = [e.frame_received.frame_id for e in events if e.type == "agent.frame_received"]
        consumed = [
            f
            for e in events
            if e.type == "agent.turn_started" and e.turn_started.attempt == 1
            for f in e.turn_started.frame_ids
        ]
        assert sorted(consumed) == sorted(received + fired), agent_id  # each frame consumed once
        assert len(consumed) == len(set(consumed)), agent_id
        started = [e.turn_started.run_id for e in events if e.type == "agent.turn_started"]
        assert [e.turn_finished.run_id for e in events if e.type == "agent.turn_finished"] == started
        for run_id in started:
            resumed += len([e for e in await run_events(alive, run_id) if e.type == "run.started"]) > 1
    assert resumed > 0, "the kill cut no turn: the test proved nothing"
