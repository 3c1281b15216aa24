"""The run state machine: a run's state is the fold of its events.

`apply` is the only way state changes; it rejects events that are illegal in
the current state (for example anything after `run.finished`), which is how a
late model or tool result is kept from reopening a finished run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from . import events as ev
from .errors import IllegalTransition
from .messages import ChatMessage, ToolCall
from .tool_tasks import TaskState, transition


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELING = "canceling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    # Not terminal: the run waits for a human (an approval, an answer) or a timeout,
    # with no executor task held. `RunState.wake_at` says when the timeout falls due.
    WAITING = "waiting"

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
        ev.TOOL_TASK,
        ev.APPROVAL_REQUESTED,
        ev.APPROVAL_DECIDED,
    }
)
WAIT_APPROVAL = "approval"
WAIT_QUESTION = "question"


@dataclass(frozen=True, slots=True)
class TaskBrief:
    """The task of a pending tool call, once it has one."""

    tool_call_id: str
    state: TaskState
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class Wait:
    """An open approval request or question of a pending tool call."""

    kind: str  # WAIT_APPROVAL | WAIT_QUESTION
    wait_id: str
    tool_call_id: str
    deadline: float | None = None  # epoch seconds


@dataclass(frozen=True, slots=True)
class Decision:
    """A decided approval (approved or not) or an answered question, kept until the
    call's result is recorded."""

    kind: str
    wait_id: str
    tool_call_id: str
    approved: bool
    text: str = ""  # the reason, or the answer
    timed_out: bool = False


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
    # Message ids of text cut off mid-message (deltas, then its step or the run ended
    # without a completion), in order: never in the transcript; the SSE said
    # `data-interrupted` for each (core/frames.py).
    cut_text_ids: tuple[str, ...] = field(default=())
    cancel_requested: bool = False
    # A later run of the thread canceled this one with the rollback policy: the run ends
    # `canceled{rolled_back}` and leaves the thread's history.
    rolled_back: bool = False
    finish_reason: str = ""
    error_message: str = ""
    # This run's own contribution to the conversation: completed assistant
    # messages, tool calls and tool results, in order. The model context of a
    # step is the thread history + the prompt + this transcript.
    transcript: tuple[ChatMessage, ...] = field(default=())
    pending_tool_calls: tuple[ToolCall, ...] = field(default=())
    # Only for pending calls: their tasks, open waits and decisions (small, and gone
    # once the call's result is recorded).
    tool_tasks: tuple[TaskBrief, ...] = field(default=())
    waits: tuple[Wait, ...] = field(default=())
    decisions: tuple[Decision, ...] = field(default=())

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and self.status.is_terminal

    @property
    def wake_at(self) -> float | None:
        """When the earliest open wait times out (epoch seconds); None if none can."""
        deadlines = [w.deadline for w in self.waits if w.deadline is not None]
        return min(deadlines) if deadlines else None

    def task_of(self, tool_call_id: str) -> TaskBrief | None:
        return next((t for t in self.tool_tasks if t.tool_call_id == tool_call_id), None)

    def wait_of(self, tool_call_id: str) -> Wait | None:
        return next((w for w in self.waits if w.tool_call_id == tool_call_id), None)

    def decision_of(self, tool_call_id: str) -> Decision | None:
        return next((d for d in self.decisions if d.tool_call_id == tool_call_id), None)

    def scalar_changes(self, before: RunState) -> dict[str, Any] | None:
        """The `to_json` fields that differ from `before`'s when only scalar fields changed
        (None when a collection did: compare whole snapshots then). A state folded from
        `before` shares its unchanged collections (`evolve` copies references), so this
        costs a few comparisons instead of an encoding of the state per run per batch."""
        for name in _COLLECTION_FIELDS:
            if getattr(self, name) is not getattr(before, name):
                return None
        changes: dict[str, Any] = {}
        for name in _SCALAR_FIELDS:
            value = getattr(self, name)
            if value != getattr(before, name):
                changes[name] = value
        if "status" in changes:
            changes["status"] = self.status.value if self.status else None
        return changes

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
            "cut_text_ids": list(self.cut_text_ids),
            "cancel_requested": self.cancel_requested,
            # Only when set: states saved before rollbacks existed stay byte-identical.
            **({"rolled_back": True} if self.rolled_back else {}),
            "finish_reason": self.finish_reason,
            "error_message": self.error_message,
            "transcript": [_message_to_json(m) for m in self.transcript],
            "pending_tool_calls": [_call_to_json(c) for c in self.pending_tool_calls],
            "tool_tasks": [[t.tool_call_id, t.state.value, t.attempt] for t in self.tool_tasks],
            "waits": [[w.kind, w.wait_id, w.tool_call_id, w.deadline] for w in self.waits],
            "decisions": [
                [d.kind, d.wait_id, d.tool_call_id, d.approved, d.text, d.timed_out] for d in self.decisions
            ],
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
            cut_text_ids=tuple(data.get("cut_text_ids", ())),
            cancel_requested=bool(data["cancel_requested"]),
            rolled_back=bool(data.get("rolled_back")),
            finish_reason=data["finish_reason"],
            error_message=data["error_message"],
            transcript=tuple(_message_from_json(m) for m in data["transcript"]),
            pending_tool_calls=tuple(_call_from_json(c) for c in data["pending_tool_calls"]),
            # Absent from states saved before tool tasks existed.
            tool_tasks=tuple(TaskBrief(c, TaskState(st), int(a)) for c, st, a in data.get("tool_tasks", ())),
            waits=tuple(Wait(k, i, c, d) for k, i, c, d in data.get("waits", ())),
            decisions=tuple(
                Decision(k, i, c, bool(a), t, bool(o)) for k, i, c, a, t, o in data.get("decisions", ())
            ),
        )


