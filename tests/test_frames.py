"""The event → UI-message-stream frame mapping (oa_runtime.core.frames).

Three layers of evidence:
- unit tests pin the exact frames of each mapping rule;
- hypothesis generates plausible runs and adversarial logs (crashes mid-step, deltas
  outside a step, tool results for unknown calls, run.finished anywhere, resume cut
  at any seq) and checks every stream against `client_violation`, a Python mirror of
  the ordering rules ai@6's client enforces, and that a resumed stream is exactly the
  rest of the full one;
- golden files pin the exact SSE bytes (UPDATE_GOLDEN=1 rewrites them).
test_aisdk_conformance.py then runs the real AI SDK client over the same kinds of streams
and checks that it agrees with `client_violation`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oa_runtime.core import events as ev
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.frames import (
    FINISH_REASONS,
    Frame,
    FrameMapper,
    encode_chunk,
    encode_sse,
    map_events,
    mapper_from_run_state,
    replay_state,
    sse_comment,
)
from oa_runtime.core.run_state import RunState, apply

GOLDEN_DIR = Path(__file__).parent / "golden"
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
Chunk = Mapping[str, Any]


def make_events(specs: Sequence[tuple[str, Mapping[str, Any]]], run_id: str = "run-1") -> list[ev.Event]:
    """Durable events with dense seqs 1..n from (type, payload) pairs."""
    return [
        ev.Event(run_id, seq, f"evt-{seq}", type_, _T0, dict(payload))
        for seq, (type_, payload) in enumerate(specs, start=1)
    ]


def chunks_of(frames: Sequence[Frame]) -> list[Chunk]:
    return [f.chunk for f in frames if f.chunk is not None]


# -- a Python mirror of ai@6's client (uiMessageChunkSchema + processUIMessageStream) --------

_REQUIRED_STRINGS: dict[str, tuple[str, ...]] = {
    "start": (),
    "finish": (),
    "abort": (),
    "start-step": (),
    "finish-step": (),
    "message-metadata": (),
    "error": ("errorText",),
    "text-start": ("id",),
    "text-delta": ("id", "delta"),
    "text-end": ("id",),
    "reasoning-start": ("id",),
    "reasoning-delta": ("id", "delta"),
    "reasoning-end": ("id",),
    "tool-input-start": ("toolCallId", "toolName"),
    "tool-input-delta": ("toolCallId", "inputTextDelta"),
    "tool-input-available": ("toolCallId", "toolName"),
    "tool-input-error": ("toolCallId", "toolName", "errorText"),
    "tool-approval-request": ("approvalId", "toolCallId"),
    "tool-output-available": ("toolCallId",),
    "tool-output-error": ("toolCallId", "errorText"),
    "tool-output-denied": ("toolCallId",),
    "source-url": ("sourceId", "url"),
    "source-document": ("sourceId", "mediaType", "title"),
    "file": ("url", "mediaType"),
}
# z.unknown() fields that must be present (JSON null is fine).
_REQUIRED_PRESENT = {
    "tool-input-available": ("input",),
    "tool-input-error": ("input",),
    "tool-output-available": ("output",),
    "message-metadata": ("messageMetadata",),
}
_OPTIONAL_TYPED: dict[str, dict[str, type]] = {
    "start": {"messageId": str},
    "abort": {"reason": str},
    "tool-output-available": {"preliminary": bool},
}


def _schema_violation(chunk: Chunk) -> str | None:
    type_ = chunk.get("type")
    if not isinstance(type_, str):
        return "type is not a string"
    if type_.startswith("data-"):
        return None if "data" in chunk else f"{type_} without data"
    if type_ not in _REQUIRED_STRINGS:
        return f"unknown type {type_!r}"
    for key in _REQUIRED_STRINGS[type_]:
        if not isinstance(chunk.get(key), str):
            return f"{type_}.{key} is not a string"
    for key in _REQUIRED_PRESENT.get(type_, ()):
        if key not in chunk:
            return f"{type_}.{key} is missing"
    for key, kind in _OPTIONAL_TYPED.get(type_, {}).items():
        if key in chunk and not isinstance(chunk[key], kind):
            return f"{type_}.{key} is not {kind.__name__}"
    if type_ == "finish" and "finishReason" in chunk and chunk["finishReason"] not in FINISH_REASONS:
        return f"finishReason {chunk['finishReason']!r}"
    return None


def client_violation(chunks: Sequence[Chunk]) -> str | None:
    """The first error ai@6's readUIMessageStream would raise, or None.

    In-band `error` chunks are not violations: they are how a failed run is reported.
    """
    parts = _ClientParts()
    for i, chunk in enumerate(chunks):
        problem = _schema_violation(chunk) or parts.feed(chunk)
        if problem:
            return f"#{i}: {problem}"
    return None


_TEXT_AND_REASONING = {
    f"{part}-{when}" for part in ("text", "reasoning") for when in ("start", "delta", "end")
}


class _ClientParts:
    """What readUIMessageStream tracks of the message being read: its open text and
    reasoning parts and its tool calls."""

    def __init__(self) -> None:
        self.message_id = ""
        self.reset_message()

    def reset_message(self) -> None:
        self.active_text: set[str] = set()
        self.active_reasoning: set[str] = set()
        self.partial_tool_calls: set[str] = set()
        self.tool_parts: set[str] = set()  # getToolInvocation searches the whole message

    def feed(self, chunk: Chunk) -> str | None:
        """The error the client raises on this chunk, or None."""
        t = chunk["type"]
        if t == "start":
            new_id = chunk.get("messageId")
            if new_id is not None and new_id != self.message_id:  # resetStateOnMessageIdChange
                self.reset_message()
                self.message_id = new_id
        elif t in _TEXT_AND_REASONING:
            return self._text_part(t, chunk["id"])
        elif t == "finish-step":
            self.active_text, self.active_reasoning = set(), set()
        elif t.startswith("tool-"):
            return self._tool_part(t, chunk["toolCallId"])
        return None

    def _text_part(self, t: str, part_id: str) -> str | None:
        active = self.active_text if t.startswith("text") else self.active_reasoning
        if t.endswith("-start"):
            active.add(part_id)
        elif part_id not in active:
            return f"{t} for missing part {part_id!r}"
        elif t.endswith("-end"):
            active.discard(part_id)
        return None

    def _tool_part(self, t: str, call_id: str) -> str | None:
        if t == "tool-input-start":
            self.partial_tool_calls.add(call_id)
            self.tool_parts.add(call_id)
        elif t == "tool-input-delta":
            if call_id not in self.partial_tool_calls:
                return f"tool-input-delta for missing tool call {call_id!r}"
        elif t in ("tool-input-available", "tool-input-error"):
            self.tool_parts.add(call_id)
        elif t.startswith(("tool-output-", "tool-approval-")) and call_id not in self.tool_parts:
            return f"{t} for unknown tool call {call_id!r}"
        return None


def stream_violation(frames: Sequence[Frame]) -> str | None:
    """`client_violation` plus what this mapper promises beyond the client's rules."""
    return (
        client_violation(chunks_of(frames))
        or _order_violation(frames)
        or _nesting_violation(chunks_of(frames))
    )


