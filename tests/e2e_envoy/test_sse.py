"""StreamRunSse through the real Envoy: headers, framing, exactly-once resume, timeouts, heartbeats."""

from __future__ import annotations

import time
from typing import cast

import pytest

from tests.e2e_envoy.conftest import (
    Gateway,
    SseEvent,
    cut_stream,
    error_info,
    event_seqs,
    frames,
    new_id,
    start_gateway,
)

# Two steps, text on both sides of a tool call: every kind of frame boundary a resume can hit.
SHORT_RUN = "/say a b c\n/tool echo {}\n/say d"


def frame_bytes(events: list[SseEvent]) -> list[bytes]:
    return [e.raw for e in frames(events)]


def after(events: list[SseEvent], cursor: int) -> list[bytes]:
    """The frames a stream resumed after `cursor` must send: later events' frames and `[DONE]`."""
    sent = frames(events)
    return [e.raw for e, seq in zip(sent, event_seqs(sent), strict=True) if seq is None or seq > cursor]


async def test_stream_headers_comment_first_and_ordered_frames(gateway: Gateway) -> None:
    run_id = new_id("sse")
    await gateway.start(run_id, SHORT_RUN)
    stream = await gateway.stream(run_id)

    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert stream.headers["x-accel-buffering"] == "no"
    assert stream.headers["x-oa-run-id"] == run_id
    assert not any(name.startswith("grpc-") for name in stream.headers)
    assert stream.body.startswith(b": ok\n\n")

    sent = stream.frames
    assert sent[-1].data == "[DONE]" and sent[-1].id is None
    assert sent[-2].id is not None  # the last frame of every event carries its seq
    ids = event_seqs(sent[:-1])
    assert None not in ids
    assert ids == sorted(cast("list[int]", ids))  # no None, asserted above
    types = [e.chunk["type"] for e in sent[:-1] if e.chunk]
    assert types == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "tool-input-start",
        "tool-input-available",
        "finish-step",
        "tool-output-available",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    text = "".join(e.chunk["delta"] for e in sent if e.chunk and e.chunk["type"] == "text-delta")
    assert text == "a b cd"
    assert sent[-2].chunk == {"type": "finish", "finishReason": "stop"}


async def test_resume_from_every_event_id_is_exactly_once(any_gateway: Gateway) -> None:
    gw = any_gateway
    run_id = new_id("resume")
    await gw.start(run_id, SHORT_RUN)
    full = (await gw.stream(run_id)).events
    cursors = sorted({e.id for e in full if e.id is not None})
    assert len(cursors) >= 10

    # The terminal event's own id is covered by test_resume_after_the_terminal_event_still_ends_with_done.
    for cursor in [0, *cursors[:-1]]:
        resumed = await gw.stream(run_id, last_event_id=cursor)
        assert resumed.status == 200, resumed.body
        assert resumed.body.startswith(b": ok\n\n")
        assert frame_bytes(resumed.events) == after(full, cursor), f"resumed after {cursor}"

        by_param = await gw.stream(run_id, cursor=cursor)
        assert frame_bytes(by_param.events) == after(full, cursor), f"cursor={cursor}"

    both_agree = await gw.stream(run_id, cursor=cursors[2], last_event_id=cursors[2])
    assert frame_bytes(both_agree.events) == after(full, cursors[2])


async def test_resume_after_the_terminal_event_still_ends_with_done(gateway: Gateway) -> None:
    """A client cut off between `finish` and `[DONE]` resumes with the finish event's id;
    it must still be told the stream is complete, or it cannot tell "done" from "cut"."""
    run_id = new_id("tail")
    await gateway.start(run_id, "/say hi")
    full = (await gateway.stream(run_id)).events
    terminal = max(e.id for e in full if e.id is not None)
    resumed = await gateway.stream(run_id, last_event_id=terminal)
    assert resumed.status == 200
    assert frame_bytes(resumed.events) == after(full, terminal) == [b"data: [DONE]\n\n"]