# RunState's fields by kind, for scalar_changes (a test checks they cover every field).
_SCALAR_FIELDS = (
    "status",
    "last_seq",
    "message_id",
    "attempt",
    "step",
    "step_open",
    "open_text_id",
    "cancel_requested",
    "rolled_back",
    "finish_reason",
    "error_message",
)
_COLLECTION_FIELDS = ("cut_text_ids", "transcript", "pending_tool_calls", "tool_tasks", "waits", "decisions")


def _evolver() -> Callable[..., RunState]:
    """`dataclasses.replace` for RunState, about 5x cheaper: it was 60 % of planning an append
    batch (every event folds a new state). Generated once, like a dataclass's own __init__: it
    sets each slot through its descriptor (RunState is frozen, has slots and no __post_init__,
    so there is nothing else replace would run), the changed ones from the keywords."""
    names = [f.name for f in fields(RunState)]
    body = "".join(f"    set_{n}(new, c['{n}'] if '{n}' in c else s.{n})\n" for n in names)
    source = (
        "def evolve(s, **c):\n"
        "    if not c.keys() <= known:\n"
        "        raise TypeError(f'RunState has no field(s) {sorted(c.keys() - known)}')\n"
        "    new = make(RunState)\n" + body + "    return new\n"
    )
    scope: dict[str, Any] = {"make": object.__new__, "RunState": RunState, "known": frozenset(names)}
    scope |= {f"set_{n}": getattr(RunState, n).__set__ for n in names}
    exec(source, scope)  # generated from the class's own field names only
    evolve: Callable[..., RunState] = scope["evolve"]
    return evolve


evolve = _evolver()


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
        return evolve(state, status=RunStatus.QUEUED, last_seq=new_seq, message_id=p["message_id"])
    if status is None:
        raise IllegalTransition(f"{t} before run.accepted")
    if status.is_terminal:
        raise IllegalTransition(f"{t} after the run finished ({status.value})")

    s = evolve(state, last_seq=new_seq)
    if t == ev.RUN_STARTED:
        new_status = RunStatus.CANCELING if status == RunStatus.CANCELING else RunStatus.RUNNING
        if new_status == RunStatus.RUNNING and s.waits:
            new_status = RunStatus.WAITING  # a start finds the run still waiting for a human
        return evolve(s, status=new_status, attempt=int(p["attempt"]))
    if t == ev.CANCEL_REQUESTED:
        rolled_back = s.rolled_back or bool(p.get("rollback"))
        return evolve(s, status=RunStatus.CANCELING, cancel_requested=True, rolled_back=rolled_back)
    if t == ev.RUN_QUEUED:
        return _still_queued(s)
    if t == ev.RUN_FINISHED:
        return evolve(
            _cut_open_text(s),
            status=_OUTCOME_STATUS[p["outcome"]],
            finish_reason=p.get("reason", ""),
            error_message=p.get("error_message", ""),
            step_open=False,
            open_text_id="",
        )
    if t not in _WORK_EVENTS:
        raise IllegalTransition(f"unknown event type {t!r}")
    return _settle(_apply_work(s, t, p))


