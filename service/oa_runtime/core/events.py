"""Run event types and their payloads.

Payloads are JSON-able dicts whose keys are the snake_case field names of the
matching proto payload message (run_event.proto); enums are short lowercase
words. The gRPC edge converts them; the stores keep them as JSON.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

RUN_ACCEPTED: Final = "run.accepted"
RUN_STARTED: Final = "run.started"
STEP_STARTED: Final = "step.started"
STEP_FINISHED: Final = "step.finished"
MESSAGE_DELTA: Final = "message.delta"
MESSAGE_COMPLETED: Final = "message.completed"
TOOL_CALL_REQUESTED: Final = "tool.call_requested"
TOOL_PROGRESS: Final = "tool.progress"
TOOL_RESULT: Final = "tool.result"
QUESTION_ASKED: Final = "question.asked"
QUESTION_ANSWERED: Final = "question.answered"
CANCEL_REQUESTED: Final = "run.cancel_requested"
RUN_FINISHED: Final = "run.finished"
CHECKPOINT: Final = "run.checkpoint"
EXTERNAL: Final = "external"
TOOL_TASK: Final = "tool.task"
APPROVAL_REQUESTED: Final = "approval.requested"
APPROVAL_DECIDED: Final = "approval.decided"
RUN_QUEUED: Final = "run.queued"

EVENT_TYPES: Final = frozenset(
    {
        RUN_ACCEPTED,
        RUN_STARTED,
        STEP_STARTED,
        STEP_FINISHED,
        MESSAGE_DELTA,
        MESSAGE_COMPLETED,
        TOOL_CALL_REQUESTED,
        TOOL_PROGRESS,
        TOOL_RESULT,
        QUESTION_ASKED,
        QUESTION_ANSWERED,
        CANCEL_REQUESTED,
        RUN_FINISHED,
        CHECKPOINT,
        EXTERNAL,
        TOOL_TASK,
        APPROVAL_REQUESTED,
        APPROVAL_DECIDED,
        RUN_QUEUED,
    }
)

# Why a step ended (StepFinishReason in the proto, lowercased).
STEP_STOP: Final = "stop"
STEP_TOOL_CALLS: Final = "tool_calls"
STEP_LENGTH: Final = "length"
STEP_ERROR: Final = "error"
STEP_INTERRUPTED: Final = "interrupted"

# How a run ended (RunOutcome in the proto, lowercased).
OUTCOME_SUCCEEDED: Final = "succeeded"
OUTCOME_FAILED: Final = "failed"
OUTCOME_CANCELED: Final = "canceled"


def new_event_id() -> str:
    """32 hex digits that sort by creation time (48-bit milliseconds, then 80 random
    bits, like UUIDv7): new ids land at the end of the unique index on event_id
    instead of at random pages, which keeps appends cheap as the log grows."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event not yet appended: the store gives it a seq and a time."""

    type: str
    payload: Mapping[str, Any]
    event_id: str = field(default_factory=new_event_id)


# Stream kinds: every event belongs to one stream (kind, id) with dense seqs.
# Runs now; agents, workers and memory jobs get their own kinds.
STREAM_RUN: Final = "run"


@dataclass(frozen=True, slots=True)
class Event:
    """A durable event of a stream's log (a run's, unless `stream_kind` says otherwise).

    `seq` is dense within the stream; `position` is the event's place in the one
    global log, in commit order (0 when not known, e.g. an event built in memory)."""

    run_id: str  # the stream id
    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    position: int = 0
    stream_kind: str = STREAM_RUN

    @property
    def is_terminal(self) -> bool:
        return self.type == RUN_FINISHED


def run_accepted(thread_id: str, model: str, message_id: str) -> NewEvent:
    return NewEvent(RUN_ACCEPTED, {"thread_id": thread_id, "model": model, "message_id": message_id})


def run_started(executor_id: str, attempt: int) -> NewEvent:
    return NewEvent(RUN_STARTED, {"executor_id": executor_id, "attempt": attempt})


def step_started(step: int) -> NewEvent:
    return NewEvent(STEP_STARTED, {"step": step})


def step_finished(step: int, reason: str) -> NewEvent:
    return NewEvent(STEP_FINISHED, {"step": step, "reason": reason})


def message_delta(message_id: str, delta: str) -> NewEvent:
    return NewEvent(MESSAGE_DELTA, {"message_id": message_id, "delta": delta})


def message_completed(message_id: str, text: str, role: str = "assistant") -> NewEvent:
    return NewEvent(MESSAGE_COMPLETED, {"message_id": message_id, "role": role, "text": text})


def tool_call_requested(tool_call_id: str, tool_name: str, input_json: str) -> NewEvent:
    return NewEvent(
        TOOL_CALL_REQUESTED,
        {"tool_call_id": tool_call_id, "tool_name": tool_name, "input_json": input_json},
    )


