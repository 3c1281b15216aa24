"""What the real Envoy gateway does with our contract: a small real grpc.aio server behind the
rendered gateway/envoy.yaml.tmpl, spoken to over HTTP with httpx.

The servicer here is a test double of the runtime's edge (not the runtime): it answers the shapes
the real servicers answer so the facts in ARCHITECTURE.md §3 are pinned for *our* proto, above all
that `stream StreamRunSseResponse { google.api.HttpBody body = 1; }` with `response_body: "body"`
streams exactly like a bare `stream google.api.HttpBody`.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_status import rpc_status
from oa_gateway.config import GatewayConfig, render_config
from oa_gateway.launcher import EnvoyNotFound, EnvoyStartError, find_envoy, start_envoy
from openagents.runtime.v1 import (
    health_service_pb2,
    health_service_pb2_grpc,
    run_pb2,
    run_service_pb2,
    run_service_pb2_grpc,
)

from tests.support.envoy import async_envoy_gateway

SSE_HEADERS = (
    ("x-vercel-ai-ui-message-stream", "v1"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
)
# Frames after the opening comment; FRAME_GAP_S apart, as a model streaming tokens would be.
SSE_FRAMES = (
    b'id: 1\ndata: {"type":"start"}\n\n',
    b'id: 2\ndata: {"type":"text-start","id":"t1"}\n\n',
    b'id: 3\ndata: {"type":"text-delta","id":"t1","delta":"Hi"}\n\n'
    b'id: 4\ndata: {"type":"text-end","id":"t1"}\n\n',
    b'id: 5\ndata: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n',
)
FRAME_GAP_S = 0.3
# Longer than Envoy's default 15 s route timeout, which would cut the stream if it applied.
LONG_SILENCE_S = 16.2


def _sse_message(data: bytes) -> Any:
    body = httpbody_pb2.HttpBody(content_type="text/event-stream", data=data)
    return run_service_pb2.StreamRunSseResponse(body=body)


def _run_not_found(run_id: str) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(
        reason="RUN_NOT_FOUND", domain="runtime.openagents.dev", metadata={"run_id": run_id}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.NOT_FOUND, message=f"run {run_id!r} not found", details=[detail])
    return rpc_status.to_status(status)


class FakeRuntimeHealth(health_service_pb2_grpc.HealthServiceServicer):  # type: ignore[misc]
    async def Healthz(self, request: Any, context: Any) -> Any:
        return health_service_pb2.HealthzResponse(status="ok")


class FakeRunService(run_service_pb2_grpc.RunServiceServicer):  # type: ignore[misc]
    """GetRun: "zero" exists with every field at its zero value, any other id is NOT_FOUND.
    StreamRunSse: "missing" fails before the first message, "long" stays silent past 16 s,
    any other id streams SSE_FRAMES after a comment echoing the cursor and Last-Event-ID."""

    async def GetRun(self, request: Any, context: Any) -> Any:
        if request.run_id == "zero":
            return run_service_pb2.GetRunResponse(run=run_pb2.Run(run_id="zero"))
        await context.abort_with_status(_run_not_found(request.run_id))

    async def StreamRunSse(self, request: Any, context: Any) -> AsyncIterator[Any]:
        if request.run_id == "missing":
            await context.abort_with_status(_run_not_found(request.run_id))
        await context.send_initial_metadata(SSE_HEADERS)
        metadata = dict(context.invocation_metadata())
        cursor = request.cursor if request.HasField("cursor") else "none"
        # Envoy holds the response headers until the first message: send a comment at once.
        yield _sse_message(f": ok cursor={cursor} last-event-id={metadata.get('last-event-id')}\n\n".encode())
        if request.run_id == "long":
            await asyncio.sleep(LONG_SILENCE_S)
            yield _sse_message(b"data: [DONE]\n\n")
            return
        for frame in SSE_FRAMES:
            await asyncio.sleep(FRAME_GAP_S)
            yield _sse_message(frame)


@pytest.fixture(scope="module")
async def gateway_url() -> AsyncIterator[str]:
    server = grpc.aio.server()
    health_service_pb2_grpc.add_HealthServiceServicer_to_server(FakeRuntimeHealth(), server)
    run_service_pb2_grpc.add_RunServiceServicer_to_server(FakeRunService(), server)
    health = health_aio.HealthServicer()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with async_envoy_gateway(grpc_port) as base_url:
            yield base_url
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=httpx.Timeout(30.0)) as client:
        yield client


def assert_no_grpc_headers(response: httpx.Response) -> None:
    leaked = sorted(name for name in response.headers if name.lower().startswith("grpc-"))
    assert leaked == [], f"gRPC headers reached the HTTP client: {leaked}"


def assert_json_content(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_healthz_is_transcoded_to_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert assert_json_content(response) == {"status": "ok"}
    assert_no_grpc_headers(response)


async def test_unary_response_prints_zero_values(http: httpx.AsyncClient) -> None:
    response = await http.get("/internal/v1/runs/zero")
    assert response.status_code == 200
    run = assert_json_content(response)["run"]
    # always_print_primitive_fields: zero values are present; int64 is a JSON string.
    assert run["runId"] == "zero"
    assert run["threadId"] == ""
    assert run["lastSeq"] == "0"
    assert run["stepCount"] == 0
    assert run["authenticatedSession"] is False
    assert run["state"] == "RUN_STATE_UNSPECIFIED"


async def test_grpc_not_found_becomes_404_with_error_info(http: httpx.AsyncClient) -> None:
    response = await http.get("/internal/v1/runs/nope")
    assert response.status_code == 404
    body = assert_json_content(response)
    assert body["code"] == code_pb2.NOT_FOUND
    assert body["message"] == "run 'nope' not found"
    [info] = body["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "RUN_NOT_FOUND"
    assert info["domain"] == "runtime.openagents.dev"
    assert info["metadata"] == {"run_id": "nope"}
    assert_no_grpc_headers(response)


async def test_unknown_path_is_json_404_not_503(http: httpx.AsyncClient) -> None:
    response = await http.get("/internal/v1/no-such-thing")
    assert response.status_code == 404
    body = assert_json_content(response)
    assert body["code"] == code_pb2.NOT_FOUND  # the one error shape: a gRPC code
    assert body["message"] == "no route for this method and path"
    assert body["details"][0]["reason"] == "UNKNOWN_ROUTE"
    assert_no_grpc_headers(response)


async def test_unknown_query_parameter_is_json_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", params={"bogus": "1"})
    assert response.status_code == 400
    body = assert_json_content(response)
    assert body["code"] == code_pb2.INVALID_ARGUMENT
    assert body["message"]
    assert body["details"][0]["reason"] == "MALFORMED_REQUEST"
    assert_no_grpc_headers(response)


async def test_sse_stream_is_raw_bytes_delivered_as_produced(http: httpx.AsyncClient) -> None:
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    async with http.stream(
        "GET", "/internal/v1/runs/r1/stream", params={"cursor": "7"}, headers={"Last-Event-ID": "7"}
    ) as response:
        async for chunk in response.aiter_raw():
            arrivals.append((time.monotonic() - started, chunk))
    assert response.status_code == 200
    # The content type comes from the first HttpBody; gRPC initial metadata become headers.
    assert response.headers["content-type"] == "text/event-stream"
    for name, value in SSE_HEADERS:
        assert response.headers[name] == value
    assert_no_grpc_headers(response)

    # The body is the HttpBody data concatenated: no JSON array, no wrapping of `body`.
    # The opening comment also shows `?cursor=` binds to the field and headers arrive as metadata.
    opening = b": ok cursor=7 last-event-id=7\n\n"
    body = b"".join(chunk for _, chunk in arrivals)
    assert body == opening + b"".join(SSE_FRAMES)

    # Each frame arrives when it is produced, FRAME_GAP_S after the previous one.
    received = b""
    seen_at: dict[bytes, float] = {}
    for at, chunk in arrivals:
        received += chunk
        for frame in (opening, *SSE_FRAMES):
            if frame in received and frame not in seen_at:
                seen_at[frame] = at
    times = [seen_at[frame] for frame in (opening, *SSE_FRAMES)]
    assert times[0] < 1.0, f"first byte took {times[0]:.3f} s"
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(FRAME_GAP_S * 0.5 <= gap <= FRAME_GAP_S * 2.5 for gap in gaps), f"gaps {gaps}"


async def test_stream_error_before_first_message_is_http_status(http: httpx.AsyncClient) -> None:
    response = await http.get("/internal/v1/runs/missing/stream")
    assert response.status_code == 404
    body = assert_json_content(response)
    assert body["code"] == code_pb2.NOT_FOUND
    assert body["details"][0]["reason"] == "RUN_NOT_FOUND"
    assert_no_grpc_headers(response)


@pytest.mark.slow
async def test_stream_outlives_the_default_route_timeout(http: httpx.AsyncClient) -> None:
    started = time.monotonic()
    async with http.stream("GET", "/internal/v1/runs/long/stream") as response:
        body = await response.aread()
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert body == b": ok cursor=none last-event-id=None\n\ndata: [DONE]\n\n"
    assert elapsed >= LONG_SILENCE_S


async def test_unreachable_runtime_is_json_503() -> None:
    # A second gateway pointing at a port nobody listens on: Envoy's own error must be JSON too.
    async with (
        async_envoy_gateway(grpc_port=_closed_port()) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        response = await client.get("/healthz")
    assert response.status_code == 503
    body = assert_json_content(response)
    assert body["code"] == code_pb2.UNAVAILABLE
    assert body["message"]
    assert body["details"][0]["reason"] == "UPSTREAM_UNAVAILABLE"
    assert_no_grpc_headers(response)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_envoy_that_cannot_start_reports_why(tmp_path: Path) -> None:
    try:
        binary = find_envoy()
    except EnvoyNotFound:
        pytest.skip("no envoy binary")
    missing = tmp_path / "missing.pb"
    config = render_config(
        GatewayConfig(grpc_port=1, descriptor_path=missing, http_port=0, admin_port=0),
        tmp_path / "envoy.yaml",
    )
    with pytest.raises(EnvoyStartError, match="Invalid path"):
        start_envoy(config, work_dir=tmp_path, envoy_binary=binary)
