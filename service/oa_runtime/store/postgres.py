"""The PostgreSQL EventStore: psycopg 3 with an async connection pool.

Seqs stay dense across replicas because every append locks its run row
(`SELECT … FOR UPDATE`) before reading the folded state. Create and cancel of a
run id also take a transaction-scoped advisory lock on it, so a cancel that
arrives before its run cannot slip past a concurrent create. Connection and
pool failures become DependencyUnavailable; the pool checks each connection
before handing it out and reconnects in the background, so the store recovers
on its own when the database comes back.
"""

from __future__ import annotations

import select
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..core import events as ev
from ..core.canonical import canonical_json
from ..core.errors import DependencyUnavailable, DomainError, RunAlreadyExists, RunNotFound
from ..core.leases import Lease
from ..core.records import AppendResult, CancelResult, CheckpointRecord, CreateResult, RunRecord, StartRequest
from ..core.run_state import RunState, RunStatus
from ..ports import AppendRequest, ChangeHandler
from . import postgres_leases as leases
from .common import (
    EVENT_COLUMNS,
    MAX_SEQ,
    RUN_COLUMNS,
    TRANSCRIPT_FIELD,
    PlannedAppend,
    check_idempotency,
    checkpoint_from_values,
    duplicate_event_result,
    event_from_values,
    fenced_off,
    head_from_values,
    list_runs_query,
    migrations,
    new_run_record,
    pending_cancel_event,
    pending_cancel_json,
    plan_append,
    plan_batch,
    plan_events,
    record_from_values,
    summary_values,
    utc_now,
)

Conn = AsyncConnection[TupleRow]

_MIGRATION_LOCK = 0x6F615F6D69677261  # any constant; serializes replicas migrating at once
_EVENT_ID_CONSTRAINT = "events_event_id_key"
_NONCE_PRUNE_EVERY = 256


