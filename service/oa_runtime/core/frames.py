"""Run events → AI SDK UI-message-stream frames (the SSE the browser reads).

One `FrameMapper` per SSE stream turns each durable event into zero or more
chunks of the `ai@6` UI-message-stream protocol. It keeps just enough state to
never break the client's ordering rules (text deltas only inside an open text
part, `finish-step` closing every text part, tool outputs only for tool calls
the client has seen), whatever order the log holds, including a step left open
by a crashed executor. Every frame carries the seq of the event it came from:
that seq is the resume cursor, so a stream resumed after seq N continues with
exactly the frames of events after N (see `replay_state`).

Text cut off mid-message (its step ended without the message completing: the
executor was lost, the run was canceled or failed) is said, not left to look like
a finished answer: after its `text-end` comes a `data-interrupted` part naming the
text part and why (INTERRUPTED_REASONS). The runtime never counts that text as
said (only `message.completed` enters the transcript and the thread history), and
the redone step streams its text again in a new part. See the README (`useChat`).

Pure: no I/O; the edge writes `encode_sse(...)` bytes into HttpBody messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import events as ev
from .run_state import RunState
from .tool_tasks import DENIAL_CLASSES

# finishReason values ai@6 accepts (`uiMessageChunkSchema`); anything else fails the stream.
FINISH_REASONS: Final = frozenset({"stop", "length", "content-filter", "tool-calls", "error", "other"})

# Why a text part was cut off (`data-interrupted` `data.reason`).
CUT_EXECUTOR_LOST: Final = "executor_lost"  # its executor died or lost its lease; the step is redone
CUT_CANCELED: Final = "canceled"
CUT_ERROR: Final = "error"  # the model call failed
CUT_INCOMPLETE: Final = "incomplete"  # the step ended without the message completing
INTERRUPTED_REASONS: Final = frozenset({CUT_EXECUTOR_LOST, CUT_CANCELED, CUT_ERROR, CUT_INCOMPLETE})
INTERRUPTED_PART: Final = "data-interrupted"

_FINISH_REASON_BY_OUTCOME: Final = {
    ev.OUTCOME_SUCCEEDED: "stop",
    ev.OUTCOME_FAILED: "error",
    ev.OUTCOME_CANCELED: "other",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One UI-message-stream chunk and the seq of the event it came from.

    `chunk` is None for the `[DONE]` end marker.
    """

    seq: int
    chunk: Mapping[str, Any] | None

    @property
    def is_done(self) -> bool:
        return self.chunk is None


