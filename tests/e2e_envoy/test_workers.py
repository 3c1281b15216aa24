"""Codex workers through the real Envoy, on both backends: the product's paths and answers
(202 new / 200 replay, snake_case bodies as Laravel sends them), the status machine (every
illegal move is a 409), list filters and paging, and the SSE stream resumed by cursor."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e_envoy.conftest import Gateway, SseEvent, assert_error_shape, new_id, parse_sse, start_gateway

WORKERS = "/internal/v1/codex/workers"
USER = 42


def auth(gw: Gateway, user: int = USER, **claims: str | int | None) -> dict[str, str]:
    """Laravel's headers: a token bound to the user, and X-OA-USER-ID with the same id."""
    return {**gw.auth(user_id=user, **claims), "X-OA-USER-ID": str(user)}


async def create(gw: Gateway, worker_id: str, *, user: int = USER, **body: Any) -> httpx.Response:
    return await gw.http.post(WORKERS, json={"worker_id": worker_id, **body}, headers=auth(gw, user))


async def report(gw: Gateway, worker_id: str, event_type: str, **payload: Any) -> httpx.Response:
    return await gw.http.post(
        f"{WORKERS}/{worker_id}/events",
        json={"event": {"event_type": event_type, "payload": payload}},
        headers=auth(gw),
    )


async def request(gw: Gateway, worker_id: str, request_id: str, method: str = "turn/start") -> httpx.Response:
    body = {"request": {"request_id": request_id, "method": method, "params": {"text": "continue"}}}
    return await gw.http.post(f"{WORKERS}/{worker_id}/requests", json=body, headers=auth(gw))


async def stop(gw: Gateway, worker_id: str, body: Any = None) -> httpx.Response:
    return await gw.http.post(f"{WORKERS}/{worker_id}/stop", json=body, headers=auth(gw))


async def snapshot(gw: Gateway, worker_id: str) -> dict[str, Any]:
    response = await gw.http.get(f"{WORKERS}/{worker_id}/snapshot", headers=auth(gw))
    assert response.status_code == 200, response.text
    worker: dict[str, Any] = response.json()["worker"]
    return worker


async def worker_in(gw: Gateway, status: str) -> str:
    """A new worker moved to `status` through the status machine's arrows."""
    worker_id = new_id("codexw")
    assert (await create(gw, worker_id, workspace_ref="workspace://demo")).status_code == 202
    if status in ("running", "stopped"):
        assert (await report(gw, worker_id, "worker.started")).status_code == 202
    if status == "stopping":
        assert (await stop(gw, worker_id)).status_code == 202
    if status == "stopped":
        assert (await report(gw, worker_id, "worker.stopped")).status_code == 202
    if status == "failed":
        assert (await report(gw, worker_id, "worker.error", message="boom")).status_code == 202
    assert (await snapshot(gw, worker_id))["status"] == status
    return worker_id


