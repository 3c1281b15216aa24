"""The WorkerStore on either database: each Codex worker is a stream of the global log.

A worker's events are rows of `events` with `stream_kind = 'worker'` (dense seqs from 1,
global positions, like a run's), so catch-up readers of the log (async projections, the
sync sink) see them. Its summary row (`codex_workers`) is an inline projection: the fold of
the stream (`core.workers.apply`), written in the same transaction as the events. Control
requests are remembered by request id (`codex_worker_requests`). One flow per operation,
for both databases (see sql.py); the adapter runs them on its event store's connections.

Lock order, as flows.py keeps it: the worker's advisory lock (PostgreSQL), its rows, then the
`log_head` counter last (the events insert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.errors import DependencyUnavailable
from ..core.workers import (
    PriorRequest,
    WorkerDecision,
    WorkerEvent,
    WorkerNotFound,
    WorkerState,
    WorkerStatus,
    apply,
)
from ..ports import EventStore, WorkerDecider, WorkerStore, WorkerUpdate
from .base import SqlStore
from .common import EVENT_COLUMNS, EventRow, utc_now
from .dialect import Dialect
from .sql import Done, Flow, Stmt, command, query

STREAM_WORKER = "worker"


class SqlWorkerStore:
    """WorkerStore on a SQLite or PostgreSQL event store (same database, same connections)."""

    def __init__(self, events: SqlStore) -> None:
        self._events = events
        self._d = events.dialect

    async def update_worker(
        self, worker_id: str, decide: WorkerDecider, *, request_id: str | None = None
    ) -> WorkerUpdate:
        return await self._events._write(lambda: update_worker(self._d, worker_id, decide, request_id))

    async def get_worker(self, worker_id: str) -> WorkerState | None:
        return await self._events._read(get_worker(self._d, worker_id))

    async def list_workers(
        self,
        *,
        owner: str | None,
        status: WorkerStatus | None,
        workspace_ref: str | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[WorkerState]:
        return await self._events._read(list_workers(self._d, owner, status, workspace_ref, limit, before))

    async def read_worker_events(
        self, worker_id: str, after_seq: int, limit: int = 1000
    ) -> list[WorkerEvent]:
        return await self._events._read(read_worker_events(self._d, worker_id, after_seq, limit))


def open_worker_store(events: EventStore) -> WorkerStore:
    """The WorkerStore on the same database (and connections) as `events`."""
    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no worker store for {type(events).__name__}")
    return SqlWorkerStore(events)


# ----- flows -----


def update_worker(
    d: Dialect, worker_id: str, decide: WorkerDecider, request_id: str | None
) -> Flow[Done[WorkerUpdate]]:
    if d.for_update:  # PostgreSQL: serialize the worker's updates (a new one has no row to lock)
        yield command(d.sql("SELECT pg_advisory_xact_lock(hashtextextended(?, 2))"), (worker_id,))
    current = yield from get_worker(d, worker_id)
    prior = None
    if request_id is not None:
        rows = yield query(
            d.sql(
                "SELECT fingerprint, seq FROM codex_worker_requests WHERE worker_id = ? AND request_id = ?"
            ),
            (worker_id, request_id),
        )
        prior = PriorRequest(rows[0][0], int(rows[0][1])) if rows else None
    decision = decide(current, prior)
    now = utc_now()
    state, events = plan_update(worker_id, current, decision, now)
    if not events:
        return lambda: WorkerUpdate(state, [], decision)
    yield _upsert_summary(d, state)
    if decision.request is not None:
        yield command(
            d.sql(
                "INSERT INTO codex_worker_requests (worker_id, request_id, fingerprint, seq)"
                " VALUES (?, ?, ?, ?)"
            ),
            (worker_id, *decision.request, events[-1].seq),
        )
    rows_ = [(worker_id, EventRow(e.seq, e.event_id, e.type, dict(e.payload))) for e in events]
    positions = yield from d.insert_events(STREAM_WORKER, rows_, now)  # last: log_head's lock

    def result() -> WorkerUpdate:
        first = int(positions.first())
        placed = [_at(e, first + i) for i, e in enumerate(events)]
        return WorkerUpdate(state, placed, decision)

    return result


def get_worker(d: Dialect, worker_id: str) -> Flow[WorkerState | None]:
    rows = yield query(d.sql("SELECT state FROM codex_workers WHERE worker_id = ?"), (worker_id,))
    return WorkerState.from_json(d.from_json(rows[0][0])) if rows else None


def list_workers(
    d: Dialect,
    owner: str | None,
    status: WorkerStatus | None,
    workspace_ref: str | None,
    limit: int,
    before: tuple[str, str] | None,
) -> Flow[list[WorkerState]]:
    """Newest first by (created_at, worker_id), keyset-paged after `before`."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("owner", owner), ("status", status), ("workspace_ref", workspace_ref)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value.value if isinstance(value, WorkerStatus) else value)
    if before is not None:
        created = d.time(datetime.fromisoformat(before[0]))
        where.append("(created_at < ? OR (created_at = ? AND worker_id < ?))")
        params += [created, created, before[1]]
    sql = "SELECT state FROM codex_workers" + (" WHERE " + " AND ".join(where) if where else "")
    rows = yield query(d.sql(sql + " ORDER BY created_at DESC, worker_id DESC LIMIT ?"), (*params, limit))
    return [WorkerState.from_json(d.from_json(row[0])) for row in rows]


def read_worker_events(d: Dialect, worker_id: str, after_seq: int, limit: int) -> Flow[list[WorkerEvent]]:
    rows = yield query(
        d.sql(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = '{STREAM_WORKER}' AND stream_id = ?"
            " AND seq > ? ORDER BY seq LIMIT ?"
        ),
        (worker_id, after_seq, limit),
    )
    return [
        WorkerEvent(
            stream_id, int(seq), event_id, type_, d.from_time(at), d.from_json(payload), int(position)
        )
        for stream_id, seq, event_id, type_, at, payload, position in rows
    ]


# ----- what the flows decide, pure -----


def plan_update(
    worker_id: str, current: WorkerState | None, decision: WorkerDecision, now: datetime
) -> tuple[WorkerState, list[WorkerEvent]]:
    """The worker after the decision's events (given seqs after the current one and time
    `now`) and those events. A decision without events on an unknown worker: WorkerNotFound."""
    state = current
    events: list[WorkerEvent] = []
    seq = current.latest_seq if current is not None else 0
    for new in decision.events:
        seq += 1
        event = WorkerEvent(worker_id, seq, new.event_id, new.type, now, new.payload)
        state = apply(state, event)
        events.append(event)
    if state is None:
        raise WorkerNotFound(worker_id)
    return state, events


def _upsert_summary(d: Dialect, state: WorkerState) -> Stmt:
    return command(
        d.sql(
            "INSERT INTO codex_workers (worker_id, owner, status, workspace_ref, latest_seq, created_at,"
            " updated_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id) DO UPDATE SET"
            " status = excluded.status, latest_seq = excluded.latest_seq, updated_at = excluded.updated_at,"
            " state = excluded.state"
        ),
        (
            state.worker_id,
            state.owner,
            state.status.value,
            state.workspace_ref,
            state.latest_seq,
            d.time(state.created_at),
            d.time(state.updated_at),
            d.json(state.to_json()),
        ),
    )


def _at(event: WorkerEvent, position: int) -> WorkerEvent:
    return WorkerEvent(
        event.worker_id, event.seq, event.event_id, event.type, event.occurred_at, event.payload, position
    )
