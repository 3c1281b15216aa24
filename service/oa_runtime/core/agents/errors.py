"""Agent domain errors; reasons documented in proto/openagents/runtime/v1/error_reason.proto."""

from __future__ import annotations

from ..errors import DomainError


class AgentNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "AGENT_NOT_FOUND"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} not found", agent_id=agent_id)


class AgentAlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    reason = "AGENT_ALREADY_EXISTS"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} already exists with a different definition", agent_id=agent_id)


class AgentBusy(DomainError):
    """The agent's input policy is `reject` and a turn is running (HTTP 409)."""

    code = "ABORTED"
    reason = "AGENT_BUSY"

    def __init__(self, agent_id: str, run_id: str) -> None:
        super().__init__(f"agent {agent_id!r} is running turn {run_id!r}", agent_id=agent_id, run_id=run_id)
        self.run_id = run_id


class AgentFailed(DomainError):
    code = "FAILED_PRECONDITION"
    reason = "AGENT_FAILED"

    def __init__(self, agent_id: str, failure_reason: str) -> None:
        super().__init__(
            f"agent {agent_id!r} has failed ({failure_reason})",
            agent_id=agent_id,
            failure_reason=failure_reason,
        )


class FrameConflict(DomainError):
    """A frame id the agent already has, sent with a different body."""

    code = "ALREADY_EXISTS"
    reason = "FRAME_CONFLICT"

    def __init__(self, agent_id: str, frame_id: str) -> None:
        super().__init__(
            f"agent {agent_id!r} already has frame {frame_id!r} with a different body",
            agent_id=agent_id,
            frame_id=frame_id,
        )


class NotAgentTurn(DomainError):
    """An agent's built-in tool called from a run that is not its agent's running turn."""

    code = "FAILED_PRECONDITION"
    reason = "NOT_AGENT_TURN"

    def __init__(self, run_id: str, detail: str) -> None:
        super().__init__(f"run {run_id!r} {detail}", run_id=run_id)