async def test_create_is_202_then_a_200_replay_and_another_body_is_409(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = new_id("codexw")
    body: dict[str, Any] = {
        "workspace_ref": "workspace://demo",
        "codex_home_ref": "home://1",
        "adapter": "desktop",
    }
    first = await create(gw, worker_id, **body, metadata={"device": "mac"})
    assert first.status_code == 202, first.text
    assert "x-oa-http-status" not in first.headers
    created = first.json()
    assert created["workerId"] == worker_id
    assert created["status"] == "starting"
    assert created["idempotentReplay"] is False
    worker = created["worker"]
    assert worker["userId"] == str(USER)
    assert worker["workspaceRef"] == "workspace://demo"
    assert worker["codexHomeRef"] == "home://1"
    assert worker["adapter"] == "desktop"
    assert worker["metadata"] == {"device": "mac"}
    assert worker["latestSeq"] == "1"
    assert worker["heartbeatState"] == "missing"
    assert "heartbeatAgeMs" not in worker
    assert worker["heartbeatStaleAfterMs"] == "120000"

    again = await create(gw, worker_id, **body)
    assert again.status_code == 200, again.text
    assert again.json()["idempotentReplay"] is True
    assert again.json()["worker"]["latestSeq"] == "1"

    camel = await gw.http.post(
        WORKERS, json={"workerId": worker_id, "workspaceRef": "workspace://demo"}, headers=auth(gw)
    )
    assert camel.status_code == 200, camel.text  # lowerCamelCase JSON is the same request

    other = await create(gw, worker_id, workspace_ref="workspace://other")
    info = assert_error_shape(other, 409, "WORKER_ALREADY_EXISTS")
    assert info["metadata"] == {"worker_id": worker_id, "field": "workspace_ref"}
    other_metadata = await create(gw, worker_id, metadata={"device": "pc"})
    assert_error_shape(other_metadata, 409, "WORKER_ALREADY_EXISTS")


async def test_a_create_without_worker_id_gets_one(gateway: Gateway) -> None:
    response = await gateway.http.post(WORKERS, json={"workspace_ref": "w"}, headers=auth(gateway))
    assert response.status_code == 202, response.text
    assert response.json()["workerId"].startswith("codexw_")


async def test_reported_events_move_the_status_and_refresh_the_heartbeat(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = await worker_in(gw, "starting")
    started = await report(gw, worker_id, "worker.started", source="desktop")
    assert started.status_code == 202, started.text
    assert started.json() == {
        "workerId": worker_id,
        "seq": "2",
        "eventType": "worker.started",
        "status": "running",
    }
    worker = await snapshot(gw, worker_id)
    assert worker["heartbeatState"] == "fresh"
    assert 0 <= int(worker["heartbeatAgeMs"]) < 60_000
    assert "lastHeartbeatAt" in worker
    for kind in ("worker.heartbeat", "worker.event", "worker.request.received"):
        response = await report(gw, worker_id, kind, method="turn/started")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "running"
    error = await report(gw, worker_id, "worker.error", message="codex crashed")
    assert error.json()["status"] == "failed"
    worker = await snapshot(gw, worker_id)
    assert worker["heartbeatState"] == "failed"
    assert worker["lastError"] == "codex crashed"
    assert "stoppedAt" in worker
    assert worker["latestSeq"] == "6"


# Every move the machine has no arrow for, from each status: (status, call) → 409.
ILLEGAL = [
    ("starting", "worker.stopped"),
    ("stopping", "worker.started"),
    ("stopping", "request"),
    ("stopped", "worker.started"),
    ("stopped", "worker.stopped"),
    ("stopped", "worker.error"),
    ("stopped", "worker.heartbeat"),
    ("stopped", "worker.event"),
    ("stopped", "worker.request.received"),
    ("stopped", "request"),
    ("failed", "worker.started"),
    ("failed", "worker.stopped"),
    ("failed", "worker.error"),
    ("failed", "worker.heartbeat"),
    ("failed", "worker.event"),
    ("failed", "worker.request.received"),
    ("failed", "request"),
    ("failed", "stop"),
]


@pytest.mark.parametrize(("status", "call"), ILLEGAL)
async def test_every_illegal_transition_is_409(any_gateway: Gateway, status: str, call: str) -> None:
    gw = any_gateway
    worker_id = await worker_in(gw, status)
    before = await snapshot(gw, worker_id)
    if call == "request":
        response = await request(gw, worker_id, new_id("req"))
    elif call == "stop":
        response = await stop(gw, worker_id)
    else:
        response = await report(gw, worker_id, call)
    info = assert_error_shape(response, 409, "WORKER_STATE_CONFLICT")
    assert info["metadata"]["worker_id"] == worker_id
    assert info["metadata"]["status"] == status
    after = await snapshot(gw, worker_id)
    assert after["latestSeq"] == before["latestSeq"]  # nothing was written
    assert after["status"] == status


async def test_stop_is_202_then_200_and_a_reattach_revives_a_stopped_worker(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = await worker_in(gw, "running")
    first = await stop(gw, worker_id, [])  # Laravel's Http::post($url) without data sends []
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "stopping"
    assert first.json()["idempotentReplay"] is False
    again = await stop(gw, worker_id, {"reason": "done"})
    assert again.status_code == 200, again.text
    assert again.json()["idempotentReplay"] is True
    no_body = await gw.http.post(f"{WORKERS}/{worker_id}/stop", headers=auth(gw))
    assert no_body.status_code == 200, no_body.text
    assert (await report(gw, worker_id, "worker.stopped")).json()["status"] == "stopped"
    stopped = await stop(gw, worker_id)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    assert stopped.json()["worker"]["heartbeatState"] == "stopped"

    other = await create(gw, worker_id, workspace_ref="workspace://elsewhere")
    assert_error_shape(other, 409, "WORKER_ALREADY_EXISTS")
    reattached = await create(gw, worker_id, metadata={"attempt": 2})
    assert reattached.status_code == 202, reattached.text
    worker = reattached.json()["worker"]
    assert worker["status"] == "starting"
    assert worker["reattachCount"] == "1"
    assert worker["metadata"] == {"attempt": 2}
    assert worker["heartbeatState"] == "missing"
    assert "stoppedAt" not in worker
    assert (await report(gw, worker_id, "worker.started")).json()["status"] == "running"


async def test_control_requests_are_idempotent_by_request_id(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = await worker_in(gw, "running")
    first = await request(gw, worker_id, "req_1")
    assert first.status_code == 202, first.text
    assert first.json() == {
        "workerId": worker_id,
        "requestId": "req_1",
        "method": "turn/start",
        "seq": "3",
        "idempotentReplay": False,
        "status": "running",
    }
    again = await request(gw, worker_id, "req_1")
    assert again.status_code == 200, again.text
    assert again.json()["idempotentReplay"] is True
    assert again.json()["seq"] == "3"
    other = await request(gw, worker_id, "req_1", method="turn/interrupt")
    assert_error_shape(other, 409, "WORKER_REQUEST_CONFLICT")
    empty_params = await gw.http.post(
        f"{WORKERS}/{worker_id}/requests",
        json={"request": {"request_id": "req_2", "method": "thread/list", "params": []}},
        headers=auth(gw),
    )
    assert empty_params.status_code == 202, empty_params.text


async def test_bad_input_is_400(gateway: Gateway) -> None:
    gw = gateway
    worker_id = await worker_in(gw, "running")
    unknown = await report(gw, worker_id, "worker.exploded")
    assert_error_shape(unknown, 400, "INVALID_ARGUMENT")
    not_object = await gw.http.post(
        f"{WORKERS}/{worker_id}/events",
        json={"event": {"event_type": "worker.event", "payload": "text"}},
        headers=auth(gw),
    )
    assert_error_shape(not_object, 400, "INVALID_ARGUMENT")
    missing = await gw.http.post(f"{WORKERS}/{worker_id}/requests", json={"request": {}}, headers=auth(gw))
    assert_error_shape(missing, 400, "INVALID_ARGUMENT")
    for query in ({"limit": "201"}, {"status": "sleeping"}, {"page_token": "nope"}):
        response = await gw.http.get(WORKERS, params=query, headers=auth(gw))
        assert_error_shape(response, 400, "INVALID_ARGUMENT")
    bad_id = await gw.http.get(f"{WORKERS}/a%20b/snapshot", headers=auth(gw))
    assert_error_shape(bad_id, 400, "INVALID_ARGUMENT")
    unknown_worker = await gw.http.get(f"{WORKERS}/{new_id('nope')}/snapshot", headers=auth(gw))
    assert_error_shape(unknown_worker, 404, "WORKER_NOT_FOUND")


async def test_list_filters_by_status_and_workspace_and_pages_by_keyset(any_gateway: Gateway) -> None:
    gw = any_gateway
    user = 7000 + (hash(new_id("u")) % 1000)  # a user of this test only
    workspace = new_id("workspace://ws")
    ids = []
    for i in range(5):
        worker_id = new_id(f"codexw{i}")
        assert (await create(gw, worker_id, user=user, workspace_ref=workspace)).status_code == 202
        ids.append(worker_id)
    assert (
        await create(gw, new_id("codexw"), user=user, workspace_ref="workspace://other")
    ).status_code == 202
    assert (await create(gw, new_id("codexw"), user=user + 1, workspace_ref=workspace)).status_code == 202
    for worker_id in ids[:2]:
        response = await gw.http.post(
            f"{WORKERS}/{worker_id}/events",
            json={"event": {"event_type": "worker.started"}},
            headers=auth(gw, user),
        )
        assert response.status_code == 202, response.text

    async def page(**query: str) -> dict[str, Any]:
        response = await gw.http.get(WORKERS, params=query, headers=auth(gw, user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = await page(workspace_ref=workspace)
    assert [w["workerId"] for w in everything["workers"]] == ids[::-1]  # newest first, own only
    assert everything["nextPageToken"] == ""
    running = await page(workspace_ref=workspace, status="running")
    assert [w["workerId"] for w in running["workers"]] == ids[:2][::-1]
    seen: list[str] = []
    token = ""
    while True:
        query = {"workspace_ref": workspace, "limit": "2"}
        if token:
            query["page_token"] = token
        body = await page(**query)
        assert len(body["workers"]) <= 2
        seen += [w["workerId"] for w in body["workers"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert seen == ids[::-1]
    changed = await gw.http.get(
        WORKERS, params={"page_token": token or "x", "status": "running"}, headers=auth(gw, user)
    )
    assert changed.status_code == 400
    all_of_user = await page(limit="200")
    assert len(all_of_user["workers"]) == 6


async def read_sse(gw: Gateway, worker_id: str, **kwargs: Any) -> tuple[httpx.Headers, list[SseEvent]]:
    headers = auth(gw)
    if "last_event_id" in kwargs:
        headers["Last-Event-ID"] = str(kwargs.pop("last_event_id"))
    params = {k: str(v) for k, v in kwargs.items()}
    async with asyncio.timeout(20):
        async with gw.http.stream(
            "GET", f"{WORKERS}/{worker_id}/stream", headers=headers, params=params
        ) as response:
            assert response.status_code == 200, await response.aread()
            body = await response.aread()
    return response.headers, parse_sse(body)


def events_of(blocks: list[SseEvent]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        if block.comment is None:
            chunk = block.chunk
            assert chunk is not None and block.id == chunk["seq"], block
            out.append(chunk)
    return out


async def test_sse_stream_replays_follows_live_and_resumes(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = await worker_in(gw, "running")

    async def follow() -> list[dict[str, Any]]:
        headers, blocks = await read_sse(gw, worker_id)
        assert headers["content-type"] == "text/event-stream"
        assert headers["x-oa-worker-id"] == worker_id
        assert blocks[0].comment == "ok"
        return events_of(blocks)

    live = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    assert (await request(gw, worker_id, "req_1")).status_code == 202
    assert (await report(gw, worker_id, "worker.event", method="turn/started")).status_code == 202
    assert (await stop(gw, worker_id)).status_code == 202
    assert (await report(gw, worker_id, "worker.stopped")).status_code == 202
    everything = await live  # the stream ends once the worker stopped
    assert [e["seq"] for e in everything] == [1, 2, 3, 4, 5, 6]
    assert [e["type"] for e in everything] == [
        "worker.created",
        "worker.started",
        "worker.request.received",
        "worker.event",
        "worker.stop_requested",
        "worker.stopped",
    ]
    assert everything[2]["payload"] == {
        "request_id": "req_1",
        "method": "turn/start",
        "params": {"text": "continue"},
    }
    _, by_header = await read_sse(gw, worker_id, last_event_id=3)
    assert events_of(by_header) == everything[3:]
    _, by_cursor = await read_sse(gw, worker_id, cursor=4)
    assert events_of(by_cursor) == everything[4:]
    conflict = await gw.http.get(
        f"{WORKERS}/{worker_id}/stream",
        params={"cursor": "2"},
        headers={**auth(gw), "Last-Event-ID": "3"},
    )
    assert_error_shape(conflict, 400, "INVALID_CURSOR")
    beyond = await gw.http.get(f"{WORKERS}/{worker_id}/stream", params={"cursor": "7"}, headers=auth(gw))
    assert_error_shape(beyond, 400, "INVALID_CURSOR")


async def test_sse_stream_ends_after_tail_ms(gateway: Gateway) -> None:
    worker_id = await worker_in(gateway, "running")
    _, blocks = await read_sse(gateway, worker_id, cursor=1, tail_ms=300)
    assert [e["seq"] for e in events_of(blocks)] == [2]


async def test_the_stale_after_setting_reaches_snapshots(sqlite_url: str) -> None:
    env = {"RUNTIME_WORKER_HEARTBEAT_STALE_AFTER_MS": "200"}
    async with start_gateway(sqlite_url, env) as gw:
        worker_id = await worker_in(gw, "running")
        await asyncio.sleep(0.25)  # the setting is what is under test: let the heartbeat age past it
        worker = await snapshot(gw, worker_id)
        assert worker["heartbeatStaleAfterMs"] == "200"
        assert worker["heartbeatState"] == "stale"
        assert int(worker["heartbeatAgeMs"]) >= 200
        assert (await report(gw, worker_id, "worker.heartbeat")).status_code == 202
        listed = await gw.http.get(WORKERS, headers=auth(gw))
        [mine] = [w for w in listed.json()["workers"] if w["workerId"] == worker_id]
        assert mine["heartbeatStaleAfterMs"] == "200"
