"""Tool tasks: the state machine of one tool call, and receipts folded from a run's log. Pure.

A tool call the model makes (`tool.call_requested`) becomes at most one task, keyed by
(run id, tool call id). Its life, every step an event of the run's log:

    (requested) ─▶ queued ─▶ running ─▶ streaming_output ─▶ succeeded | failed | canceled | timed_out
         │            │         ▲ │              │
         │            │         └─┘ retry        └─▶ running (retry of an idempotent tool)
         │            └─▶ failed | canceled      (approval denied or timed out, run canceled)
         └─▶ failed | canceled                   (rejected before a task exists: policy, input)

`queued` and `running` are `tool.task` events, `streaming_output` is a `tool.progress`,
the terminal states are the `tool.result` that also feeds the model. `transition` is the
only judge of what may follow what; `run_state.apply` calls it, so a store refuses an
illegal transition like any other illegal event.

A receipt is what the log says about one call: tool name and version, SHA-256 of the
canonical JSON of its params and output, times, latency, attempts and error class.
`ReceiptFolder` computes receipts from events alone; nothing else is stored.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from . import canonical
from . import events as ev
from .artifacts import ArtifactRef, ref_of
from .errors import IllegalTransition


class TaskState(enum.StrEnum):
    REQUESTED = "requested"  # the model asked; no task exists yet (not a state the log records)
    QUEUED = "queued"
    RUNNING = "running"
    STREAMING_OUTPUT = "streaming_output"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        """A tool body may be executing (what a crash interrupts)."""
        return self in (TaskState.RUNNING, TaskState.STREAMING_OUTPUT)


TERMINAL_STATES: Final = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED, TaskState.TIMED_OUT}
)
_ENDINGS: Final = TERMINAL_STATES
_ALLOWED: Final[Mapping[TaskState, frozenset[TaskState]]] = {
    TaskState.REQUESTED: frozenset({TaskState.QUEUED, TaskState.FAILED, TaskState.CANCELED}),
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.FAILED, TaskState.CANCELED}),
    TaskState.RUNNING: frozenset({TaskState.RUNNING, TaskState.STREAMING_OUTPUT, *_ENDINGS}),
    TaskState.STREAMING_OUTPUT: frozenset({TaskState.RUNNING, TaskState.STREAMING_OUTPUT, *_ENDINGS}),
}

# Error classes a receipt carries (a tool may report its own, e.g. "remote_http_503").
ERR_POLICY_DENIED: Final = "policy_denied"
ERR_UNKNOWN_TOOL: Final = "unknown_tool"
ERR_INVALID_INPUT: Final = "invalid_input"
ERR_TOOL: Final = "tool_error"
ERR_TIMEOUT: Final = "timeout"
ERR_INTERRUPTED: Final = "interrupted"
ERR_CANCELED: Final = "canceled"
ERR_APPROVAL_DENIED: Final = "approval_denied"
ERR_APPROVAL_TIMEOUT: Final = "approval_timeout"
ERR_QUESTION_TIMEOUT: Final = "question_timeout"
ERR_BAD_OUTPUT: Final = "invalid_output"
ERR_RUN_ENDED: Final = "run_ended"
# Shown to the client as `tool-output-denied` rather than an error.
DENIAL_CLASSES: Final = frozenset({ERR_APPROVAL_DENIED, ERR_APPROVAL_TIMEOUT})


def transition(current: TaskState, new: TaskState, *, attempt: int = 0, current_attempt: int = 0) -> None:
    """Raises IllegalTransition unless a task in `current` may move to `new`.

    Moving to `running` again is a retry and must start a later attempt."""
    allowed = _ALLOWED.get(current, frozenset())
    if new not in allowed:
        raise IllegalTransition(f"tool task cannot go from {current.value} to {new.value}")
    if new == TaskState.RUNNING and current.is_active and attempt <= current_attempt:
        raise IllegalTransition(f"a retry must start a later attempt than {current_attempt}")


# ----- canonical JSON and hashes -----


def canonical_json(value: Any) -> str:
    """Canonical JSON of a tool's arguments or output; ValueError for NaN/Infinity, which
    are not JSON (a receipt hash must be of a value any client can parse)."""
    return canonical.canonical_json(value, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def params_sha256(input_json: str) -> str:
    """SHA-256 of the canonical JSON of a call's arguments ("" counts as {});
    of the raw text when it is not JSON."""
    try:
        value = json.loads(input_json or "{}", parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return sha256_text(input_json)
    return sha256_text(canonical_json(value))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_json_value(value: Any) -> bool:
    try:
        canonical_json(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


def approval_id_for(run_id: str, tool_call_id: str) -> str:
    """A URL-safe id derived from the call, so a redone step asks for the same approval."""
    return "apr_" + sha256_text(f"{run_id}\x00{tool_call_id}")[:24]


def question_id_for(run_id: str, tool_call_id: str) -> str:
    return "q_" + sha256_text(f"{run_id}\x00{tool_call_id}")[:24]


# ----- receipts -----


@dataclass(frozen=True, slots=True)
class Receipt:
    """One tool call as its run's log records it."""

    run_id: str
    tool_call_id: str
    tool_name: str
    input_json: str
    request_seq: int
    requested_at: datetime
    step: int = 0
    state: TaskState = TaskState.REQUESTED
    tool_version: str = ""
    params_sha256: str = ""
    output_json: str = ""
    output_sha256: str = ""
    error_text: str = ""
    error_class: str = ""
    attempts: int = 0
    progress_events: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    finish_seq: int = 0
    approval_id: str = ""
    approval: str = ""  # "" | "requested" | "approved" | "denied" | "timed_out"
    approval_reason: str = ""
    question_id: str = ""
    question: str = ""
    answer: str = ""
    replayed: bool = False  # a repeated call id answered with the first task's result
    artifact: ArtifactRef | None = None  # the stored output, when it was over the inline limit

    @property
    def latency_ms(self) -> int | None:
        """From the first start to the end (None unless both happened)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0, round((self.finished_at - self.started_at).total_seconds() * 1000))


@dataclass
class ReceiptFolder:
    """Folds a run's events, in seq order, into one receipt per tool call id.

    Tolerant on purpose: the log is the truth and was validated when written, so an
    unexpected event is skipped, never an error. A repeated request of a call id keeps
    the first task (one task per call id).
    """

    run_id: str
    last_seq: int = 0
    step: int = 0
    finished: bool = False

    def __post_init__(self) -> None:
        self.receipts: dict[str, Receipt] = {}
        self.approvals: dict[str, str] = {}  # approval id -> tool call id
        self.questions: dict[str, str] = {}  # question id -> tool call id

    def feed_all(self, events: Iterable[ev.Event]) -> ReceiptFolder:
        for event in events:
            self.feed(event)
        return self

    def feed(self, event: ev.Event) -> None:
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        p = event.payload
        t = event.type
        if t == ev.STEP_STARTED:
            self.step = int(p.get("step", 0))
        elif t == ev.RUN_FINISHED:
            self.finished = True
            self._close_open(event)
        elif t == ev.TOOL_CALL_REQUESTED:
            call_id = str(p.get("tool_call_id", ""))
            if call_id not in self.receipts:
                self.receipts[call_id] = Receipt(
                    run_id=self.run_id,
                    tool_call_id=call_id,
                    tool_name=str(p.get("tool_name", "")),
                    input_json=str(p.get("input_json", "")),
                    request_seq=event.seq,
                    requested_at=event.occurred_at,
                    step=self.step,
                    params_sha256=params_sha256(str(p.get("input_json", ""))),
                )
        else:
            self._feed_task_event(event)

    def _feed_task_event(self, event: ev.Event) -> None:
        call_id = self._call_id_of(event)
        r = self.receipts.get(call_id)
        if r is None or (r.state.is_terminal and event.type != ev.TOOL_RESULT):
            return
        if event.type in (ev.TOOL_TASK, ev.TOOL_PROGRESS, ev.TOOL_RESULT):
            self.receipts[call_id] = _task_update(r, event)
        else:
            self.receipts[call_id] = self._interaction_update(r, event, call_id)

    def _call_id_of(self, event: ev.Event) -> str:
        """The tool call an event is about: decisions and answers name their approval or
        question, which was asked for a call."""
        p = event.payload
        call_id = str(p.get("tool_call_id", ""))
        if event.type == ev.APPROVAL_DECIDED:
            return self.approvals.get(str(p.get("approval_id", "")), call_id)
        if event.type == ev.QUESTION_ANSWERED:
            return self.questions.get(str(p.get("question_id", "")), call_id)
        return call_id

    def _interaction_update(self, r: Receipt, event: ev.Event, call_id: str) -> Receipt:
        """An approval or a question of the call (asked, decided, answered)."""
        p = event.payload
        t = event.type
        if t == ev.APPROVAL_REQUESTED:
            approval_id = str(p.get("approval_id", ""))
            self.approvals[approval_id] = call_id
            return replace(r, approval_id=approval_id, approval="requested")
        if t == ev.APPROVAL_DECIDED:
            decision = "timed_out" if p.get("timed_out") else ("approved" if p.get("approved") else "denied")
            return replace(r, approval=decision, approval_reason=str(p.get("reason", "")))
        if t == ev.QUESTION_ASKED:
            question_id = str(p.get("question_id", ""))
            self.questions[question_id] = call_id
            return replace(r, question_id=question_id, question=str(p.get("text", "")))
        if t == ev.QUESTION_ANSWERED:
            return replace(r, answer=str(p.get("answer", "")))
        return r

    def _close_open(self, event: ev.Event) -> None:
        """A run that ended with calls still open ended them too: a canceled run's calls
        count as canceled, otherwise as failed (when no explicit result was recorded)."""
        canceled = event.payload.get("outcome") == ev.OUTCOME_CANCELED
        for call_id, r in self.receipts.items():
            if r.state.is_terminal:
                continue
            self.receipts[call_id] = replace(
                r,
                state=TaskState.CANCELED if canceled else TaskState.FAILED,
                error_class=ERR_CANCELED if canceled else ERR_RUN_ENDED,
                error_text="the run was canceled" if canceled else "the run ended first",
                finished_at=event.occurred_at,
                finish_seq=event.seq,
            )

    def ordered(self) -> list[Receipt]:
        """Receipts in the order the calls were requested."""
        return sorted(self.receipts.values(), key=lambda r: r.request_seq)


def _task_update(r: Receipt, event: ev.Event) -> Receipt:
    """The task's own life: queued/running (`tool.task`), output streaming, the result."""
    p = event.payload
    if event.type == ev.TOOL_PROGRESS:
        return replace(r, state=TaskState.STREAMING_OUTPUT, progress_events=r.progress_events + 1)
    if event.type == ev.TOOL_RESULT:
        # One task per call id: a repeat keeps the first result.
        return r if r.state.is_terminal else _finish(r, event)
    state = TaskState(p.get("state", "queued"))
    if state == TaskState.QUEUED:
        return replace(
            r,
            state=state,
            tool_version=str(p.get("tool_version", "")),
            params_sha256=str(p.get("params_sha256") or r.params_sha256),
        )
    return replace(
        r,
        state=state,
        attempts=max(r.attempts, int(p.get("attempt", 1))),
        started_at=r.started_at or event.occurred_at,
    )


def _finish(r: Receipt, event: ev.Event) -> Receipt:
    p = event.payload
    is_error = bool(p.get("is_error") or p.get("error_text"))
    raw_state = p.get("state") or (TaskState.FAILED if is_error else TaskState.SUCCEEDED)
    output_json = str(p.get("output_json", ""))
    return replace(
        r,
        state=TaskState(raw_state),
        output_json=output_json,
        output_sha256=str(p.get("output_sha256") or (sha256_text(output_json) if output_json else "")),
        error_text=str(p.get("error_text", "")),
        error_class=str(p.get("error_class") or (ERR_TOOL if is_error else "")),
        attempts=max(r.attempts, int(p.get("attempt", 0) or 0)),
        tool_version=r.tool_version or str(p.get("tool_version", "")),
        finished_at=event.occurred_at,
        finish_seq=event.seq,
        replayed=bool(p.get("replayed")),
        artifact=ref_of(p),
    )


def fold_receipts(run_id: str, events: Iterable[ev.Event]) -> list[Receipt]:
    return ReceiptFolder(run_id).feed_all(events).ordered()
