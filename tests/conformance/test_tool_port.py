"""The tool contract (oa_runtime.tools.registry.Tool: `async fn(args, ctx)`), run against
every kind of tool: an in-process Python tool and a remote HTTP tool on a real loopback host.

Each harness builds a tool that echoes, one that fails, and one that takes long; the
assertions are the same: output is JSON, a failure is ToolFailed with an error class, and a
cancel stops a slow call at once (the engine relies on that for CancelRun).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import pytest
from oa_runtime.auth.token import Keyring
from oa_runtime.ports import ToolSpec
from oa_runtime.tools.registry import Tool, ToolContext, ToolFailed
from oa_runtime.tools.remote import remote_tool

SPEC = ToolSpec("t", "a test tool", {"type": "object"})


class Harness(Protocol):
    def tool(self, behaviour: str) -> Tool:
        """behaviour: "echo" | "fail" | "slow"."""


class PythonHarness:
    def tool(self, behaviour: str) -> Tool:
        async def fn(args: dict[str, Any], ctx: ToolContext) -> Any:
            if behaviour == "fail":
                raise ToolFailed("it broke", error_class="broken")
            if behaviour == "slow":
                await asyncio.sleep(30)
            return {"args": args, "call": ctx.tool_call_id}

        return Tool(SPEC, fn)


class _Host(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/slow":
            time.sleep(3)
        status, doc = (
            (422, {"error": "it broke"})
            if self.path == "/fail"
            else (200, {"output": {"args": body["input"], "call": body["toolCallId"]}})
        )
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class RemoteHarness:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def tool(self, behaviour: str) -> Tool:
        return remote_tool({"name": "t", "url": f"{self.base_url}/{behaviour}"}, Keyring({"default": b"s"}))


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["python", "remote"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "python":
        return PythonHarness()
    return RemoteHarness(request.getfixturevalue("host"))


def _ctx() -> ToolContext:
    return ToolContext("run-1", "thread-1", "call-1", 1, lambda value: None)


async def test_a_tool_returns_json_output(harness: Harness) -> None:
    output = await harness.tool("echo").fn({"q": "é", "n": [1, 2]}, _ctx())
    assert output == {"args": {"q": "é", "n": [1, 2]}, "call": "call-1"}
    json.dumps(output)


async def test_a_failure_is_tool_failed_with_a_class(harness: Harness) -> None:
    with pytest.raises(ToolFailed) as failed:
        await harness.tool("fail").fn({}, _ctx())
    assert str(failed.value) == "it broke"
    assert failed.value.error_class and not failed.value.retryable


async def test_a_cancel_stops_a_slow_call_at_once(harness: Harness) -> None:
    task = asyncio.ensure_future(harness.tool("slow").fn({}, _ctx()))
    await asyncio.sleep(0.2)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 0.5