def _still_queued(s: RunState) -> RunState:
    """run.queued is written with run.accepted, before anything else happened to the run."""
    if s.status != RunStatus.QUEUED:
        raise IllegalTransition(f"run.queued in state {s.status}")
    return s


def _settle(s: RunState) -> RunState:
    """A live run waits exactly while it has open waits (a cancel request wins)."""
    if s.status == RunStatus.RUNNING and s.waits:
        return evolve(s, status=RunStatus.WAITING)
    if s.status == RunStatus.WAITING and not s.waits:
        return evolve(s, status=RunStatus.RUNNING)
    return s


def _cut_open_text(s: RunState) -> RunState:
    """A step or the run ends while a message has deltas and no completion: cut off."""
    if not s.open_text_id:
        return s
    return evolve(s, cut_text_ids=(*s.cut_text_ids, s.open_text_id), open_text_id="")


def _apply_work(s: RunState, t: str, p: Any) -> RunState:
    if t == ev.STEP_STARTED:
        return evolve(_cut_open_text(s), step=int(p["step"]), step_open=True)
    if t == ev.STEP_FINISHED:
        return evolve(_cut_open_text(s), step_open=False)
    if t == ev.MESSAGE_DELTA:
        return s if s.open_text_id == p["message_id"] else evolve(s, open_text_id=p["message_id"])
    if t == ev.MESSAGE_COMPLETED:
        msg = ChatMessage(role=p.get("role") or "assistant", content=p["text"], id=p["message_id"])
        return evolve(s, transcript=(*s.transcript, msg), open_text_id="")
    if t == ev.TOOL_CALL_REQUESTED:
        call = ToolCall(p["tool_call_id"], p["tool_name"], p["input_json"])
        msg = ChatMessage(role="assistant", content="", tool_calls=(call,))
        # One task per call id: a repeated request in the same batch is not a second pending call.
        pending = s.pending_tool_calls
        if all(c.id != call.id for c in pending):
            pending = (*pending, call)
        return evolve(s, transcript=(*s.transcript, msg), pending_tool_calls=pending)
    if t == ev.TOOL_RESULT:
        _check_result(s, p)
        call_id = p["tool_call_id"]
        content = p["error_text"] if p.get("is_error") else p["output_json"]
        msg = ChatMessage(role="tool", content=content, tool_call_id=call_id)
        pending = tuple(c for c in s.pending_tool_calls if c.id != call_id)
        return evolve(
            s,
            transcript=(*s.transcript, msg),
            pending_tool_calls=pending,
            tool_tasks=tuple(x for x in s.tool_tasks if x.tool_call_id != call_id),
            waits=tuple(x for x in s.waits if x.tool_call_id != call_id),
            decisions=tuple(x for x in s.decisions if x.tool_call_id != call_id),
        )
    if t in (ev.TOOL_TASK, ev.TOOL_PROGRESS):
        return _apply_task(s, t, p)
    if t in (ev.APPROVAL_REQUESTED, ev.QUESTION_ASKED):
        return _apply_wait(s, WAIT_APPROVAL if t == ev.APPROVAL_REQUESTED else WAIT_QUESTION, p)
    if t in (ev.APPROVAL_DECIDED, ev.QUESTION_ANSWERED):
        return _apply_decision(s, t, p)
    # Checkpoints and external events change no run state.
    return s


def _pending_task(s: RunState, call_id: str, what: str) -> TaskState:
    if all(c.id != call_id for c in s.pending_tool_calls):
        raise IllegalTransition(f"{what} for tool call {call_id!r}, which is not pending")
    task = s.task_of(call_id)
    return task.state if task else TaskState.REQUESTED


def _with_task(s: RunState, brief: TaskBrief) -> RunState:
    others = tuple(x for x in s.tool_tasks if x.tool_call_id != brief.tool_call_id)
    return evolve(s, tool_tasks=(*others, brief))


