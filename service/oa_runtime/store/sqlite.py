"""The SQLite EventStore: one node, WAL mode, one writer thread (see sqlite_worker).

Every write runs on a single dedicated thread with its own connection, so seqs
are dense without row locks and the event loop never blocks; reads use a second
thread and connection (WAL lets them run beside the writer). Writes that queue up
while the writer thread is busy go together in one transaction and one trip to
that thread (see `write_group`): each caller still gets its own result only after
the commit, and a write that fails is retried alone so it cannot take others down. An exclusive
`flock` on `<db>.lock` keeps a second process from opening the same file.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ..core import events as ev
from ..core.canonical import canonical_json
from ..core.errors import DependencyUnavailable, DomainError, RunAlreadyExists, RunNotFound
from ..core.leases import Lease
from ..core.records import AppendResult, CancelResult, CheckpointRecord, CreateResult, RunRecord, StartRequest
from ..core.run_state import RunState, RunStatus
from ..ports import AppendRequest, ChangeHandler
from . import sqlite_leases as leases
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
    iso,
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
from .sqlite_worker import Combiner, SqliteWorker, lock_file, read_group, savepoint, write_group

T = TypeVar("T")
_NONCE_PRUNE_EVERY = 256


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _run_record(row: Sequence[Any]) -> RunRecord:
    values = list(row)
    values[0] = json.loads(values[0])
    values[3], values[4] = _time(values[3]), _time(values[4])
    return record_from_values(values)


def _event(row: Sequence[Any]) -> ev.Event:
    run_id, seq, event_id, type_, occurred_at, payload = row
    return event_from_values((run_id, seq, event_id, type_, _time(occurred_at), json.loads(payload)))


class SqliteEventStore:
    backend = "sqlite"
    single_node = True

    def __init__(self, path: str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.applied_migrations: list[int] = []
        self._busy_timeout_s = busy_timeout_s
        self._lock_fd: int | None = None
        self._writer: SqliteWorker | None = None
        self._reader: SqliteWorker | None = None
        self._nonce_calls = 0
        self._writes: Combiner | None = None
        self._reads: Combiner | None = None

    # ----- lifecycle -----

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_file(self.path)
        try:
            self._writer = SqliteWorker("sqlite-writer")
            await self._writer.start(self.path, self._busy_timeout_s, query_only=False)
            self._writes = Combiner(self._writer, write_group)
            self.applied_migrations = await self._writer.run(_migrate)
            # We hold the flock, so whoever held these leases is gone.
            await self._write(leases.expire_all)
            self._reader = SqliteWorker("sqlite-reader")
            await self._reader.start(self.path, self._busy_timeout_s, query_only=True)
            self._reads = Combiner(self._reader, read_group)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for combiner in (self._reads, self._writes):
            if combiner is not None:
                await combiner.drained()  # what is queued completes first
        self._reads = self._writes = None
        for worker in (self._reader, self._writer):
            if worker is not None:
                await worker.stop()
        self._reader = self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

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
        def create(conn: sqlite3.Connection) -> CreateResult:
            sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?"
            row = conn.execute(sql, (request.run_id,)).fetchone()
            if row is not None:
                existing = _run_record(row)
                if existing.fingerprint != fingerprint:
                    raise RunAlreadyExists(request.run_id)
                return CreateResult(existing, created=False)
            now = utc_now()
            conn.execute(
                "INSERT INTO threads (thread_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (request.thread_id, iso(now)),
            )
            new_events = [accepted]
            pending = conn.execute(
                "DELETE FROM pending_cancels WHERE run_id = ? RETURNING event", (request.run_id,)
            ).fetchall()
            if pending:
                new_events.append(pending_cancel_event(json.loads(pending[0][0])))
            plan = plan_events(RunState(), new_events)
            status, last_seq, steps, reason, error = summary_values(plan.state)
            conn.execute(
                "INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at, updated_at,"
                " last_seq, step_count, finish_reason, error_message, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.run_id,
                    request.thread_id,
                    canonical_json(request.to_json()),
                    fingerprint,
                    status,
                    iso(now),
                    iso(now),
                    last_seq,
                    steps,
                    reason,
                    error,
                    canonical_json(plan.state.to_json()),
                ),
            )
            _insert_events(conn, request.run_id, plan, now)
            lease = None
            if lease_owner is not None:
                lease = leases.take_new(conn, request.run_id, lease_owner, lease_ttl_s)
            record = new_run_record(request, fingerprint, plan.state, now)
            return CreateResult(
                record, created=True, events=plan.durable_events(request.run_id, now), lease=lease
            )

        return await self._write(create)

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        if not requests:
            return []

        def append_all(conn: sqlite3.Connection) -> list[AppendResult | Exception]:
            now = utc_now()
            try:
                return savepoint(conn, partial(_append_batch, conn, requests, now))
            except sqlite3.IntegrityError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                    raise
            # A re-sent event id: one request at a time, each in its own savepoint.
            results: list[AppendResult | Exception] = []
            for request in requests:
                try:
                    results.append(savepoint(conn, partial(_append_one, conn, request, now)))
                except DomainError as exc:
                    results.append(exc)
                except sqlite3.IntegrityError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                        raise
                    results.append(_duplicate_events(conn, request))
            return results

        return await self._write(append_all)

    async def request_cancel(self, run_id: str, event: ev.NewEvent) -> CancelResult:
        def cancel(conn: sqlite3.Connection) -> CancelResult:
            row = conn.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO pending_cancels (run_id, event) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (run_id, canonical_json(pending_cancel_json(event))),
                )
                return CancelResult(recorded=True, seq=None, pending=True)
            state = RunState.from_json(json.loads(row[0]))
            if state.is_terminal or state.cancel_requested:
                return CancelResult(recorded=False, seq=None)
            plan = plan_events(state, [event])
            now = utc_now()
            _write_plan(conn, run_id, plan, now)
            return CancelResult(recorded=True, seq=plan.seqs[0], event=plan.durable_events(run_id, now)[0])

        return await self._write(cancel)

    async def save_checkpoint(self, run_id: str, covers_seq: int, state: dict[str, object]) -> None:
        def save(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO checkpoints (run_id, covers_seq, state, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, covers_seq) DO UPDATE SET state = excluded.state,"
                " created_at = excluded.created_at",
                (run_id, covers_seq, canonical_json(state), iso(utc_now())),
            )
            # A completed step is progress: the recovery budget starts over.
            conn.execute("UPDATE runs SET recovery_attempts = 0 WHERE run_id = ?", (run_id,))

        await self._write(save)

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        self._nonce_calls += 1
        prune = self._nonce_calls % _NONCE_PRUNE_EVERY == 0

        def use(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if prune:
                conn.execute("DELETE FROM nonces WHERE expires_at <= ?", (now,))
            # An expired nonce may be used again; a live one may not.
            rows = conn.execute(
                "INSERT INTO nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO UPDATE"
                " SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ? RETURNING nonce",
                (nonce, expires_at_epoch, now),
            ).fetchall()
            return bool(rows)

        return await self._write(use)

    # ----- leases (sqlite_leases.py) -----

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
        return await self._write(
            lambda conn: leases.claim(
                conn, owner, ttl_s, run_ids=run_ids, exclude=exclude, limit=limit, reclaim=reclaim
            )
        )

    async def renew_leases(self, owner: str, held: Sequence[Lease], ttl_s: float) -> dict[str, str]:
        if not held:
            return {}
        return await self._write(lambda conn: leases.renew(conn, owner, held, ttl_s))

    async def release_leases(self, owner: str, held: Sequence[Lease]) -> None:
        if held:
            await self._write(lambda conn: leases.release(conn, owner, held))

    async def last_seqs(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        marks = ", ".join("?" for _ in run_ids)
        rows = await self._read(
            lambda conn: conn.execute(
                f"SELECT run_id, last_seq FROM runs WHERE run_id IN ({marks})", list(run_ids)
            ).fetchall()
        )
        return {row[0]: int(row[1]) for row in rows}

    async def listen(self, owner: str, handler: ChangeHandler, ready: Callable[[], None]) -> None:
        # Single node: every change is made by this process and published by its own writer.
        ready()
        await asyncio.Event().wait()

    # ----- reads -----

    async def read_events(
        self, run_id: str, after_seq: int, limit: int = 1000, max_chars: int | None = None
    ) -> list[ev.Event]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            cur = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, after_seq, limit),
            )
            if max_chars is None:
                return cur.fetchall()
            rows: list[Any] = []
            chars = 0
            for row in cur:  # rows come one by one: the page stops before the budget is exceeded
                chars += len(row[5])
                if rows and chars > max_chars:
                    break
                rows.append(row)
            cur.close()
            return rows

        return [_event(row) for row in await self._read(read)]

    async def run_state(self, run_id: str) -> RunState | None:
        row = await self._read(
            lambda conn: conn.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        return None if row is None else RunState.from_json(json.loads(row[0]))

    async def oldest_retained_seq(self, run_id: str) -> int:
        row = await self._read(
            lambda conn: conn.execute("SELECT oldest_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        if row is None:
            raise RunNotFound(run_id)
        return int(row[0])

    async def get_run(self, run_id: str) -> RunRecord | None:
        sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?"
        row = await self._read(lambda conn: conn.execute(sql, (run_id,)).fetchone())
        return None if row is None else _run_record(row)

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]:
        sql, params = list_runs_query(
            thread_id=thread_id, status=status, limit=limit, before=before, mark="?", time_param=iso
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [_run_record(row) for row in rows]

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        rows = await self._read(
            lambda conn: conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE thread_id = ? ORDER BY created_at, run_id",
                (thread_id,),
            ).fetchall()
        )
        return [_run_record(row) for row in rows]

    async def latest_checkpoint(
        self, run_id: str, at_or_before: int | None = None
    ) -> CheckpointRecord | None:
        limit = MAX_SEQ if at_or_before is None else at_or_before
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT covers_seq, state, created_at FROM checkpoints WHERE run_id = ? AND covers_seq <= ?"
                " ORDER BY covers_seq DESC LIMIT 1",
                (run_id, limit),
            ).fetchone()
        )
        if row is None:
            return None
        return checkpoint_from_values(run_id, (row[0], json.loads(row[1]), _time(row[2])))

    # ----- plumbing -----

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn` in a write transaction on the writer thread, together with the
        writes queued meanwhile; returns once that transaction committed."""
        if self._writes is None:
            raise DependencyUnavailable("database", "the SQLite store is not open")
        return await self._writes.submit(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn` on the reader thread, in one trip with the reads queued meanwhile."""
        if self._reads is None:
            raise DependencyUnavailable("database", "the SQLite store is not open")
        return await self._reads.submit(fn)


def _append_batch(
    conn: sqlite3.Connection, requests: Sequence[AppendRequest], now: datetime
) -> list[AppendResult | Exception]:
    """The fast path: one read of the run rows (without transcripts), the batch planned in
    memory, bulk writes. A unique violation propagates (the caller takes the slow path)."""
    run_ids = list(dict.fromkeys(r.run_id for r in requests))
    rows = conn.execute(
        f"SELECT run_id, json_remove(state, '$.{TRANSCRIPT_FIELD}'), lease_token FROM runs"
        " WHERE run_id IN (SELECT value FROM json_each(?))",
        (json.dumps(run_ids),),
    ).fetchall()
    heads = {row[0]: head_from_values(json.loads(row[1]), row[2]) for row in rows}
    wanted = list({(r.run_id, r.idempotency_key) for r in requests if r.idempotency_key is not None})
    stored: dict[tuple[str, str], tuple[str, list[int]]] = {}
    if wanted:
        found = conn.execute(
            "SELECT k.run_id, k.key, k.request_hash, k.seqs FROM idempotency_keys k"
            " JOIN json_each(?) w ON k.run_id = json_extract(w.value, '$[0]')"
            " AND k.key = json_extract(w.value, '$[1]')",
            (json.dumps(wanted),),
        ).fetchall()
        stored = {(r[0], r[1]): (r[2], json.loads(r[3])) for r in found}
    plan = plan_batch(requests, heads, stored)
    occurred_at = iso(now)
    conn.executemany(
        f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (run_id, r.seq, r.event_id, r.type, occurred_at, canonical_json(r.payload))
            for run_id, r in plan.event_rows([q.run_id for q in requests])
        ],
    )
    by_sql: dict[str, list[list[Any]]] = {}
    for update in plan.updates:
        status, last_seq, steps, reason, error = summary_values(update.state)
        names = tuple(update.fields)
        # status is indexed: set it only when it changed.
        params: list[Any] = [status] if update.status_changed else []
        params += [last_seq, steps, reason, error]
        params += [canonical_json(update.fields[name]) for name in names]
        params += [canonical_json(m) for m in update.appended]
        params += [occurred_at, update.state.wake_at, update.run_id]
        sql = _update_run_sql(update.status_changed, names, len(update.appended))
        by_sql.setdefault(sql, []).append(params)
    for sql, rows in by_sql.items():
        conn.executemany(sql, rows)
    if plan.keys:
        conn.executemany(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs) VALUES (?, ?, ?, ?)",
            [(run_id, key, h, json.dumps(seqs)) for run_id, key, h, seqs in plan.keys],
        )
    return plan.results([q.run_id for q in requests], now)


@functools.lru_cache(maxsize=256)
def _update_run_sql(status: bool, names: tuple[str, ...], appended: int) -> str:
    """The run row UPDATE of the fast path: summary columns (status only if it changed),
    the state's top-level `names` replaced (json_set with json values), `appended`
    messages added to its transcript (json_insert at the end, in order)."""
    state = "state"
    if names:
        pairs = ", ".join(f"'$.\"{name}\"', json(?)" for name in names)
        state = f"json_set({state}, {pairs})"
    if appended:
        pairs = ", ".join(f"'$.{TRANSCRIPT_FIELD}[#]', json(?)" for _ in range(appended))
        state = f"json_insert({state}, {pairs})"
    return (
        f"UPDATE runs SET {'status = ?, ' if status else ''}last_seq = ?, step_count = ?, finish_reason = ?,"
        f" error_message = ?, state = {state}, updated_at = ?, wake_at = ? WHERE run_id = ?"
    )


def _append_one(conn: sqlite3.Connection, request: AppendRequest, now: datetime) -> AppendResult:
    row = conn.execute("SELECT state, lease_token FROM runs WHERE run_id = ?", (request.run_id,)).fetchone()
    if row is None:
        raise RunNotFound(request.run_id)
    if request.fence is not None and request.fence != row[1]:
        raise fenced_off(request.run_id, request.fence, row[1])
    key = request.idempotency_key
    if key is not None:
        stored = conn.execute(
            "SELECT request_hash, seqs FROM idempotency_keys WHERE run_id = ? AND key = ?",
            (request.run_id, key),
        ).fetchone()
        replay = check_idempotency(request, None if stored is None else (stored[0], json.loads(stored[1])))
        if replay is not None:
            return replay
    plan = plan_append(request.run_id, RunState.from_json(json.loads(row[0])), request)
    _write_plan(conn, request.run_id, plan, now)
    if key is not None:
        conn.execute(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs) VALUES (?, ?, ?, ?)",
            (request.run_id, key, request.request_hash or "", json.dumps(list(plan.seqs))),
        )
    return plan.result(request.run_id, now)


def _duplicate_events(conn: sqlite3.Connection, request: AppendRequest) -> AppendResult | Exception:
    ids = [e.event_id for e in request.events]
    marks = ", ".join("?" for _ in ids)
    sql = f"SELECT event_id, run_id, seq FROM events WHERE event_id IN ({marks})"
    rows = conn.execute(sql, ids).fetchall()
    try:
        return duplicate_event_result(request, {r[0]: (r[1], int(r[2])) for r in rows}, request.run_id)
    except DomainError as exc:
        return exc


def _write_plan(conn: sqlite3.Connection, run_id: str, plan: PlannedAppend, now: datetime) -> None:
    _insert_events(conn, run_id, plan, now)
    status, last_seq, steps, reason, error = summary_values(plan.state)
    conn.execute(
        "UPDATE runs SET status = ?, last_seq = ?, step_count = ?, finish_reason = ?, error_message = ?,"
        " state = ?, updated_at = ?, wake_at = ? WHERE run_id = ?",
        (
            status,
            last_seq,
            steps,
            reason,
            error,
            canonical_json(plan.state.to_json()),
            iso(now),
            plan.state.wake_at,
            run_id,
        ),
    )


def _insert_events(conn: sqlite3.Connection, run_id: str, plan: PlannedAppend, now: datetime) -> None:
    occurred_at = iso(now)
    conn.executemany(
        f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, r.seq, r.event_id, r.type, occurred_at, canonical_json(r.payload)) for r in plan.rows],
    )


def _migrate(conn: sqlite3.Connection) -> list[int]:
    """Applies the packaged migrations not yet recorded; returns the versions applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied: list[int] = []
    for version, sql in migrations("sqlite"):
        if version in done:
            continue
        # executescript would commit on its own; run the statements inside our transaction instead.
        record = f"INSERT INTO schema_migrations VALUES ({version}, '{iso(utc_now())}');"
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;{record}\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
