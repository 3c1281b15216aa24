"""Replays are bounded (issue 11, repro 12): 50 concurrent replays of a 2+ MB run, over gRPC
and as SSE through Envoy, half of them read slowly, grow the service process's resident
memory (VmRSS of a real `oa-runtime serve`) by at most the documented ceiling per stream.

Before streams read their backlog in bounded pages, the same load took the service from
~64 MB to ~140 MB here (and to 330-487 MB in the issue's run)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from oa_runtime.core import events as ev
from oa_runtime.core.records import StartRequest
from oa_runtime.core.validation import fingerprint
from oa_runtime.engine.streams import STREAM_MEMORY_CEILING_BYTES
from oa_runtime.ports import AppendRequest
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_service_pb2

from tests.support.envoy import async_envoy_gateway
from tests.support.replica import Replica

STREAMS = 50
DELTAS = 20_000
# Fixed costs a burst of 50 streams may add once, whatever the pages: gRPC and HTTP/2
# connection state, the interpreter's arenas, the SQLite reader's cache.
FIXED_ALLOWANCE_BYTES = 16 * 1024 * 1024


async def _large_run(database_url: str, run_id: str) -> None:
    """A finished run of one step of DELTAS text deltas (~2.3 MB of payload)."""
    store = open_store(database_url)
    await store.open()
    try:
        request = StartRequest(run_id=run_id, thread_id=f"th-{run_id}", prompt="big")
        await store.create_run(request, fingerprint(request), ev.run_accepted(request.thread_id, "s", "m"))
        await store.append_many([AppendRequest(run_id, [ev.run_started("x", 1), ev.step_started(1)])])
        for i in range(0, DELTAS, 2000):
            deltas = [ev.message_delta("txt-s1", f"t{j} " + "x" * 100) for j in range(i, i + 2000)]
            await store.append_many([AppendRequest(run_id, deltas)])
        ending = [ev.step_finished(1, ev.STEP_STOP), ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")]
        await store.append_many([AppendRequest(run_id, ending)])
    finally:
        await store.close()


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _grpc_replay(replica: Replica, run_id: str, slow: bool) -> int:
    call = replica.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id, batched=True),
        metadata=replica.md(run_id=run_id),
        timeout=300,
    )
    count = 0
    async for message in call:
        count += len(message.events)
        if slow:
            await asyncio.sleep(0.05)
    return count


async def _sse_replay(http: httpx.AsyncClient, replica: Replica, run_id: str, slow: bool) -> int:
    headers = {"X-OA-RUNTIME-SIGNATURE": replica.md(run_id=run_id)[0][1]}
    size = 0
    async with http.stream("GET", f"/internal/v1/runs/{run_id}/stream", headers=headers) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if slow:
                await asyncio.sleep(0.02)
    return size


async def test_fifty_concurrent_replays_stay_within_the_memory_ceiling(
    database_url: str, tmp_path: Path
) -> None:
    await _large_run(database_url, "big")
    replica = Replica("mem-1", database_url, tmp_path, env={"RUNTIME_LOG_LEVEL": "WARNING"})
    try:
        replica.start()
        await replica.ready()
        assert replica.process is not None
        pid = replica.process.pid
        limits = httpx.Limits(max_connections=STREAMS)
        async with (
            async_envoy_gateway(replica.port) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as http,
        ):
            # One of each first: what the first stream of a kind costs once is not per stream.
            assert await _grpc_replay(replica, "big", slow=False) == DELTAS + 5
            assert await _sse_replay(http, replica, "big", slow=False) > 2_000_000
            base = _rss_bytes(pid)
            peak = base
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _rss_bytes(pid))
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            began = time.monotonic()
            half = STREAMS // 2
            results = await asyncio.gather(
                *(_grpc_replay(replica, "big", slow=n % 2 == 0) for n in range(half)),
                *(_sse_replay(http, replica, "big", slow=n % 2 == 0) for n in range(STREAMS - half)),
            )
            done.set()
            await sampler
        assert results[:half] == [DELTAS + 5] * half
        assert min(results[half:]) > 2_000_000
        growth = peak - base
        ceiling = STREAMS * STREAM_MEMORY_CEILING_BYTES + FIXED_ALLOWANCE_BYTES
        print(
            f"RSS {base / 2**20:.0f} MB -> peak {peak / 2**20:.0f} MB over {STREAMS} replays"
            f" in {time.monotonic() - began:.1f} s (ceiling +{ceiling / 2**20:.0f} MB)"
        )
        assert growth <= ceiling, f"RSS grew {growth / 2**20:.0f} MB, over {ceiling / 2**20:.0f} MB"
    finally:
        await replica.close()
