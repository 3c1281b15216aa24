"""EventStore adapters: SQLite (one node) and PostgreSQL (many replicas).

`open_store(url)` picks the adapter by URL scheme and returns it unopened;
`await store.open()` connects and applies pending migrations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ports import EventStore
from .sqlite import SqliteEventStore

if TYPE_CHECKING:
    from .postgres import PostgresEventStore

__all__ = ["PostgresEventStore", "SqliteEventStore", "migrate", "open_store", "sqlite_path"]

_SQLITE_PREFIX = "sqlite:///"


def sqlite_path(database_url: str) -> str:
    """`sqlite:///rel/path.db` -> `rel/path.db`; `sqlite:////abs/path.db` -> `/abs/path.db`."""
    path = database_url.removeprefix(_SQLITE_PREFIX)
    if not database_url.startswith(_SQLITE_PREFIX) or not path or path.startswith(":memory:"):
        raise ValueError(f"not a SQLite file URL: {database_url!r} (want sqlite:///path/to/file.db)")
    return path


def __getattr__(name: str) -> Any:
    # The PostgreSQL adapter (and its driver) loads when first named: a SQLite service never
    # imports psycopg, which is about a tenth of its import time (cold start, issue 17 goal 6).
    if name == "PostgresEventStore":
        from .postgres import PostgresEventStore

        return PostgresEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(database_url: str) -> EventStore:
    """The store for `database_url`, not yet opened (call `await store.open()`)."""
    if database_url.startswith("sqlite:"):
        return SqliteEventStore(sqlite_path(database_url))
    if database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresEventStore

        return PostgresEventStore(database_url)
    raise ValueError(f"unsupported database URL scheme: {database_url.split(':', 1)[0]!r}")


async def migrate(database_url: str) -> list[int]:
    """Applies pending migrations (for the CLI); returns the versions applied."""
    store = open_store(database_url)
    await store.open()
    try:
        applied: list[int] = getattr(store, "applied_migrations", [])
        return list(applied)
    finally:
        await store.close()
