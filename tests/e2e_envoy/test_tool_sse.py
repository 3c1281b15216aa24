"""Tool tasks through the real Envoy: every tool state in live SSE streams, accepted by the
real AI SDK client (ai@6), and the REST routes for tool tasks, approvals and questions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.e2e.tool_helpers import TOOL_ENV
from tests.e2e_envoy.conftest import Gateway, error_info, new_id, start_gateway
from tests.e2e_envoy.test_recorded_streams_aisdk import SCRIPT, Recording, _require_node


@pytest.fixture(scope="module")
async def tool_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    db = tmp_path_factory.mktemp("tool-sse") / "runtime.db"
    async with start_gateway(f"sqlite:///{db}", TOOL_ENV) as gw:
        yield gw


async def _tasks(gw: Gateway, run_id: str) -> list[dict[str, Any]]:
    response = await gw.http.get(f"/internal/v1/runs/{run_id}/tool-tasks", headers=gw.auth())
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()["toolTasks"]
    return tasks


async def _live(gw: Gateway, run_id: str, act: Callable[[bytes], Any] | None = None) -> bytes:
    """The whole live SSE stream of a run; `act(received)` may intervene (once it returns
    True it is not called again)."""
    received = b""
    done = act is None
    async with asyncio.timeout(20):
        async with gw.http.stream("GET", f"/internal/v1/runs/{run_id}/stream", headers=gw.auth()) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                received += chunk
                if not done and act is not None:
                    done = bool(await act(received))
    return received


async def _record_approval(gw: Gateway, approve: bool) -> bytes:
    run_id = new_id("sse-apr")
    await gw.start(run_id, '/tool guarded {"value": "v"}\n/say after')

    async def decide(received: bytes) -> bool:
        if b'"tool-approval-request"' not in received:
            return False
        (task,) = await _tasks(gw, run_id)
        assert task["state"] == "TOOL_TASK_STATE_QUEUED"
        assert (await gw.get_run(run_id))["state"] == "RUN_STATE_WAITING"
        response = await gw.http.post(
            f"/internal/v1/runs/{run_id}/approvals/{task['approvalId']}",
            json={"approved": approve, "reason": "by test"},
            headers=gw.auth(),
        )
        assert response.status_code == 200, response.text
        assert response.json()["recorded"] is True
        return True

    return await _live(gw, run_id, decide)


async def _record_question(gw: Gateway) -> bytes:
    run_id = new_id("sse-ask")
    await gw.start(run_id, '/tool ask_user {"question": "Tea or coffee?"}\n/say noted')

    async def answer(received: bytes) -> bool:
        if b'"data-question"' not in received:
            return False
        (task,) = await _tasks(gw, run_id)
        response = await gw.http.post(
            f"/internal/v1/runs/{run_id}/questions/{task['questionId']}",
            json={"answer": "tea"},
            headers=gw.auth(),
        )
        assert response.status_code == 200, response.text
        return True

    return await _live(gw, run_id, answer)


async def _record_canceled(gw: Gateway) -> bytes:
    run_id = new_id("sse-cancel")
    await gw.start(run_id, '/tool sleep {"ms": 60000}')

    async def cancel(received: bytes) -> bool:
        if b'"tool-input-available"' not in received:
            return False
        await asyncio.sleep(0.1)
        response = await gw.http.post(f"/internal/v1/runs/{run_id}/cancel", json={}, headers=gw.auth())
        assert response.status_code == 200, response.text
        return True

    return await _live(gw, run_id, cancel)


@pytest.fixture(scope="module")
async def reports(
    tool_gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Recording, dict[str, Any]]]:
    node = _require_node()
    gw = tool_gateway
    recordings: list[Recording] = []

    async def record(name: str, prompt: str, **body: Any) -> None:
        run_id = new_id(f"sse-{name}")
        await gw.start(run_id, prompt, **body)
        recordings.append(Recording(name, await _live(gw, run_id)))

    await record("progress", '/tool sleep {"ms": 400, "progress_ms": 60}\n/say slept')
    await record(
        "parallel",
        '/tools [{"name": "echo", "input": {"a": 1}}, {"name": "math", "input": {"expression": "2**8"}},'
        ' {"name": "fail", "input": {"message": "boom"}}]\n/say all back',
    )
    await record("timeout", '/tool stall {"ms": 5000}\n/say too slow')
    await record("policy", '/tool record {"value": "x"}\n/say denied', toolPolicy={"deny": ["record"]})
    await record("invalid-input", '/tool math {"expression": 42}\n/say bad input')
    recordings.append(Recording("approved", await _record_approval(gw, True)))
    recordings.append(Recording("denied", await _record_approval(gw, False)))
    recordings.append(Recording("question", await _record_question(gw)))
    recordings.append(Recording("canceled", await _record_canceled(gw)))

    out_dir = tmp_path_factory.mktemp("tool-sse")
    argv = [node, str(SCRIPT)]
    for rec in recordings:
        path = out_dir / f"{rec.name}.sse"
        path.write_bytes(rec.body)
        argv.append(str(path))
    proc = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False
    )
    parsed = [json.loads(line) for line in proc.stdout.split("\n") if line]
    assert len(parsed) == len(recordings), proc.stderr
    return {rec.name: (rec, report) for rec, report in zip(recordings, parsed, strict=True)}


def _types(rec: Recording) -> list[str]:
    return [c["type"] for c in rec.chunks()]


def test_the_ai_sdk_client_accepts_every_tool_state(
    reports: dict[str, tuple[Recording, dict[str, Any]]],
) -> None:
    rejected = {name: report for name, (_, report) in reports.items() if not report["ok"]}
    assert rejected == {}
    expected_parts = {
        "progress": "tool-sleep:output-available",
        "timeout": "tool-stall:output-error",
        "policy": "tool-record:output-error",
        "invalid-input": "tool-math:output-error",
        "approved": "tool-guarded:output-available",
        "denied": "tool-guarded:output-denied",
        "question": "tool-ask_user:output-available",
        "canceled": "tool-sleep:output-error",
    }
    for name, part in expected_parts.items():
        assert part in reports[name][1]["parts"], (name, reports[name][1])
    parallel = reports["parallel"][1]["parts"]
    assert {"tool-echo:output-available", "tool-math:output-available", "tool-fail:output-error"} <= set(
        parallel
    )
    assert reports["canceled"][1]["finishReason"] == "other"
    assert all(report["errorChunks"] == 0 for _, report in reports.values())


def test_progress_is_preliminary_output(reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    rec, _ = reports["progress"]
    outputs = [c for c in rec.chunks() if c["type"] == "tool-output-available"]
    assert len(outputs) >= 3
    assert all(c.get("preliminary") is True for c in outputs[:-1])
    assert "preliminary" not in outputs[-1] and outputs[-1]["output"] == {"slept_ms": 400}
    assert [c["output"]["slept_ms"] for c in outputs[:-1]] == sorted(
        c["output"]["slept_ms"] for c in outputs[:-1]
    )


def test_error_frames_say_why(reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    def error_text(name: str) -> str:
        (chunk,) = [c for c in reports[name][0].chunks() if c["type"] == "tool-output-error"]
        text: str = chunk["errorText"]
        return text

    assert "timed out after 0.3 s" in error_text("timeout")
    assert "tool policy" in error_text("policy")
    assert "$.expression: expected string" in error_text("invalid-input")
    assert error_text("canceled") == "the run was canceled"


def test_approval_frames_come_in_order(reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    approved = _types(reports["approved"][0])
    i = approved.index("tool-approval-request")
    assert approved.index("tool-input-available") < i < approved.index("tool-output-available")
    denied = _types(reports["denied"][0])
    assert denied.index("tool-approval-request") < denied.index("tool-output-denied")
    assert "tool-output-error" not in denied
    assert reports["denied"][1]["text"] == "after"  # the model went on after the denial
    question = reports["question"][0].chunks()
    (asked,) = [c for c in question if c["type"] == "data-question"]
    assert asked["data"]["text"] == "Tea or coffee?"
    (answer,) = [c for c in question if c["type"] == "tool-output-available"]
    assert answer["output"] == {"answer": "tea"}


# ----- REST -----


async def test_tool_task_routes_over_rest(tool_gateway: Gateway) -> None:
    gw = tool_gateway
    run_id = new_id("rest-tasks")
    await gw.start(run_id, '/tools [{"name": "math", "input": {"expression": "1+1"}}, {"name": "echo"}]')
    await gw.wait_terminal(run_id)
    first = await gw.http.get(f"/internal/v1/runs/{run_id}/tool-tasks?pageSize=1", headers=gw.auth())
    assert first.status_code == 200, first.text
    body = first.json()
    (task,) = body["toolTasks"]
    assert task["toolCallId"] == "call_1_0_0" and task["state"] == "TOOL_TASK_STATE_SUCCEEDED"
    assert task["paramsSha256"] == hashlib.sha256(b'{"expression":"1+1"}').hexdigest()
    assert task["outputSha256"] == hashlib.sha256(task["outputJson"].encode()).hexdigest()
    assert task["attempts"] == 1 and int(task["latencyMs"]) >= 0 and task["requestSeq"]
    second = await gw.http.get(
        f"/internal/v1/runs/{run_id}/tool-tasks",
        params={"pageSize": "1", "pageToken": body["nextPageToken"]},
        headers=gw.auth(),
    )
    assert [t["toolCallId"] for t in second.json()["toolTasks"]] == ["call_1_0_1"]
    assert second.json()["nextPageToken"] == ""

    one = await gw.http.get(f"/internal/v1/runs/{run_id}/tool-tasks/call_1_0_1", headers=gw.auth())
    assert one.status_code == 200 and one.json()["toolTask"]["toolName"] == "echo"
    missing = await gw.http.get(f"/internal/v1/runs/{run_id}/tool-tasks/call_9", headers=gw.auth())
    assert missing.status_code == 404 and error_info(missing)["reason"] == "TOOL_TASK_NOT_FOUND"
    no_run = await gw.http.get("/internal/v1/runs/no-such-run/tool-tasks", headers=gw.auth())
    assert no_run.status_code == 404 and error_info(no_run)["reason"] == "RUN_NOT_FOUND"
    bad = await gw.http.get(f"/internal/v1/runs/{run_id}/tool-tasks?pageSize=9999", headers=gw.auth())
    assert bad.status_code == 400 and error_info(bad)["metadata"]["field"] == "page_size"


async def test_approval_and_question_routes_validate(tool_gateway: Gateway) -> None:
    gw = tool_gateway
    run_id = new_id("rest-apr")
    await gw.start(run_id, '/tool guarded {"value": "v"}')
    run = await gw.wait_run(run_id, lambda r: r["state"] == "RUN_STATE_WAITING")
    assert run["state"] == "RUN_STATE_WAITING"
    (task,) = await _tasks(gw, run_id)
    assert task["approvalState"] == "APPROVAL_STATE_REQUESTED"
    url = f"/internal/v1/runs/{run_id}/approvals/{task['approvalId']}"

    unknown = await gw.http.post(
        f"/internal/v1/runs/{run_id}/approvals/apr_x", json={"approved": True}, headers=gw.auth()
    )
    assert unknown.status_code == 404 and error_info(unknown)["reason"] == "APPROVAL_NOT_FOUND"
    missing = await gw.http.post(url, json={}, headers=gw.auth())
    assert missing.status_code == 400 and error_info(missing)["metadata"]["field"] == "approved"

    ok = await gw.http.post(url, json={"approved": False, "reason": "no"}, headers=gw.auth())
    assert ok.status_code == 200 and ok.json()["recorded"] is True
    assert ok.json()["toolTask"]["approvalState"] == "APPROVAL_STATE_DENIED"
    same = await gw.http.post(url, json={"approved": False}, headers=gw.auth())
    assert same.status_code == 200 and same.json()["recorded"] is False
    flip = await gw.http.post(url, json={"approved": True}, headers=gw.auth())
    assert flip.status_code == 409 and error_info(flip)["reason"] == "ALREADY_DECIDED"
    await gw.wait_terminal(run_id)

    no_question = await gw.http.post(
        f"/internal/v1/runs/{run_id}/questions/q_x", json={"answer": "a"}, headers=gw.auth()
    )
    assert no_question.status_code == 404 and error_info(no_question)["reason"] == "QUESTION_NOT_FOUND"
    empty = await gw.http.post(f"/internal/v1/runs/{run_id}/questions/q_x", json={}, headers=gw.auth())
    assert empty.status_code == 400 and error_info(empty)["metadata"]["field"] == "answer"
