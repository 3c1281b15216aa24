"""The run state machine: a run's state is the fold of its events.

`apply` is the only way state changes; it rejects events that are illegal in
the current state (for example anything after `run.finished`), which is how a
late model or tool result is kept from reopening a finished run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from . import events as ev
from .errors import IllegalTransition
from .messages import ChatMessage, ToolCall


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELING = "canceling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
_OUTCOME_STATUS = {
    ev.OUTCOME_SUCCEEDED: RunStatus.SUCCEEDED,
    ev.OUTCOME_FAILED: RunStatus.FAILED,
    ev.OUTCOME_CANCELED: RunStatus.CANCELED,
}
# Events an executor writes while working; legal only while the run is live.
_WORK_EVENTS = frozenset(
    {
        ev.STEP_STARTED,
        ev.STEP_FINISHED,
        ev.MESSAGE_DELTA,
        ev.MESSAGE_COMPLETED,
        ev.TOOL_CALL_REQUESTED,
        ev.TOOL_PROGRESS,
        ev.TOOL_RESULT,
        ev.QUESTION_ASKED,
        ev.QUESTION_ANSWERED,
        ev.CHECKPOINT,
        ev.EXTERNAL,
    }
)


@dataclass(frozen=True, slots=True)
class RunState:
    """Everything the runtime needs to know about a run, derived from its events."""

    status: RunStatus | None = None  # None before run.accepted
    last_seq: int = 0
    message_id: str = ""
    attempt: int = 0
    step: int = 0  # the latest step started
    step_open: bool = False
    # A text part that has deltas but no completion yet. Its text is not kept:
    # folding a delta must stay O(1), and the run row stores this state on every append.
    open_text_id: str = ""
    cancel_requested: bool = False
    finish_reason: str = ""
    error_message: str = ""
    # This run's own contribution to the conversation: completed assistant
    # messages, tool calls and tool results, in order. The model context of a
    # step is the thread history + the prompt + this transcript.
    transcript: tuple[ChatMessage, ...] = field(default=())
    pending_tool_calls: tuple[ToolCall, ...] = field(default=())

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and self.status.is_terminal

    def to_json(self) -> dict[str, Any]:
        """A JSON-able snapshot, for checkpoints."""
        return {
            "status": self.status.value if self.status else None,
            "last_seq": self.last_seq,
            "message_id": self.message_id,
            "attempt": self.attempt,
            "step": self.step,
            "step_open": self.step_open,
            "open_text_id": self.open_text_id,
            "cancel_requested": self.cancel_requested,
            "finish_reason": self.finish_reason,
            "error_message": self.error_message,
            "transcript": [_message_to_json(m) for m in self.transcript],
            "pending_tool_calls": [_call_to_json(c) for c in self.pending_tool_calls],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls(
            status=RunStatus(data["status"]) if data.get("status") else None,
            last_seq=int(data["last_seq"]),
            message_id=data["message_id"],
            attempt=int(data["attempt"]),
            step=int(data["step"]),
            step_open=bool(data["step_open"]),
            open_text_id=data["open_text_id"],
            cancel_requested=bool(data["cancel_requested"]),
            finish_reason=data["finish_reason"],
            error_message=data["error_message"],
            transcript=tuple(_message_from_json(m) for m in data["transcript"]),
            pending_tool_calls=tuple(_call_from_json(c) for c in data["pending_tool_calls"]),
        )


def apply(state: RunState, event: ev.Event | ev.NewEvent, seq: int | None = None) -> RunState:
    """Returns the state after `event`, or raises IllegalTransition."""
    if isinstance(event, ev.Event):
        seq = event.seq
    new_seq = seq if seq is not None else state.last_seq + 1
    p = event.payload
    t = event.type
    status = state.status

    if t == ev.RUN_ACCEPTED:
        if status is not None:
            raise IllegalTransition("run.accepted must be the first event")
        return replace(state, status=RunStatus.QUEUED, last_seq=new_seq, message_id=p["message_id"])
    if status is None:
        raise IllegalTransition(f"{t} before run.accepted")
    if status.is_terminal:
        raise IllegalTransition(f"{t} after the run finished ({status.value})")

    s = replace(state, last_seq=new_seq)
    if t == ev.RUN_STARTED:
        new_status = RunStatus.CANCELING if status == RunStatus.CANCELING else RunStatus.RUNNING
        return replace(s, status=new_status, attempt=int(p["attempt"]))
    if t == ev.CANCEL_REQUESTED:
        return replace(s, status=RunStatus.CANCELING, cancel_requested=True)
    if t == ev.RUN_FINISHED:
        return replace(
            s,
            status=_OUTCOME_STATUS[p["outcome"]],
            finish_reason=p.get("reason", ""),
            error_message=p.get("error_message", ""),
            step_open=False,
            open_text_id="",
        )
    if t not in _WORK_EVENTS:
        raise IllegalTransition(f"unknown event type {t!r}")
    return _apply_work(s, t, p)


def _apply_work(s: RunState, t: str, p: Any) -> RunState:
    if t == ev.STEP_STARTED:
        return replace(s, step=int(p["step"]), step_open=True, open_text_id="")
    if t == ev.STEP_FINISHED:
        return replace(s, step_open=False, open_text_id="")
    if t == ev.MESSAGE_DELTA:
        return s if s.open_text_id == p["message_id"] else replace(s, open_text_id=p["message_id"])
    if t == ev.MESSAGE_COMPLETED:
        msg = ChatMessage(role=p.get("role") or "assistant", content=p["text"], id=p["message_id"])
        return replace(s, transcript=(*s.transcript, msg), open_text_id="")
    if t == ev.TOOL_CALL_REQUESTED:
        call = ToolCall(p["tool_call_id"], p["tool_name"], p["input_json"])
        msg = ChatMessage(role="assistant", content="", tool_calls=(call,))
        return replace(s, transcript=(*s.transcript, msg), pending_tool_calls=(*s.pending_tool_calls, call))
    if t == ev.TOOL_RESULT:
        content = p["error_text"] if p.get("is_error") else p["output_json"]
        msg = ChatMessage(role="tool", content=content, tool_call_id=p["tool_call_id"])
        pending = tuple(c for c in s.pending_tool_calls if c.id != p["tool_call_id"])
        return replace(s, transcript=(*s.transcript, msg), pending_tool_calls=pending)
    # tool.progress, questions, checkpoints and external events change no run state.
    return s


def fold(events: list[ev.Event], start: RunState | None = None) -> RunState:
    state = start or RunState()
    for event in events:
        if event.seq <= state.last_seq:
            continue
        state = apply(state, event)
    return state


def _call_to_json(c: ToolCall) -> dict[str, str]:
    return {"id": c.id, "name": c.name, "input_json": c.input_json}


def _call_from_json(d: dict[str, str]) -> ToolCall:
    return ToolCall(d["id"], d["name"], d["input_json"])


def _message_to_json(m: ChatMessage) -> dict[str, Any]:
    return {
        "role": m.role,
        "content": m.content,
        "tool_calls": [_call_to_json(c) for c in m.tool_calls],
        "tool_call_id": m.tool_call_id,
        "id": m.id,
    }


def _message_from_json(d: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        role=d["role"],
        content=d["content"],
        tool_calls=tuple(_call_from_json(c) for c in d["tool_calls"]),
        tool_call_id=d["tool_call_id"],
        id=d["id"],
    )
