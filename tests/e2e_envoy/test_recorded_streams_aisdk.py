"""Live SSE bytes recorded through the real Envoy, fed to the real AI SDK client (ai@6).

Each stream here is what a browser would have read from a real run: text only, tool calls,
a tool error, a failed run, a run canceled mid-stream, and resumed streams. All files go to
one `node tests/aisdk/check_stream.mjs` call (as in tests/test_aisdk_conformance.py), and
every file must be accepted.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_envoy.conftest import Gateway, SseEvent, cut_stream, frames, new_id, parse_sse

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "aisdk" / "check_stream.mjs"
NODE_MODULES = REPO / ".tools" / "node_modules"
TOOLS_PROMPT = '/say Let me check.\n/tool echo {"query": "weather"}\n/tool clock {}\n/say Done.'


@dataclass
class Recording:
    name: str
    body: bytes
    expect_error_chunk: bool = False  # a failed run's stream carries an in-band `error` chunk

    @property
    def frames(self) -> list[SseEvent]:
        return frames(parse_sse(self.body))

    def chunks(self) -> list[dict[str, Any]]:
        return [c for c in (e.chunk for e in self.frames) if c is not None]


def _require_node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "ai" / "package.json").is_file():
        message = "the AI SDK check needs node and .tools/node_modules/ai (npm ci --prefix .tools)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return node


async def _record_canceled(gateway: Gateway) -> bytes:
    """A long token stream, canceled over REST while a client is reading it."""
    run_id = new_id("rec-cancel")
    await gateway.start(run_id, "/tokens 1000 50")
    received = b""
    async with gateway.http.stream(
        "GET", f"/internal/v1/runs/{run_id}/stream", headers=gateway.auth()
    ) as response:
        canceled = False
        async for chunk in response.aiter_raw():
            received += chunk
            if not canceled and received.count(b'"text-delta"') >= 3:
                cancel = await gateway.http.post(
                    f"/internal/v1/runs/{run_id}/cancel",
                    json={"reason": "stop button"},
                    headers=gateway.auth(),
                )
                assert cancel.status_code == 200, cancel.text
                canceled = True
    assert (await gateway.get_run(run_id))["state"] == "RUN_STATE_CANCELED"
    return received


async def _record_resumed(gateway: Gateway) -> tuple[bytes, bytes]:
    """(what a client that dropped mid-text and resumed by Last-Event-ID read, the full stream)."""
    run_id = new_id("rec-resume")
    await gateway.start(run_id, '/say begin\n/tokens 40 80\n/tool echo {"n": 1}\n/say end')
    received = b""
    async with gateway.http.stream(
        "GET", f"/internal/v1/runs/{run_id}/stream", headers=gateway.auth()
    ) as response:
        async for chunk in response.aiter_raw():
            received += chunk
            if received.count(b'"text-delta"') >= 4:
                break
    head, cursor = cut_stream(received)
    assert not any(e.chunk and e.chunk["type"] == "finish-step" for e in head)  # cut inside the text
    tail = await gateway.stream(run_id, last_event_id=cursor)
    assert tail.status == 200
    full = await gateway.stream(run_id)
    return b"".join(e.raw for e in head) + tail.body, full.body


async def _record_step_boundary_tail(gateway: Gateway) -> bytes:
    """The tail from a Last-Event-ID where a new step begins: valid for a fresh client too."""
    run_id = new_id("rec-tail")
    await gateway.start(run_id, '/tool echo {"a": 1}\n/say after the tool')
    full = frames((await gateway.stream(run_id)).events)
    second_step = [e for e in full if e.chunk and e.chunk["type"] == "start-step"][1]
    assert second_step.id is not None
    tail = await gateway.stream(run_id, last_event_id=second_step.id - 1)
    assert tail.frames[0].chunk == {"type": "start-step"}
    return tail.body


async def _record_queued(gateway: Gateway) -> bytes:
    """A run that waited for its thread's earlier run (a `data-run-queued` part first)."""
    thread, first, second = new_id("rec-thread"), new_id("rec-first"), new_id("rec-queued")
    await gateway.start(first, "/tokens 100000 100", thread_id=thread)
    await gateway.start(second, "/say after the wait", thread_id=thread)
    cancel = await gateway.http.post(f"/internal/v1/runs/{first}/cancel", json={}, headers=gateway.auth())
    assert cancel.status_code == 200, cancel.text
    stream = await gateway.stream(second)
    assert stream.status == 200
    return stream.body


