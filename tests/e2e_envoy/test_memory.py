"""Memory through Envoy (REST, the one JSON error shape), on SQLite and PostgreSQL: compact a
seeded thread, list its chunks by level, get one, expand it, ask a question; an agent's memory
by agent id; refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.test_agents_schedules import Clock
from tests.e2e_envoy.conftest import Gateway, assert_error_shape, start_gateway
from tests.e2e_envoy.test_agents import create, frames, read_stream_until
from tests.support.memory import seed_past_thread

THREAD = "t-rest"


async def get_json(gw: Gateway, path: str, **params: Any) -> dict[str, Any]:
    response = await gw.http.get(path, params=params, headers=gw.auth(thread_id=THREAD))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_memory_over_rest(database_url: str) -> None:
    url = database_url
    start = await seed_past_thread(url, THREAD, "run-rest")
    async with start_gateway(url) as gw:
        compact = await gw.http.post(
            f"/internal/v1/threads/{THREAD}/memory/compact", json={}, headers=gw.auth(thread_id=THREAD)
        )
        assert compact.status_code == 200, compact.text
        planned = compact.json()["planned"]
        assert len(planned) == 12 and planned[0]["reason"] == "COMPACTION_REASON_WINDOW_CLOSED"
        assert planned[0]["windowStartTime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
        chunks_path = f"/internal/v1/threads/{THREAD}/memory/chunks"
        async with asyncio.timeout(30):
            while True:  # the hours roll up in the background once their windows are written
                if len((await get_json(gw, chunks_path, level="MEMORY_LEVEL_L2"))["chunks"]) == 2:
                    break
                await asyncio.sleep(0.1)
        l1 = await get_json(
            gw, f"/internal/v1/threads/{THREAD}/memory/chunks", level="MEMORY_LEVEL_L1", pageSize=5
        )
        assert len(l1["chunks"]) == 5 and l1["nextPageToken"]
        first = l1["chunks"][0]
        assert first["seqRange"] == {"firstSeq": "1", "lastSeq": "3"} and first["level"] == "MEMORY_LEVEL_L1"
        assert first["usageCountedBy"] == "provider"
        rest = await get_json(
            gw,
            f"/internal/v1/threads/{THREAD}/memory/chunks",
            level="MEMORY_LEVEL_L1",
            pageToken=l1["nextPageToken"],
        )
        assert len(rest["chunks"]) == 7
        got = await get_json(gw, f"/internal/v1/memory/chunks/{first['chunkId']}")
        assert got["chunk"] == first
        hours = (await get_json(gw, f"/internal/v1/threads/{THREAD}/memory/chunks", level="MEMORY_LEVEL_L2"))[
            "chunks"
        ]
        expanded = await get_json(gw, f"/internal/v1/memory/chunks/{hours[0]['chunkId']}/expand", maxItems=3)
        assert [c["depth"] for c in expanded["chunks"]] == [0, 1, 1] and expanded["truncated"] is True
        assert expanded["chunks"][1]["parentChunkId"] == hours[0]["chunkId"]
        asked = await gw.http.post(
            f"/internal/v1/threads/{THREAD}/memory/queries",
            json={
                "queryId": "q-rest",
                "question": "what was noted?",
                "windowStartTime": hours[0]["windowStartTime"],
                "windowEndTime": hours[1]["windowEndTime"],
                "maxParallel": 2,
            },
            headers=gw.auth(thread_id=THREAD),
        )
        assert asked.status_code == 200, asked.text
        async with asyncio.timeout(30):
            while True:
                query = (await get_json(gw, "/internal/v1/memory/queries/q-rest"))["query"]
                if query["state"] == "MEMORY_QUERY_STATE_DONE":
                    break
                await asyncio.sleep(0.1)
        assert query["usedChunkIds"] == [h["chunkId"] for h in hours] and query["mapsDone"] == 2
        await check_agent_tokens(gw, first["chunkId"], hours[0]["chunkId"])
        await check_refusals(gw)


async def check_agent_tokens(gw: Gateway, chunk_id: str, hour_id: str) -> None:
    """A token bound to an agent on the thread reads its chunks, expansions and questions; one
    bound to an agent elsewhere, or another user's, is refused (403 CLAIM_MISMATCH)."""
    for agent_id, thread_id in (("rest-ag", THREAD), ("rest-far", "t-rest-far")):
        created = await create(gw, agent_id, threadId=thread_id)
        assert created.status_code == 200, created.text
    paths = [
        f"/internal/v1/memory/chunks/{chunk_id}",
        f"/internal/v1/memory/chunks/{hour_id}/expand",
        "/internal/v1/memory/queries/q-rest",
    ]
    for path in paths:
        allowed = await gw.http.get(path, headers=gw.auth(agent_id="rest-ag"))
        assert allowed.status_code == 200, (path, allowed.text)
        for claims in ({"agent_id": "rest-far"}, {"user_id": 7}):
            refused = await gw.http.get(path, headers=gw.auth(**claims))
            assert_error_shape(refused, 403, "CLAIM_MISMATCH")


