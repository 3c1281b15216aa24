"""An agent as the supervisor of its children, OTP `one_for_one`, decided on its recorded state.

Children are child agents (their own agents, `<agent id>.<child>`) and sub-runs (runs on their
own threads, tracked in the parent's state). When a child fails -- a sub-run's run FAILED, a
child agent PAUSED by its own supervision or FAILED -- its report reaches the parent exactly
once (the child's `stop_due` outbox, or the sub-run's attempt run id) and the parent decides:
- `restart_child`: that child alone starts again (a sub-run's next attempt; a child agent is
  resumed), while fewer than `max_child_restarts` restarts of any child fell within
  `child_restart_window` (the restart intensity);
- `escalate`: beyond it, the parent handles the failure as its own: it pauses with reason
  `child_escalated` (at once, or once its running turn ends), and the child's failure reaches
  the parent's model as a frame.
Each decision is an `agent.supervision_decision` event with `child_id` and `report_id`; a
report seen before answers the decision recorded then (a retry after a crash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events import NewEvent
from ..records import StartRequest
from . import events as ev
from .inputs import FrameIn, accept_frames
from .state import AgentState, AgentStatus, SubRun, apply

ACTION_NONE = "none"  # nothing to decide (a self-resuming pause, no parent)


def subrun_id(turn_run_id: str, tool_call_id: str) -> str:
    """The sub-run's id, derived from the tool call that started it: the same call (a retried
    tool task, a replayed turn) starts the same sub-run."""
    return hashlib.blake2b(f"{turn_run_id}\x00{tool_call_id}".encode(), digest_size=8).hexdigest()


def subrun_run_id(agent_id: str, sub_id: str, attempt: int) -> str:
    """The run of a sub-run's attempt (deterministic: starting it again is idempotent)."""
    return f"{agent_id}:sub:{sub_id}:{attempt}"


def subrun_frame_id(sub_id: str) -> str:
    """The one tool_result frame that brings a sub-run's result to its parent."""
    return f"subrun:{sub_id}"


def subrun_request(parent: AgentState, sub: SubRun, started: Mapping[str, Any]) -> StartRequest:
    """The StartRun request of the sub-run's current attempt, from the parent's definition and
    its `agent.subrun_started` payload alone (the same request after a crash)."""
    spec = parent.spec
    assert spec is not None
    context: list[dict[str, Any]] = []
    if started.get("instructions") or spec.instructions:
        context.append(
            {"type": "agent_instructions", "text": started.get("instructions") or spec.instructions}
        )
    context.append(
        {"type": "sub_run", "agent_id": spec.agent_id, "sub_id": sub.sub_id, "attempt": sub.attempt}
    )
    return StartRequest(
        run_id=sub.run_id,
        thread_id=sub.thread_id,
        user_id=str(spec.user_id) if spec.user_id else "",
        prompt=str(started["text"]),
        context_frames=tuple(context),
        tool_policy=spec.tool_policy,
        model=parent.model,
    )


@dataclass(frozen=True, slots=True)
class ChildFailure:
    """A child's failure as its parent is told of it."""

    child_id: str  # a child agent's id, or a sub-run's id
    report_id: str  # deduplicates the report
    run_id: str  # the failed run (a sub-run's attempt, a child agent's last turn; may be "")
    reason: str
    detail: str
    frame: FrameIn  # what the parent's model is told if the failure escalates
    next_run_id: str = ""  # a sub-run: the run of its next attempt
    attempt: int = 0  # a sub-run: the failed attempt
    extra: Sequence[NewEvent] = field(default_factory=tuple)  # recorded with an escalation


def decide_child_failure(parent: AgentState, failure: ChildFailure, now: datetime) -> list[NewEvent]:
    """The parent's decision on its child's failure (nothing when this report was decided)."""
    assert parent.spec is not None
    if any(r == failure.report_id for r, _ in parent.child_reports):
        return []
    policy = parent.spec.supervision
    window = policy.child_restart_window
    recent = [r for r in parent.child_restarts if r > now - window]
    if len(recent) < policy.max_child_restarts:
        detail = (
            f"restart {len(recent) + 1} of at most {policy.max_child_restarts} within {window}:"
            f" {failure.detail}"
        )
        return [
            ev.supervision_decision(
                ev.ACT_RESTART_CHILD,
                failure.reason,
                run_id=failure.next_run_id or failure.run_id,
                at=now,
                detail=detail,
                attempt=failure.attempt + 1 if failure.attempt else 0,
                child_id=failure.child_id,
                report_id=failure.report_id,
            )
        ]
    detail = (
        f"child {failure.child_id} failed ({failure.reason}) after {len(recent)} restarts"
        f" within {window}: {failure.detail}"
    )
    decision = ev.supervision_decision(
        ev.ACT_ESCALATE,
        failure.reason,
        run_id=failure.run_id,
        at=now,
        detail=detail,
        child_id=failure.child_id,
        report_id=failure.report_id,
    )
    out = [decision]
    out += failure.extra
    state = parent
    for event in out:
        state = apply(state, event)
    if state.status != AgentStatus.FAILED:
        out += accept_frames(state, [failure.frame], now).events
    if state.status in (AgentStatus.AWAKE, AgentStatus.SLEEPING):
        out.append(ev.paused(ev.PAUSE_CHILD_ESCALATED, detail, now))
    return out


def decided_action(parent: AgentState, report_id: str) -> str:
    """What the parent decided on the report `report_id` ("" if it has not)."""
    return next((a for r, a in parent.child_reports if r == report_id), "")
