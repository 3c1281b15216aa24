"""Retention end to end on SQLite and PostgreSQL, the server's own retention workload trimming
finished runs (RUNTIME_RETENTION_INTERVAL_S): a cursor below the floor gets STALE_CURSOR with
floor, requested cursor and head, over gRPC as FAILED_PRECONDITION and through Envoy as HTTP 410
in the one JSON error shape; a resume at the floor still yields exactly the frames a full replay
had after that cursor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from openagents.runtime.v1 import run_service_pb2

from tests.e2e.helpers import error_info
from tests.e2e_envoy.conftest import Gateway, SseEvent, assert_error_shape, new_id, start_gateway
from tests.e2e_envoy.test_agents import AGENTS
from tests.e2e_envoy.test_agents import auth as agent_auth
from tests.e2e_envoy.test_agents import create as create_agent
from tests.e2e_envoy.test_workers import WORKERS, auth, worker_in

RAW_AGE_S = 1.0
ENV = {"RUNTIME_RETENTION_RAW_AGE_S": str(RAW_AGE_S), "RUNTIME_RETENTION_INTERVAL_S": "0.1"}


@pytest.fixture
async def gw(database_url: str) -> AsyncIterator[Gateway]:
    """A fresh database of each backend behind its own runtime and Envoy."""
    async with start_gateway(database_url, ENV) as gateway:
        yield gateway


async def stale(gw: Gateway, run_id: str) -> grpc.aio.AioRpcError | None:
    """The STALE_CURSOR a full replay over gRPC gets, or None while the log is whole."""
    rt = gw.runtime
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=0), metadata=rt.md(run_id=run_id)
    )
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as err:
        return err
    return None


async def test_a_cursor_below_the_floor_is_gone(gw: Gateway) -> None:
    worker_id = await worker_in(gw, "stopped")  # 3 events, all trimmed once 1 s old
    agent_id = new_id("agent")  # a sleeping agent: its one event goes too (it holds no frame)
    assert (await create_agent(gw, agent_id, instructions="Be brief.")).status_code == 200
    run_id = new_id("ret")
    await gw.start(run_id, "/say one\n/tool echo {}\n/say two\n/tool echo {}\n/say three")
    full = await gw.stream(run_id)  # the whole log, before retention's age has passed
    head = max(e.id for e in full.frames if e.id is not None)
    deadline = time.monotonic() + 15
    while (err := await stale(gw, run_id)) is None:
        assert time.monotonic() < deadline, "the retention workload never trimmed the run"
        await asyncio.sleep(0.1)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(err)
    assert info.reason == "STALE_CURSOR"
    floor = int(info.metadata["floor"])
    assert 1 < floor <= head and info.metadata["requested"] == "0" and info.metadata["head"] == str(head)

    # Through Envoy: 410 in the one shape, for no cursor and for a cursor below the floor.
    for cursor in (None, floor - 2):
        streamed = await gw.stream(run_id, cursor=cursor)
        assert streamed.status == 410, (streamed.status, streamed.body[:300])
    response = await gw.http.get(f"/internal/v1/runs/{run_id}/stream", headers=gw.auth(run_id=run_id))
    gone = assert_error_shape(response, 410, "STALE_CURSOR")
    assert gone["metadata"]["floor"] == str(floor) and gone["metadata"]["head"] == str(head)
    assert "x-oa-http-status" not in response.headers

    # At the floor: exactly what the full replay had after that cursor.
    resumed = await gw.stream(run_id, last_event_id=floor - 1)
    assert resumed.status == 200
    after_cursor = _after(full.frames, floor - 1)
    assert after_cursor and [e.raw for e in resumed.frames] == after_cursor
    ok = await gw.http.get(f"/internal/v1/runs/{run_id}", headers=gw.auth())
    assert ok.status_code == 200  # other reads of the run are unaffected

    await _worker_stream_trimmed(gw, worker_id, deadline)
    await _agent_stream_trimmed(gw, agent_id, deadline)


async def _worker_stream_trimmed(gw: Gateway, worker_id: str, deadline: float) -> None:
    """The same workload trims Codex worker streams: 410 below the floor, the head still opens."""
    while (gone := await gw.http.get(f"{WORKERS}/{worker_id}/stream", headers=auth(gw))).status_code != 410:
        assert gone.status_code == 200 and time.monotonic() < deadline, gone.text
        await asyncio.sleep(0.1)
    info = assert_error_shape(gone, 410, "STALE_CURSOR")["metadata"]
    assert (info["floor"], info["requested"], info["head"]) == ("4", "0", "3")
    at_head = await gw.http.get(f"{WORKERS}/{worker_id}/stream", params={"cursor": "3"}, headers=auth(gw))
    assert at_head.status_code == 200 and b"event: error" not in at_head.content


async def _agent_stream_trimmed(gw: Gateway, agent_id: str, deadline: float) -> None:
    """And agent streams (an agent's stream never ends: only the status is read)."""
    path = f"{AGENTS}/{agent_id}/stream"
    while (gone := await opened(gw, path, agent_auth(gw, agent_id))).status_code != 410:
        assert gone.status_code == 200 and time.monotonic() < deadline
        await asyncio.sleep(0.1)
    info = assert_error_shape(gone, 410, "STALE_CURSOR")["metadata"]
    assert (info["floor"], info["requested"], info["head"]) == ("2", "0", "1")
    resumed = await opened(gw, path, {**agent_auth(gw, agent_id), "Last-Event-ID": "1"})
    assert resumed.status_code == 200


async def opened(gw: Gateway, path: str, headers: dict[str, str]) -> httpx.Response:
    """The response to a GET of a stream: its body when it is an error, else only its status."""
    async with gw.http.stream("GET", path, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
    return response


def _after(frames: list[SseEvent], cursor: int) -> list[bytes]:
    """The raw frames after the last frame of event `cursor` (every frame up to and including
    the one carrying `id: cursor` belongs to events at or before it)."""
    last = max(i for i, f in enumerate(frames) if f.id is not None and f.id <= cursor)
    return [f.raw for f in frames[last + 1 :]]
