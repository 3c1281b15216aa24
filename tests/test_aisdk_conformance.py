"""The real AI SDK client (ai@6 in .tools/node_modules) accepts what the frame mapper writes.

One `node tests/aisdk/check_stream.mjs` run reads every golden `.sse` file, a few hundred
hypothesis-generated streams, and deliberately broken variants of them; the script
parses each with `parseJsonEventStream` + `uiMessageChunkSchema` and replays it through
`readUIMessageStream`. The mapper's streams must all pass, and on the broken ones the
client's verdict must equal `client_violation`'s, which shows the Python mirror used by
the property tests in test_frames.py is faithful.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from oa_runtime.core import events as ev
from oa_runtime.core.frames import Frame, encode_sse, map_events

try:  # tests/ is a package only if someone adds an __init__.py
    from tests.test_frames import GOLDEN_CASES, client_violation, event_logs, load_golden_events
except ImportError:
    from test_frames import GOLDEN_CASES, client_violation, event_logs, load_golden_events  # type: ignore[import-not-found,no-redef]

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "aisdk" / "check_stream.mjs"
NODE_MODULES = REPO / ".tools" / "node_modules"
GENERATED_STREAMS = 300
BROKEN_STREAMS = 150
# Chunks uiMessageChunkSchema rejects (a `data-*` part with null data is fine: a control).
SCHEMA_BREAKERS: list[dict[str, Any]] = [
    {"type": "finish", "finishReason": "unknown"},
    {"type": "text-chunk", "id": "a"},
    {"type": "text-delta", "id": "a"},
    {"type": "tool-output-available", "toolCallId": "call-1"},
    {"type": "start", "messageId": 7},
    {"type": "data-note", "data": None},
]


def _require_node() -> str:
    node = shutil.which("node")
    missing = [
        what
        for what, ok in [
            ("node", node is not None),
            ("ai", (NODE_MODULES / "ai" / "package.json").is_file()),
            (
                "@ai-sdk/provider-utils",
                (NODE_MODULES / "@ai-sdk" / "provider-utils" / "package.json").is_file(),
            ),
        ]
        if not ok
    ]
    if missing:
        message = f"AI SDK conformance needs {', '.join(missing)} (npm ci --prefix .tools)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert node is not None
    return node


@dataclass(frozen=True)
class Case:
    kind: str  # "golden" | "generated" | "broken"
    path: Path
    frames: list[Frame]
    expect_error_chunk: bool  # a failed run: the in-band `error` chunk is expected
    python_verdict: str | None  # client_violation of the chunks


def _chunks(frames: list[Frame]) -> list[dict[str, Any]]:
    return [dict(f.chunk) for f in frames if f.chunk is not None]


def _generate_event_logs() -> list[list[ev.Event]]:
    logs: list[list[ev.Event]] = []

    @settings(
        max_examples=GENERATED_STREAMS,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(event_logs)
    def collect(events: list[ev.Event]) -> None:
        logs.append(events)

    collect()
    return logs


def _break(frames: list[Frame], rnd: st.DataObject) -> list[Frame]:
    """A plausible server bug: a frame dropped, duplicated or moved, an unknown id, a bad chunk."""
    if not frames:
        return [Frame(1, {"type": "text-delta", "id": "nope", "delta": "x"})]
    i = rnd.draw(st.integers(0, len(frames) - 1))
    kind = rnd.draw(
        st.sampled_from(["drop", "duplicate", "move-first", "stray-delta", "stray-output", "bad-schema"])
    )
    if kind == "drop":
        return frames[:i] + frames[i + 1 :]
    if kind == "duplicate":
        return frames[: i + 1] + frames[i:]
    if kind == "move-first":
        return [frames[i], *frames[:i], *frames[i + 1 :]]
    stray: dict[str, Any]
    if kind == "stray-delta":
        stray = {"type": "text-delta", "id": "run-1-s1-t0", "delta": "x"}
    elif kind == "stray-output":
        stray = {"type": "tool-output-available", "toolCallId": "call-1", "output": None}
    else:
        stray = rnd.draw(st.sampled_from(SCHEMA_BREAKERS))
    return [*frames[:i], Frame(frames[i].seq, stray), *frames[i:]]


def _broken_streams(logs: list[list[ev.Event]]) -> list[list[Frame]]:
    broken: list[list[Frame]] = []

    @settings(
        max_examples=BROKEN_STREAMS,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.integers(0, len(logs) - 1), st.data())
    def collect(index: int, rnd: st.DataObject) -> None:
        broken.append(_break(map_events(logs[index]), rnd))

    collect()
    return broken


def _has_failed_outcome(events: list[ev.Event]) -> bool:
    return any(e.type == ev.RUN_FINISHED and e.payload.get("outcome") == ev.OUTCOME_FAILED for e in events)


@pytest.fixture(scope="module")
def node_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Case, dict[str, Any]]]]:
    node = _require_node()
    tmp = tmp_path_factory.mktemp("aisdk-streams")
    cases: list[Case] = []

    def add(kind: str, name: str, frames: list[Frame], expect_error_chunk: bool) -> None:
        path = tmp / f"{kind}-{name}.sse"
        path.write_bytes(encode_sse(frames))
        cases.append(Case(kind, path, frames, expect_error_chunk, client_violation(_chunks(frames))))

    for events_path in GOLDEN_CASES:
        # The golden bytes themselves, not a re-encoding: what the test pins is what node reads.
        events = load_golden_events(events_path)
        sse_path = events_path.with_name(events_path.name.removesuffix(".events.json") + ".sse")
        frames = map_events(events)
        cases.append(Case("golden", sse_path, frames, _has_failed_outcome(events), None))
    logs = _generate_event_logs()
    for n, events in enumerate(logs):
        add("generated", str(n), map_events(events), False)
    for n, frames in enumerate(_broken_streams(logs)):
        add("broken", str(n), frames, False)

    argv = [node, str(SCRIPT)]
    for case in cases:
        argv += ["--expect-error", str(case.path)] if case.expect_error_chunk else [str(case.path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    # Not splitlines(): it also splits on U+2028, which JSON.stringify leaves raw.
    reports = [json.loads(line) for line in proc.stdout.split("\n") if line]
    assert len(reports) == len(cases), proc.stderr
    yield list(zip(cases, reports, strict=True))


def _expected_text(frames: list[Frame]) -> str:
    """What the client's text parts hold: each part's deltas, parts in text-start order."""
    by_part: dict[str, str] = {}
    for c in _chunks(frames):
        if c["type"] == "text-start":
            by_part[c["id"]] = ""
        elif c["type"] == "text-delta":
            by_part[c["id"]] += c["delta"]
    return "".join(by_part.values())


def _expected_finish_reason(frames: list[Frame]) -> str | None:
    reasons = [c["finishReason"] for c in _chunks(frames) if c["type"] == "finish"]
    return reasons[-1] if reasons else None


def test_golden_streams_pass_the_real_client(node_reports: list[tuple[Case, dict[str, Any]]]) -> None:
    golden = [(case, report) for case, report in node_reports if case.kind == "golden"]
    assert len(golden) == len(GOLDEN_CASES) >= 5
    for case, report in golden:
        assert report["ok"], report
        assert report["text"] == _expected_text(case.frames), report
        assert report["finishReason"] == _expected_finish_reason(case.frames), report
        assert report["errorChunks"] == (1 if case.expect_error_chunk else 0), report


def test_interrupted_text_is_marked_for_the_real_client(
    node_reports: list[tuple[Case, dict[str, Any]]],
) -> None:
    """After a crash mid-message the client holds the cut-off part, then a `data-interrupted`
    part naming it, then the redone step: the README's rule shows only the completed answer."""
    (report,) = [r for case, r in node_reports if case.path.name == "crash_recovery.sse"]
    assert report["ok"], report
    assert report["parts"] == ["step-start", "text:done", "data-interrupted", "step-start", "text:done"]
    assert report["text"] == "Partial ansFull answer."
    assert report["answerText"] == "Full answer."


def test_generated_streams_pass_the_real_client(node_reports: list[tuple[Case, dict[str, Any]]]) -> None:
    generated = [(case, report) for case, report in node_reports if case.kind == "generated"]
    assert len(generated) >= GENERATED_STREAMS // 2  # hypothesis may stop early on a tiny space
    failures = [
        (report, case.path.read_text(encoding="utf-8")) for case, report in generated if not report["ok"]
    ]
    assert failures == []
    for case, report in generated:
        assert report["text"] == _expected_text(case.frames), report
        assert report["finishReason"] == _expected_finish_reason(case.frames), report


def test_the_python_mirror_agrees_with_the_real_client(
    node_reports: list[tuple[Case, dict[str, Any]]],
) -> None:
    broken = [(case, report) for case, report in node_reports if case.kind in ("broken", "generated")]
    disagreements = [
        (case.python_verdict, report, case.path.read_text(encoding="utf-8"))
        for case, report in broken
        if (case.python_verdict is None) != report["ok"]
    ]
    assert disagreements == []
    # The broken streams must include real rejections, or this proves nothing.
    assert sum(1 for case, report in broken if not report["ok"]) >= 20
