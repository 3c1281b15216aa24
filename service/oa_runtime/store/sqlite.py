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
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from ..core.errors import DependencyUnavailable, DomainError
from ..core.leases import Lease
from ..core.records import AppendResult
from ..ports import AppendRequest, ChangeHandler
from . import flows
from . import sqlite_leases as leases
from .base import SqlStore
from .common import utc_now
from .dialect import Dialect
from .sql import Done, Flow, run_sync
from .sqlite_worker import Combiner, SqliteWorker, lock_file, read_group, savepoint, write_group

T = TypeVar("T")


class SqliteEventStore(SqlStore):
    backend = "sqlite"
    single_node = True
    dialect = Dialect()

    def __init__(self, path: str, *, busy_timeout_s: float = 10.0) -> None:
        super().__init__()
        self.path = path
        self.applied_migrations: list[int] = []
        self._busy_timeout_s = busy_timeout_s
        self._lock_fd: int | None = None
        self._writer: SqliteWorker | None = None
        self._reader: SqliteWorker | None = None
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
            await self._submit_write(leases.expire_all)
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

    # ----- writes -----

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        if not requests:
            return []
        d = self.dialect

        def append_all(conn: sqlite3.Connection) -> list[AppendResult | Exception]:
            now = utc_now()
            try:
                return savepoint(conn, lambda: run_sync(conn, flows.append_batch(d, requests, now, ""))())
            except sqlite3.IntegrityError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                    raise
            # A re-sent event id: the batch was undone; one request at a time resolves it.
            results: list[AppendResult | Exception] = []
            for request in requests:
                try:
                    results.append(savepoint(conn, partial(_append_one, conn, request, now)))
                except DomainError as exc:
                    results.append(exc)
                except sqlite3.IntegrityError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                        raise
                    results.append(run_sync(conn, flows.duplicate_events(d, request))())
            return results

        return await self._submit_write(append_all)

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
        rows = await self._submit_write(
            lambda conn: leases.claim(
                conn, owner, ttl_s, run_ids=run_ids, exclude=exclude, limit=limit, reclaim=reclaim
            )
        )
        return [flows.claimed_lease(self.dialect, row) for row in rows]

    async def renew_leases(self, owner: str, held: Sequence[Lease], ttl_s: float) -> dict[str, str]:
        if not held:
            return {}
        return await self._submit_write(lambda conn: leases.renew(conn, owner, held, ttl_s))

    async def release_leases(self, owner: str, held: Sequence[Lease]) -> None:
        if held:
            await self._submit_write(lambda conn: leases.release(conn, owner, held))

    async def listen(self, owner: str, handler: ChangeHandler, ready: Callable[[], None]) -> None:
        # Single node: every change is made by this process and published by its own writer.
        ready()
        await asyncio.Event().wait()

    # ----- plumbing -----

    async def _write(self, make: Callable[[], Flow[Done[T]]], *, pipeline: bool = False) -> T:
        return await self._submit_write(lambda conn: run_sync(conn, make())())

    async def _single(self, make: Callable[[], Flow[T]]) -> T:
        return await self._submit_write(lambda conn: run_sync(conn, make()))

    async def _read(self, flow: Flow[T]) -> T:
        """Runs the flow on the reader thread, in one trip with the reads queued meanwhile."""
        if self._reads is None:
            raise DependencyUnavailable("database", "the SQLite store is not open")
        counted = self._counted(flow)
        return await self._reads.submit(lambda conn: run_sync(conn, counted))

    async def _submit_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn` in a write transaction on the writer thread, together with the
        writes queued meanwhile; returns once that transaction committed."""
        if self._writes is None:
            raise DependencyUnavailable("database", "the SQLite store is not open")
        return await self._writes.submit(fn)


def _append_one(conn: sqlite3.Connection, request: AppendRequest, now: datetime) -> AppendResult:
    return run_sync(conn, flows.append_one(SqliteEventStore.dialect, request, now))()


def _migrate(conn: sqlite3.Connection) -> list[int]:
    """Applies the packaged migrations not yet recorded; returns the versions applied."""
    try:
        return run_sync(conn, flows.migrate(SqliteEventStore.dialect))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
