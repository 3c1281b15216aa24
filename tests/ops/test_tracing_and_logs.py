"""Traces (the span tree of a run with tool calls, traceparent in and out) and logs (run ids on
every line of a run; no secret or token in any line)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import grpc.aio
import httpx
import pytest
from oa_runtime.auth.token import mint_token
from oa_runtime.logs import JsonFormatter
from oa_runtime.observability import tracing
from oa_runtime.observability.log_context import RunContextFilter
from oa_runtime.observability.metrics import REGISTRY
from openagents.runtime.v1 import run_service_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from tests.e2e.helpers import events, start
from tests.ops.conftest import free_port, start_sidecar
from tests.support.runtime import running_runtime

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


class _ToolHost(BaseHTTPRequestHandler):
    """A remote tool host: answers every call, keeps the headers it got."""

    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _ToolHost.received.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps({"output": {"customer": "ada"}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def tool_host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ToolHost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/tool"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the process, as the service writes them (JSON, with the run context)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RunContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        yield memory
    finally:
        tracing.uninstall()
        provider.shutdown()


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_a_run_with_tool_calls_is_one_span_tree(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    with tool_host() as url:
        tools = {
            "remote": [{"name": "crm", "url": url, "input_schema": {"type": "object"}}],
            "python": ["tests.ops.tools:TOOLS"],
        }
        env = {"RUNTIME_TOOLS_CONFIG": json.dumps(tools)}
        async with running_runtime(f"sqlite:///{tmp_path / 'rt.db'}", env=env) as rt:
            request = run_service_pb2.StartRunRequest(
                run_id="r-trace",
                thread_id="t-trace",
                user_id=7007,
                autopilot_id="ap-3",
                prompt='/tools [{"name": "crm", "input": {}}, {"name": "chatty", "input": {}}]\n/say done',
            )
            metadata = (
                *rt.md(run_id="r-trace", thread_id="t-trace"),
                ("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"),
            )
            await rt.stub.StartRun(request, metadata=metadata)
            assert [e.type for e in await events(rt, "r-trace")][-1] == "run.finished"

    spans = list(exporter.get_finished_spans())
    start_span = next(s for s in spans if s.name == "/openagents.runtime.v1.RunService/StartRun")
    # The gRPC server span continues the caller's trace (traceparent through metadata).
    assert f"{start_span.context.trace_id:032x}" == TRACE_ID
    assert start_span.parent is not None and f"{start_span.parent.span_id:016x}" == PARENT_SPAN_ID

    (run,) = [s for s in spans if s.name == "run"]
    assert run.parent is not None and run.parent.span_id == start_span.context.span_id
    assert run.attributes is not None
    assert {k: run.attributes[k] for k in ("oa.run_id", "oa.thread_id", "oa.user_id", "oa.autopilot_id")} == {
        "oa.run_id": "r-trace",
        "oa.thread_id": "t-trace",
        "oa.user_id": "7007",
        "oa.autopilot_id": "ap-3",
    }
    steps = sorted(_children(spans, run), key=lambda s: s.start_time or 0)
    steps = [s for s in steps if s.name == "step"]
    assert [s.attributes["oa.step"] for s in steps if s.attributes] == [1, 2]
    first, second = steps
    assert sorted(s.name for s in _children(spans, first) if s.name != "commit") == [
        "model.call",
        "tool.call",
        "tool.call",
    ]
    tool_spans = [s for s in _children(spans, first) if s.name == "tool.call" and s.attributes]
    assert sorted(str(s.attributes["oa.tool.name"]) for s in tool_spans if s.attributes) == ["chatty", "crm"]
    assert [s.name for s in _children(spans, second) if s.name != "commit"] == ["model.call"]
    commits = [s for s in spans if s.name == "commit"]
    assert commits and all(c.context.trace_id == run.context.trace_id for c in commits)
    assert any(c.parent is not None and c.parent.span_id == first.context.span_id for c in commits)

    # The remote tool got the traceparent of its tool.call span.
    crm = next(
        s for s in _children(spans, first) if s.attributes and s.attributes.get("oa.tool.name") == "crm"
    )
    (headers,) = [h for h in _ToolHost.received if "traceparent" in h]
    assert headers["traceparent"] == f"00-{TRACE_ID}-{crm.context.span_id:016x}-01"


async def test_run_log_lines_carry_ids_and_no_secret_is_ever_logged(tmp_path: Path) -> None:
    secret = "s3cr3t-signing-key-" + "x" * 16
    with tool_host() as url, captured_logs() as logs:
        tools = {
            "remote": [{"name": "crm", "url": url, "input_schema": {"type": "object"}}],
            "python": ["tests.ops.tools:TOOLS"],
        }
        env = {"RUNTIME_TOOLS_CONFIG": json.dumps(tools), "RUNTIME_OPENAI_API_KEY": "sk-live-never-log-me"}
        async with running_runtime(f"sqlite:///{tmp_path / 'rt.db'}", env=env, secret=secret) as rt:
            used: list[str] = []

            def md(**claims: str | None) -> tuple[tuple[str, str], ...]:
                token = rt.token(**claims)
                used.append(token)
                return (("x-oa-runtime-signature", token),)

            calls = '[{"name": "crm", "input": {}}, {"name": "chatty", "input": {}}]'
            prompt = f"/tools {calls}\n/tool explodes {{}}"
            request = run_service_pb2.StartRunRequest(
                run_id="r-logs", thread_id="t-logs", user_id=9009, autopilot_id="ap-1", prompt=prompt
            )
            await rt.stub.StartRun(request, metadata=md(run_id="r-logs", thread_id="t-logs"))
            stream = rt.stub.StreamRunEvents(
                run_service_pb2.StreamRunEventsRequest(run_id="r-logs"), metadata=md(run_id="r-logs")
            )
            assert [m.event.type async for m in stream][-1] == "run.finished"
            # Refused tokens are logged as refused, never as themselves.
            replayed = used[-1]
            wrong_mac = mint_token(b"another-secret", ttl_s=60, now=time.time(), run_id="r-logs")
            expired = mint_token(secret.encode(), ttl_s=60, now=time.time() - 3600, run_id="r-logs")
            for token in (replayed, wrong_mac, expired):
                used.append(token)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await rt.stub.GetRun(
                        run_service_pb2.GetRunRequest(run_id="r-logs"),
                        metadata=(("x-oa-runtime-signature", token),),
                    )
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            await start(rt, "r-other", "/say hi", thread_id="t-other")
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert lines, "the service logged nothing"

    # Every line logged inside the run carries its ids, also lines that passed none.
    chatty = [line for line in lines if line["msg"] == "chatty tool ran"]
    raised = [line for line in lines if line["msg"] == "tool raised"]
    assert chatty and raised
    for line in chatty + raised:
        assert (line["run_id"], line["thread_id"], line["user_id"], line["autopilot_id"]) == (
            "r-logs",
            "t-logs",
            "9009",
            "ap-1",
        )
    assert all(line.get("run_id") != "r-logs" for line in lines if "r-other" in json.dumps(line))

    # No secret, no token (nor its MAC), no remote tool signature, no API key anywhere.
    remote_signatures = [h["x-oa-runtime-signature"] for h in _ToolHost.received]
    assert remote_signatures
    text = logs.getvalue() + generate_latest(REGISTRY).decode()
    forbidden = [secret, "sk-live-never-log-me", *used, *remote_signatures]
    forbidden += [t.rsplit(".", 1)[-1] for t in used + remote_signatures]  # the MACs alone
    for value in forbidden:
        assert value not in text


async def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    assert not tracing.enabled()
    assert tracing.server_interceptors() == []
    headers: dict[str, str] = {}
    tracing.inject_traceparent(headers)
    assert headers == {}
    async with running_runtime(f"sqlite:///{tmp_path / 'rt.db'}") as rt:
        await start(rt, "r-off", "/say hi")
        assert [e.type for e in await events(rt, "r-off")][-1] == "run.finished"
    assert not tracing.enabled()


async def test_traceparent_from_laravel_passes_through_envoy(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with running_runtime(f"sqlite:///{tmp_path / 'rt.db'}") as rt:
        envoy = await asyncio.to_thread(start_sidecar, rt.port, tmp_path, free_port())
        try:
            base_url = f"http://127.0.0.1:{envoy.listener_port()}"
            headers = {
                "X-OA-RUNTIME-SIGNATURE": rt.token(run_id="r-envoy", thread_id="t-envoy"),
                "traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
            }
            body = {"runId": "r-envoy", "threadId": "t-envoy", "prompt": "/say hi"}
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(f"{base_url}/internal/v1/runs", json=body, headers=headers)
            assert response.status_code == 200, response.text
            assert [e.type for e in await events(rt, "r-envoy")][-1] == "run.finished"
        finally:
            await asyncio.to_thread(envoy.stop)
    spans = list(exporter.get_finished_spans())
    start_span = next(s for s in spans if s.name == "/openagents.runtime.v1.RunService/StartRun")
    assert f"{start_span.context.trace_id:032x}" == TRACE_ID
    (run,) = [s for s in spans if s.name == "run"]
    assert run.context.trace_id == start_span.context.trace_id
