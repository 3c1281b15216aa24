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
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime

_database_numbers = itertools.count(1)

# `make test` runs the suite on pytest-xdist workers with `--dist loadfile`: a worker runs a test
# module whole (so module-scoped servers stay shared), except these modules, which load the
# machine (replica processes, 50 streams, kill -9 and restarts under lease TTLs, a simulated week)
# and are timed against real clocks: they form one unit, so one worker runs them one after
# another and never two of them at once, as before the suite ran in parallel.
HEAVY_MODULES = frozenset(
    {
        "tests/conformance/test_memory_compaction.py",
        "tests/e2e/test_agents_chaos.py",
        "tests/e2e/test_agents_schedules_replicas.py",
        "tests/e2e/test_chaos.py",
        "tests/e2e/test_database_outage.py",
        "tests/e2e/test_fast_takeover.py",
        "tests/e2e/test_interrupted_output.py",
        "tests/e2e/test_memory_kill.py",
        "tests/e2e/test_projector_kill.py",
        "tests/e2e/test_replay_memory.py",
        "tests/test_read_models_cli.py",
    }
)


class _ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """xdist's loadfile (a module is the unit a worker gets), with the heavy modules as one unit.
    (xdist's loadgroup marks cannot do this under pytest 9: they rewrite the node id, which
    pytest 9 computes.)"""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return "heavy" if module in HEAVY_MODULES else module


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """The scheduler for `--dist loadfile`; any other --dist asked for gets xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    return _ModuleScheduling(config, log)


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
