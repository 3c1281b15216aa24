"""Long-lived agents through the real Envoy, on both backends: every route with the product's
JSON, the one error shape (409 for a conflicting definition, a conflicting frame and a busy
agent; 404; 400), and the SSE stream: `data-agent` frames between each turn's UI-message
stream, ids "<agent seq>" and "<agent seq>.<run seq>", resumed by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.e2e_envoy.conftest import Gateway, assert_error_shape, new_id

AGENTS = "/internal/v1/agents"
USER = 42


def auth(gw: Gateway, agent_id: str | None = None) -> dict[str, str]:
    """A token bound to the agent (or to its user, to create and list)."""
    return gw.auth(agent_id=agent_id) if agent_id else gw.auth(user_id=USER)


async def create(gw: Gateway, agent_id: str, **body: Any) -> httpx.Response:
    doc = {"agentId": agent_id, "threadId": f"thread-{agent_id}", "userId": USER, **body}
    return await gw.http.post(AGENTS, json=doc, headers=auth(gw))


async def frames(gw: Gateway, agent_id: str, *items: tuple[str, str]) -> httpx.Response:
    body = {"frames": [{"frameId": f, "kind": "FRAME_KIND_USER_PROMPT", "text": t} for f, t in items]}
    return await gw.http.post(f"{AGENTS}/{agent_id}/frames", json=body, headers=auth(gw, agent_id))


def blocks_of(text: str) -> list[tuple[str | None, dict[str, Any] | None]]:
    """(id, chunk) of each SSE block that is not a comment; chunk None for `[DONE]`."""
    out: list[tuple[str | None, dict[str, Any] | None]] = []
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            continue
        event_id = next((line[4:] for line in lines if line.startswith("id: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        out.append((event_id, None if data == "[DONE]" else json.loads(data)))
    return out


async def read_stream_until(
    gw: Gateway, agent_id: str, turns: int, last_event_id: str | None = None
) -> list[tuple[str | None, dict[str, Any] | None]]:
    """The agent's SSE stream, read until `turns` turns finished and the agent slept."""
    headers = auth(gw, agent_id)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    text = ""
    async with asyncio.timeout(20):
        async with gw.http.stream("GET", f"{AGENTS}/{agent_id}/stream", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
            async for piece in response.aiter_text():
                text += piece
                agent_types = [
                    c["data"]["type"] for _, c in blocks_of(text) if c and c["type"] == "data-agent"
                ]
                finished = [i for i, t in enumerate(agent_types) if t == "agent.turn_finished"]
                if len(finished) >= turns and "agent.slept" in agent_types[finished[turns - 1] :]:
                    break
    return blocks_of(text)


async def test_agent_routes_and_the_sse_stream(any_gateway: Gateway) -> None:
    gw = any_gateway
    agent_id = new_id("agent")
    created = await create(gw, agent_id, instructions="Be brief.", inputPolicy="INPUT_POLICY_ENQUEUE")
    assert created.status_code == 200, created.text
    assert created.json()["created"] is True
    assert created.json()["agent"]["state"] == "AGENT_STATE_SLEEPING"
    again = await create(gw, agent_id, instructions="Be brief.", inputPolicy="INPUT_POLICY_ENQUEUE")
    assert again.status_code == 200 and again.json()["created"] is False
    assert_error_shape(await create(gw, agent_id, instructions="Other."), 409, "AGENT_ALREADY_EXISTS")

    submitted = await frames(gw, agent_id, ("f1", "/say hello there"))
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["acceptedFrameIds"] == ["f1"]
    blocks = await read_stream_until(gw, agent_id, 1)
    agent_frames = [(i, c["data"]) for i, c in blocks if c and c["type"] == "data-agent"]
    assert [d["type"] for _, d in agent_frames][:4] == [
        "agent.created",
        "agent.frame_received",
        "agent.woken",
        "agent.turn_started",
    ]
    assert all(i == str(d["seq"]) for i, d in agent_frames)
    turn_started_seq = next(d["seq"] for _, d in agent_frames if d["type"] == "agent.turn_started")
    turn = [(i, c) for i, c in blocks if c and c["type"] != "data-agent"]
    assert "".join(c["delta"] for _, c in turn if c["type"] == "text-delta") == "hello there"
    kinds = [c["type"] for _, c in turn]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    ids = [i for i, _ in turn if i is not None]
    assert ids and all(i.startswith(f"{turn_started_seq}.") for i in ids)

    # Resumed inside the turn: the rest of the turn, then the agent's later events.
    middle = ids[len(ids) // 2]
    resumed = await read_stream_until(gw, agent_id, 1, last_event_id=middle)
    all_ids = [i for i, _ in blocks if i is not None]
    assert [i for i, _ in resumed if i is not None] == all_ids[all_ids.index(middle) + 1 :]

    agent = (await gw.http.get(f"{AGENTS}/{agent_id}", headers=auth(gw, agent_id))).json()["agent"]
    assert agent["state"] == "AGENT_STATE_SLEEPING" and agent["turnCount"] == 1
    assert agent["userId"] == str(USER) and agent["threadId"] == f"thread-{agent_id}"

    duplicate = await frames(gw, agent_id, ("f1", "/say hello there"))
    assert duplicate.status_code == 200 and duplicate.json()["duplicateFrameIds"] == ["f1"]
    assert_error_shape(await frames(gw, agent_id, ("f1", "/say other")), 409, "FRAME_CONFLICT")

    bodies: list[Any] = [None, [], {}]
    for body in bodies:
        woke = await gw.http.post(f"{AGENTS}/{agent_id}/wake", json=body, headers=auth(gw, agent_id))
        assert woke.status_code == 200, woke.text
    slept = await gw.http.post(f"{AGENTS}/{agent_id}/sleep", json={}, headers=auth(gw, agent_id))
    assert slept.status_code == 200, slept.text


async def test_agent_errors_and_listing(any_gateway: Gateway) -> None:
    gw = any_gateway
    busy_id = new_id("busy")
    assert (await create(gw, busy_id, inputPolicy="INPUT_POLICY_REJECT")).status_code == 200
    assert (await frames(gw, busy_id, ("f1", "/sleep 800\n/say ok"))).status_code == 200
    for _ in range(200):
        agent = (await gw.http.get(f"{AGENTS}/{busy_id}", headers=auth(gw, busy_id))).json()["agent"]
        if agent["state"] == "AGENT_STATE_RUNNING":
            break
        await asyncio.sleep(0.02)
    info = assert_error_shape(await frames(gw, busy_id, ("f2", "/say no")), 409, "AGENT_BUSY")
    assert info["metadata"]["run_id"] == f"{busy_id}:turn:1"

    missing = await gw.http.get(f"{AGENTS}/{new_id('none')}", headers=gw.auth())
    assert_error_shape(missing, 404, "AGENT_NOT_FOUND")
    assert_error_shape(await gw.http.get(f"{AGENTS}/bad%20id", headers=gw.auth()), 400)
    no_frames = await gw.http.post(f"{AGENTS}/{busy_id}/frames", json={"frames": []}, headers=gw.auth())
    assert_error_shape(no_frames, 400, "INVALID_ARGUMENT")
    other = await gw.http.get(f"{AGENTS}/{busy_id}", headers=gw.auth(agent_id=new_id("x")))
    assert_error_shape(other, 403, "CLAIM_MISMATCH")

    thread = f"thread-{busy_id}"
    listed = await gw.http.get(AGENTS, params={"threadId": thread, "pageSize": "1"}, headers=gw.auth())
    assert listed.status_code == 200, listed.text
    assert [a["agentId"] for a in listed.json()["agents"]] == [busy_id]
    sleeping = await gw.http.get(AGENTS, params={"state": "AGENT_STATE_FAILED"}, headers=gw.auth())
    assert sleeping.status_code == 200 and sleeping.json()["agents"] == []


async def test_sub_runs_and_child_supervision_through_envoy(any_gateway: Gateway) -> None:
    """The supervision policy's child fields in and out as JSON; a sub-run in flight is listed
    in GetAgent (`subRuns`), and its result arrives as one tool_result frame."""
    gw = any_gateway
    agent_id = new_id("sub")
    policy = {"maxChildRestarts": 0, "childRestartWindow": "30s"}
    created = await create(gw, agent_id, supervisionPolicy=policy)
    assert created.status_code == 200, created.text
    echoed = created.json()["agent"]["supervisionPolicy"]
    assert echoed["maxChildRestarts"] == 0 and echoed["childRestartWindow"] == "30s"
    text = "/tool delegate " + json.dumps({"mode": "run", "text": "/sleep 1500\n/say sub done"}) + "\n/say ok"
    assert (await frames(gw, agent_id, ("f1", text))).status_code == 200
    url = f"{AGENTS}/{agent_id}"
    async with asyncio.timeout(20):
        while True:
            agent = (await gw.http.get(url, headers=auth(gw, agent_id))).json()["agent"]
            if agent.get("subRuns"):
                break
            await asyncio.sleep(0.05)
        (sub,) = agent["subRuns"]
        assert sub["runId"] == f"{agent_id}:sub:{sub['subRunId']}:1" and sub["attempt"] == 1
        while agent.get("subRuns") or agent["turnCount"] < 2 or agent["state"] != "AGENT_STATE_SLEEPING":
            await asyncio.sleep(0.05)
            agent = (await gw.http.get(url, headers=auth(gw, agent_id))).json()["agent"]