def _order_violation(frames: Sequence[Frame]) -> str | None:
    """Seqs ascend, `start` comes first, one `finish` then `[DONE]` end it, part ids are new."""
    seqs = [f.seq for f in frames]
    if seqs != sorted(seqs):
        return "frame seqs go backwards"
    types = [f.chunk["type"] if f.chunk is not None else "[DONE]" for f in frames]
    if "start" in types and types.index("start") != 0:
        return "start is not the first frame"
    if types.count("finish") > 1 or types.count("[DONE]") > 1:
        return "more than one finish or [DONE]"
    if "finish" in types and types[types.index("finish") + 1 :] != ["[DONE]"]:
        return "finish is not followed by exactly [DONE]"
    if "[DONE]" in types and "finish" not in types:
        return "[DONE] without finish"
    text_ids = [c["id"] for c in chunks_of(frames) if c["type"] == "text-start"]
    if len(text_ids) != len(set(text_ids)):
        return "a text part id is reused"
    return None


def _nesting_violation(chunks: Sequence[Chunk]) -> str | None:
    """Steps balance, text lives inside a step, and nothing is open at a step's or the run's end."""
    step_open = False
    open_text: set[str] = set()
    for c in chunks:
        t = c["type"]
        if t in ("start-step", "finish-step") and step_open == (t == "start-step"):
            return f"unbalanced {t}"
        step_open = {"start-step": True, "finish-step": False}.get(t, step_open)
        if t == "text-start":
            if not step_open:
                return "text outside a step"
            open_text.add(c["id"])
        elif t == "text-end":
            open_text.discard(c["id"])
        elif t == "finish-step" and open_text:
            return "finish-step with text still open"
        elif t == "finish" and (step_open or open_text):
            return "finish with a step or text still open"
    return None


