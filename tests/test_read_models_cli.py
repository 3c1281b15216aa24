"""`oa-runtime reproject` end to end, as an operator runs it: a real database file or
PostgreSQL database, a planted corruption, the JSON lines and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from oa_runtime.app.reproject import catch_up
from oa_runtime.core import events as ev
from oa_runtime.ports import AppendRequest
from oa_runtime.store import open_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.read_models import table
from oa_runtime.store.sql import Done, Flow, command, done

from tests.conformance.helpers import accepted, append, fingerprint, start_request
from tests.conformance.test_read_models import script

CLI = str(Path(sys.executable).parent / "oa-runtime")


def reproject_cli(database_url: str, *args: str) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "RUNTIME_DATABASE_URL": database_url}
    done_ = subprocess.run([CLI, "reproject", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done_.returncode in (0, 1), done_.stderr
    return done_.returncode, [json.loads(line) for line in done_.stdout.splitlines()]


async def seeded(database_url: str) -> list[str]:
    """Three finished runs in one thread, projected; then one message row deleted."""
    store = open_store(database_url)
    assert isinstance(store, SqlStore)
    await store.open()
    try:
        run_ids = []
        for i in range(3):
            request = replace(start_request(f"run-cli-{i}", "thread-cli"), user_id="42")
            assert (await store.create_run(request, fingerprint(request), accepted("thread-cli"))).created
            run_ids.append(request.run_id)
        for run_id in run_ids:
            await append(store, AppendRequest(run_id, script(run_id, 1, ev.OUTCOME_SUCCEEDED)))
        await catch_up(store)
        d = store.dialect

        def corrupt() -> Flow[Done[None]]:
            yield command(d.sql(f"DELETE FROM {table(d, 'messages')} WHERE run_id = ?"), (run_ids[1],))
            return done(None)

        await store._write(corrupt)
    finally:
        await store.close()
    return run_ids


async def test_reproject_reports_drift_exits_nonzero_and_reconciles(database_url: str) -> None:
    run_ids = await seeded(database_url)

    code, lines = reproject_cli(database_url, "--all", "--dry-run")
    assert code == 1
    assert lines[:-1] == [
        {"drift": "message_count_mismatch", "scope": "run", "id": run_ids[1], "expected": 1, "actual": 0}
    ]
    assert lines[-1]["summary"] == {
        "runs_checked": 3,
        "agents_checked": 0,
        "drift_found": 1,
        "reconciled": False,
        "drift_remaining": 1,
    }

    code, lines = reproject_cli(database_url, "--run-id", run_ids[0])
    assert code == 0 and lines[-1]["summary"]["drift_found"] == 0

    code, lines = reproject_cli(database_url, "--thread-id", "thread-cli", "--reconcile")
    assert code == 0
    assert lines[-1]["summary"] == {
        "runs_checked": 3,
        "agents_checked": 0,
        "drift_found": 1,
        "reconciled": True,
        "drift_remaining": 0,
    }

    code, lines = reproject_cli(database_url, "--all", "--dry-run")
    assert code == 0 and lines == [
        {
            "summary": {
                "runs_checked": 3,
                "agents_checked": 0,
                "drift_found": 0,
                "reconciled": False,
                "drift_remaining": 0,
            }
        }
    ]


def test_reproject_needs_a_scope() -> None:
    result = subprocess.run([CLI, "reproject", "--dry-run"], capture_output=True, text=True, timeout=60)
    assert (
        result.returncode == 2
        and "one of the arguments --run-id --thread-id --agent-id --all" in result.stderr
    )


async def test_postgres_read_models_live_in_their_own_schema(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("a schema is PostgreSQL's; SQLite prefixes the table names (laravel_runs)")
    monkeypatch.setenv("RUNTIME_READ_MODEL_SCHEMA", "laravel_rm")
    await seeded(database_url)
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_name IN ('threads', 'runs', 'messages', 'run_events') ORDER BY 1, 2"
        ).fetchall()
        user_ids = conn.execute("SELECT DISTINCT user_id FROM laravel_rm.runs").fetchall()
    assert [t for t in tables if t[0] == "laravel_rm"] == [
        ("laravel_rm", "messages"),
        ("laravel_rm", "run_events"),
        ("laravel_rm", "runs"),
        ("laravel_rm", "threads"),
    ]
    assert ("public", "runs") in tables  # the runtime's own tables stay where they are
    assert user_ids == [(42,)]  # Laravel's users.id: an integer
