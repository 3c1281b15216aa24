"""An agent row as the store keeps it: the fold of the agent's stream plus what the row adds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .state import AgentState


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent row: its folded state (which is also its checkpoint) and what the row adds."""

    state: AgentState
    fingerprint: str  # of the definition (CreateAgent is idempotent by it)
    created_at: datetime
    updated_at: datetime
    wake_at: datetime | None  # when it needs an executor; None: only a frame or WakeAgent
