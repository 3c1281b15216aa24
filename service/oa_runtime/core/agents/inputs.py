"""Frames arriving, and the wake and sleep requests: pure decisions whose events record them.

While a turn runs, user prompts and signals follow the agent's input policy (spec.InputPolicy);
frames the runtime or child work makes (cron ticks, timers, tool results, system frames) are
always enqueued: refusing one would lose it, since nobody sends it again.
A batch is all or nothing: under `reject`, a batch holding any prompt or signal is refused whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..canonical import canonical_json
from ..errors import InvalidArgument
from ..events import NewEvent
from ..validation import require_id
from . import events as ev
from .errors import AgentBusy, AgentFailed, FrameConflict
from .spec import InputPolicy
from .state import AgentState, AgentStatus

POLICY_KINDS = frozenset({ev.FRAME_USER_PROMPT, ev.FRAME_SIGNAL})
CLIENT_KINDS = ev.FRAME_KINDS - {ev.FRAME_TIMER}
RESERVED_PREFIXES = ("cron:", "timer:")  # the runtime's own frame ids
MAX_FRAMES_PER_CALL = 100
MAX_FRAME_BYTES = 256 * 1024  # text and data of one frame, as JSON
MAX_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FrameIn:
    """A frame as a client sends it (validated at the edge)."""

    frame_id: str
    kind: str
    text: str = ""
    data: Mapping[str, Any] | None = None
    occurred_at: str = ""  # RFC 3339, as the client gave it ("" when not given)

    @property
    def digest(self) -> str:
        return ev.frame_digest(self.kind, self.text, self.data, self.occurred_at)


@dataclass(frozen=True, slots=True)
class FramesOutcome:
    events: tuple[NewEvent, ...]
    accepted: tuple[str, ...]  # frame ids recorded now
    duplicates: tuple[str, ...] = ()  # already received with the same body: nothing recorded
    rejected_by_run: str = ""  # under `reject`: the running run (the edge answers AgentBusy)
    policy: str = ""  # the policy applied, when a turn was running
    outcome: str = ""


def validate_frames(frames: Sequence[FrameIn]) -> None:
    """SubmitFrames' checks, naming the bad field."""
    if not 1 <= len(frames) <= MAX_FRAMES_PER_CALL:
        raise InvalidArgument("frames", f"must have 1-{MAX_FRAMES_PER_CALL} entries")
    total = 0
    for i, f in enumerate(frames):
        require_id(f"frames[{i}].frame_id", f.frame_id)
        if f.frame_id.startswith(RESERVED_PREFIXES):
            raise InvalidArgument(f"frames[{i}].frame_id", "must not start with cron: or timer:")
        if f.kind not in CLIENT_KINDS:
            raise InvalidArgument(
                f"frames[{i}].kind", "must be user_prompt, signal, cron_tick, tool_result or system"
            )
        size = len(canonical_json([f.text, dict(f.data or {})]).encode("utf-8"))
        if size > MAX_FRAME_BYTES:
            raise InvalidArgument(f"frames[{i}]", f"text and data must be at most {MAX_FRAME_BYTES} bytes")
        if not f.text.strip() and not f.data:
            raise InvalidArgument(f"frames[{i}].text", "is required unless data is given")
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidArgument("frames", f"must be at most {MAX_BATCH_BYTES} bytes together")


def accept_frames(state: AgentState, frames: Sequence[FrameIn], now: datetime) -> FramesOutcome:
    """The events that record `frames` arriving now. Raises AgentFailed or
    FrameConflict (a known frame id with another body); a repeated identical frame is a duplicate."""
    _require_live(state)
    assert state.spec is not None
    fresh: list[FrameIn] = []
    duplicates: list[str] = []
    for frame in frames:
        known = state.knows_frame(frame.frame_id) or next(
            (f.digest for f in fresh if f.frame_id == frame.frame_id), None
        )
        if known is None:
            fresh.append(frame)
        elif known == frame.digest:
            duplicates.append(frame.frame_id)
        else:
            raise FrameConflict(state.agent_id, frame.frame_id)
    received = [
        ev.frame_received(
            f.frame_id, f.kind, text=f.text, data=f.data, occurred_at=f.occurred_at, received_at=now
        )
        for f in fresh
    ]
    ids = tuple(f.frame_id for f in fresh)
    turn = state.turn
    if turn is None or not fresh:
        return FramesOutcome(tuple(received), ids, tuple(duplicates))
    policy = state.spec.input_policy
    if not any(f.kind in POLICY_KINDS for f in fresh):
        policy = InputPolicy.ENQUEUE
    if policy == InputPolicy.REJECT:
        record = ev.input_policy_applied(policy.value, ids, turn.run_id, ev.OUTCOME_REJECTED)
        return FramesOutcome((record,), (), tuple(duplicates), turn.run_id, policy.value, ev.OUTCOME_REJECTED)
    if policy == InputPolicy.ENQUEUE:
        outcome = ev.OUTCOME_QUEUED
    elif turn.cancel_reason:
        outcome = ev.OUTCOME_ALREADY_CANCELING
    else:
        outcome = ev.OUTCOME_CANCEL_REQUESTED
    record = ev.input_policy_applied(policy.value, ids, turn.run_id, outcome)
    return FramesOutcome((*received, record), ids, tuple(duplicates), "", policy.value, outcome)


def refuse_if_busy(outcome: FramesOutcome, agent_id: str) -> None:
    """For the edge: a rejected batch is a 409 naming the running run."""
    if outcome.rejected_by_run:
        raise AgentBusy(agent_id, outcome.rejected_by_run)


def request_wake(state: AgentState, now: datetime) -> list[NewEvent]:
    """WakeAgent: a sleeping agent wakes, a paused one resumes (a human looked at it);
    awake or running: nothing to record."""
    _require_live(state)
    if state.status == AgentStatus.SLEEPING:
        return [ev.woken(ev.WAKE_REQUESTED, now)]
    if state.status == AgentStatus.PAUSED:
        return [ev.resumed(ev.RESUME_REQUESTED, now)]
    return []


def request_sleep(state: AgentState, by: str = "") -> list[NewEvent]:
    """SleepAgent: the running turn finishes, then the agent sleeps; frames arriving meanwhile
    wait for the next wake. Already sleeping with the hold, or paused: nothing to record."""
    _require_live(state)
    if state.status == AgentStatus.PAUSED or (state.status == AgentStatus.SLEEPING and state.hold):
        return []
    if state.sleep_requested:
        return []
    return [ev.sleep_requested(by)]


def _require_live(state: AgentState) -> None:
    """The caller answers AgentNotFound for an agent without events; a failed one refuses."""
    if state.spec is None:
        raise ValueError("the agent has no events: the caller answers AgentNotFound")
    if state.status == AgentStatus.FAILED:
        raise AgentFailed(state.agent_id, state.failure_reason)