@pytest.fixture(scope="module")
async def node_reports(
    gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Recording, dict[str, Any]]]:
    node = _require_node()
    recordings: list[Recording] = []

    async def record(name: str, prompt: str, expect_error_chunk: bool = False) -> None:
        run_id = new_id(f"rec-{name}")
        await gateway.start(run_id, prompt)
        stream = await gateway.stream(run_id)
        assert stream.status == 200
        recordings.append(Recording(name, stream.body, expect_error_chunk))

    await record("text", "/say Hello from the runtime")
    await record("tools", TOOLS_PROMPT)
    await record("tool-error", '/tool fail {"message": "boom"}\n/say recovered')
    await record("failed", "/say partial answer\n/fail model down", expect_error_chunk=True)
    recordings.append(Recording("canceled", await _record_canceled(gateway)))
    resumed, full = await _record_resumed(gateway)
    recordings.append(Recording("resumed", resumed))
    recordings.append(Recording("resumed-full", full))
    recordings.append(Recording("step-boundary-tail", await _record_step_boundary_tail(gateway)))
    recordings.append(Recording("queued", await _record_queued(gateway)))

    out_dir = tmp_path_factory.mktemp("recorded-sse")
    argv = [node, str(SCRIPT)]
    for rec in recordings:
        path = out_dir / f"{rec.name}.sse"
        path.write_bytes(rec.body)
        argv += ["--expect-error", str(path)] if rec.expect_error_chunk else [str(path)]
    # Off the event loop: the loop also serves the runtime, which must stay responsive.
    proc = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False
    )
    reports = [json.loads(line) for line in proc.stdout.split("\n") if line]
    assert len(reports) == len(recordings), proc.stderr
    return {rec.name: (rec, report) for rec, report in zip(recordings, reports, strict=True)}


def test_every_recorded_stream_is_accepted(node_reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    rejected = {name: report for name, (_, report) in node_reports.items() if not report["ok"]}
    assert rejected == {}
    for rec, _ in node_reports.values():
        assert rec.body.startswith(b": ok\n\n"), rec.name
        assert rec.frames[-1].data == "[DONE]", rec.name


def test_text_and_tool_streams(node_reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    _, text = node_reports["text"]
    assert (text["text"], text["finishReason"], text["parts"]) == (
        "Hello from the runtime",
        "stop",
        ["step-start", "text:done"],
    )
    _, tools = node_reports["tools"]
    assert tools["text"] == "Let me check.Done."
    assert tools["finishReason"] == "stop"
    assert "tool-echo:output-available" in tools["parts"]
    assert "tool-clock:output-available" in tools["parts"]


def test_a_tool_error_is_a_tool_part_not_a_stream_error(
    node_reports: dict[str, tuple[Recording, dict[str, Any]]],
) -> None:
    rec, report = node_reports["tool-error"]
    assert report["errorChunks"] == 0
    assert "tool-fail:output-error" in report["parts"]
    assert report["text"] == "recovered"
    assert report["finishReason"] == "stop"
    assert {
        "type": "tool-output-error",
        "toolCallId": rec.chunks()[3]["toolCallId"],
        "errorText": "boom",
    } in rec.chunks()


def test_a_failed_run_ends_with_an_error_chunk(
    node_reports: dict[str, tuple[Recording, dict[str, Any]]],
) -> None:
    rec, report = node_reports["failed"]
    assert report["errorChunks"] == 1
    assert report["finishReason"] == "error"
    assert report["text"] == "partial answer"
    assert {"type": "error", "errorText": "model down"} in rec.chunks()


def test_a_canceled_run_ends_cleanly(node_reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    rec, report = node_reports["canceled"]
    assert report["errorChunks"] == 0
    assert report["finishReason"] == "other"
    assert report["text"].split()[:3] == ["t1", "t2", "t3"]
    assert len(report["text"].split()) < 1000
    assert rec.chunks()[-1] == {"type": "finish", "finishReason": "other"}


def test_a_resumed_stream_is_the_full_stream(
    node_reports: dict[str, tuple[Recording, dict[str, Any]]],
) -> None:
    resumed, resumed_report = node_reports["resumed"]
    full, full_report = node_reports["resumed-full"]
    assert [e.raw for e in resumed.frames] == [e.raw for e in full.frames]
    assert resumed_report == {**full_report, "file": resumed_report["file"]}
    assert resumed_report["text"] == "begin" + " ".join(f"t{n}" for n in range(1, 41)) + "end"

    _, tail = node_reports["step-boundary-tail"]
    assert (tail["text"], tail["parts"]) == ("after the tool", ["step-start", "text:done"])


def test_a_queued_runs_note_is_transient(node_reports: dict[str, tuple[Recording, dict[str, Any]]]) -> None:
    rec, report = node_reports["queued"]
    [note] = [c for c in rec.chunks() if c["type"] == "data-run-queued"]
    assert note["transient"] and note["data"]["reason"] == "thread"
    assert (report["text"], report["finishReason"]) == ("after the wait", "stop")
    assert not any(part.startswith("data-run-queued") for part in report["parts"])
