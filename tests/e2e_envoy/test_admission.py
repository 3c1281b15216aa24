"""Admission control and thread input through the real Envoy, on SQLite and PostgreSQL:
429 with retry-after and the one error shape, a queued run's position over REST and on
its SSE stream, 409 naming the thread's running run."""

from __future__ import annotations

import asyncio
import json

from tests.e2e_envoy.conftest import assert_error_shape, frames, new_id, start_gateway

LONG = "/tokens 100000 200"
LIMITS = {"RUNTIME_MAX_RUNNING_RUNS": "1", "RUNTIME_OVERLOAD_POLICY": "reject", "RUNTIME_RETRY_AFTER_S": "3"}


async def test_overload_is_429_with_retry_after_and_queue_is_chosen_per_request(database_url: str) -> None:
    async with start_gateway(database_url, LIMITS) as gw:
        busy, refused, queued = new_id("run"), new_id("run"), new_id("run")
        await gw.start(busy, LONG)
        response = await gw.http.post(
            "/internal/v1/runs",
            json={"runId": refused, "threadId": refused, "prompt": "/say hi"},
            headers=gw.auth(),
        )
        info = assert_error_shape(response, 429, "OVERLOADED")
        assert info["metadata"] == {"limit": "max_running_runs", "retry_after_s": "3"}
        assert response.headers["retry-after"] == "3"
        missing = await gw.http.get(f"/internal/v1/runs/{refused}", headers=gw.auth())
        assert_error_shape(missing, 404, "RUN_NOT_FOUND")  # nothing was recorded

        await gw.start(queued, "/say hi", overloadPolicy="OVERLOAD_POLICY_QUEUE")
        run = await gw.get_run(queued)
        assert run["state"] == "RUN_STATE_QUEUED" and run["queuePosition"] == 1
        canceled = await gw.http.post(f"/internal/v1/runs/{busy}/cancel", json={}, headers=gw.auth())
        assert canceled.status_code == 200, canceled.text
        assert (await gw.wait_terminal(queued))["state"] == "RUN_STATE_SUCCEEDED"
        chunks = [f.chunk for f in frames((await gw.stream(queued)).events) if f.chunk]
        [note] = [c for c in chunks if c["type"] == "data-run-queued"]
        assert note["data"]["reason"] == "capacity" and note["data"]["position"] == 1 and note["transient"]


async def test_a_busy_thread_under_reject_is_409_naming_the_running_run(database_url: str) -> None:
    async with start_gateway(database_url) as gw:
        running, refused, thread = new_id("run"), new_id("run"), new_id("thread")
        await gw.start(running, LONG, thread_id=thread)
        response = await gw.http.post(
            "/internal/v1/runs",
            json={
                "runId": refused,
                "threadId": thread,
                "prompt": "hi",
                "threadInputPolicy": "THREAD_INPUT_POLICY_REJECT",
            },
            headers=gw.auth(),
        )
        info = assert_error_shape(response, 409, "THREAD_BUSY")
        assert info["metadata"] == {"thread_id": thread, "run_id": running}
        await gw.http.post(f"/internal/v1/runs/{running}/cancel", json={}, headers=gw.auth())


async def test_streams_past_the_limit_are_429(database_url: str) -> None:
    async with start_gateway(database_url, {"RUNTIME_MAX_OPEN_STREAMS": "1"}) as gw:
        run_id = new_id("run")
        await gw.start(run_id, LONG)
        opened = asyncio.Event()

        async def hold() -> None:
            async with gw.http.stream("GET", f"/internal/v1/runs/{run_id}/stream", headers=gw.auth()) as held:
                async for _ in held.aiter_bytes():
                    opened.set()

        holder = asyncio.create_task(hold())
        await asyncio.wait_for(opened.wait(), 15)
        second = await gw.http.get(f"/internal/v1/runs/{run_id}/stream", headers=gw.auth())
        info = assert_error_shape(second, 429, "OVERLOADED")
        assert info["metadata"]["limit"] == "max_open_streams"
        assert second.headers["retry-after"] == "1"
        await gw.http.post(f"/internal/v1/runs/{run_id}/cancel", json={}, headers=gw.auth())
        await asyncio.wait_for(holder, 15)
        assert json.loads(second.text)["code"] == 8
