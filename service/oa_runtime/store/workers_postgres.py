"""WorkerStore on PostgreSQL: a transaction-scoped advisory lock on the worker id serializes
its updates across replicas (a new worker has no row to lock yet)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..core.workers import PriorRequest, WorkerEvent, WorkerState, WorkerStatus
from ..ports import WorkerDecider, WorkerUpdate
from .common import utc_now
from .postgres import Conn, PostgresEventStore
from .workers import list_workers_query, plan_update


class PostgresWorkerStore:
    def __init__(self, events: PostgresEventStore) -> None:
        self._events = events

    async def update_worker(
        self, worker_id: str, decide: WorkerDecider, *, request_id: str | None = None
    ) -> WorkerUpdate:
        async with self._events._tx() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", ("worker:" + worker_id,)
            )
            current = await _get(conn, worker_id)
            prior = None
            if request_id is not None:
                cur = await conn.execute(
                    "SELECT fingerprint, seq FROM codex_worker_requests"
                    " WHERE worker_id = %s AND request_id = %s",
                    (worker_id, request_id),
                )
                row = await cur.fetchone()
                prior = PriorRequest(row[0], row[1]) if row else None
            decision = decide(current, prior)
            state, events = plan_update(worker_id, current, decision, utc_now())
            if events:
                await _write(conn, state, events)
            if decision.request is not None and events:
                await conn.execute(
                    "INSERT INTO codex_worker_requests (worker_id, request_id, fingerprint, seq)"
                    " VALUES (%s, %s, %s, %s)",
                    (worker_id, *decision.request, events[-1].seq),
                )
            return WorkerUpdate(state, events, decision)

    async def get_worker(self, worker_id: str) -> WorkerState | None:
        async with self._events._connection() as conn:
            return await _get(conn, worker_id)

    async def list_workers(
        self,
        *,
        owner: str | None,
        status: WorkerStatus | None,
        workspace_ref: str | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[WorkerState]:
        cursor = (datetime.fromisoformat(before[0]), before[1]) if before is not None else None
        sql, params = list_workers_query(
            owner=owner, status=status, workspace_ref=workspace_ref, limit=limit, before=cursor, mark="%s"
        )
        rows = await self._events._fetch(sql, params)
        return [WorkerState.from_json(row[0]) for row in rows]

    async def read_worker_events(
        self, worker_id: str, after_seq: int, limit: int = 1000
    ) -> list[WorkerEvent]:
        rows = await self._events._fetch(
            "SELECT seq, event_id, type, occurred_at, payload FROM codex_worker_events"
            " WHERE worker_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (worker_id, after_seq, limit),
        )
        return [
            WorkerEvent(worker_id, seq, event_id, type_, at, payload)
            for seq, event_id, type_, at, payload in rows
        ]


async def _get(conn: Conn, worker_id: str) -> WorkerState | None:
    cur = await conn.execute("SELECT state FROM codex_workers WHERE worker_id = %s", (worker_id,))
    row = await cur.fetchone()
    return WorkerState.from_json(row[0]) if row else None


async def _write(conn: Conn, state: WorkerState, events: list[WorkerEvent]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO codex_worker_events (worker_id, seq, event_id, type, occurred_at, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(e.worker_id, e.seq, e.event_id, e.type, e.occurred_at, Jsonb(dict(e.payload))) for e in events],
        )
    doc: dict[str, Any] = state.to_json()
    await conn.execute(
        "INSERT INTO codex_workers (worker_id, owner, status, workspace_ref, latest_seq, created_at,"
        " updated_at, state) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (worker_id) DO UPDATE SET"
        " status = excluded.status, latest_seq = excluded.latest_seq, updated_at = excluded.updated_at,"
        " state = excluded.state",
        (
            state.worker_id,
            state.owner,
            state.status.value,
            state.workspace_ref,
            state.latest_seq,
            state.created_at,
            state.updated_at,
            Jsonb(doc),
        ),
    )
