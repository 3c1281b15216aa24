"""WorkerStore on SQLite: the event store's writer thread does every write, so a worker's
updates are serialized by the one write transaction at a time; reads use its reader thread."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ..core.canonical import canonical_json
from ..core.workers import PriorRequest, WorkerEvent, WorkerState, WorkerStatus
from ..ports import WorkerDecider, WorkerUpdate
from .common import iso, utc_now
from .sqlite import SqliteEventStore
from .workers import list_workers_query, plan_update


class SqliteWorkerStore:
    def __init__(self, events: SqliteEventStore) -> None:
        self._events = events

    async def update_worker(
        self, worker_id: str, decide: WorkerDecider, *, request_id: str | None = None
    ) -> WorkerUpdate:
        def update(conn: sqlite3.Connection) -> WorkerUpdate:
            current = _get(conn, worker_id)
            prior = None
            if request_id is not None:
                row = conn.execute(
                    "SELECT fingerprint, seq FROM codex_worker_requests"
                    " WHERE worker_id = ? AND request_id = ?",
                    (worker_id, request_id),
                ).fetchone()
                prior = PriorRequest(row[0], row[1]) if row else None
            decision = decide(current, prior)
            state, events = plan_update(worker_id, current, decision, utc_now())
            if events:
                _write(conn, state, events)
            if decision.request is not None and events:
                conn.execute(
                    "INSERT INTO codex_worker_requests (worker_id, request_id, fingerprint, seq)"
                    " VALUES (?, ?, ?, ?)",
                    (worker_id, *decision.request, events[-1].seq),
                )
            return WorkerUpdate(state, events, decision)

        return await self._events._write(update)

    async def get_worker(self, worker_id: str) -> WorkerState | None:
        return await self._events._read(lambda conn: _get(conn, worker_id))

    async def list_workers(
        self,
        *,
        owner: str | None,
        status: WorkerStatus | None,
        workspace_ref: str | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[WorkerState]:
        if before is not None:
            before = (iso(datetime.fromisoformat(before[0])), before[1])
        sql, params = list_workers_query(
            owner=owner, status=status, workspace_ref=workspace_ref, limit=limit, before=before, mark="?"
        )
        rows = await self._events._read(lambda conn: conn.execute(sql, params).fetchall())
        return [WorkerState.from_json(json.loads(row[0])) for row in rows]

    async def read_worker_events(
        self, worker_id: str, after_seq: int, limit: int = 1000
    ) -> list[WorkerEvent]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT seq, event_id, type, occurred_at, payload FROM codex_worker_events"
                " WHERE worker_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (worker_id, after_seq, limit),
            ).fetchall()

        return [
            WorkerEvent(worker_id, seq, event_id, type_, datetime.fromisoformat(at), json.loads(payload))
            for seq, event_id, type_, at, payload in await self._events._read(read)
        ]


def _get(conn: sqlite3.Connection, worker_id: str) -> WorkerState | None:
    row = conn.execute("SELECT state FROM codex_workers WHERE worker_id = ?", (worker_id,)).fetchone()
    return WorkerState.from_json(json.loads(row[0])) if row else None


def _write(conn: sqlite3.Connection, state: WorkerState, events: list[WorkerEvent]) -> None:
    conn.executemany(
        "INSERT INTO codex_worker_events (worker_id, seq, event_id, type, occurred_at, payload)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (e.worker_id, e.seq, e.event_id, e.type, iso(e.occurred_at), canonical_json(e.payload))
            for e in events
        ],
    )
    conn.execute(
        "INSERT INTO codex_workers (worker_id, owner, status, workspace_ref, latest_seq, created_at,"
        " updated_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id) DO UPDATE SET"
        " status = excluded.status, latest_seq = excluded.latest_seq, updated_at = excluded.updated_at,"
        " state = excluded.state",
        (
            state.worker_id,
            state.owner,
            state.status.value,
            state.workspace_ref,
            state.latest_seq,
            iso(state.created_at),
            iso(state.updated_at),
            canonical_json(state.to_json()),
        ),
    )
