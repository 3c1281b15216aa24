"""The WorkerStore adapters (SQLite, PostgreSQL) and what they share.

Each adapter rides on its database's EventStore (the same connections, the same writer
thread on SQLite) and keeps Codex workers in their own tables (migration 0004): a worker
is a stream of events with dense seqs plus a summary row folded from them in the same
transaction. The flow of `update_worker` is the same for both: lock the worker, read its
row (and a prior control request), decide, fold (`plan_update`), write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.errors import DependencyUnavailable
from ..core.workers import WorkerDecision, WorkerEvent, WorkerNotFound, WorkerState, WorkerStatus, apply
from ..ports import EventStore, WorkerStore

WORKER_COLUMNS = "state"


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


def list_workers_query(
    *,
    owner: str | None,
    status: WorkerStatus | None,
    workspace_ref: str | None,
    limit: int,
    before: tuple[Any, str] | None,
    mark: str,
) -> tuple[str, list[Any]]:
    """The list_workers SELECT for both backends (`mark` is the driver's placeholder)."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("owner", owner), ("status", status), ("workspace_ref", workspace_ref)):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value.value if isinstance(value, WorkerStatus) else value)
    if before is not None:
        where.append(f"(created_at < {mark} OR (created_at = {mark} AND worker_id < {mark}))")
        params += [before[0], before[0], before[1]]
    sql = f"SELECT {WORKER_COLUMNS} FROM codex_workers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at DESC, worker_id DESC LIMIT {mark}"
    params.append(limit)
    return sql, params


def open_worker_store(events: EventStore) -> WorkerStore:
    """The WorkerStore on the same database (and connections) as `events`."""
    from .postgres import PostgresEventStore
    from .sqlite import SqliteEventStore
    from .workers_postgres import PostgresWorkerStore
    from .workers_sqlite import SqliteWorkerStore

    if isinstance(events, SqliteEventStore):
        return SqliteWorkerStore(events)
    if isinstance(events, PostgresEventStore):
        return PostgresWorkerStore(events)
    raise DependencyUnavailable("database", f"no worker store for {type(events).__name__}")
