"""A survivor takes a kill -9'd replica's runs over as soon as the dead replica's
listener connection (which holds its liveness lock) is gone, not on its next
claim round: with a 30 s claim interval and a 60 s lease TTL, only the peer
watch (store/postgres_leases.py) can explain a takeover within seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.chaos_helpers import check_log, run_events, start_run
from tests.e2e.helpers import events_so_far
from tests.support.postgres import PostgresServer
from tests.support.replica import Replica, replica_pair

pytestmark = pytest.mark.slow

PROMPT = "/say before\n/tokens 100 50"
SLOW_CLAIMS = {"RUNTIME_LEASE_TTL_S": "60", "RUNTIME_CLAIM_INTERVAL_S": "30", "RUNTIME_STREAM_POLL_S": "0.3"}
CLAIM_INTERVAL_S = 30.0


@pytest.fixture
async def replicas(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    async with replica_pair(postgres_server.create_database("fast_takeover"), tmp_path, SLOW_CLAIMS) as pair:
        yield pair


async def _executor_of_last_start(replica: Replica, run_id: str) -> str:
    evs = await events_so_far(replica, run_id)
    starts = [e.run_started.executor_id for e in evs if e.type == "run.started"]
    return starts[-1] if starts else ""


async def _until_executed_by(replica: Replica, run_ids: list[str], executor: str, within_s: float) -> None:
    pending = set(run_ids)
    deadline = time.monotonic() + within_s
    while pending:
        assert time.monotonic() < deadline, f"not started by {executor}: {sorted(pending)}"
        for run_id in list(pending):
            if await _executor_of_last_start(replica, run_id) == executor:
                pending.discard(run_id)
        await asyncio.sleep(0.02)


async def test_a_kill_9d_owners_runs_are_taken_over_well_within_the_claim_interval(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    run_ids = [f"fast-{i}" for i in range(8)]
    await asyncio.gather(*(start_run(a, r, PROMPT, thread_id=r) for r in run_ids))
    await _until_executed_by(b, run_ids, "replica-a", within_s=30)

    a.kill()
    killed_at = time.monotonic()
    await _until_executed_by(b, run_ids, "replica-b", within_s=CLAIM_INTERVAL_S / 2)
    took = time.monotonic() - killed_at

    # Well under the claim round and the lease TTL: B noticed A's death itself.
    assert took < 3.0, f"takeover took {took:.2f} s"
    for run_id in run_ids:
        evs = await run_events(b, run_id)  # waits for the run's end
        check_log(evs, 1)
        starts = [(e.run_started.executor_id, e.run_started.attempt) for e in evs if e.type == "run.started"]
        assert starts == [("replica-a", 1), ("replica-b", 2)], (run_id, starts)
