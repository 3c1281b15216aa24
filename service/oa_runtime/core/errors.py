"""Domain errors. Each carries the ErrorInfo reason and metadata the edge sends.

The gRPC edge maps `code` (a gRPC status name) to a status; the core never
imports grpc. Reasons are documented in proto/openagents/runtime/v1/error_reason.proto.
"""

from __future__ import annotations

from collections.abc import Mapping

ERROR_DOMAIN = "runtime.openagents.dev"


class DomainError(Exception):
    """A failure with a stable reason that clients can act on."""

    code = "INTERNAL"
    reason = "INTERNAL"
    # The HTTP status the gateway answers instead of the transcoder's mapping of `code`
    # (auth/rpc_status.py `abort_with`); None: the mapping's.
    http_status: str | None = None

    def __init__(self, message: str, **metadata: object) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: Mapping[str, str] = {k: str(v) for k, v in metadata.items()}


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field, problem=problem)
        self.field = field


class UnknownModel(DomainError):
    code = "INVALID_ARGUMENT"
    reason = "UNKNOWN_MODEL"


class InvalidCursor(DomainError):
    code = "INVALID_ARGUMENT"
    reason = "INVALID_CURSOR"


class RunNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "RUN_NOT_FOUND"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found", run_id=run_id)


class ThreadNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "THREAD_NOT_FOUND"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} not found", thread_id=thread_id)


class RunAlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    reason = "RUN_ALREADY_EXISTS"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} already exists with a different request", run_id=run_id)


class SeqConflict(DomainError):
    code = "ABORTED"
    reason = "SEQ_CONFLICT"

    def __init__(self, run_id: str, expected: int, current: int) -> None:
        super().__init__(
            f"run {run_id!r} is at seq {current}, not {expected}",
            run_id=run_id,
            expected_previous_seq=expected,
            current_seq=current,
        )
        self.current_seq = current


class IdempotencyKeyReused(DomainError):
    code = "ABORTED"
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was used with different events", idempotency_key=key)


class StaleCursor(DomainError):
    code = "FAILED_PRECONDITION"
    reason = "STALE_CURSOR"
    http_status = "410"  # Gone: what the product's Laravel side expects for a cursor below the floor

    def __init__(self, cursor: int, oldest_seq: int) -> None:
        super().__init__(
            f"cursor {cursor} is older than the retained history (oldest seq {oldest_seq})",
            cursor=cursor,
            oldest_seq=oldest_seq,
        )


class RunFinished(DomainError):
    code = "FAILED_PRECONDITION"
    reason = "RUN_FINISHED"

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id!r} has ended ({state})", run_id=run_id, state=state)


class IllegalTransition(DomainError):
    """A state machine rejected an event; a bug or a race lost, never client input."""

    code = "FAILED_PRECONDITION"
    reason = "RUN_FINISHED"


class InvalidToken(DomainError):
    code = "UNAUTHENTICATED"
    reason = "INVALID_TOKEN"

    def __init__(self, problem: str) -> None:
        super().__init__(f"invalid service token: {problem}", problem=problem)


class ClaimMismatch(DomainError):
    code = "PERMISSION_DENIED"
    reason = "CLAIM_MISMATCH"

    def __init__(self, claim: str) -> None:
        super().__init__(f"token claim {claim!r} does not match the request", claim=claim)


class UnboundToken(DomainError):
    """A token that names no run, thread or user, and is not an accepted service token."""

    code = "PERMISSION_DENIED"
    reason = "UNBOUND_TOKEN"

    def __init__(self, problem: str) -> None:
        super().__init__(f"the token is not bound to a run, thread or user: {problem}", problem=problem)


class NotThreadOwner(DomainError):
    code = "PERMISSION_DENIED"
    reason = "NOT_THREAD_OWNER"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} belongs to another user", thread_id=thread_id)


class MalformedRequest(DomainError):
    """The request could not be decoded at all (bytes that are not a valid message)."""

    code = "INVALID_ARGUMENT"
    reason = "MALFORMED_REQUEST"

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed request: {problem}", problem=problem)


class InternalError(DomainError):
    code = "INTERNAL"
    reason = "INTERNAL"


class DependencyUnavailable(DomainError):
    code = "UNAVAILABLE"
    reason = "DEPENDENCY_UNAVAILABLE"

    def __init__(self, dependency: str, detail: str = "") -> None:
        super().__init__(
            f"{dependency} is unavailable" + (f": {detail}" if detail else ""),
            dependency=dependency,
        )


class NotReady(DomainError):
    code = "UNAVAILABLE"
    reason = "NOT_READY"


class FencedOff(DomainError):
    """An executor's lease was taken over; its writes are refused."""

    code = "ABORTED"
    reason = "SEQ_CONFLICT"


# ----- tool tasks, approvals and questions -----


class ToolTaskNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "TOOL_TASK_NOT_FOUND"

    def __init__(self, run_id: str, tool_call_id: str) -> None:
        super().__init__(
            f"run {run_id!r} has no tool call {tool_call_id!r}", run_id=run_id, tool_call_id=tool_call_id
        )


class ApprovalNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "APPROVAL_NOT_FOUND"

    def __init__(self, run_id: str, approval_id: str) -> None:
        super().__init__(
            f"run {run_id!r} has no approval {approval_id!r}", run_id=run_id, approval_id=approval_id
        )


class QuestionNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "QUESTION_NOT_FOUND"

    def __init__(self, run_id: str, question_id: str) -> None:
        super().__init__(
            f"run {run_id!r} has no question {question_id!r}", run_id=run_id, question_id=question_id
        )


class AlreadyDecided(DomainError):
    """An approval was decided (or timed out), or a question answered, otherwise."""

    code = "ALREADY_EXISTS"
    reason = "ALREADY_DECIDED"

    def __init__(self, what: str, wait_id: str, decision: str) -> None:
        super().__init__(f"{what} {wait_id!r} is already {decision}", id=wait_id, decision=decision)


class NotImplementedYet(DomainError):
    """A documented part of the contract whose engine does not exist in this build."""

    code = "UNIMPLEMENTED"
    reason = "NOT_IMPLEMENTED"

    def __init__(self, what: str, **metadata: object) -> None:
        super().__init__(f"{what} is not implemented yet", **metadata)


class MemoryChunkNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "MEMORY_CHUNK_NOT_FOUND"

    def __init__(self, chunk_id: str) -> None:
        super().__init__(f"memory chunk {chunk_id!r} not found", chunk_id=chunk_id)


class MemoryQueryNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "MEMORY_QUERY_NOT_FOUND"

    def __init__(self, query_id: str) -> None:
        super().__init__(f"memory query {query_id!r} not found", query_id=query_id)


class MemoryQueryAlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    reason = "MEMORY_QUERY_ALREADY_EXISTS"

    def __init__(self, query_id: str) -> None:
        message = f"memory query {query_id!r} exists with another question or range"
        super().__init__(message, query_id=query_id)
