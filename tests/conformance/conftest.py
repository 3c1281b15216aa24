"""Fixtures for the port conformance suites: real databases, one fresh per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from oa_runtime.ports import EventStore
from oa_runtime.store import PostgresEventStore, SqliteEventStore

from tests.support.postgres import PostgresServer

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"conformance_{next(_database_numbers)}")


def make_store(url: str) -> EventStore:
    if url.startswith("sqlite:"):
        return SqliteEventStore(url.removeprefix("sqlite:///"))
    # A short pool timeout so an outage surfaces quickly in tests.
    return PostgresEventStore(url, pool_timeout_s=2.0, connect_timeout_s=2, owner_lock_wait_s=1.0)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    opened = make_store(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def peer(store_url: str) -> AsyncIterator[EventStore]:
    """A second replica's store on the same PostgreSQL database."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite is single-node: there are no peers")
    other = make_store(store_url)
    await other.open()
    try:
        yield other
    finally:
        await other.close()
