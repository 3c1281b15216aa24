"""kill -9 of a replica (a real process) while its projector applies a batch of Laravel's read
models, on SQLite and PostgreSQL (issue 15, tests). Runs stream on a first replica that keeps no
read models (RUNTIME_READ_MODELS=0) and are cut by a kill -9; a backlog of finished runs is added
(~12,800 events in all). The next replica's projector then steps batch after batch (2000 events
each, a full step followed by the next at once) from position 0, and is killed as soon as the
checkpoint has moved at least once with events still pending (on PostgreSQL, also only while the
projection's transaction holds its advisory lock: the kill lands inside a batch; on SQLite the
open transaction is not observable from outside, only likely). The test checks that the dead
process left a partial projection. After a restart (the cut runs resumed to their end) the read
models must equal a fresh fold of the log (`oa-runtime reproject --all` finds no drift) and every
event must be in `run_events` exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from oa_runtime.core import events as ev
from oa_runtime.core.read_models import LARAVEL_READ_MODELS
from oa_runtime.ports import AppendRequest
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_pb2, run_service_pb2

from tests.conformance.helpers import accepted, fingerprint, start_request
from tests.conformance.test_read_models import script
from tests.e2e.chaos_helpers import start_run
from tests.e2e.helpers import events_so_far
from tests.support.replica import Replica

BACKLOG_RUNS = 400  # x 30 events: several of the projector's 2000-event batches
LIVE_RUNS = [f"live-{i}" for i in range(4)]
LIVE_PROMPT = "/tokens 150 50\n/say done"  # about 3 s of deltas each
ENV = {"RUNTIME_LEASE_TTL_S": "2", "RUNTIME_CLAIM_INTERVAL_S": "0.2"}
CLI = str(Path(sys.executable).parent / "oa-runtime")
NAME = LARAVEL_READ_MODELS.name


async def append_backlog(database_url: str) -> None:
    """Finished runs appended to the log while no replica runs (SQLite is single-process)."""
    store = open_store(database_url)
    await store.open()
    try:
        requests = []
        for i in range(BACKLOG_RUNS):
            request = replace(start_request(f"backlog-{i:03d}", f"thread-{i % 40}"), user_id="42")
            assert (
                await store.create_run(request, fingerprint(request), accepted(request.thread_id))
            ).created
            requests.append(AppendRequest(request.run_id, script(request.run_id, 7, ev.OUTCOME_SUCCEEDED)))
        for result in await store.append_many(requests):
            assert not isinstance(result, Exception), result
    finally:
        await store.close()


def query_one(database_url: str, sql_sqlite: str, sql_postgres: str) -> tuple[Any, ...]:
    """One row of a statement on the database (another connection than the replica's)."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10)) as conn:
            row: tuple[Any, ...] = conn.execute(sql_sqlite).fetchone()
        return row
    with psycopg.connect(database_url, autocommit=True) as pg:
        fetched = pg.execute(sql_postgres).fetchone()
        assert fetched is not None
        return tuple(fetched)


def positions(database_url: str) -> tuple[int, int, bool]:
    """(read models' checkpoint, log head, the projection's transaction holds its lock now:
    PostgreSQL's advisory lock `try_lock_projections` takes; False on SQLite, not observable)."""
    checkpoint = f"(SELECT position FROM projection_checkpoints WHERE name = '{NAME}')"
    head = "(SELECT position FROM log_head WHERE id = 1)"
    held = (
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        f" AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('{NAME}', 1))"
    )
    row = query_one(
        database_url,
        f"SELECT coalesce({checkpoint}, 0), {head}, 0",
        f"SELECT coalesce({checkpoint}, 0), {head}, {held}",
    )
    return int(row[0]), int(row[1]), bool(row[2])


def event_counts(database_url: str) -> tuple[int, int, int]:
    """(events in the log, rows in run_events, distinct (run_id, seq) of run_events)."""
    events, rows, distinct = query_one(
        database_url,
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM laravel_run_events),"
        " (SELECT count(*) FROM (SELECT DISTINCT run_id, seq FROM laravel_run_events))",
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM laravel.run_events),"
        " (SELECT count(*) FROM (SELECT DISTINCT run_id, seq FROM laravel.run_events) d)",
    )
    return int(events), int(rows), int(distinct)