class PostgresEventStore:
    backend = "postgres"
    single_node = False

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout_s: float = 5.0,
        connect_timeout_s: int = 5,
        owner_lock_wait_s: float = 10.0,
    ) -> None:
        self.url = url
        self._owner_lock_wait_s = owner_lock_wait_s
        self.applied_migrations: list[int] = []
        self._pool_timeout_s = pool_timeout_s
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=pool_timeout_s,
            check=_check_connection,
            # Transactions are explicit (`_tx`); a single-statement read or write needs no BEGIN/COMMIT.
            kwargs={"autocommit": True, "connect_timeout": connect_timeout_s},
            name="oa-event-store",
        )
        self._nonce_calls = 0
        # Tags this process's notifications, so its listener can skip them.
        self.sender = uuid.uuid4().hex[:16]

    # ----- lifecycle -----

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=self._pool_timeout_s)
        except PoolTimeout as exc:
            await self._pool.close()
            raise DependencyUnavailable("database", str(exc)) from exc
        self.applied_migrations = await self._migrate()

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    # ----- writes -----

    async def create_run(
        self,
        request: StartRequest,
        fingerprint: str,
        accepted: ev.NewEvent,
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 10.0,
    ) -> CreateResult:
        # Three statements in two round trips: lock + read (pipelined), then one write + commit.
        async with self._tx(pipeline=True) as conn:
            await _lock_run_id(conn, request.run_id)
            cur = await conn.execute(
                f"SELECT {RUN_COLUMNS}, pending_cancels.event FROM (SELECT 1) AS one"
                " LEFT JOIN runs ON runs.run_id = %(run_id)s"
                " LEFT JOIN pending_cancels ON pending_cancels.run_id = %(run_id)s",
                {"run_id": request.run_id},
            )
            row = await cur.fetchone()
            assert row is not None
            if row[0] is not None:
                existing = record_from_values(row[:-1])
                if existing.fingerprint != fingerprint:
                    raise RunAlreadyExists(request.run_id)
                return CreateResult(existing, created=False)
            new_events = [accepted]
            if row[-1] is not None:
                new_events.append(pending_cancel_event(row[-1]))
            plan = plan_events(RunState(), new_events)
            status, last_seq, steps, reason, error = summary_values(plan.state)
            now = utc_now()
            occurred = [(r.seq, r.event_id, r.type, canonical_json(r.payload)) for r in plan.rows]
            await conn.execute(
                "WITH thread AS (INSERT INTO threads (thread_id, created_at) VALUES (%(thread_id)s, %(now)s)"
                "   ON CONFLICT DO NOTHING),"
                " pending AS (DELETE FROM pending_cancels WHERE run_id = %(run_id)s),"
                " run AS (INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at,"
                "   updated_at, last_seq, step_count, finish_reason, error_message, state,"
                "   lease_owner, lease_token, lease_expires_at)"
                "   VALUES (%(run_id)s, %(thread_id)s, %(request)s, %(fingerprint)s, %(status)s, %(now)s,"
                "   %(now)s, %(last_seq)s, %(steps)s, %(reason)s, %(error)s, %(state)s,"
                # The accepting replica's first lease (token 1), in the same statement.
                "   %(owner)s, %(token)s, CASE WHEN %(owner)s::text IS NULL THEN NULL"
                "     ELSE clock_timestamp() + make_interval(secs => %(ttl)s) END))"
                f" INSERT INTO events ({EVENT_COLUMNS})"
                " SELECT %(run_id)s, u.seq, u.event_id, u.type, %(now)s, u.payload::jsonb"
                " FROM unnest(%(seqs)b::bigint[], %(ids)b::text[], %(types)b::text[], %(payloads)b::text[])"
                " AS u(seq, event_id, type, payload)",
                {
                    "run_id": request.run_id,
                    "thread_id": request.thread_id,
                    "request": Jsonb(request.to_json()),
                    "fingerprint": fingerprint,
                    "status": status,
                    "now": now,
                    "last_seq": last_seq,
                    "steps": steps,
                    "reason": reason,
                    "error": error,
                    "state": Jsonb(plan.state.to_json()),
                    "owner": lease_owner,
                    "token": 0 if lease_owner is None else 1,
                    "ttl": lease_ttl_s,
                    "seqs": [o[0] for o in occurred],
                    "ids": [o[1] for o in occurred],
                    "types": [o[2] for o in occurred],
                    "payloads": [o[3] for o in occurred],
                },
            )
            lease = None if lease_owner is None else Lease(request.run_id, token=1)
            record = new_run_record(request, fingerprint, plan.state, now)
            return CreateResult(
                record, created=True, events=plan.durable_events(request.run_id, now), lease=lease
            )

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        if not requests:
            return []
        try:
            async with self._tx(pipeline=True) as conn:
                now = utc_now()
                results, positions = await _append_batch(conn, requests, now)
                await leases.notify_appended(conn, self.sender, positions)
            return results
        except psycopg.errors.UniqueViolation:
            pass  # a re-sent event id: the batch was undone; one request at a time resolves it
        return await self._append_each(requests)

    async def _append_each(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        """The slow path: each request in its own savepoint, with full run states."""
        results: list[AppendResult | Exception | None] = [None] * len(requests)
        # Lock runs in one global order (run id) so two batches cannot deadlock;
        # the sort is stable, so one run's requests keep their order.
        order = sorted(range(len(requests)), key=lambda i: requests[i].run_id)
        async with self._tx() as conn:
            now = utc_now()
            positions: dict[str, int] = {}
            for index in order:
                request = requests[index]
                try:
                    async with conn.transaction():  # a savepoint: a failure undoes only this request
                        results[index] = await _append_one(conn, request, now)
                except DomainError as exc:
                    results[index] = exc
                except psycopg.errors.UniqueViolation as exc:
                    if exc.diag.constraint_name != _EVENT_ID_CONSTRAINT:
                        raise
                    results[index] = await _duplicate_events(conn, request)
                outcome = results[index]
                if isinstance(outcome, AppendResult) and outcome.seqs and not outcome.replayed:
                    positions[request.run_id] = max(outcome.seqs)
            await leases.notify_appended(conn, self.sender, list(positions.items()))
        return [r for r in results if r is not None]

    async def request_cancel(self, run_id: str, event: ev.NewEvent) -> CancelResult:
        async with self._tx() as conn:
            await _lock_run_id(conn, run_id)
            cur = await conn.execute("SELECT state FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))
            row = await cur.fetchone()
            if row is None:
                await conn.execute(
                    "INSERT INTO pending_cancels (run_id, event) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (run_id, Jsonb(pending_cancel_json(event))),
                )
                return CancelResult(recorded=True, seq=None, pending=True)
            state = RunState.from_json(row[0])
            if state.is_terminal or state.cancel_requested:
                return CancelResult(recorded=False, seq=None)
            plan = plan_events(state, [event])
            now = utc_now()
            await _write_plan(conn, run_id, plan, now)
            await leases.notify_appended(conn, self.sender, [(run_id, plan.seqs[-1])])
            await leases.notify_cancel(conn, run_id)
            return CancelResult(recorded=True, seq=plan.seqs[0], event=plan.durable_events(run_id, now)[0])

    async def save_checkpoint(self, run_id: str, covers_seq: int, state: dict[str, object]) -> None:
        # One statement (atomic on its own): no BEGIN/COMMIT round trips.
        async with self._connection() as conn:
            await conn.execute(
                "WITH saved AS (INSERT INTO checkpoints (run_id, covers_seq, state, created_at)"
                "  VALUES (%(run_id)s, %(covers_seq)s, %(state)s, now())"
                "  ON CONFLICT (run_id, covers_seq) DO UPDATE SET state = excluded.state,"
                "  created_at = excluded.created_at)"
                # A completed step is progress: the recovery budget starts over.
                " UPDATE runs SET recovery_attempts = 0 WHERE run_id = %(run_id)s",
                {"run_id": run_id, "covers_seq": covers_seq, "state": Jsonb(state)},
            )

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        self._nonce_calls += 1
        # The caller's clock set expires_at, so the same clock decides expiry (as in SQLite).
        now = time.time()
        async with self._connection() as conn:  # one statement (two when pruning): no transaction
            if self._nonce_calls % _NONCE_PRUNE_EVERY == 0:
                await conn.execute("DELETE FROM nonces WHERE expires_at <= %s", (now,))
            # An expired nonce may be used again; a live one may not.
            cur = await conn.execute(
                "INSERT INTO nonces (nonce, expires_at) VALUES (%s, %s) ON CONFLICT (nonce) DO UPDATE"
                " SET expires_at = excluded.expires_at WHERE nonces.expires_at <= %s RETURNING nonce",
                (nonce, expires_at_epoch, now),
            )
            return await cur.fetchone() is not None

    # ----- leases and notifications (postgres_leases.py) -----

    async def claim_runs(
        self,
        owner: str,
        ttl_s: float,
        *,
        run_ids: Sequence[str] | None,
        exclude: Sequence[str],
        limit: int,
        reclaim: Sequence[str] = (),
    ) -> list[Lease]:
        async with self._tx() as conn:
            return await leases.claim(
                conn, owner, ttl_s, run_ids=run_ids, exclude=exclude, limit=limit, reclaim=reclaim
            )

    async def renew_leases(self, owner: str, held: Sequence[Lease], ttl_s: float) -> dict[str, str]:
        if not held:
            return {}
        async with self._tx() as conn:
            return await leases.renew(conn, owner, held, ttl_s)

    async def release_leases(self, owner: str, held: Sequence[Lease]) -> None:
        if held:
            async with self._tx() as conn:
                await leases.release(conn, owner, held)

    async def last_seqs(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        rows = await self._fetch("SELECT run_id, last_seq FROM runs WHERE run_id = ANY(%s)", (list(run_ids),))
        return {row[0]: int(row[1]) for row in rows}

    async def listen(self, owner: str, handler: ChangeHandler, ready: Callable[[], None]) -> None:
        await leases.listen(self.url, self.sender, owner, handler, ready, lock_wait_s=self._owner_lock_wait_s)

    # ----- reads -----

    async def read_events(
        self, run_id: str, after_seq: int, limit: int = 1000, max_chars: int | None = None
    ) -> list[ev.Event]:
        page = f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s"
        if max_chars is None:
            rows = await self._fetch(page, (run_id, after_seq, limit))
        else:
            # The running size is summed in the database, so rows past the budget never leave it.
            rows = await self._fetch(
                f"SELECT {EVENT_COLUMNS} FROM (SELECT {EVENT_COLUMNS},"
                " sum(length(payload::text)) OVER (ORDER BY seq) AS upto, length(payload::text) AS size"
                f" FROM ({page}) AS page) AS sized WHERE upto <= %s OR upto = size ORDER BY seq",
                (run_id, after_seq, limit, max_chars),
            )
        return [event_from_values(row) for row in rows]

    async def run_state(self, run_id: str) -> RunState | None:
        rows = await self._fetch("SELECT state FROM runs WHERE run_id = %s", (run_id,))
        return RunState.from_json(rows[0][0]) if rows else None

    async def oldest_retained_seq(self, run_id: str) -> int:
        rows = await self._fetch("SELECT oldest_seq FROM runs WHERE run_id = %s", (run_id,))
        if not rows:
            raise RunNotFound(run_id)
        return int(rows[0][0])

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._fetch(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,))
        return record_from_values(rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]:
        sql, params = list_runs_query(
            thread_id=thread_id,
            status=status,
            limit=limit,
            before=before,
            mark="%s",
            time_param=lambda moment: moment,
        )
        rows = await self._fetch(sql, tuple(params))
        return [record_from_values(row) for row in rows]

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        rows = await self._fetch(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE thread_id = %s ORDER BY created_at, run_id", (thread_id,)
        )
        return [record_from_values(row) for row in rows]

    async def latest_checkpoint(
        self, run_id: str, at_or_before: int | None = None
    ) -> CheckpointRecord | None:
        limit = MAX_SEQ if at_or_before is None else at_or_before
        rows = await self._fetch(
            "SELECT covers_seq, state, created_at FROM checkpoints WHERE run_id = %s AND covers_seq <= %s"
            " ORDER BY covers_seq DESC LIMIT 1",
            (run_id, limit),
        )
        return checkpoint_from_values(run_id, rows[0]) if rows else None

    # ----- plumbing -----

    @asynccontextmanager
    async def _tx(self, *, pipeline: bool = False) -> AsyncIterator[Conn]:
        """A pooled connection inside one transaction; outages become DependencyUnavailable.

        With `pipeline`, statements are sent without waiting for their results: the
        round trips are only those where a result is read (fetch), plus the commit,
        and an error surfaces at the next of those (at the latest when leaving)."""
        async with self._connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.transaction():
                    yield conn
            else:
                async with conn.transaction():
                    yield conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled autocommit connection: each statement is its own transaction."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DependencyUnavailable("database", str(exc)) from exc

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[TupleRow]:
        """One read statement (autocommit: no BEGIN/COMMIT round trips)."""
        async with self._connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def _migrate(self) -> list[int]:
        """Applies the packaged migrations not yet recorded; returns the versions applied."""
        applied: list[int] = []
        async with self._tx() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, sql in migrations("postgres"):
                if version in done:
                    continue
                await conn.execute(sql)  # several statements, no parameters: simple query protocol
                await conn.execute("INSERT INTO schema_migrations VALUES (%s, now())", (version,))
                applied.append(version)
        return applied


def _wake_time(wake_at: float | None) -> datetime | None:
    return None if wake_at is None else datetime.fromtimestamp(wake_at, UTC)


async def _check_connection(conn: Conn) -> None:
    """The pool's check before lending a connection. An idle connection has nothing
    to read unless the server wrote to it (closed it, a restart, an admin kill): only
    then is a round trip spent on a real check, which raises if the connection is dead."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


async def _lock_run_id(conn: Conn, run_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (run_id,))


async def _append_batch(
    conn: Conn, requests: Sequence[AppendRequest], now: datetime
) -> tuple[list[AppendResult | Exception], list[tuple[str, int]]]:
    """The fast path: the run rows locked and read (without transcripts) in one query,
    the batch planned in memory, one statement per table written. Returns the results
    and each run's new last seq (to notify). A unique violation propagates."""
    run_ids = sorted({r.run_id for r in requests})
    # Locks in run id order (ORDER BY runs below FOR UPDATE), as every other batch does.
    cur = await conn.execute(
        f"SELECT run_id, state - '{TRANSCRIPT_FIELD}', lease_token FROM runs WHERE run_id = ANY(%s)"
        " ORDER BY run_id FOR UPDATE",
        (run_ids,),
    )
    heads = {row[0]: head_from_values(row[1], row[2]) for row in await cur.fetchall()}
    wanted = list({(r.run_id, r.idempotency_key) for r in requests if r.idempotency_key is not None})
    stored: dict[tuple[str, str], tuple[str, list[int]]] = {}
    if wanted:
        cur = await conn.execute(
            "SELECT k.run_id, k.key, k.request_hash, k.seqs FROM idempotency_keys k"
            " JOIN unnest(%b::text[], %b::text[]) AS w(run_id, key) ON k.run_id = w.run_id AND k.key = w.key",
            ([w[0] for w in wanted], [w[1] for w in wanted]),
        )
        stored = {(r[0], r[1]): (r[2], r[3]) for r in await cur.fetchall()}
    plan = plan_batch(requests, heads, stored)
    request_runs = [q.run_id for q in requests]
    rows = plan.event_rows(request_runs)
    if rows:
        await conn.execute(
            f"INSERT INTO events ({EVENT_COLUMNS})"
            " SELECT u.run_id, u.seq, u.event_id, u.type, %s, u.payload::jsonb"
            " FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[], %b::text[])"
            " AS u(run_id, seq, event_id, type, payload)",
            (
                now,
                [run_id for run_id, _ in rows],
                [r.seq for _, r in rows],
                [r.event_id for _, r in rows],
                [r.type for _, r in rows],
                [canonical_json(r.payload) for _, r in rows],
            ),
        )
    if plan.updates:
        summaries = [summary_values(u.state) for u in plan.updates]
        await conn.execute(
            "UPDATE runs AS r SET status = v.status, last_seq = v.last_seq, step_count = v.step_count,"
            " finish_reason = v.finish_reason, error_message = v.error_message,"
            " state = CASE WHEN v.appended = '[]' THEN r.state || v.fields::jsonb"
            f"  ELSE jsonb_set(r.state || v.fields::jsonb, '{{{TRANSCRIPT_FIELD}}}',"
            f"   (r.state -> '{TRANSCRIPT_FIELD}') || v.appended::jsonb) END,"
            " updated_at = %s, wake_at = v.wake_at"
            " FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::text[], %b::text[],"
            "  %b::text[], %b::text[], %b::timestamptz[])"
            " AS v(run_id, status, last_seq, step_count, finish_reason, error_message, fields, appended,"
            "  wake_at)"
            " WHERE r.run_id = v.run_id",
            (
                now,
                [u.run_id for u in plan.updates],
                *([s[i] for s in summaries] for i in range(5)),
                [canonical_json(u.fields) for u in plan.updates],
                [canonical_json(u.appended) for u in plan.updates],
                [_wake_time(u.state.wake_at) for u in plan.updates],
            ),
        )
    if plan.keys:
        await conn.execute(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs)"
            " SELECT u.run_id, u.key, u.request_hash, u.seqs::jsonb"
            " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])"
            " AS u(run_id, key, request_hash, seqs)",
            (
                [k[0] for k in plan.keys],
                [k[1] for k in plan.keys],
                [k[2] for k in plan.keys],
                [canonical_json(k[3]) for k in plan.keys],
            ),
        )
    positions = {}
    for update in plan.updates:
        if update.state.last_seq > heads[update.run_id].state.last_seq:
            positions[update.run_id] = update.state.last_seq
    return plan.results(request_runs, now), list(positions.items())


async def _append_one(conn: Conn, request: AppendRequest, now: datetime) -> AppendResult:
    cur = await conn.execute(
        "SELECT state, lease_token FROM runs WHERE run_id = %s FOR UPDATE", (request.run_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise RunNotFound(request.run_id)
    if request.fence is not None and request.fence != row[1]:
        raise fenced_off(request.run_id, request.fence, row[1])
    key = request.idempotency_key
    if key is not None:
        cur = await conn.execute(
            "SELECT request_hash, seqs FROM idempotency_keys WHERE run_id = %s AND key = %s",
            (request.run_id, key),
        )
        stored = await cur.fetchone()
        replay = check_idempotency(request, None if stored is None else (stored[0], stored[1]))
        if replay is not None:
            return replay
    plan = plan_append(request.run_id, RunState.from_json(row[0]), request)
    await _write_plan(conn, request.run_id, plan, now)
    if key is not None:
        await conn.execute(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs) VALUES (%s, %s, %s, %s)",
            (request.run_id, key, request.request_hash or "", Jsonb(list(plan.seqs))),
        )
    return plan.result(request.run_id, now)


async def _duplicate_events(conn: Conn, request: AppendRequest) -> AppendResult | Exception:
    cur = await conn.execute(
        "SELECT event_id, run_id, seq FROM events WHERE event_id = ANY(%s)",
        ([e.event_id for e in request.events],),
    )
    found = {row[0]: (row[1], int(row[2])) for row in await cur.fetchall()}
    try:
        return duplicate_event_result(request, found, request.run_id)
    except DomainError as exc:
        return exc


async def _write_plan(conn: Conn, run_id: str, plan: PlannedAppend, now: datetime) -> None:
    await _insert_events(conn, run_id, plan, now)
    status, last_seq, steps, reason, error = summary_values(plan.state)
    wake = plan.state.wake_at
    await conn.execute(
        "UPDATE runs SET status = %s, last_seq = %s, step_count = %s, finish_reason = %s,"
        " error_message = %s, state = %s, updated_at = %s, wake_at = %s WHERE run_id = %s",
        (
            status,
            last_seq,
            steps,
            reason,
            error,
            Jsonb(plan.state.to_json()),
            now,
            _wake_time(wake),
            run_id,
        ),
    )


async def _insert_events(conn: Conn, run_id: str, plan: PlannedAppend, now: datetime) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
            [(run_id, r.seq, r.event_id, r.type, now, Jsonb(dict(r.payload))) for r in plan.rows],
        )