# -- hypothesis strategies ------------------------------------------------------------------

MESSAGE_IDS = ["run-1-s1-t0", "run-1-s2-t0", "m", "m~2", ""]
CALL_IDS = ["call-1", "call-2", "call-3"]
TOOL_NAMES = ["search", "get_weather", ""]
texts = st.text(max_size=6) | st.sampled_from(["\ud800", "é 🙂", "\n\ndata: x\n\n", '"}]', "[DONE]"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
json_texts = json_values.map(json.dumps) | st.sampled_from(
    ["", "  ", "{", "NaN", '{"a": Infinity}', "not json", "1" * 5000]
)
outcomes = st.sampled_from([ev.OUTCOME_SUCCEEDED, ev.OUTCOME_FAILED, ev.OUTCOME_CANCELED, "bogus"])

Spec = tuple[str, dict[str, Any]]


def _spec(type_: str, **payload: Any) -> Spec:
    return (type_, payload)


any_event: st.SearchStrategy[Spec] = st.one_of(
    st.builds(
        lambda m: _spec(ev.RUN_ACCEPTED, thread_id="t", model="x", message_id=m), st.sampled_from(MESSAGE_IDS)
    ),
    st.just(_spec(ev.RUN_STARTED, executor_id="e", attempt=1)),
    st.builds(lambda n: _spec(ev.STEP_STARTED, step=n), st.integers(1, 3)),
    st.builds(lambda n: _spec(ev.STEP_FINISHED, step=n, reason="stop"), st.integers(1, 3)),
    st.builds(
        lambda m, d: _spec(ev.MESSAGE_DELTA, message_id=m, delta=d), st.sampled_from(MESSAGE_IDS), texts
    ),
    st.builds(
        lambda m, t, r: _spec(ev.MESSAGE_COMPLETED, message_id=m, text=t, role=r),
        st.sampled_from(MESSAGE_IDS),
        texts,
        st.sampled_from(["assistant", "", "user"]),
    ),
    st.builds(
        lambda c, n, i: _spec(ev.TOOL_CALL_REQUESTED, tool_call_id=c, tool_name=n, input_json=i),
        st.sampled_from(CALL_IDS),
        st.sampled_from(TOOL_NAMES),
        json_texts,
    ),
    st.builds(
        lambda c, o: _spec(ev.TOOL_PROGRESS, tool_call_id=c, output_json=o),
        st.sampled_from(CALL_IDS),
        json_texts,
    ),
    st.builds(
        lambda c, o, e: _spec(
            ev.TOOL_RESULT, tool_call_id=c, tool_name="search", output_json=o, error_text=e, is_error=bool(e)
        ),
        st.sampled_from(CALL_IDS),
        json_texts,
        st.sampled_from(["", "", "timeout"]),
    ),
    st.builds(
        lambda o, r, e: _spec(ev.RUN_FINISHED, outcome=o, reason=r, error_message=e),
        outcomes,
        st.sampled_from(["", "completed", "model_error"]),
        texts,
    ),
    st.sampled_from(
        [
            _spec(ev.CANCEL_REQUESTED, reason="user"),
            _spec(ev.CHECKPOINT, covers_seq=1),
            _spec(ev.QUESTION_ASKED, question_id="q", text="?"),
            _spec(ev.EXTERNAL, kind="k", data={}),
        ]
    ),
)
adversarial_runs = st.lists(any_event, max_size=30)


@st.composite
def plausible_runs(draw: st.DrawFn) -> list[Spec]:
    """What the engine writes: steps of text and tool calls, maybe a crash, maybe a finish."""
    specs: list[Spec] = [
        _spec(ev.RUN_ACCEPTED, thread_id="t", model="x", message_id="run-1-msg"),
        _spec(ev.RUN_STARTED, executor_id="e1", attempt=1),
    ]
    for step in range(1, draw(st.integers(0, 4)) + 1):
        crashes_once = draw(st.integers(0, 4)) == 0  # the executor dies mid-step, the step is redone
        for attempt in range(2 if crashes_once else 1):
            crashed = crashes_once and attempt == 0
            specs.append(_spec(ev.STEP_STARTED, step=step))
            message_id = f"run-1-s{step}-t0"
            deltas = draw(st.lists(texts, max_size=4))
            specs += [_spec(ev.MESSAGE_DELTA, message_id=message_id, delta=d) for d in deltas]
            if crashed:
                break
            has_text = bool(deltas) or draw(st.booleans())
            if has_text:
                text = "".join(deltas) or draw(texts)
                specs.append(_spec(ev.MESSAGE_COMPLETED, message_id=message_id, text=text, role="assistant"))
            calls = [f"call-{step}-{j}" for j in range(draw(st.integers(0, 2)))]
            for call in calls:
                specs.append(
                    _spec(
                        ev.TOOL_CALL_REQUESTED,
                        tool_call_id=call,
                        tool_name="search",
                        input_json=draw(json_texts),
                    )
                )
            reason = ev.STEP_TOOL_CALLS if calls else ev.STEP_STOP
            specs.append(_spec(ev.STEP_FINISHED, step=step, reason=reason))
            for call in calls:
                if draw(st.booleans()):
                    specs.append(_spec(ev.TOOL_PROGRESS, tool_call_id=call, output_json='{"pct":50}'))
                error = draw(st.sampled_from(["", "", "boom"]))
                specs.append(
                    _spec(
                        ev.TOOL_RESULT,
                        tool_call_id=call,
                        tool_name="search",
                        output_json="" if error else '{"hits":[1,2]}',
                        error_text=error,
                        is_error=bool(error),
                    )
                )
    if draw(st.booleans()):
        specs.append(_spec(ev.CANCEL_REQUESTED, reason="user"))
    if draw(st.integers(0, 5)) > 0:  # else the run is still live
        specs.append(_spec(ev.RUN_FINISHED, outcome=draw(outcomes), reason="done", error_message=draw(texts)))
    return specs


event_logs = st.one_of(plausible_runs(), adversarial_runs).map(make_events)
# FRAMES_EXAMPLES=5000 for a deeper hunt than the default run's.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("FRAMES_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- properties -----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(event_logs)
def test_every_stream_satisfies_the_client_rules(events: list[ev.Event]) -> None:
    frames = map_events(events)
    assert stream_violation(frames) is None, (stream_violation(frames), events, frames)


@PROPERTY_SETTINGS
@given(event_logs)
def test_a_stream_resumed_at_any_cut_continues_with_exactly_the_rest(events: list[ev.Event]) -> None:
    full = map_events(events)
    for cut in range(len(events) + 1):
        mapper = replay_state(events, up_to_seq=cut)
        # The edge may hold all events or only those up to the cursor: same state.
        assert vars_of(mapper) == vars_of(replay_state(events[:cut]))
        rest = [frame for event in events[cut:] for frame in mapper.feed(event)]
        assert rest == [f for f in full if f.seq > cut], cut
        assert stream_violation([f for f in full if f.seq <= cut] + rest) is None


@PROPERTY_SETTINGS
@given(plausible_runs().map(make_events))
def test_a_mapper_from_the_folded_state_continues_like_a_replayed_one(events: list[ev.Event]) -> None:
    """What a resumed SSE stream does with a checkpoint: the mapper derived from the run's
    state at the cut sends exactly the frames the mapper that saw every event sends."""
    full = map_events(events)
    state = RunState()
    for cut in range(len(events) + 1):
        if cut:
            try:
                state = apply(state, events[cut - 1])
            except (IllegalTransition, KeyError, ValueError):
                return  # a log the store would have refused goes no further
        mapper = mapper_from_run_state(state)
        rest = [frame for event in events[cut:] for frame in mapper.feed(event)]
        assert rest == [f for f in full if f.seq > cut], cut


def vars_of(mapper: FrameMapper) -> dict[str, Any]:
    return {k: v for k, v in vars(mapper).items() if k != "_handlers"}


@PROPERTY_SETTINGS
@given(event_logs)
def test_sse_bytes_decode_back_to_the_frames(events: list[ev.Event]) -> None:
    frames = map_events(events)
    # Only the last frame of each event carries its seq as `id:`; `[DONE]` has none.
    expected = []
    for i, f in enumerate(frames):
        nxt = frames[i + 1] if i + 1 < len(frames) else None
        last_of_event = not f.is_done and (nxt is None or nxt.is_done or nxt.seq != f.seq)
        expected.append((f.seq if last_of_event else None, f.chunk))
    assert parse_sse(encode_sse(frames)) == expected


@PROPERTY_SETTINGS
@given(event_logs)
def test_replaying_an_event_again_emits_nothing(events: list[ev.Event]) -> None:
    mapper = FrameMapper()
    for event in events:
        mapper.feed(event)
        assert mapper.feed(event) == []


def parse_sse(data: bytes) -> list[tuple[int | None, Chunk | None]]:
    """A strict reader of what encode_sse writes: (id, chunk or None for [DONE])."""
    out: list[tuple[int | None, Chunk | None]] = []
    text = data.decode("utf-8")
    assert text == "" or text.endswith("\n\n")
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        seq = int(lines[0].removeprefix("id: ")) if lines[0].startswith("id: ") else None
        (data_line,) = [line for line in lines if line.startswith("data: ")]
        assert len(lines) == (2 if seq is not None else 1)
        payload = data_line.removeprefix("data: ")
        out.append((seq, None if payload == "[DONE]" else json.loads(payload)))
    return out


# -- unit tests of each rule ----------------------------------------------------------------


def frames_for(*specs: Spec) -> list[tuple[int, Chunk | None]]:
    return [(f.seq, f.chunk) for f in map_events(make_events(specs))]


def test_a_simple_run_maps_to_the_documented_frames() -> None:
    got = frames_for(
        _spec(ev.RUN_ACCEPTED, thread_id="t", model="x", message_id="msg-1"),
        _spec(ev.RUN_STARTED, executor_id="e", attempt=1),
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="s1", delta="Hel"),
        _spec(ev.MESSAGE_DELTA, message_id="s1", delta="lo"),
        _spec(ev.MESSAGE_COMPLETED, message_id="s1", text="Hello", role="assistant"),
        _spec(ev.STEP_FINISHED, step=1, reason="stop"),
        _spec(ev.RUN_FINISHED, outcome="succeeded", reason="completed", error_message=""),
    )
    assert got == [
        (1, {"type": "start", "messageId": "msg-1"}),
        (3, {"type": "start-step"}),
        (4, {"type": "text-start", "id": "s1"}),
        (4, {"type": "text-delta", "id": "s1", "delta": "Hel"}),
        (5, {"type": "text-delta", "id": "s1", "delta": "lo"}),
        (6, {"type": "text-end", "id": "s1"}),
        (7, {"type": "finish-step"}),
        (8, {"type": "finish", "finishReason": "stop"}),
        (8, None),
    ]


def test_a_step_left_open_by_a_crash_is_closed_before_the_next_one() -> None:
    got = frames_for(
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="s1", delta="par"),
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="s1", delta="full"),
    )
    assert got == [
        (1, {"type": "start-step"}),
        (2, {"type": "text-start", "id": "s1"}),
        (2, {"type": "text-delta", "id": "s1", "delta": "par"}),
        (3, {"type": "text-end", "id": "s1"}),
        (3, _interrupted("s1", "executor_lost")),
        (3, {"type": "finish-step"}),
        (3, {"type": "start-step"}),
        (4, {"type": "text-start", "id": "s1~2"}),  # the closed id is never reused
        (4, {"type": "text-delta", "id": "s1~2", "delta": "full"}),
    ]


