"""An agent as the product's UI lists it: its row in the Laravel read models (`agents`)
and the payload of its sync document (`runtime/agent_summary:<agent_id>`). Pure.

Both come from the agent's row (the inline projection of its stream, store/agents.py), so
they change exactly when the agent's stream does. The lease (owner, token, expiry) is left
out: it changes without an event, and which replica runs an agent is no UI's business.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .agents.record import AgentRecord
from .agents.state import turn_run_id


@dataclass(frozen=True, slots=True)
class AgentRow:
    """The columns (README "Read models for Laravel", `agents`; docs/SYNC.md)."""

    agent_id: str
    thread_id: str
    user_id: int | None  # Laravel's users.id; None: no owner
    parent_agent_id: str  # '' unless a child agent (the delegate tool)
    state: str  # sleeping | awake | running | paused | failed
    model: str  # the model the next turn uses (an escalation model after failures)
    pause_reason: str  # a paused agent: why ('' otherwise)
    pause_detail: str
    pause_until: datetime | None  # resumes by itself then (an open circuit); None: a human wakes it
    failure_reason: str  # a failed agent: a stable code
    error_message: str
    current_run_id: str  # the running turn's run ('' unless running)
    last_turn_run_id: str  # the latest turn's run ('' before the first turn)
    last_turn_outcome: str  # of the latest finished turn: succeeded | failed | canceled | ...
    turn_count: int
    pending_frame_count: int
    last_seq: int  # the agent stream's latest event folded into this row
    wake_at: datetime | None  # a sleeping agent: when a timer, schedule or restart wakes it
    created_at: datetime
    updated_at: datetime  # the agent's latest event


@dataclass(frozen=True, slots=True)
class AgentTouched:
    """An agent event at `position`: the agent's row changed (the read models' change)."""

    agent_id: str
    position: int


def agent_row(record: AgentRecord) -> AgentRow:
    s = record.state
    assert s.spec is not None and s.status is not None
    pause = s.pause
    return AgentRow(
        agent_id=s.spec.agent_id,
        thread_id=s.spec.thread_id,
        user_id=s.spec.user_id or None,
        parent_agent_id=s.spec.parent_agent_id,
        state=s.status.value,
        model=s.model,
        pause_reason=pause.reason if pause else "",
        pause_detail=pause.detail if pause else "",
        pause_until=pause.until if pause else None,
        failure_reason=s.failure_reason,
        error_message=s.error_message,
        current_run_id=s.turn.run_id if s.turn else "",
        last_turn_run_id=turn_run_id(s.spec.agent_id, s.turns) if s.turns else "",
        last_turn_outcome=s.last_outcome,
        turn_count=s.turns,
        pending_frame_count=len(s.pending),
        last_seq=s.last_seq,
        wake_at=record.wake_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def agent_payload(row: AgentRow) -> dict[str, Any]:
    """The sync document's payload: the row, times as ISO-8601 UTC."""
    return {
        k: v.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(v, datetime) else v
        for k, v in asdict(row).items()
    }
