"""Tool tasks across service restarts (approvals wait durably, interrupted tasks resume
safely) and remote HTTP tools against a real loopback server that checks signatures."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from oa_runtime.auth.token import Keyring, verify_token
from openagents.runtime.v1 import run_event_pb2, run_pb2

from tests.e2e.helpers import events, start
from tests.e2e.tool_helpers import (
    TOOL_ENV,
    TOOLS_CONFIG,
    TS,
    decide,
    results,
    tool_tasks,
    uid,
    wait_event,
    wait_state,
)
from tests.support import tool_kit
from tests.support.runtime import running_runtime

SECRET = "tool-restart-secret"


async def test_an_approval_survives_a_service_restart(database_url: str) -> None:
    dur = uid("dur")
    async with running_runtime(database_url, TOOL_ENV, secret=SECRET) as rt:
        await start(rt, dur, '/tool guarded {"value": "after restart"}\n/say done')
        await wait_state(rt, dur, run_pb2.RUN_STATE_WAITING)
        (task,) = await tool_tasks(rt, dur)
    assert tool_kit.executed(dur) == []

    async with running_runtime(database_url, TOOL_ENV, secret=SECRET) as rt:
        # Started again at start-up, the run finds its approval still open and keeps waiting.
        await wait_state(rt, dur, run_pb2.RUN_STATE_WAITING)
        assert tool_kit.executed(dur) == []
        response = await decide(rt, dur, task.approval_id, True)
        assert response.recorded
        evs = await events(rt, dur)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    (result,) = results(evs).values()
    assert json.loads(result.output_json) == {"recorded": "after restart"}
    assert [n for _, n, *_ in tool_kit.executed(dur)] == ["guarded"]


async def test_an_approval_nobody_gives_in_time_is_a_denial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    late = uid("late")
    async with running_runtime(url, TOOL_ENV, secret=SECRET) as rt:
        await start(rt, late, "/tool guarded_quick {}\n/say moving on")
        await wait_state(rt, late, run_pb2.RUN_STATE_WAITING)
    await asyncio.sleep(0.6)  # past the 0.5 s approval timeout, while nothing runs
    async with running_runtime(url, TOOL_ENV, secret=SECRET) as rt:
        evs = await events(rt, late)
        (task,) = await tool_tasks(rt, late)
    (result,) = results(evs).values()
    assert result.error_class == "approval_timeout" and result.state == TS.TOOL_TASK_STATE_FAILED
    assert task.approval_state == TS.APPROVAL_STATE_TIMED_OUT
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert tool_kit.executed(late) == []


async def test_a_waiting_run_is_woken_when_its_approval_times_out(database_url: str) -> None:
    """No restart: the lease claimer starts the run once `wake_at` has passed."""
    late = uid("wake")
    env = {**TOOL_ENV, "RUNTIME_CLAIM_INTERVAL_S": "0.2"}
    async with running_runtime(database_url, env, secret=SECRET) as rt:
        await start(rt, late, "/tool guarded_quick {}\n/say moving on")
        await wait_state(rt, late, run_pb2.RUN_STATE_WAITING)
        evs = await asyncio.wait_for(events(rt, late), 10)  # ends without anyone deciding
    (result,) = results(evs).values()
    assert result.error_class == "approval_timeout"
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert tool_kit.executed(late) == []


async def test_an_unanswered_question_times_out(tmp_path: Path) -> None:
    config = {**TOOLS_CONFIG, "tools": {"ask_user": {"approval_timeout_s": 0.3}}}
    env = {"RUNTIME_TOOLS_CONFIG": json.dumps(config)}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with running_runtime(url, env, secret=SECRET) as rt:
        await start(rt, "ask", '/tool ask_user {"question": "Still there?"}\n/say bye')
        await wait_state(rt, "ask", run_pb2.RUN_STATE_WAITING)
    await asyncio.sleep(0.4)
    async with running_runtime(url, env, secret=SECRET) as rt:
        evs = await events(rt, "ask")
    (result,) = results(evs).values()
    assert result.state == TS.TOOL_TASK_STATE_TIMED_OUT and result.error_class == "question_timeout"
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_a_restart_reruns_only_idempotent_interrupted_tasks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    crash = uid("crash")
    prompt = '/tools [{"name": "slow", "input": {"ms": 10000}}, {"name": "sleep", "input": {"ms": 1500}}]'
    async with running_runtime(url, TOOL_ENV, secret=SECRET) as rt:
        await start(rt, crash, prompt + "\n/say after")
        seen: set[str] = set()

        def both_running(event: run_event_pb2.RunEvent) -> bool:
            if event.type == "tool.task" and event.tool_task.state == TS.TOOL_TASK_STATE_RUNNING:
                seen.add(event.tool_task.tool_name)
            return seen == {"slow", "sleep"}

        await wait_event(rt, crash, both_running)
        await asyncio.sleep(0.05)  # the tool bodies have started
    async with running_runtime(url, TOOL_ENV, secret=SECRET) as rt:
        evs = await events(rt, crash)
    by_call = results(evs)
    slow, sleep = by_call["call_1_0_0"], by_call["call_1_0_1"]
    assert slow.state == TS.TOOL_TASK_STATE_FAILED and slow.error_class == "interrupted"
    assert sleep.state == TS.TOOL_TASK_STATE_SUCCEEDED and sleep.attempt == 2
    assert len(tool_kit.executed(crash, "slow")) == 1  # a side effect never runs twice
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


# ----- remote HTTP tools -----


class _ToolHost:
    """A loopback HTTP tool host that checks the runtime's signature on every call."""

    def __init__(self, secret: str) -> None:
        self.keyring = Keyring({"default": secret.encode()})
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                try:
                    claims = verify_token(
                        self.headers.get("x-oa-runtime-signature", ""),
                        host.keyring,
                        self.headers.get("x-oa-runtime-key-id"),
                        now=time.time(),
                        max_ttl_s=60,
                        max_skew_s=30,
                    )
                except Exception as exc:
                    self._answer(401, {"error": f"bad signature: {exc}"})
                    return
                host.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "claims": claims,
                        "key": self.headers["idempotency-key"],
                    }
                )
                status, doc = host.answer(self.path, body)
                self._answer(status, doc)

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/weather":
            if body["attempt"] == 1:
                return 503, {}
            return 200, {"output": {"city": body["input"]["city"], "celsius": 21}}
        if path == "/reject":
            return 400, {"error": "no such city"}
        return 503, {"error": "down for maintenance"}