def _interrupted(part_id: str, reason: str, message_id: str | None = None) -> Chunk:
    data = {"textPartId": part_id, "messageId": message_id or part_id, "reason": reason}
    return {"type": "data-interrupted", "id": part_id, "data": data}


@pytest.mark.parametrize(
    ("specs", "reason"),
    [
        ([_spec(ev.STEP_FINISHED, step=1, reason="interrupted")], "executor_lost"),
        (
            [
                _spec(ev.CANCEL_REQUESTED, reason="stop"),
                _spec(ev.STEP_FINISHED, step=1, reason="interrupted"),
            ],
            "canceled",
        ),
        ([_spec(ev.STEP_FINISHED, step=1, reason="error")], "error"),
        ([_spec(ev.STEP_FINISHED, step=1, reason="stop")], "incomplete"),
    ],
)
def test_text_cut_off_by_its_step_end_is_said_with_why(specs: list[Spec], reason: str) -> None:
    got = frames_for(
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="txt-s1", delta="half an ans"),
        *specs,
    )
    assert [c for _, c in got[3:]] == [
        {"type": "text-end", "id": "txt-s1"},
        _interrupted("txt-s1", reason),
        {"type": "finish-step"},
    ]


def test_completed_text_is_never_called_interrupted() -> None:
    got = frames_for(
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="txt-s1", delta="All "),
        _spec(ev.MESSAGE_COMPLETED, message_id="txt-s1", text="All of it.", role="assistant"),
        _spec(ev.STEP_FINISHED, step=1, reason="interrupted"),
    )
    assert all(c is None or c["type"] != "data-interrupted" for _, c in got)


