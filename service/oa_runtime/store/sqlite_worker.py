"""The threads and locks under the SQLite store.

`SqliteWorker` owns one sqlite3 connection on one dedicated thread, so the event
loop never blocks and a connection is never shared across threads. `Combiner`
sends the calls that queue up while its worker is busy in one trip (writes in
one transaction): a trip to a thread costs the event loop and the GIL far more
than a small statement does, and under load calls queue up anyway. `lock_file`
is the single-node guard: an exclusive `flock` on `<db>.lock`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from ..core.errors import DependencyUnavailable

T = TypeVar("T")

# Result codes that mean the database itself is unusable (an outage), as opposed
# to a bug in a statement. Lock contention is not here: the busy timeout absorbs it.
_OUTAGE_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_NOTADB,
    }
)


def _is_outage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _OUTAGE_CODES


class SqliteWorker:
    """One thread that owns one sqlite3 connection; every call on it runs there."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    async def start(self, path: str, busy_timeout_s: float, *, query_only: bool) -> None:
        def connect(_: sqlite3.Connection | None) -> None:
            conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            if query_only:
                conn.execute("PRAGMA query_only=ON")
            self._conn = conn

        await self._submit(connect)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call(conn: sqlite3.Connection | None) -> T:
            if conn is None:
                raise DependencyUnavailable("database", "the SQLite store is not open")
            return fn(conn)

        return await self._submit(call)

    async def stop(self) -> None:
        def close(conn: sqlite3.Connection | None) -> None:
            if conn is not None:
                conn.close()
            self._conn = None

        await self._submit(close)
        self._executor.shutdown(wait=True)

    async def _submit(self, fn: Callable[[sqlite3.Connection | None], T]) -> T:
        def guarded() -> T:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise outage_or_same(exc) from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)


def outage_or_same(exc: Exception) -> Exception:
    """DependencyUnavailable for a sqlite3 error that means the database is unusable."""
    if isinstance(exc, sqlite3.Error) and _is_outage(exc):
        unavailable = DependencyUnavailable("database", str(exc))
        unavailable.__cause__ = exc
        return unavailable
    return exc


Outcome = tuple[bool, Any]  # (True, result) or (False, the exception to raise)


def write_group(
    conn: sqlite3.Connection, fns: Sequence[Callable[[sqlite3.Connection], Any]]
) -> list[Outcome]:
    """Runs several writes in one transaction (one commit, one trip to this thread).

    If any of them raises, the whole transaction is rolled back and each write runs
    again alone in its own transaction, exactly as if they had never been grouped
    (nothing was committed or returned yet, so running them again is safe)."""
    if len(fns) > 1:
        try:
            results = write_tx(conn, lambda: [fn(conn) for fn in fns])
        except Exception:  # retried one by one below, where each error reaches its caller
            pass
        else:
            return [(True, result) for result in results]
    outcomes: list[Outcome] = []
    for fn in fns:
        try:
            outcomes.append((True, write_tx(conn, partial(fn, conn))))
        except Exception as exc:
            outcomes.append((False, outage_or_same(exc)))
    return outcomes


def write_tx(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    # IMMEDIATE takes the write lock up front, so nothing can change between our reads and writes.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def savepoint(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    conn.execute("SAVEPOINT append_request")
    try:
        result = fn()
    except BaseException:
        conn.execute("ROLLBACK TO append_request")
        conn.execute("RELEASE append_request")
        raise
    conn.execute("RELEASE append_request")
    return result


def lock_file(db_path: str) -> int:
    """Takes the single-node lock; RuntimeError naming the holder if it is taken."""
    lock_path = db_path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RuntimeError(
            f"{db_path} is already open by another process (pid {holder}); "
            "SQLite is single-node: use PostgreSQL for several replicas"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def read_group(conn: sqlite3.Connection, fns: Sequence[Callable[[sqlite3.Connection], Any]]) -> list[Outcome]:
    """Runs several reads one after the other; each succeeds or fails alone."""
    outcomes: list[Outcome] = []
    for fn in fns:
        try:
            outcomes.append((True, fn(conn)))
        except Exception as exc:
            outcomes.append((False, outage_or_same(exc)))
    return outcomes


Group = Callable[[sqlite3.Connection, Sequence[Callable[[sqlite3.Connection], Any]]], list[Outcome]]


class Combiner:
    """Queues calls for one worker and sends what queued up meanwhile in one trip
    through `group` (write_group or read_group); each caller gets its own outcome."""

    def __init__(self, worker: SqliteWorker, group: Group) -> None:
        self._worker = worker
        self._group = group
        self._queued: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued.append((fn, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def drained(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task])

    async def _drain(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    outcomes = await self._worker.run(self._trip([fn for fn, _ in batch]))
                except BaseException as exc:  # the trip itself failed: every caller hears it
                    for _, future in batch:
                        if future.done():
                            continue
                        if isinstance(exc, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._task = None

    def _trip(
        self, fns: list[Callable[[sqlite3.Connection], Any]]
    ) -> Callable[[sqlite3.Connection], list[Outcome]]:
        return lambda conn: self._group(conn, fns)
