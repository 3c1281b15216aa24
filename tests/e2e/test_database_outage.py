"""A PostgreSQL outage: the service reports unready, nothing acknowledged is lost,
and it recovers by itself (runs cut off by the outage resume) when the database returns."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from openagents.runtime.v1 import health_service_pb2, health_service_pb2_grpc, run_event_pb2, run_service_pb2

from tests.e2e.helpers import events, start, types
from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime


async def _ready(rt: RuntimeHandle) -> bool:
    stub = health_service_pb2_grpc.HealthServiceStub(rt.channel)
    try:
        await stub.Readyz(health_service_pb2.ReadyzRequest(), timeout=2)
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        return False
    return True


async def _wait_until(rt: RuntimeHandle, ready: bool, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while await _ready(rt) != ready:
        assert time.monotonic() < deadline, f"readiness did not become {ready} within {within_s} s"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_outage_unready_then_recovers_and_run_finishes() -> None:
    with PostgresServer() as pg:
        url = pg.create_database("outage")
        async with running_runtime(url) as rt:
            await start(rt, "r1", "/say before\n/tokens 200 100")
            for _ in range(100):  # until the model is streaming
                if (await rt.stub.GetRun(_get("r1"), metadata=rt.md(run_id="r1"))).run.last_seq >= 5:
                    break
                await asyncio.sleep(0.05)
            seen = (await rt.stub.GetRun(_get("r1"), metadata=rt.md(run_id="r1"))).run.last_seq
            await asyncio.to_thread(pg.stop)
            await _wait_until(rt, ready=False, within_s=5)
            # Longer than the store's pool timeout (5 s): the run task's append fails
            # and the task stops; the recovery sweep must resume it.
            await asyncio.sleep(6)
            await asyncio.to_thread(pg.start)
            await _wait_until(rt, ready=True, within_s=15)
            evs = await asyncio.wait_for(events(rt, "r1"), 30)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert len(evs) > seen  # everything acknowledged before the outage is still there
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert types(evs).count("run.started") >= 2  # resumed by the recovery sweep


def _get(run_id: str) -> run_service_pb2.GetRunRequest:
    return run_service_pb2.GetRunRequest(run_id=run_id)