def test_a_delta_outside_a_step_opens_one() -> None:
    assert [c for _, c in frames_for(_spec(ev.MESSAGE_DELTA, message_id="m", delta="x"))] == [
        {"type": "start-step"},
        {"type": "text-start", "id": "m"},
        {"type": "text-delta", "id": "m", "delta": "x"},
    ]


def test_a_completion_without_deltas_shows_the_whole_text_once() -> None:
    completed = _spec(ev.MESSAGE_COMPLETED, message_id="m", text="Hi", role="assistant")
    assert [c for _, c in frames_for(_spec(ev.STEP_STARTED, step=1), completed, completed)] == [
        {"type": "start-step"},
        {"type": "text-start", "id": "m"},
        {"type": "text-delta", "id": "m", "delta": "Hi"},
        {"type": "text-end", "id": "m"},
    ]


def test_empty_and_non_assistant_completions_show_nothing() -> None:
    assert (
        frames_for(
            _spec(ev.MESSAGE_COMPLETED, message_id="m", text="", role="assistant"),
            _spec(ev.MESSAGE_COMPLETED, message_id="u", text="hi", role="user"),
        )
        == []
    )


def test_tool_calls_and_their_results() -> None:
    got = frames_for(
        _spec(ev.TOOL_CALL_REQUESTED, tool_call_id="c1", tool_name="search", input_json='{"q":"x"}'),
        _spec(ev.TOOL_CALL_REQUESTED, tool_call_id="c2", tool_name="now", input_json=""),
        _spec(ev.TOOL_CALL_REQUESTED, tool_call_id="c3", tool_name="bad", input_json='{"a":NaN}'),
        _spec(ev.TOOL_PROGRESS, tool_call_id="c1", output_json='{"pct":50}'),
        _spec(ev.TOOL_RESULT, tool_call_id="c1", tool_name="search", output_json="[1]", error_text=""),
        _spec(ev.TOOL_PROGRESS, tool_call_id="c1", output_json='{"pct":99}'),  # after the result: dropped
        _spec(ev.TOOL_RESULT, tool_call_id="c2", tool_name="now", output_json="", error_text="down"),
        _spec(ev.TOOL_RESULT, tool_call_id="ghost", tool_name="x", output_json="1", error_text=""),
    )
    assert [c for _, c in got] == [
        {"type": "tool-input-start", "toolCallId": "c1", "toolName": "search"},
        {"type": "tool-input-available", "toolCallId": "c1", "toolName": "search", "input": {"q": "x"}},
        {"type": "tool-input-start", "toolCallId": "c2", "toolName": "now"},
        {"type": "tool-input-available", "toolCallId": "c2", "toolName": "now", "input": {}},
        {"type": "tool-input-start", "toolCallId": "c3", "toolName": "bad"},
        {
            "type": "tool-input-error",
            "toolCallId": "c3",
            "toolName": "bad",
            "input": '{"a":NaN}',
            "errorText": "The tool input is not valid JSON.",
        },
        {"type": "tool-output-available", "toolCallId": "c1", "output": {"pct": 50}, "preliminary": True},
        {"type": "tool-output-available", "toolCallId": "c1", "output": [1]},
        {"type": "tool-output-error", "toolCallId": "c2", "errorText": "down"},
    ]