async def kill_mid_batch(replica: Replica, database_url: str) -> tuple[int, int]:
    """Polls (from the replica's start) until the checkpoint has moved and events are still
    pending (on PostgreSQL: and a projection transaction holds the lock), then kill -9;
    (checkpoint, head) seen just before."""
    postgres = not database_url.startswith("sqlite")
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"no partial projection seen\n{replica.log()[-3000:]}"
        checkpoint, head, held = positions(database_url)
        if 0 < checkpoint < head and (held or not postgres):
            replica.kill()
            return checkpoint, head
        await asyncio.sleep(0.005)


async def wait_finished(replica: Replica, run_id: str) -> None:
    async with asyncio.timeout(60):
        while True:
            run = (
                await replica.stub.GetRun(
                    run_service_pb2.GetRunRequest(run_id=run_id),
                    metadata=replica.md(run_id=run_id),
                    timeout=10,
                )
            ).run
            if run.state == run_pb2.RUN_STATE_SUCCEEDED:
                return
            await asyncio.sleep(0.1)


async def wait_projected(database_url: str) -> None:
    async with asyncio.timeout(60):
        while True:
            checkpoint, head, _ = positions(database_url)
            if checkpoint == head:
                return
            await asyncio.sleep(0.05)


def reproject_all(database_url: str) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "RUNTIME_DATABASE_URL": database_url}
    done = subprocess.run(
        [CLI, "reproject", "--all", "--dry-run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


async def streaming(replica: Replica, run_id: str) -> None:
    """Waits until the run has streamed a few deltas."""
    async with asyncio.timeout(30):
        while True:
            if sum(e.type == "message.delta" for e in await events_so_far(replica, run_id)) >= 3:
                return
            await asyncio.sleep(0.05)


async def test_kill_9_mid_projection_batch_then_restart(database_url: str, tmp_path: Path) -> None:
    # Runs streaming on a replica that keeps no read models, cut by a kill -9 (resumed later);
    # then a backlog of finished runs: the whole log waits for the read models' projector.
    first = Replica("projector-a", database_url, tmp_path, env={**ENV, "RUNTIME_READ_MODELS": "0"})
    replica = Replica("projector-a", database_url, tmp_path, env=ENV, secret=first.secret)
    try:
        first.start()
        await first.ready()
        for run_id in LIVE_RUNS:
            await start_run(first, run_id, LIVE_PROMPT, thread_id="live")
        await asyncio.gather(*(streaming(first, run_id) for run_id in LIVE_RUNS))
        first.kill()
        await append_backlog(database_url)
        assert positions(database_url)[0] == 0
        # The projector steps batch after batch from 0 (and the runs are resumed): kill in a batch.
        replica.start()
        checkpoint, head = await kill_mid_batch(replica, database_url)
        after_kill, head_after_kill, _ = positions(database_url)
        # What the dead process left: some batches committed, the rest of the log still pending.
        assert checkpoint <= after_kill < head_after_kill and head <= head_after_kill, (
            checkpoint,
            head,
            after_kill,
        )
        replica.start()
        await replica.ready()
        for run_id in LIVE_RUNS:
            await wait_finished(replica, run_id)
        await wait_projected(database_url)
        assert replica.terminate() == 0
    finally:
        await first.close()
        await replica.close()
    await wait_projected(database_url)  # nothing appended after the last step
    code, lines = reproject_all(database_url)
    summary = {
        "runs_checked": BACKLOG_RUNS + len(LIVE_RUNS),
        "agents_checked": 0,
        "drift_found": 0,
        "reconciled": False,
    }
    assert (code, lines) == (0, [{"summary": {**summary, "drift_remaining": 0}}])
    events, rows, distinct = event_counts(database_url)
    assert events == rows == distinct
