"""The store's SQL flows are written once, as plain generators that yield statements.

A flow (store/flows.py) is the sequence of statements one store operation runs,
with the decisions between them (see common.py), and no I/O of its own: it yields
a `Stmt`, receives the rows, and finally returns its result. Each adapter drives
flows its own way: SQLite runs them to the end on its writer or reader thread
(`run_sync`), PostgreSQL awaits each statement on a pooled connection, in
pipeline mode where the flow allows (`postgres.run_async`). What differs between
the databases (placeholders, JSON and time values, locking, bulk forms) is the
`Dialect` (store/dialect.py), never the flow.

Write flows return a `Done`: the result is built once the transaction committed,
so a statement whose rows are only needed for the answer (the positions an insert
took) costs PostgreSQL no round trip of its own (`Stmt.deferred`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

Rows = list[Any]
Flow = Generator["Stmt", Rows, T]
Done = Callable[[], T]


class Deferred:
    """Rows of a statement that the flow reads only after the commit."""

    __slots__ = ("rows",)

    def __init__(self, rows: Rows | None = None) -> None:
        self.rows = rows

    def first(self) -> Any:
        if not self.rows:
            raise RuntimeError("a deferred statement returned no rows")
        return self.rows[0][0]


@dataclass(frozen=True, slots=True)
class Stmt:
    sql: str
    params: Any = ()
    # The flow reads the rows now (PostgreSQL waits for them; otherwise it sends on).
    fetch: bool = False
    # executemany over `params` (a list of parameter rows).
    many: bool = False
    # Several statements without parameters (a migration).
    script: bool = False
    # The rows are wanted after the commit only.
    deferred: Deferred | None = field(default=None)


def query(sql: str, params: Any = ()) -> Stmt:
    """A statement whose rows the flow reads."""
    return Stmt(sql, params, fetch=True)


def command(sql: str, params: Any = ()) -> Stmt:
    """A statement whose rows (if any) nobody reads."""
    return Stmt(sql, params)


def done(value: T) -> Done[T]:
    return lambda: value


def run_sync(conn: sqlite3.Connection, flow: Flow[T]) -> T:
    """Runs a flow to its end on a SQLite connection (on the worker thread)."""
    rows: Rows | None = None
    while True:
        try:
            stmt = flow.send(rows)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]
        if stmt.script:
            conn.executescript(stmt.sql)
            rows = []
        elif stmt.many:
            conn.executemany(stmt.sql, stmt.params)
            rows = []
        else:
            rows = conn.execute(stmt.sql, stmt.params).fetchall()
        if stmt.deferred is not None:
            stmt.deferred.rows = rows
