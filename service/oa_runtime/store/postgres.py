"""The PostgreSQL EventStore: psycopg 3 with an async connection pool.

Seqs stay dense across replicas because every append locks its run row
(`SELECT … FOR UPDATE`) before reading the folded state. Create and cancel of a
run id also take a transaction-scoped advisory lock on it, so a cancel that
arrives before its run cannot slip past a concurrent create. Connection and
pool failures become DependencyUnavailable; the pool checks each connection
before handing it out and reconnects in the background, so the store recovers
on its own when the database comes back.

The SQL is flows.py's (the same as SQLite's) in the PostgreSQL dialect; this
module drives flows on pooled connections (`run_async`), pipelined where a flow
reads few results (create_run, the append batch).
"""

from __future__ import annotations

import select
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..core.errors import DependencyUnavailable, DomainError
from ..core.leases import Lease
from ..core.records import AppendResult
from ..ports import AppendRequest, ChangeHandler
from . import flows
from . import postgres_leases as leases
from .base import SqlStore
from .common import utc_now
from .dialect import PostgresDialect
from .sql import Deferred, Done, Flow

T = TypeVar("T")
Conn = AsyncConnection[TupleRow]

_EVENT_ID_CONSTRAINT = "events_event_id_key"


class PostgresEventStore(SqlStore):
    backend = "postgres"
    single_node = False
    dialect = PostgresDialect()

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout_s: float = 5.0,
        connect_timeout_s: int = 5,
        owner_lock_wait_s: float = 10.0,
        peer_watch_s: float = 0.05,  # how often a replica looks for peers gone (0: only claim rounds)
    ) -> None:
        super().__init__()
        self.url = url
        self._owner_lock_wait_s = owner_lock_wait_s
        self._peer_watch_s = peer_watch_s
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

    # ----- writes -----

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        if not requests:
            return []
        d = self.dialect
        try:
            return await self._write(
                lambda: flows.append_batch(d, requests, utc_now(), self.sender), pipeline=True
            )
        except psycopg.errors.UniqueViolation:
            pass  # a re-sent event id: the batch was undone; one request at a time resolves it
        return await self._append_each(requests)

    async def _append_each(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        """The slow path: each request in its own savepoint, with full run states."""
        d = self.dialect
        outcomes: list[Done[AppendResult | Exception] | Exception] = []
        later: list[tuple[Any, Deferred]] = []
        async with self._tx() as conn:
            now = utc_now()
            await run_async(conn, flows.lock_runs(d, sorted({r.run_id for r in requests})), later)
            for request in requests:
                try:
                    async with conn.transaction():  # a savepoint: a failure undoes only this request
                        outcomes.append(await run_async(conn, flows.append_one(d, request, now), later))
                except DomainError as exc:
                    outcomes.append(exc)
                except psycopg.errors.UniqueViolation as exc:
                    if exc.diag.constraint_name != _EVENT_ID_CONSTRAINT:
                        raise
                    outcomes.append(await run_async(conn, flows.duplicate_events(d, request), later))
            await _fill(later)
            results = [o if isinstance(o, Exception) else o() for o in outcomes]
            appended: dict[str, int] = {}
            for request, outcome in zip(requests, results, strict=True):
                if isinstance(outcome, AppendResult) and outcome.seqs and not outcome.replayed:
                    appended[request.run_id] = max(outcome.seqs)
            await run_async(conn, d.notify_appended(self.sender, list(appended.items())), later)
        return results

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
            rows = await leases.claim(
                conn, owner, ttl_s, run_ids=run_ids, exclude=exclude, limit=limit, reclaim=reclaim
            )
        return [flows.claimed_lease(self.dialect, row) for row in rows]

    async def renew_leases(self, owner: str, held: Sequence[Lease], ttl_s: float) -> dict[str, str]:
        if not held:
            return {}
        async with self._tx() as conn:
            return await leases.renew(conn, owner, held, ttl_s)

    async def release_leases(self, owner: str, held: Sequence[Lease]) -> None:
        if held:
            async with self._tx() as conn:
                await leases.release(conn, owner, held)

    async def listen(self, owner: str, handler: ChangeHandler, ready: Callable[[], None]) -> None:
        await leases.listen(
            self.url,
            self.sender,
            owner,
            handler,
            ready,
            lock_wait_s=self._owner_lock_wait_s,
            peer_watch_s=self._peer_watch_s,
        )

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

    async def _write(self, make: Callable[[], Flow[Done[T]]], *, pipeline: bool = False) -> T:
        later: list[tuple[Any, Deferred]] = []
        async with self._tx(pipeline=pipeline) as conn:
            finish = await run_async(conn, make(), later)
        # Committed: the deferred rows arrived with the commit's results.
        await _fill(later)
        return finish()

    async def _single(self, make: Callable[[], Flow[T]]) -> T:
        async with self._connection() as conn:  # autocommit: each statement on its own
            return await run_async(conn, make(), [])

    async def _read(self, flow: Flow[T]) -> T:
        """One or a few read statements (autocommit: no BEGIN/COMMIT round trips)."""
        async with self._connection() as conn:
            return await run_async(conn, self._counted(flow), [])

    async def _migrate(self) -> list[int]:
        """Applies the packaged migrations not yet recorded; returns the versions applied."""
        async with self._tx() as conn:
            return await run_async(conn, flows.migrate(self.dialect), [])


async def run_async(conn: Conn, flow: Flow[T], later: list[tuple[Any, Deferred]]) -> T:
    """Drives a flow on a connection. In pipeline mode a statement whose rows are not
    read now is only queued: round trips happen where rows are read, and at commit.
    A deferred statement's cursor goes to `later`, read once the transaction is over."""
    rows: list[Any] | None = None
    while True:
        try:
            stmt = flow.send(rows)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]
        rows = []
        if stmt.script:
            await conn.execute(stmt.sql)  # no parameters: the simple query protocol
        elif stmt.many:
            async with conn.cursor() as many:
                await many.executemany(stmt.sql, stmt.params)
        else:
            cur = await conn.execute(stmt.sql, stmt.params)
            if stmt.deferred is not None:
                later.append((cur, stmt.deferred))
            elif stmt.fetch:
                rows = await cur.fetchall()


async def _fill(later: list[tuple[Any, Deferred]]) -> None:
    for cur, deferred in later:
        deferred.rows = await cur.fetchall()
    later.clear()


async def _check_connection(conn: Conn) -> None:
    """The pool's check before lending a connection. An idle connection has nothing
    to read unless the server wrote to it (closed it, a restart, an admin kill): only
    then is a round trip spent on a real check, which raises if the connection is dead."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)