async def test_resume_after_the_client_drops_a_live_stream(gateway: Gateway) -> None:
    run_id = new_id("drop")
    await gateway.start(run_id, '/say begin\n/tokens 60 60\n/tool echo {"x": 1}\n/say end')
    received = b""
    async with gateway.http.stream(
        "GET", f"/internal/v1/runs/{run_id}/stream", headers=gateway.auth()
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            received += chunk
            if received.count(b'"text-delta"') >= 5:
                break  # leaving the block closes the connection mid-run
    head, last_id = cut_stream(received)
    assert (await gateway.get_run(run_id))["state"] == "RUN_STATE_RUNNING"

    tail = await gateway.stream(run_id, last_event_id=last_id)
    full = (await gateway.stream(run_id)).events
    assert frame_bytes(head) + frame_bytes(tail.events) == frame_bytes(full)
    assert frames(full)[-2].chunk == {"type": "finish", "finishReason": "stop"}


async def test_a_client_disconnect_does_not_cancel_the_run(gateway: Gateway) -> None:
    run_id = new_id("leave")
    await gateway.start(run_id, "/tokens 30 60")
    async with gateway.http.stream(
        "GET", f"/internal/v1/runs/{run_id}/stream", headers=gateway.auth()
    ) as response:
        async for chunk in response.aiter_raw():
            if b"text-delta" in chunk:
                break
    run = await gateway.wait_terminal(run_id)
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    full = (await gateway.stream(run_id)).frames
    text = "".join(e.chunk["delta"] for e in full if e.chunk and e.chunk["type"] == "text-delta")
    assert text.split() == [f"t{n}" for n in range(1, 31)]


async def test_cursor_and_last_event_id_that_disagree_are_a_400(gateway: Gateway) -> None:
    run_id = new_id("disagree")
    await gateway.start(run_id, "/say hi")
    await gateway.wait_terminal(run_id)
    response = await gateway.http.get(
        f"/internal/v1/runs/{run_id}/stream",
        params={"cursor": "2"},
        headers={**gateway.auth(), "Last-Event-ID": "3"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert error_info(response)["reason"] == "INVALID_CURSOR"

    garbage = await gateway.http.get(
        f"/internal/v1/runs/{run_id}/stream", headers={**gateway.auth(), "Last-Event-ID": "abc"}
    )
    assert garbage.status_code == 400
    assert error_info(garbage)["reason"] == "INVALID_CURSOR"

    beyond = await gateway.http.get(
        f"/internal/v1/runs/{run_id}/stream", params={"cursor": "999"}, headers=gateway.auth()
    )
    assert beyond.status_code == 400
    assert error_info(beyond)["reason"] == "INVALID_CURSOR"


async def test_stream_of_an_unknown_run_is_a_json_404_before_any_frame(gateway: Gateway) -> None:
    stream = await gateway.stream("no-such-run")
    assert stream.status == 404
    assert stream.headers["content-type"] == "application/json"
    assert b"data:" not in stream.body and not stream.body.startswith(b":")
    assert b'"RUN_NOT_FOUND"' in stream.body


async def test_idle_streams_get_heartbeat_comments(sqlite_url: str) -> None:
    async with start_gateway(sqlite_url, {"RUNTIME_SSE_HEARTBEAT_S": "0.2"}) as gw:
        run_id = new_id("idle")
        await gw.start(run_id, "/say before\n/sleep 1500\n/say after")
        stream = await gw.stream(run_id)
    comments = [e.comment for e in stream.events if e.comment is not None]
    assert comments[0] == "ok"
    assert comments.count("keep-alive") >= 4, comments
    text = "".join(e.chunk["delta"] for e in stream.frames if e.chunk and e.chunk["type"] == "text-delta")
    assert text == "beforeafter"
    assert stream.frames[-1].data == "[DONE]"


@pytest.mark.slow
async def test_a_stream_outlives_envoys_default_route_timeout(gateway: Gateway) -> None:
    run_id = new_id("long")
    await gateway.start(run_id, "/say start\n/sleep 16000\n/say end")
    began = time.monotonic()
    stream = await gateway.stream(run_id, timeout_s=40)
    elapsed = time.monotonic() - began
    assert elapsed > 15.5
    assert stream.status == 200
    chunks = [e.chunk for e in stream.frames if e.chunk]
    assert {"type": "text-delta", "id": chunks[2]["id"], "delta": "start"} in chunks
    assert any(c["type"] == "text-delta" and c["delta"] == "end" for c in chunks)
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}
    assert stream.frames[-1].data == "[DONE]"