@pytest.mark.parametrize(
    ("outcome", "error_message", "expected"),
    [
        (
            "failed",
            "model unreachable",
            [
                {"type": "error", "errorText": "model unreachable"},
                {"type": "finish", "finishReason": "error"},
            ],
        ),
        (
            "failed",
            "",
            [{"type": "error", "errorText": "model_error"}, {"type": "finish", "finishReason": "error"}],
        ),
        (
            "canceled",
            "",
            [{"type": "abort", "reason": "model_error"}, {"type": "finish", "finishReason": "other"}],
        ),
    ],
)
def test_a_run_that_did_not_succeed_ends_with_its_reason(
    outcome: str, error_message: str, expected: list[Chunk]
) -> None:
    got = frames_for(
        _spec(ev.STEP_STARTED, step=1),
        _spec(ev.MESSAGE_DELTA, message_id="m", delta="x"),
        _spec(ev.RUN_FINISHED, outcome=outcome, reason="model_error", error_message=error_message),
    )
    cut = "canceled" if outcome == "canceled" else "error"
    assert [c for _, c in got[3:]] == [
        {"type": "text-end", "id": "m"},
        _interrupted("m", cut),
        {"type": "finish-step"},
        *expected,
        None,
    ]


def test_nothing_is_emitted_after_the_run_finished() -> None:
    finished, late_step = make_events(
        [
            _spec(ev.RUN_FINISHED, outcome="succeeded", reason="", error_message=""),
            _spec(ev.STEP_STARTED, step=1),
        ]
    )
    mapper = replay_state([finished])
    assert mapper.done
    assert mapper.feed(late_step) == []