@pytest.fixture
def tool_host() -> Iterator[_ToolHost]:
    host = _ToolHost(SECRET)
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()


async def test_remote_http_tools_are_signed_retried_and_report_errors(
    tool_host: _ToolHost, tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    config = {
        **TOOLS_CONFIG,
        "remote": [
            {
                "name": "weather",
                "url": f"{tool_host.url}/weather",
                "input_schema": schema,
                "idempotent": True,
            },
            {"name": "reject", "url": f"{tool_host.url}/reject", "idempotent": True},
            {"name": "down", "url": f"{tool_host.url}/down", "version": "7"},
        ],
    }
    env = {"RUNTIME_TOOLS_CONFIG": json.dumps(config)}
    prompt = (
        '/tools [{"name": "weather", "input": {"city": "Oslo"}}, {"name": "reject"}, {"name": "down"},'
        ' {"name": "weather", "input": {"town": "Oslo"}}]'
    )
    async with running_runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", env, secret=SECRET) as rt:
        await start(rt, "remote", prompt, thread_id="th-remote")
        evs = await events(rt, "remote")
        tasks = {t.tool_call_id: t for t in await tool_tasks(rt, "remote")}
    by_call = results(evs)
    assert json.loads(by_call["call_1_0_0"].output_json) == {"celsius": 21, "city": "Oslo"}
    assert tasks["call_1_0_0"].attempts == 2  # a 503 is retried for an idempotent tool
    assert by_call["call_1_0_1"].error_text == "no such city"
    assert by_call["call_1_0_1"].error_class == "remote_http_400" and tasks["call_1_0_1"].attempts == 1
    assert by_call["call_1_0_2"].error_text == "down for maintenance" and tasks["call_1_0_2"].attempts == 1
    assert tasks["call_1_0_2"].tool_version == "7"
    assert by_call["call_1_0_3"].error_class == "invalid_input"  # never sent to the host

    weather = [r for r in tool_host.requests if r["path"] == "/weather"]
    assert [r["body"]["attempt"] for r in weather] == [1, 2]
    assert weather[0]["body"] == {
        "runId": "remote",
        "threadId": "th-remote",
        "toolCallId": "call_1_0_0",
        "name": "weather",
        "input": {"city": "Oslo"},
        "attempt": 1,
    }
    assert {r["key"] for r in weather} == {"remote/call_1_0_0"}
    assert all(
        r["claims"].run_id == "remote" and r["claims"].thread_id == "th-remote" for r in tool_host.requests
    )
    assert len(tool_host.requests) == 4
