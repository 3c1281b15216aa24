"""Rows the stores keep besides events: runs and checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .admission import StartPlan
from .events import Event
from .leases import Lease
from .run_state import RunStatus


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    guest_mode: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"allow": list(self.allow), "deny": list(self.deny), "guest_mode": self.guest_mode}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolPolicy:
        return cls(tuple(d.get("allow", ())), tuple(d.get("deny", ())), bool(d.get("guest_mode")))


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A validated StartRun request, as the core and the stores see it.

    `messages` and `context_frames` are JSON-able dicts kept as given.
    `fingerprint` (SHA-256 of its canonical JSON) decides whether a repeated
    StartRun with the same run id is the same request.
    """

    run_id: str
    thread_id: str
    user_id: str = ""
    autopilot_id: str = ""
    authenticated_session: bool = False
    prompt: str = ""
    messages: tuple[dict[str, Any], ...] = ()
    context_frames: tuple[dict[str, Any], ...] = ()
    tool_policy: ToolPolicy = field(default_factory=ToolPolicy)
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "user_id": self.user_id,
            "autopilot_id": self.autopilot_id,
            "authenticated_session": self.authenticated_session,
            "prompt": self.prompt,
            "messages": list(self.messages),
            "context_frames": list(self.context_frames),
            "tool_policy": self.tool_policy.to_json(),
            "model": self.model,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StartRequest:
        return cls(
            run_id=d["run_id"],
            thread_id=d["thread_id"],
            user_id=d.get("user_id", ""),
            autopilot_id=d.get("autopilot_id", ""),
            authenticated_session=bool(d.get("authenticated_session")),
            prompt=d.get("prompt", ""),
            messages=tuple(d.get("messages", ())),
            context_frames=tuple(d.get("context_frames", ())),
            tool_policy=ToolPolicy.from_json(d.get("tool_policy", {})),
            model=d.get("model", ""),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The runs table row: the request plus a summary kept current by every append."""

    request: StartRequest
    fingerprint: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    last_seq: int
    step_count: int = 0
    finish_reason: str = ""
    error_message: str = ""
    # For a waiting run: when its earliest approval or question times out (epoch seconds),
    # RunState.wake_at mirrored by the store; None when nothing can time out.
    wake_at: float | None = None

    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def thread_id(self) -> str:
        return self.request.thread_id


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    run_id: str
    covers_seq: int
    state: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed: the seq of each event, and whether it was a replay.

    `events` are the durable events as stored (with seq and occurred_at), so the
    writer publishes exactly what a later replay reads; empty for a replay.
    """

    seqs: tuple[int, ...]
    replayed: bool = False
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class CreateResult:
    """`events` are the events create_run wrote (seq 1, and seq 2 for a pending cancel);
    `lease` is the creating replica's lease on a run it created, when it asked for one;
    `cancels` the cancel requests it wrote, in the same transaction, on the thread's earlier
    unfinished runs (thread input policy interrupt or rollback), one per run."""

    record: RunRecord
    created: bool
    events: tuple[Event, ...] = ()
    lease: Lease | None = None
    plan: StartPlan | None = None  # how a run created with a start plan starts (core/admission.py)
    cancels: tuple[Event, ...] = ()


@dataclass(slots=True)
class NonceToSpend:
    """A request token's nonce spent in the store transaction of the request's own write
    (StartRun's create_run) instead of a trip of its own. `spent` once that transaction
    committed; otherwise the edge spends it after the call (auth/interceptor.py), so the
    token stays single-use whatever the outcome."""

    value: str
    expires_at_epoch: float
    spent: bool = False


@dataclass(frozen=True, slots=True)
class CancelResult:
    """`recorded` is False when the run had ended or a cancel was already recorded."""

    recorded: bool
    seq: int | None
    pending: bool = False  # the run does not exist yet; the cancel waits for its StartRun
    event: Event | None = None  # the durable cancel event, when one was appended