def test_bookkeeping_events_emit_nothing_and_a_late_accept_sends_no_start() -> None:
    assert (
        frames_for(
            _spec(ev.RUN_STARTED, executor_id="e", attempt=1),
            _spec(ev.CHECKPOINT, covers_seq=1),
            _spec(ev.CANCEL_REQUESTED, reason="user"),
            _spec(ev.QUESTION_ASKED, question_id="q"),
            _spec(ev.QUESTION_ANSWERED, question_id="q"),
            _spec(ev.EXTERNAL, kind="k", data={}),
        )
        == []
    )
    late = frames_for(
        _spec(ev.STEP_STARTED, step=1), _spec(ev.RUN_ACCEPTED, thread_id="t", model="x", message_id="m")
    )
    assert late == [(1, {"type": "start-step"})]


def test_sse_encoding_is_exact() -> None:
    frames = [Frame(7, {"type": "text-delta", "id": "a", "delta": "é\n🙂"}), Frame(7, None)]
    assert encode_sse(frames) == (
        'id: 7\ndata: {"type":"text-delta","id":"a","delta":"é\\n🙂"}\n\ndata: [DONE]\n\n'.encode()
    )
    assert encode_chunk({"type": "text-delta", "id": "a", "delta": "\ud800"}) == (
        b'{"type":"text-delta","id":"a","delta":"\\ud800"}'
    )
    assert sse_comment() == b": ok\n\n"
    assert sse_comment("a\nb") == b": a\n: b\n\n"


@pytest.mark.parametrize(
    ("chunks", "problem"),
    [
        ([{"type": "text-delta", "id": "a", "delta": "x"}], "missing part"),
        (
            [{"type": "text-start", "id": "a"}, {"type": "finish-step"}, {"type": "text-end", "id": "a"}],
            "missing",
        ),
        ([{"type": "tool-output-available", "toolCallId": "c", "output": 1}], "unknown tool call"),
        ([{"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}], "missing tool call"),
        ([{"type": "finish", "finishReason": "unknown"}], "finishReason"),
        ([{"type": "text-chunk", "id": "a"}], "unknown type"),
        ([{"type": "tool-output-available", "toolCallId": "c"}], "output is missing"),
        (
            [
                {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"},
                {"type": "start", "messageId": "other"},
                {"type": "tool-output-error", "toolCallId": "c", "errorText": "x"},
            ],
            "unknown tool call",
        ),
    ],
)
def test_the_client_mirror_catches_what_the_client_rejects(chunks: list[Chunk], problem: str) -> None:
    assert problem in (client_violation(chunks) or "")


# -- golden files ---------------------------------------------------------------------------


def load_golden_events(path: Path) -> list[ev.Event]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ev.Event(data["run_id"], e["seq"], f"evt-{e['seq']}", e["type"], _T0, e["payload"])
        for e in data["events"]
    ]


GOLDEN_CASES = sorted(GOLDEN_DIR.glob("*.events.json"))


def test_there_are_golden_files() -> None:
    assert len(GOLDEN_CASES) >= 5


@pytest.mark.parametrize("events_path", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".events.json"))
def test_golden_sse_bytes(events_path: Path) -> None:
    events = load_golden_events(events_path)
    frames = map_events(events)
    assert stream_violation(frames) is None
    sse_path = events_path.with_name(events_path.name.removesuffix(".events.json") + ".sse")
    got = encode_sse(frames)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        sse_path.write_bytes(got)
    assert sse_path.read_bytes() == got