async def check_refusals(gw: Gateway) -> None:
    """Refusals, in the one error shape."""
    missing = await gw.http.get("/internal/v1/memory/chunks/mc1_none", headers=gw.auth())
    assert_error_shape(missing, 404, "MEMORY_CHUNK_NOT_FOUND")
    by_agent = await gw.http.get("/internal/v1/agents/a1/memory/chunks", headers=gw.auth())
    assert_error_shape(by_agent, 404, "AGENT_NOT_FOUND")
    other = await gw.http.get(f"/internal/v1/threads/{THREAD}/memory/chunks", headers=gw.auth(thread_id="x"))
    assert_error_shape(other, 403, "CLAIM_MISMATCH")
    bad = await gw.http.get(
        f"/internal/v1/threads/{THREAD}/memory/chunks", params={"pageSize": 501}, headers=gw.auth()
    )
    assert_error_shape(bad, 400, "INVALID_ARGUMENT")


def level_1(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c["level"] == "MEMORY_LEVEL_L1"]


async def test_an_agents_memory_by_agent_id(database_url: str) -> None:
    """An agent created with memory enabled: two turns, its memory compacted and listed by agent
    id (the chunks of its thread), a question asked by agent id; another agent's token: 403."""
    clock = Clock(datetime.now(UTC))
    async with start_gateway(database_url, clock=clock) as gw:
        policy = {"enabled": True, "contextTokenBudget": 4000}
        created = await create(gw, "rest-mem", memoryPolicy=policy)
        assert created.status_code == 200, created.text
        assert created.json()["agent"]["memoryPolicy"]["enabled"] is True
        assert (await frames(gw, "rest-mem", ("f1", "/say first"), ("f2", "/say second"))).status_code == 200
        await read_stream_until(gw, "rest-mem", 1)
        clock.advance(timedelta(minutes=20))  # the turn's 10-minute window has closed
        base = "/internal/v1/agents/rest-mem/memory"

        def own() -> dict[str, str]:  # tokens are single-use
            return gw.auth(agent_id="rest-mem")

        compact = await gw.http.post(f"{base}/compact", content=b"{}", headers=own())
        assert compact.status_code == 200, compact.text
        assert [p["level"] for p in compact.json()["planned"]] == ["MEMORY_LEVEL_L1"]
        async with asyncio.timeout(30):
            while True:  # the chunk is written in the background
                listed = await gw.http.get(f"{base}/chunks", headers=own())
                assert listed.status_code == 200, listed.text
                # The L1: when the clock's move crossed an hour (the wall time the test starts
                # at decides), the background compactor may add the hour's L2 as well.
                chunks = level_1(listed.json().get("chunks", []))
                if chunks:
                    break
                await asyncio.sleep(0.1)
        assert [(c["streamKind"], c["streamId"]) for c in chunks] == [("thread", "thread-rest-mem")]
        by_thread = await gw.http.get(
            "/internal/v1/threads/thread-rest-mem/memory/chunks", headers=gw.auth(user_id=42)
        )
        assert level_1(by_thread.json()["chunks"]) == chunks
        asked = await gw.http.post(
            f"{base}/queries",
            json={
                "queryId": "q-agent",
                "question": "what was said?",
                "windowStartTime": chunks[0]["windowStartTime"],
                "windowEndTime": chunks[0]["windowEndTime"],
            },
            headers=own(),
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["created"] is True
        other = await gw.http.get(f"{base}/chunks", headers=gw.auth(agent_id="someone-else"))
        assert_error_shape(other, 403, "CLAIM_MISMATCH")