class FrameMapper:
    """Maps one run's events, in seq order, to frames; one instance per stream."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.done = False
        self._emitted_any = False
        self._step_open = False
        # message_id → text part id, for text parts open in the current step (in opening order).
        self._open_text: dict[str, str] = {}
        # message_ids whose text part was closed in the current step: a late completion
        # of such a message must not show its text a second time.
        self._closed_in_step: set[str] = set()
        self._used_text_ids: set[str] = set()
        self._tool_calls: set[str] = set()
        self._finished_tool_calls: set[str] = set()
        self._cancel_requested = False
        self._out: list[Frame] = []
        self._seq = 0
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            ev.RUN_ACCEPTED: self._on_run_accepted,
            ev.STEP_STARTED: self._on_step_started,
            ev.STEP_FINISHED: self._on_step_finished,
            ev.MESSAGE_DELTA: self._on_message_delta,
            ev.MESSAGE_COMPLETED: self._on_message_completed,
            ev.TOOL_CALL_REQUESTED: self._on_tool_call_requested,
            ev.TOOL_PROGRESS: self._on_tool_progress,
            ev.TOOL_RESULT: self._on_tool_result,
            ev.APPROVAL_REQUESTED: self._on_approval_requested,
            ev.QUESTION_ASKED: self._on_question_asked,
            ev.RUN_FINISHED: self._on_run_finished,
            ev.CANCEL_REQUESTED: self._on_cancel_requested,
            ev.RUN_QUEUED: self._on_run_queued,
        }

    def feed(self, event: ev.Event) -> list[Frame]:
        """The frames for `event`; none once the run finished or for an already seen seq."""
        if self.done or event.seq <= self.last_seq:
            return []
        self.last_seq = event.seq
        handler = self._handlers.get(event.type)
        if handler is None:  # run.started, checkpoints, questions answered, external
            return []
        self._seq = event.seq
        self._out = []
        handler(event.payload)
        out, self._out = self._out, []
        return out

    # -- emitting -------------------------------------------------------------

    def _emit(self, chunk: dict[str, Any] | None) -> None:
        self._out.append(Frame(self._seq, chunk))
        self._emitted_any = True

    def _open_step(self) -> None:
        if not self._step_open:
            self._step_open = True
            self._closed_in_step = set()
            self._emit({"type": "start-step"})

    def _close_step(self, cut_reason: str) -> None:
        if self._step_open:
            self._cut_all_text(cut_reason)
            self._step_open = False
            self._emit({"type": "finish-step"})

    def _open_text_part(self, message_id: str) -> str:
        self._open_step()
        part_id = self._fresh_text_id(message_id)
        self._open_text[message_id] = part_id
        self._emit({"type": "text-start", "id": part_id})
        return part_id

    def _close_text(self, message_id: str) -> None:
        part_id = self._open_text.pop(message_id)
        self._closed_in_step.add(message_id)
        self._emit({"type": "text-end", "id": part_id})

    def _cut_all_text(self, reason: str) -> None:
        """Closes the text parts whose messages never completed, and says so."""
        for message_id in list(self._open_text):
            part_id = self._open_text[message_id]
            self._close_text(message_id)
            data = {"textPartId": part_id, "messageId": message_id, "reason": reason}
            self._emit({"type": INTERRUPTED_PART, "id": part_id, "data": data})

    def _interruption(self) -> str:
        """Why a step closed without a reason of its own was cut off."""
        return CUT_CANCELED if self._cancel_requested else CUT_EXECUTOR_LOST

    def _fresh_text_id(self, message_id: str) -> str:
        # The client keys open text parts by id; reusing an id the browser already
        # closed would merge two parts in its UI, so a reopened message gets a suffix.
        part_id = message_id
        n = 1
        while part_id in self._used_text_ids:
            n += 1
            part_id = f"{message_id}~{n}"
        self._used_text_ids.add(part_id)
        return part_id

    # -- handlers -------------------------------------------------------------

    def _on_run_accepted(self, p: Mapping[str, Any]) -> None:
        # A `start` whose messageId differs from the client's resets the whole
        # message (open parts, tool calls), so it is only ever the first frame.
        if not self._emitted_any:
            self._emit({"type": "start", "messageId": _text(p, "message_id")})

    def _on_step_started(self, p: Mapping[str, Any]) -> None:
        # A step still open here was cut short by an executor crash: close what the
        # client saw of it before the redone step begins.
        self._close_step(CUT_EXECUTOR_LOST)
        self._open_step()

    def _on_step_finished(self, p: Mapping[str, Any]) -> None:
        reason = _text(p, "reason")
        if reason == ev.STEP_INTERRUPTED:
            cut = self._interruption()
        else:
            cut = CUT_ERROR if reason == ev.STEP_ERROR else CUT_INCOMPLETE
        self._cut_all_text(cut)
        if self._step_open:
            self._step_open = False
            self._emit({"type": "finish-step"})

    def _on_message_delta(self, p: Mapping[str, Any]) -> None:
        message_id = _text(p, "message_id")
        part_id = self._open_text.get(message_id)
        if part_id is None:
            part_id = self._open_text_part(message_id)
        self._emit({"type": "text-delta", "id": part_id, "delta": _text(p, "delta")})

    def _on_message_completed(self, p: Mapping[str, Any]) -> None:
        if _text(p, "role") not in ("", "assistant"):
            return
        message_id = _text(p, "message_id")
        if message_id in self._open_text:
            self._close_text(message_id)
            return
        text = _text(p, "text")
        if not text or message_id in self._closed_in_step:
            return
        # A message that arrived whole (no deltas): show it as one part.
        part_id = self._open_text_part(message_id)
        self._emit({"type": "text-delta", "id": part_id, "delta": text})
        self._close_text(message_id)

    def _on_tool_call_requested(self, p: Mapping[str, Any]) -> None:
        call_id = _text(p, "tool_call_id")
        if call_id in self._tool_calls:  # a repeated request: the client already shows it
            return
        self._tool_calls.add(call_id)
        name = _text(p, "tool_name")
        self._emit({"type": "tool-input-start", "toolCallId": call_id, "toolName": name})
        raw = _text(p, "input_json")
        # Models send "" for a call without arguments.
        ok, value = _parse_json(raw) if raw.strip() else (True, {})
        if ok:
            self._emit(
                {"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": value}
            )
        else:
            self._emit(
                {
                    "type": "tool-input-error",
                    "toolCallId": call_id,
                    "toolName": name,
                    "input": raw,
                    "errorText": "The tool input is not valid JSON.",
                }
            )

    def _on_tool_progress(self, p: Mapping[str, Any]) -> None:
        call_id = _text(p, "tool_call_id")
        if call_id not in self._tool_calls or call_id in self._finished_tool_calls:
            return
        output = _output_value(_text(p, "output_json"))
        self._emit(
            {"type": "tool-output-available", "toolCallId": call_id, "output": output, "preliminary": True}
        )

    def _on_tool_result(self, p: Mapping[str, Any]) -> None:
        call_id = _text(p, "tool_call_id")
        # The client fails the whole stream on an output for a call it never saw.
        if call_id not in self._tool_calls or call_id in self._finished_tool_calls:
            return
        self._finished_tool_calls.add(call_id)
        error_text = _text(p, "error_text")
        if _text(p, "error_class") in DENIAL_CLASSES:
            # A human said no (or did not answer in time): the AI SDK's own state for that.
            self._emit({"type": "tool-output-denied", "toolCallId": call_id})
        elif p.get("is_error") or error_text:
            self._emit(
                {
                    "type": "tool-output-error",
                    "toolCallId": call_id,
                    "errorText": error_text or "The tool failed.",
                }
            )
        else:
            output = _output_value(_text(p, "output_json"))
            self._emit({"type": "tool-output-available", "toolCallId": call_id, "output": output})

    def _on_approval_requested(self, p: Mapping[str, Any]) -> None:
        call_id = _text(p, "tool_call_id")
        # The client fails the stream on an approval for a tool part it does not have.
        if call_id not in self._tool_calls or call_id in self._finished_tool_calls:
            return
        self._emit(
            {"type": "tool-approval-request", "approvalId": _text(p, "approval_id"), "toolCallId": call_id}
        )

    def _on_question_asked(self, p: Mapping[str, Any]) -> None:
        # A `data-*` part the UI can render with an answer box; its id is what the answer
        # quotes. Only for a question a tool call asks (the others are bookkeeping).
        question_id, call_id = _text(p, "question_id"), _text(p, "tool_call_id")
        if not question_id or call_id not in self._tool_calls or call_id in self._finished_tool_calls:
            return
        data = {"questionId": question_id, "toolCallId": call_id, "text": _text(p, "text")}
        self._emit({"type": "data-question", "id": question_id, "data": data})

    def _on_run_queued(self, p: Mapping[str, Any]) -> None:
        # Why the answer has not begun (admission or the thread's earlier run): transient,
        # so the UI can show it without it becoming part of the message.
        data = {
            "reason": _text(p, "reason"),
            "position": int(p.get("position") or 0),
            "threadPolicy": _text(p, "thread_policy"),
            "waitingForRunId": _text(p, "waiting_for_run_id"),
        }
        self._emit({"type": "data-run-queued", "data": data, "transient": True})

    def _on_cancel_requested(self, p: Mapping[str, Any]) -> None:
        self._cancel_requested = True

    def _on_run_finished(self, p: Mapping[str, Any]) -> None:
        outcome = _text(p, "outcome")
        cut = {ev.OUTCOME_CANCELED: CUT_CANCELED, ev.OUTCOME_FAILED: CUT_ERROR}.get(outcome, CUT_INCOMPLETE)
        self._cut_all_text(cut)
        self._close_step(cut)
        reason = _text(p, "reason")
        if outcome == ev.OUTCOME_FAILED:
            error_text = _text(p, "error_message") or reason or "The run failed."
            self._emit({"type": "error", "errorText": error_text})
        elif outcome == ev.OUTCOME_CANCELED:
            # The browser ignores `abort`; it tells other ai-sdk servers why the stream ended.
            self._emit({"type": "abort", "reason": reason or "canceled"})
        finish_reason = _FINISH_REASON_BY_OUTCOME.get(outcome, "other")
        self._emit({"type": "finish", "finishReason": finish_reason})
        self._emit(None)
        self.done = True


def replay_state(events: Iterable[ev.Event], up_to_seq: int | None = None) -> FrameMapper:
    """A mapper that has seen the events up to `up_to_seq` (all if None), output discarded.

    A stream resumed after cursor N starts from `replay_state(events ≤ N)` and then
    feeds the events after N, so it continues exactly where the first stream stopped.
    """
    mapper = FrameMapper()
    for event in events:
        if up_to_seq is not None and event.seq > up_to_seq:
            break
        mapper.feed(event)
    return mapper


def mapper_from_run_state(state: RunState) -> FrameMapper:
    """The mapper after `state.last_seq` of a log the runtime wrote, from the run's folded
    state (a checkpoint) instead of its events: a stream resumed near the end of a long
    run folds only the events after the checkpoint, not the whole log.

    Exact for the runtime's own logs, where text and steps nest (message ids are per step
    and never reused, deltas come inside a step, a message completes in its step's last
    append); `tests/test_frames.py` checks it against `replay_state` at every cut.
    """
    mapper = FrameMapper()
    mapper.last_seq = state.last_seq
    mapper.done = state.is_terminal
    mapper._emitted_any = state.status is not None
    mapper._step_open = state.step_open and not state.is_terminal
    mapper._cancel_requested = state.cancel_requested
    # Every text part opened so far, in any order (fresh ids depend only on how many
    # parts a message id had): cut off, completed, and the one open now.
    opened = list(state.cut_text_ids)
    for message in state.transcript:
        if message.tool_calls:
            mapper._tool_calls.update(call.id for call in message.tool_calls)
        elif message.role == "tool":
            mapper._finished_tool_calls.add(message.tool_call_id)
        elif message.role in ("", "assistant") and message.content:
            opened.append(message.id)
    for message_id in opened:
        mapper._fresh_text_id(message_id)
    if mapper._step_open and state.open_text_id:
        mapper._open_text[state.open_text_id] = mapper._fresh_text_id(state.open_text_id)
    return mapper


def map_events(events: Iterable[ev.Event]) -> list[Frame]:
    """All frames of an event sequence, from a fresh mapper."""
    mapper = FrameMapper()
    return [frame for event in events for frame in mapper.feed(event)]


# -- SSE encoding -----------------------------------------------------------------

SSE_DONE: Final = b"data: [DONE]\n\n"


def encode_chunk(chunk: Mapping[str, Any]) -> bytes:
    """Compact JSON in UTF-8, keys in insertion order (`type` first)."""
    text = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; the \\u escape is still valid JSON for the client.
        return json.dumps(chunk, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def encode_sse(frames: Iterable[Frame]) -> bytes:
    """`data: <json>` events; the LAST frame of each run event also carries `id: <seq>`.

    A client's Last-Event-ID only advances once every frame of an event has
    arrived, so a connection dropped inside an event's frames resumes with the
    whole event again: never a lost frame. `data: [DONE]` has no id.
    """
    parts: list[bytes] = []
    pending = list(frames)
    for i, frame in enumerate(pending):
        if frame.chunk is None:
            parts.append(SSE_DONE)
            continue
        following = pending[i + 1] if i + 1 < len(pending) else None
        last_of_event = following is None or following.chunk is None or following.seq != frame.seq
        prefix = b"id: %d\n" % frame.seq if last_of_event else b""
        parts.append(b"%sdata: %s\n\n" % (prefix, encode_chunk(frame.chunk)))
    return b"".join(parts)


def sse_comment(text: str = "ok") -> bytes:
    """An SSE comment (ignored by clients): first bytes of a stream, and heartbeats."""
    lines = text.splitlines() or [""]
    return "".join(f": {line}\n" for line in lines).encode("utf-8", "replace") + b"\n"


# -- helpers ----------------------------------------------------------------------


def _text(payload: Mapping[str, Any], key: str) -> str:
    """A payload string field; the schema needs strings, so anything else is coerced."""
    value = payload.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: the browser's JSON.parse fails.
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False, None


def _output_value(raw: str) -> Any:
    """A tool output as JSON when it is JSON, else the raw text; "" is no output (null)."""
    if not raw:
        return None
    ok, value = _parse_json(raw)
    return value if ok else raw