def tool_progress(tool_call_id: str, output_json: str) -> NewEvent:
    return NewEvent(TOOL_PROGRESS, {"tool_call_id": tool_call_id, "output_json": output_json})


def tool_result(
    tool_call_id: str,
    tool_name: str,
    *,
    output_json: str = "",
    error_text: str = "",
    receipt: Mapping[str, Any] | None = None,
) -> NewEvent:
    """`receipt` adds the tool task's fields (core/tool_tasks.py): state, error_class,
    attempt, tool_version, params_sha256, output_sha256, replayed."""
    return NewEvent(
        TOOL_RESULT,
        {
            "tool_call_id": tool_call_id,
            "tool_name": tool_name,
            "output_json": output_json,
            "error_text": error_text,
            "is_error": bool(error_text),
            **(receipt or {}),
        },
    )


def cancel_requested(reason: str, *, by_run_id: str = "", rollback: bool = False) -> NewEvent:
    """`by_run_id`: a later run of the thread asked (its thread input policy); `rollback`:
    that policy was rollback, so this run leaves the thread's history."""
    payload: dict[str, Any] = {"reason": reason}
    if by_run_id:
        payload["by_run_id"] = by_run_id
    if rollback:
        payload["rollback"] = True
    return NewEvent(CANCEL_REQUESTED, payload)


# The finish reason of a run canceled by a later run's rollback policy.
FINISH_ROLLED_BACK: Final = "rolled_back"
QUEUED_FOR_CAPACITY: Final = "capacity"
QUEUED_FOR_THREAD: Final = "thread"


def run_queued(
    reason: str,
    *,
    position: int = 0,
    thread_policy: str = "",
    waiting_for_run_id: str = "",
) -> NewEvent:
    """The run waits before an executor takes it: for a free slot (`capacity`) or for an
    earlier run of its thread (`thread`); written with run.accepted."""
    payload: dict[str, Any] = {"reason": reason}
    if position:
        payload["position"] = position
    if thread_policy:
        payload["thread_policy"] = thread_policy
    if waiting_for_run_id:
        payload["waiting_for_run_id"] = waiting_for_run_id
    return NewEvent(RUN_QUEUED, payload)


def run_finished(outcome: str, reason: str, error_message: str = "") -> NewEvent:
    return NewEvent(RUN_FINISHED, {"outcome": outcome, "reason": reason, "error_message": error_message})


def checkpoint(covers_seq: int) -> NewEvent:
    return NewEvent(CHECKPOINT, {"covers_seq": covers_seq})


def external(kind: str, data: Mapping[str, Any]) -> NewEvent:
    return NewEvent(EXTERNAL, {"kind": kind, "data": dict(data)})


# ----- tool tasks, approvals and questions (core/tool_tasks.py) -----


def tool_task(
    tool_call_id: str,
    tool_name: str,
    state: str,
    *,
    attempt: int = 0,
    tool_version: str = "",
    params_sha256: str = "",
) -> NewEvent:
    """A tool task moved to `queued` (with the tool version and params hash) or `running`
    (with the attempt, 1 first)."""
    payload: dict[str, Any] = {"tool_call_id": tool_call_id, "tool_name": tool_name, "state": state}
    if attempt:
        payload["attempt"] = attempt
    if tool_version:
        payload["tool_version"] = tool_version
    if params_sha256:
        payload["params_sha256"] = params_sha256
    return NewEvent(TOOL_TASK, payload)


def approval_requested(
    approval_id: str, tool_call_id: str, tool_name: str, input_json: str, expire_time: str = ""
) -> NewEvent:
    """`expire_time` is RFC 3339 UTC ("" when the approval never times out)."""
    payload: dict[str, Any] = {
        "approval_id": approval_id,
        "tool_call_id": tool_call_id,
        "tool_name": tool_name,
        "input_json": input_json,
    }
    if expire_time:
        payload["expire_time"] = expire_time
    return NewEvent(APPROVAL_REQUESTED, payload)


def approval_decided(
    approval_id: str, tool_call_id: str, *, approved: bool, reason: str = "", timed_out: bool = False
) -> NewEvent:
    return NewEvent(
        APPROVAL_DECIDED,
        {
            "approval_id": approval_id,
            "tool_call_id": tool_call_id,
            "approved": approved,
            "reason": reason,
            "timed_out": timed_out,
        },
    )


def question_asked(question_id: str, tool_call_id: str, text: str, expire_time: str = "") -> NewEvent:
    payload: dict[str, Any] = {"question_id": question_id, "text": text, "tool_call_id": tool_call_id}
    if expire_time:
        payload["expire_time"] = expire_time
    return NewEvent(QUESTION_ASKED, payload)


def question_answered(question_id: str, tool_call_id: str, answer: str) -> NewEvent:
    return NewEvent(
        QUESTION_ANSWERED, {"question_id": question_id, "answer": answer, "tool_call_id": tool_call_id}
    )
