"""Existing databases migrate forward: a database written by the release before
streams (schema 0001-0002, events keyed by run id) opens with the current code
and everything reads back, numbered in the global log."""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.canonical import canonical_json
from oa_runtime.core.errors import NotThreadOwner
from oa_runtime.core.projections import THREAD_MESSAGES
from oa_runtime.core.records import StartRequest
from oa_runtime.core.run_state import RunState, RunStatus, apply
from oa_runtime.engine.projector import Projector
from oa_runtime.engine.thread_history import thread_history
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import PostgresEventStore, SqliteEventStore
from oa_runtime.store.common import migrations
from psycopg.types.json import Jsonb

from .conftest import make_store
from .helpers import append, fingerprint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD_VERSIONS = (1, 2)


@functools.cache
def old_runs() -> list[tuple[StartRequest, list[ev.NewEvent]]]:
    """Two finished runs on one thread and one still running, written interleaved."""
    runs = []
    for n, text in enumerate(["first answer", "second answer", ""]):
        request = StartRequest(
            run_id=f"old-{n}", thread_id="old-thread", user_id="7", prompt=f"question {n}", model="scripted"
        )
        events = [
            ev.run_accepted("old-thread", "scripted", f"m{n}"),
            ev.run_started("exec", 1),
            ev.step_started(1),
        ]
        if text:
            events += [
                ev.message_delta(f"txt-{n}", text),
                ev.message_completed(f"txt-{n}", text),
                ev.step_finished(1, ev.STEP_STOP),
                ev.run_finished(ev.OUTCOME_SUCCEEDED, ev.STEP_STOP),
            ]
        runs.append((request, events))
    return runs


@functools.cache
def old_rows() -> tuple[list[dict[str, Any]], list[tuple[str, int, str, str, datetime, dict[str, Any]]]]:
    """The runs and events rows the old code path wrote (its create_run and append)."""
    run_rows, event_rows = [], []
    for n, (request, events) in enumerate(old_runs()):
        state = RunState()
        for seq, event in enumerate(events, start=1):
            state = apply(state, event)
            # Interleaved in time: run n's k-th event at k*10+n ms.
            moment = T0 + timedelta(milliseconds=seq * 10 + n)
            event_rows.append((request.run_id, seq, event.event_id, event.type, moment, dict(event.payload)))
        run_rows.append({"request": request, "state": state, "created": T0 + timedelta(milliseconds=n)})
    return run_rows, event_rows


def write_old_sqlite(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for version, sql in migrations("sqlite"):
        if version in OLD_VERSIONS:
            conn.executescript(f"BEGIN;{sql};INSERT INTO schema_migrations VALUES ({version}, 'x');COMMIT;")
    run_rows, event_rows = old_rows()
    conn.execute("INSERT INTO threads VALUES ('old-thread', ?)", (T0.isoformat(timespec="microseconds"),))
    for row in run_rows:
        request, state = row["request"], row["state"]
        created = row["created"].isoformat(timespec="microseconds")
        conn.execute(
            "INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at, updated_at,"
            " last_seq, step_count, finish_reason, error_message, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.run_id,
                request.thread_id,
                canonical_json(request.to_json()),
                fingerprint(request),
                state.status.value,
                created,
                created,
                state.last_seq,
                state.step,
                state.finish_reason,
                state.error_message,
                canonical_json(state.to_json()),
            ),
        )
    conn.executemany(
        "INSERT INTO events (run_id, seq, event_id, type, occurred_at, payload) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (r, s, i, t, m.isoformat(timespec="microseconds"), json.dumps(p))
            for r, s, i, t, m, p in event_rows
        ],
    )
    conn.close()


def write_old_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for version, sql in migrations("postgres"):
            if version in OLD_VERSIONS:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations VALUES (%s, now())", (version,))
        run_rows, event_rows = old_rows()
        conn.execute("INSERT INTO threads VALUES ('old-thread', %s)", (T0,))
        for row in run_rows:
            request, state = row["request"], row["state"]
            conn.execute(
                "INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at, updated_at,"
                " last_seq, step_count, finish_reason, error_message, state)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    request.run_id,
                    request.thread_id,
                    Jsonb(request.to_json()),
                    fingerprint(request),
                    state.status.value,
                    row["created"],
                    row["created"],
                    state.last_seq,
                    state.step,
                    state.finish_reason,
                    state.error_message,
                    Jsonb(state.to_json()),
                ),
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (run_id, seq, event_id, type, occurred_at, payload)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(r, s, i, t, m, Jsonb(p)) for r, s, i, t, m, p in event_rows],
            )


async def test_a_database_of_the_previous_release_reads_back(store_url: str) -> None:
    if store_url.startswith("sqlite"):
        write_old_sqlite(store_url.removeprefix("sqlite:///"))
    else:
        write_old_postgres(store_url)
    _, event_rows = old_rows()

    store = make_store(store_url)
    await store.open()
    try:
        assert isinstance(store, SqliteEventStore | PostgresEventStore)
        assert store.applied_migrations == [v for v, _ in migrations(store.backend) if v > 2]
        # Every run and event reads back as written.
        for request, events in old_runs():
            stored = await store.read_events(request.run_id, 0)
            assert [(e.seq, e.event_id, e.type, dict(e.payload)) for e in stored] == [
                (seq, e.event_id, e.type, dict(e.payload)) for seq, e in enumerate(events, start=1)
            ]
            record = await store.get_run(request.run_id)
            assert record is not None and record.request == request and record.last_seq == len(events)
        # The global log numbers the old events in the order they were written, densely.
        log = await store.read_log(0)
        assert [e.position for e in log] == list(range(1, len(event_rows) + 1))
        assert [(e.run_id, e.seq) for e in log] == [
            (r, s) for r, s, *_ in sorted(event_rows, key=lambda x: x[4])
        ]
        assert await store.log_head() == len(event_rows)
        # The running run continues where it was, with the next position.
        result = await append(
            store, AppendRequest("old-2", [ev.message_completed("txt-2", "late")], expected_previous_seq=3)
        )
        assert result.seqs == (4,) and result.events[0].position == len(event_rows) + 1
        record = await store.get_run("old-2")
        assert record is not None and record.status == RunStatus.RUNNING
        # The thread's history is built for the next turn (the projection replays the old log).
        await Projector(store, [THREAD_MESSAGES]).catch_up()
        history = await thread_history(store, "old-thread", "new-run")
        assert [m.content for m in history] == [
            "question 0",
            "first answer",
            "question 1",
            "second answer",
            "question 2",
            "late",
        ]
        await _the_thread_keeps_its_runs_user(store)
    finally:
        await store.close()


async def _the_thread_keeps_its_runs_user(store: EventStore) -> None:
    """0010 gave the old thread the user of its runs: another user's run is refused."""
    for user_id, allowed in (("8", False), ("7", True)):
        request = StartRequest(run_id=f"new-{user_id}", thread_id="old-thread", user_id=user_id, prompt="q")
        accepted = ev.run_accepted("old-thread", "scripted", "m")
        create = store.create_run(request, fingerprint(request), accepted)
        if allowed:
            assert (await create).created
        else:
            with pytest.raises(NotThreadOwner):
                await create
