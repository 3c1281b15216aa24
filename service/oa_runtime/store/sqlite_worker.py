"""The threads and locks under the SQLite store.

`SqliteWorker` owns one sqlite3 connection on one dedicated thread, so the event
loop never blocks and a connection is never shared across threads. `lock_file`
is the single-node guard: an exclusive `flock` on `<db>.lock`.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
                if _is_outage(exc):
                    raise DependencyUnavailable("database", str(exc)) from exc
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)


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
