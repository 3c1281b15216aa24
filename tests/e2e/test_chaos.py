"""Chaos on PostgreSQL with real replica processes: kill -9, a killed replica's
runs taken over by a survivor, a paused owner fenced off, and PostgreSQL
restarted under load. Every run must finish with a whole log, every recorded
step must have run once, and resuming SSE clients must see every frame once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.chaos_helpers import check_log, full_sse, read_sse, run_events, start_run
from tests.e2e.helpers import events_so_far
from tests.support.postgres import PostgresServer
from tests.support.replica import Replica

pytestmark = pytest.mark.slow

# Two tool steps around a paced token stream: long enough to be cut mid-message. 5 s of
# tokens: `_streaming` polls 32 runs one by one, which on a loaded 2-core machine took longer
# than the 2.5 s this step used to last, so a run could finish before the kill.
PROMPT = '/tool echo {"n": 1}\n/tokens 300 60\n/tool echo {"n": 2}\n/say done'
STEPS = 3
FAST_LEASES = {
    "RUNTIME_LEASE_TTL_S": "2",
    "RUNTIME_CLAIM_INTERVAL_S": "0.2",
    "RUNTIME_STREAM_POLL_S": "0.3",
}


Launch = Callable[..., Awaitable[list[Replica]]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """Starts replica processes on one database (one shared signing secret) and
    waits until all are ready; kills whatever is left at the end."""
    made: list[Replica] = []

    async def start(url: str, *names: str, env: dict[str, str]) -> list[Replica]:
        secret = made[0].secret if made else None
        replicas = [Replica(name, url, tmp_path, env=env, secret=secret) for name in names]
        made.extend(replicas)
        for replica in replicas:
            replica.start()
        await asyncio.gather(*(replica.ready() for replica in replicas))
        return replicas

    yield start
    for replica in made:
        await replica.close()


async def _streaming(replica: Replica, run_ids: list[str], deltas: int = 3) -> None:
    """Waits until every run has streamed a few deltas of its second step."""
    deadline = time.monotonic() + 30
    pending = set(run_ids)
    while pending:
        assert time.monotonic() < deadline, f"runs not streaming: {sorted(pending)[:5]}"
        for run_id in list(pending):
            evs = await events_so_far(replica, run_id)
            if sum(1 for e in evs if e.type == "message.delta") >= deltas:
                pending.discard(run_id)
        await asyncio.sleep(0.1)


async def test_kill_9_during_32_streaming_runs_then_restart(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    url = postgres_server.create_database("chaos_kill")
    (replica,) = await launch(url, "replica-a", env=FAST_LEASES)
    run_ids = [f"kill-{i:02d}" for i in range(32)]
    await asyncio.gather(*(start_run(replica, r, PROMPT, thread_id=r) for r in run_ids))
    readers = [asyncio.create_task(read_sse([replica], r)) for r in run_ids]
    await _streaming(replica, run_ids)

    replica.kill()
    await asyncio.sleep(0.5)
    replica.start()  # the same executor id: it takes its dead incarnation's leases at once
    await replica.ready()
    reads = await asyncio.gather(*readers)

    reexecuted = 0
    for run_id, read in zip(run_ids, reads, strict=True):
        evs = await run_events(replica, run_id)
        reexecuted += check_log(evs, STEPS)
        attempts = [e.run_started.attempt for e in evs if e.type == "run.started"]
        assert attempts == [1, 2], (run_id, attempts)
        assert read.connections >= 2  # the kill cut every stream
        assert read.frames == await full_sse(replica, run_id)  # every frame exactly once
    # Only the step in flight is redone, at most once per run.
    assert reexecuted <= len(run_ids)


async def test_a_survivor_takes_over_a_killed_replicas_runs(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    url = postgres_server.create_database("chaos_takeover")
    # A long TTL: the takeover must come from noticing the owner is dead, not from expiry.
    env = {**FAST_LEASES, "RUNTIME_LEASE_TTL_S": "60"}
    a, b = await launch(url, "replica-a", "replica-b", env=env)
    run_ids = [f"takeover-{i:02d}" for i in range(12)]
    await asyncio.gather(*(start_run(a, r, PROMPT, thread_id=r) for r in run_ids))
    # Streams on B of runs A executes (cross-replica streaming), resuming on B.
    readers = [asyncio.create_task(read_sse([b], r)) for r in run_ids]
    await _streaming(a, run_ids)

    a.kill()
    killed_at = time.monotonic()
    reads = await asyncio.gather(*readers)
    took = time.monotonic() - killed_at

    for run_id, read in zip(run_ids, reads, strict=True):
        evs = await run_events(b, run_id)
        check_log(evs, STEPS)
        starts = [(e.run_started.executor_id, e.run_started.attempt) for e in evs if e.type == "run.started"]
        assert starts == [("replica-a", 1), ("replica-b", 2)], (run_id, starts)
        assert read.connections == 1  # B's streams never broke: they followed the takeover live
        assert read.frames == await full_sse(b, run_id)
    assert took < 30, f"takeover and the rest of the runs took {took:.1f} s"


async def test_a_paused_owner_is_fenced_off_after_its_lease_expires(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    url = postgres_server.create_database("chaos_pause")
    # A 3 s lease: a replica slowed down by a busy machine still renews in time.
    a, b = await launch(url, "replica-a", "replica-b", env={**FAST_LEASES, "RUNTIME_LEASE_TTL_S": "3"})
    run_ids = [f"pause-{i:02d}" for i in range(6)]
    # The pause falls in the model's /sleep, when A is between transactions (a
    # replica stopped inside one keeps its row locks, and rightly its runs).
    prompt = "/say start\n/sleep 5000\n/tokens 20\n/say end"
    await asyncio.gather(*(start_run(a, r, prompt, thread_id=r) for r in run_ids))
    await _streaming(a, run_ids, deltas=1)
    await asyncio.sleep(0.3)

    a.signal(signal.SIGSTOP)  # alive to PostgreSQL (its connections stay open), but silent
    await asyncio.sleep(6.5)  # > TTL (3 s) + claim interval: B takes the runs over on expiry
    a.signal(signal.SIGCONT)  # A wakes up mid-step and tries to carry on
    reads = await asyncio.gather(*(read_sse([b], r) for r in run_ids))

    for run_id, read in zip(run_ids, reads, strict=True):
        evs = await run_events(b, run_id)
        check_log(evs, 1)
        starts = [e.run_started.executor_id for e in evs if e.type == "run.started"]
        assert starts == ["replica-a", "replica-b"], (run_id, starts)
        assert read.frames == await full_sse(b, run_id)
    await asyncio.sleep(1)  # let A's lease keeper notice too
    log = a.log()
    assert "run taken over by another replica" in log or "lease lost" in log, log[-3000:]


async def test_postgres_restart_under_load_loses_nothing_acknowledged(launch: Launch) -> None:
    with PostgresServer() as pg:
        url = pg.create_database("chaos_pg_restart")
        (replica,) = await launch(url, "replica-a", env=FAST_LEASES)
        run_ids = [f"pg-{i:02d}" for i in range(20)]
        await asyncio.gather(*(start_run(replica, r, PROMPT, thread_id=r) for r in run_ids))
        readers = [asyncio.create_task(read_sse([replica], r, within_s=120)) for r in run_ids]
        await _streaming(replica, run_ids)
        seen = {r: await events_so_far(replica, r) for r in run_ids}

        await asyncio.to_thread(pg.stop)
        await _until_ready(replica, False)
        await asyncio.sleep(3)
        await asyncio.to_thread(pg.start)
        await _until_ready(replica, True)  # by itself: nobody restarts the replica
        reads = await asyncio.gather(*readers)

        for run_id, read in zip(run_ids, reads, strict=True):
            evs = await run_events(replica, run_id)
            check_log(evs, STEPS)
            before = seen[run_id]
            assert [e.SerializeToString() for e in evs[: len(before)]] == [
                e.SerializeToString() for e in before
            ]
            assert read.frames == await full_sse(replica, run_id)


async def _until_ready(replica: Replica, ready: bool, within_s: float = 20) -> None:
    from openagents.runtime.v1 import health_service_pb2, health_service_pb2_grpc

    stub = health_service_pb2_grpc.HealthServiceStub(replica.channel)
    deadline = time.monotonic() + within_s
    while True:
        try:
            await stub.Readyz(health_service_pb2.ReadyzRequest(), timeout=2)
            now = True
        except Exception:
            now = False
        if now == ready:
            return
        assert time.monotonic() < deadline, f"readiness did not become {ready}"
        await asyncio.sleep(0.1)


async def test_sigterm_hands_runs_off_at_once_and_ends_streams_cleanly(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    url = postgres_server.create_database("chaos_handoff")
    # Leases that would take a minute to expire: B can only continue this fast
    # because A released them.
    env = {**FAST_LEASES, "RUNTIME_LEASE_TTL_S": "60"}
    a, b = await launch(url, "replica-a", "replica-b", env=env)
    run_ids = [f"handoff-{i:02d}" for i in range(8)]
    await asyncio.gather(*(start_run(a, r, PROMPT, thread_id=r) for r in run_ids))
    # Clients stream from A first; when A's streams end they resume on B.
    readers = [asyncio.create_task(read_sse([a, b], r)) for r in run_ids]
    await _streaming(a, run_ids)

    stopped_at = time.monotonic()
    assert await asyncio.to_thread(a.terminate) == 0
    reads = await asyncio.gather(*readers)
    took = time.monotonic() - stopped_at

    for run_id, read in zip(run_ids, reads, strict=True):
        evs = await run_events(b, run_id)
        check_log(evs, STEPS)
        starts = [(e.run_started.executor_id, e.run_started.attempt) for e in evs if e.type == "run.started"]
        assert starts == [("replica-a", 1), ("replica-b", 2)], (run_id, starts)
        assert read.connections == 2  # A's stream ended cleanly (no [DONE]), B's carried on
        assert read.frames == await full_sse(b, run_id)
    assert took < 30, f"handoff took {took:.1f} s (lease TTL is 60 s)"
    assert '"handed off"' in a.log() and '"runs": 8' in a.log()


async def test_a_cancel_on_one_replica_stops_the_run_on_another(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    from openagents.runtime.v1 import run_event_pb2, run_service_pb2

    url = postgres_server.create_database("chaos_cancel")
    env = {**FAST_LEASES, "RUNTIME_LEASE_TTL_S": "60"}  # no help from the keeper's fallback
    a, b = await launch(url, "replica-a", "replica-b", env=env)
    await start_run(a, "cancel-1", "/say waiting\n/sleep 60000\n/say never", thread_id="c")
    await _streaming(a, ["cancel-1"], deltas=1)

    asked_at = time.monotonic()
    await b.stub.CancelRun(
        run_service_pb2.CancelRunRequest(run_id="cancel-1"), metadata=b.md(run_id="cancel-1"), timeout=5
    )
    evs = await asyncio.wait_for(run_events(b, "cancel-1"), 10)
    took = time.monotonic() - asked_at
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert took < 5, f"the cancel took {took:.1f} s to reach replica A"


async def test_a_run_that_keeps_losing_its_executor_ends_recovery_exhausted(
    postgres_server: PostgresServer, launch: Launch
) -> None:
    from openagents.runtime.v1 import run_event_pb2

    url = postgres_server.create_database("chaos_budget")
    (replica,) = await launch(url, "replica-a", env={**FAST_LEASES, "RUNTIME_RECOVERY_BUDGET": "2"})
    # One long step: no step completes between the kills, so no progress resets the budget.
    await start_run(replica, "doomed", "/tokens 2000 40", thread_id="doomed")
    for attempt in (1, 2, 3):  # the first run, then two recoveries: each is killed mid-step
        deadline = time.monotonic() + 20
        while True:
            evs = await events_so_far(replica, "doomed")
            kinds = [e.type for e in evs]
            if kinds.count("run.started") == attempt and kinds[-1] == "message.delta":
                break
            assert time.monotonic() < deadline, kinds[-5:]
            await asyncio.sleep(0.05)
        replica.kill()
        replica.start()
        await replica.ready()
    evs = await asyncio.wait_for(run_events(replica, "doomed"), 30)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert [e.run_started.attempt for e in evs if e.type == "run.started"] == [1, 2, 3]
    finished = evs[-1].run_finished
    assert finished.outcome == run_event_pb2.RUN_OUTCOME_FAILED
    assert finished.reason == "executor_recovery_exhausted", finished