def _apply_task(s: RunState, t: str, p: Any) -> RunState:
    call_id = p["tool_call_id"]
    current = _pending_task(s, call_id, t)
    task = s.task_of(call_id)
    attempt = task.attempt if task else 0
    if t == ev.TOOL_PROGRESS:
        transition(current, TaskState.STREAMING_OUTPUT)
        return _with_task(s, TaskBrief(call_id, TaskState.STREAMING_OUTPUT, attempt))
    new = TaskState(p["state"])
    if new not in (TaskState.QUEUED, TaskState.RUNNING):
        raise IllegalTransition(f"tool.task cannot record {new.value}; tool.result ends a task")
    new_attempt = int(p.get("attempt", 0) or 0) if new == TaskState.RUNNING else 0
    transition(current, new, attempt=new_attempt, current_attempt=attempt)
    return _with_task(s, TaskBrief(call_id, new, new_attempt))


def _check_result(s: RunState, p: Any) -> None:
    if "state" not in p:  # written before tool tasks existed
        return
    current = _pending_task(s, p["tool_call_id"], "tool.result")
    new = TaskState(p["state"])
    if not new.is_terminal:
        raise IllegalTransition(f"tool.result must end a task, not record {new.value}")
    if p.get("replayed") and current == TaskState.REQUESTED:
        return  # a repeated call id answered with its first task's result
    transition(current, new)


def _apply_wait(s: RunState, kind: str, p: Any) -> RunState:
    call_id = p.get("tool_call_id", "")
    if not call_id:  # a question not tied to a tool call: nothing waits for it
        return s
    current = _pending_task(s, call_id, f"{kind} request")
    wait_id = p["approval_id"] if kind == WAIT_APPROVAL else p["question_id"]
    if current != TaskState.QUEUED:
        raise IllegalTransition(f"a {kind} is asked only for a queued task, not {current.value}")
    if any(w.wait_id == wait_id or w.tool_call_id == call_id for w in s.waits) or any(
        d.wait_id == wait_id for d in s.decisions
    ):
        raise IllegalTransition(f"{kind} {wait_id!r} was already asked")
    deadline = _epoch(p.get("expire_time", ""))
    return evolve(s, waits=(*s.waits, Wait(kind, wait_id, call_id, deadline)))


def _apply_decision(s: RunState, t: str, p: Any) -> RunState:
    kind = WAIT_APPROVAL if t == ev.APPROVAL_DECIDED else WAIT_QUESTION
    wait_id = p["approval_id"] if kind == WAIT_APPROVAL else p["question_id"]
    wait = next((w for w in s.waits if w.wait_id == wait_id and w.kind == kind), None)
    if wait is None:
        if kind == WAIT_QUESTION and not p.get("tool_call_id"):
            return s
        raise IllegalTransition(f"{kind} {wait_id!r} is not open")
    if kind == WAIT_APPROVAL:
        decision = Decision(
            kind,
            wait_id,
            wait.tool_call_id,
            bool(p["approved"]),
            p.get("reason", ""),
            bool(p.get("timed_out")),
        )
    else:
        decision = Decision(kind, wait_id, wait.tool_call_id, True, p.get("answer", ""))
    return evolve(
        s, waits=tuple(w for w in s.waits if w.wait_id != wait_id), decisions=(*s.decisions, decision)
    )


def _epoch(rfc3339: str) -> float | None:
    if not rfc3339:
        return None
    return datetime.fromisoformat(rfc3339).timestamp()


def fold(events: list[ev.Event], start: RunState | None = None) -> RunState:
    state = start or RunState()
    for event in events:
        if event.seq <= state.last_seq:
            continue
        state = apply(state, event)
    return state


def said_messages(state: RunState) -> tuple[ChatMessage, ...]:
    """What the run said to its thread: its completed messages, in order (tool calls and
    results are the run's own plumbing).

    Only `message.completed` puts text into the transcript. Text cut off mid-message
    (its step interrupted: executor lost, lease lost, canceled, failed) has deltas and
    no completion (its id goes to `cut_text_ids`), so it is never part of what the
    model sees next, nor of the read APIs; the redone step's completed message is.
    The SSE says the same with a `data-interrupted` part (core/frames.py).
    """
    return tuple(m for m in state.transcript if m.role != "tool" and not m.tool_calls and m.content)


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
