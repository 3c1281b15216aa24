"""On PostgreSQL any replica with room takes queued runs: a run queued on a replica at its
limit is started by a peer that has a free slot (the queue is in the database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openagents.runtime.v1 import run_pb2, run_service_pb2

from tests.e2e.chaos_helpers import run_events, start_run
from tests.support.postgres import PostgresServer
from tests.support.replica import Replica, replica_pair

pytestmark = pytest.mark.slow

ONE_SLOT = {"RUNTIME_MAX_RUNNING_RUNS": "1", "RUNTIME_CLAIM_INTERVAL_S": "0.2"}


@pytest.fixture
async def replicas(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica]]:
    async with replica_pair(
        postgres_server.create_database("admission_replicas"), tmp_path, ONE_SLOT
    ) as pair:
        yield pair


async def test_a_peer_with_a_free_slot_takes_a_queued_run(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await start_run(a, "busy", "/tokens 100000 200", thread_id="t-busy")
    await start_run(a, "queued", "/say taken by a peer", thread_id="t-queued")
    response = await a.stub.GetRun(
        run_service_pb2.GetRunRequest(run_id="queued"), metadata=a.md(run_id="queued"), timeout=10
    )
    assert response.run.state in (
        run_pb2.RUN_STATE_QUEUED,
        run_pb2.RUN_STATE_RUNNING,
        run_pb2.RUN_STATE_SUCCEEDED,
    )
    evs = await run_events(b, "queued")  # until it ends
    assert evs[1].type == "run.queued" and evs[1].run_queued.reason == "capacity"
    [started] = [e for e in evs if e.type == "run.started"]
    assert started.run_started.executor_id == "replica-b"
    assert evs[-1].type == "run.finished" and evs[-1].run_finished.reason != "canceled"
    await a.stub.CancelRun(run_service_pb2.CancelRunRequest(run_id="busy"), metadata=a.md(run_id="busy"))
