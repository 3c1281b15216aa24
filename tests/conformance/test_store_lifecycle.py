"""Opening, migrating, pinging and losing the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.errors import (
    DependencyUnavailable,
)
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import PostgresEventStore, SqliteEventStore, migrate, open_store, sqlite_path
from oa_runtime.store.common import migrations

from tests.support.postgres import PostgresServer

from .conftest import make_store
from .helpers import append, new_run


async def test_ping_answers(store: EventStore) -> None:
    await store.ping()


# ----- opening -----


async def test_migrations_apply_once(store_url: str) -> None:
    first = make_store(store_url)
    await first.open()
    await first.close()
    assert isinstance(first, SqliteEventStore | PostgresEventStore)
    packaged = [version for version, _ in migrations(first.backend)]
    # Numbers are reserved per feature (0005-0010), so a branch may have gaps: increasing, from 1.
    assert packaged[0] == 1 and packaged == sorted(set(packaged))
    assert first.applied_migrations == packaged

    assert await migrate(store_url) == []
    again = make_store(store_url)
    await again.open()
    try:
        await new_run(again)  # the schema is usable after a no-op migration
    finally:
        await again.close()


def test_open_store_chooses_the_adapter_by_url() -> None:
    assert isinstance(open_store("sqlite:///data/runtime.db"), SqliteEventStore)
    assert isinstance(open_store("postgresql://u@127.0.0.1:1/db"), PostgresEventStore)
    assert isinstance(open_store("postgres://u@127.0.0.1:1/db"), PostgresEventStore)
    assert sqlite_path("sqlite:///data/runtime.db") == "data/runtime.db"
    assert sqlite_path("sqlite:////var/lib/runtime.db") == "/var/lib/runtime.db"
    for bad in ("sqlite:///:memory:", "sqlite://host/x.db", "mysql://x"):
        with pytest.raises(ValueError):
            open_store(bad)


_OPEN_SQLITE = """
import asyncio, sys
from oa_runtime.store import SqliteEventStore
asyncio.run(SqliteEventStore(sys.argv[1]).open())
"""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_second_sqlite_store_on_the_same_file_is_refused(store_url: str) -> None:
    first = make_store(store_url)
    await first.open()
    try:
        second = make_store(store_url)
        with pytest.raises(RuntimeError, match=r"already open by another process \(pid \d+\).*PostgreSQL"):
            await second.open()
        await first.ping()  # the refused open did not disturb the holder
        other_process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _OPEN_SQLITE, store_url.removeprefix("sqlite:///"),
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(other_process.communicate(), timeout=30)
        assert other_process.returncode != 0
        assert f"already open by another process (pid {os.getpid()})" in stderr.decode()
    finally:
        await first.close()
    reopened = make_store(store_url)  # closing released the lock
    await reopened.open()
    await reopened.close()


async def test_postgres_outage_is_unavailable_and_the_store_recovers() -> None:
    with PostgresServer() as server:  # a cluster of its own, since this test stops it
        store = PostgresEventStore(server.url, pool_timeout_s=1.0, connect_timeout_s=1)
        await store.open()
        try:
            run_id = await new_run(store)
            await asyncio.to_thread(server.stop)
            with pytest.raises(DependencyUnavailable):
                await store.ping()
            with pytest.raises(DependencyUnavailable):
                await store.append_many([AppendRequest(run_id, [ev.step_started(1)])])

            await asyncio.to_thread(server.start)
            deadline = time.monotonic() + 20
            while True:
                try:
                    await store.ping()
                    break
                except DependencyUnavailable:
                    assert time.monotonic() < deadline, "the pool did not reconnect"
                    await asyncio.sleep(0.2)
            assert (await append(store, AppendRequest(run_id, [ev.step_started(1)]))).seqs == (2,)
        finally:
            await store.close()


async def test_an_unusable_sqlite_file_is_a_dependency_outage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a SQLite database " * 200)
    broken = SqliteEventStore(str(path))

    with pytest.raises(DependencyUnavailable):
        await broken.open()
    path.unlink()  # once the file is fixed the same path opens: the failed open released its lock
    await broken.open()
    await broken.close()
