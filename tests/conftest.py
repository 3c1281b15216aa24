"""Shared fixtures: real databases and the real service on loopback."""

from __future__ import annotations

import os

# The tests fork (PostgreSQL, replicas, Envoy) while gRPC threads run; gRPC's
# fork handlers are meant for Python-level fork() and have crashed children
# (SIGSEGV before exec). Must be set before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the session (skips, or fails in CI, without binaries)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{next(_database_numbers)}")


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[RuntimeHandle]:
    """The service on a fresh database of each backend."""
    async with running_runtime(database_url) as handle:
        yield handle
