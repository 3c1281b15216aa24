"""Codex workers, pure: event types, the status machine, the fold, the decisions, the heartbeat.

A worker is a stream of its own: its summary (`WorkerState`) is the fold of its events
(`apply`). The use cases ask `decide_*` what to append; the store runs that decision inside
its transaction, with the worker's current state, and folds what it wrote. Nothing here
reads a clock: times come from the events, and the heartbeat takes an injected `now`.

Status machine (the arrows are the only moves an event may make):

    starting → running | stopping | failed
    running  → stopping | stopped | failed
    stopping → stopped | failed
    stopped | failed → starting   (only by reattaching: CreateCodexWorker)

Any other mutation of a stopped or failed worker is WorkerStateConflict (HTTP 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from .canonical import canonical_json
from .errors import DomainError
from .events import new_event_id


class WorkerStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self not in (WorkerStatus.STOPPED, WorkerStatus.FAILED)


S = WorkerStatus
TRANSITIONS: Final[Mapping[WorkerStatus, frozenset[WorkerStatus]]] = {
    S.STARTING: frozenset({S.RUNNING, S.STOPPING, S.FAILED}),
    S.RUNNING: frozenset({S.STOPPING, S.STOPPED, S.FAILED}),
    S.STOPPING: frozenset({S.STOPPED, S.FAILED}),
    S.STOPPED: frozenset(),
    S.FAILED: frozenset(),
}

# Written by the runtime.
WORKER_CREATED: Final = "worker.created"
WORKER_REATTACHED: Final = "worker.reattached"
WORKER_STOP_REQUESTED: Final = "worker.stop_requested"
# Written by the runtime for a control request (POST .../requests), or reported.
WORKER_REQUEST_RECEIVED: Final = "worker.request.received"
# Reported by the worker (POST .../events); each refreshes the heartbeat.
WORKER_STARTED: Final = "worker.started"
WORKER_STOPPED: Final = "worker.stopped"
WORKER_ERROR: Final = "worker.error"
WORKER_HEARTBEAT: Final = "worker.heartbeat"
WORKER_EVENT: Final = "worker.event"

REPORTED_TYPES: Final = frozenset(
    {WORKER_STARTED, WORKER_STOPPED, WORKER_ERROR, WORKER_HEARTBEAT, WORKER_EVENT, WORKER_REQUEST_RECEIVED}
)
# The status a reported event moves the worker to; the others leave it where it is.
_MOVES: Final[Mapping[str, WorkerStatus]] = {
    WORKER_STARTED: S.RUNNING,
    WORKER_STOPPED: S.STOPPED,
    WORKER_ERROR: S.FAILED,
}
IMMUTABLE_FIELDS: Final = ("owner", "workspace_ref", "codex_home_ref", "adapter")
DEFAULT_STALE_AFTER_MS: Final = 120_000


# ----- errors (the edge maps code and reason) -----


class WorkerNotFound(DomainError):
    code = "NOT_FOUND"
    reason = "WORKER_NOT_FOUND"

    def __init__(self, worker_id: str) -> None:
        super().__init__(f"codex worker {worker_id!r} not found", worker_id=worker_id)


class WorkerAlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    reason = "WORKER_ALREADY_EXISTS"

    def __init__(self, worker_id: str, field_name: str) -> None:
        super().__init__(
            f"codex worker {worker_id!r} already exists with another {field_name}",
            worker_id=worker_id,
            field=field_name,
        )


class WorkerStateConflict(DomainError):
    """Over HTTP a 409: ABORTED is the code Envoy maps to 409 (FAILED_PRECONDITION is 400)."""

    code = "ABORTED"
    reason = "WORKER_STATE_CONFLICT"

    def __init__(self, worker_id: str, status: WorkerStatus, action: str) -> None:
        hint = "; create or reattach to resume" if not status.is_active else ""
        super().__init__(
            f"codex worker {worker_id!r} is {status.value}: cannot {action}{hint}",
            worker_id=worker_id,
            status=status.value,
            action=action,
        )


class WorkerRequestConflict(DomainError):
    code = "ALREADY_EXISTS"
    reason = "WORKER_REQUEST_CONFLICT"

    def __init__(self, worker_id: str, request_id: str) -> None:
        super().__init__(
            f"request {request_id!r} to codex worker {worker_id!r} was already made with other fields",
            worker_id=worker_id,
            request_id=request_id,
        )


# ----- events and state -----


@dataclass(frozen=True, slots=True)
class NewWorkerEvent:
    """An event not yet appended: the store gives it a seq and a time."""

    type: str
    payload: Mapping[str, Any]
    event_id: str = field(default_factory=new_event_id)


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    """A durable event of a worker's stream."""

    worker_id: str
    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    position: int = 0  # its place in the global log (0 when not known)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What CreateCodexWorker asks for. Empty strings mean "not given"."""

    worker_id: str
    owner: str  # canonical user id ("" = none)
    workspace_ref: str = ""
    codex_home_ref: str = ""
    adapter: str = ""
    metadata: Mapping[str, Any] | None = None  # None: not given

    def to_payload(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "workspace_ref": self.workspace_ref,
            "codex_home_ref": self.codex_home_ref,
            "adapter": self.adapter,
            "metadata": dict(self.metadata or {}),
        }


@dataclass(frozen=True, slots=True)
class WorkerState:
    """A worker's summary: the fold of its stream."""

    worker_id: str
    owner: str
    status: WorkerStatus
    workspace_ref: str
    codex_home_ref: str
    adapter: str
    metadata: Mapping[str, Any]
    latest_seq: int
    created_at: datetime
    updated_at: datetime
    last_heartbeat_at: datetime | None = None  # latest reported event since (re)attaching
    stopped_at: datetime | None = None
    stop_reason: str = ""
    last_error: str = ""
    reattach_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "owner": self.owner,
            "status": self.status.value,
            "workspace_ref": self.workspace_ref,
            "codex_home_ref": self.codex_home_ref,
            "adapter": self.adapter,
            "metadata": dict(self.metadata),
            "latest_seq": self.latest_seq,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_heartbeat_at": _iso(self.last_heartbeat_at),
            "stopped_at": _iso(self.stopped_at),
            "stop_reason": self.stop_reason,
            "last_error": self.last_error,
            "reattach_count": self.reattach_count,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> WorkerState:
        return cls(
            worker_id=doc["worker_id"],
            owner=doc["owner"],
            status=WorkerStatus(doc["status"]),
            workspace_ref=doc["workspace_ref"],
            codex_home_ref=doc["codex_home_ref"],
            adapter=doc["adapter"],
            metadata=doc["metadata"],
            latest_seq=doc["latest_seq"],
            created_at=datetime.fromisoformat(doc["created_at"]),
            updated_at=datetime.fromisoformat(doc["updated_at"]),
            last_heartbeat_at=_time(doc.get("last_heartbeat_at")),
            stopped_at=_time(doc.get("stopped_at")),
            stop_reason=doc.get("stop_reason", ""),
            last_error=doc.get("last_error", ""),
            reattach_count=doc.get("reattach_count", 0),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class IllegalWorkerEvent(DomainError):
    """The fold met an event its state machine has no arrow for (a bug: decide_* refuses first)."""

    code = "INTERNAL"
    reason = "INTERNAL"


def apply(state: WorkerState | None, event: WorkerEvent) -> WorkerState:
    """The worker after `event`. Raises IllegalWorkerEvent for a move the machine forbids."""
    if state is None:
        if event.type != WORKER_CREATED:
            raise IllegalWorkerEvent(f"a worker's stream starts with {WORKER_CREATED}, not {event.type}")
        p = event.payload
        return WorkerState(
            worker_id=event.worker_id,
            owner=p["owner"],
            status=S.STARTING,
            workspace_ref=p["workspace_ref"],
            codex_home_ref=p["codex_home_ref"],
            adapter=p["adapter"],
            metadata=p["metadata"],
            latest_seq=event.seq,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if event.seq != state.latest_seq + 1:
        raise IllegalWorkerEvent(f"seq {event.seq} does not follow {state.latest_seq}")
    state = replace(state, latest_seq=event.seq, updated_at=event.occurred_at)
    if event.type == WORKER_REATTACHED:
        if state.status.is_active:
            raise IllegalWorkerEvent(f"reattaching a {state.status.value} worker")
        metadata = event.payload.get("metadata")
        return replace(
            state,
            status=S.STARTING,
            metadata=state.metadata if metadata is None else metadata,
            last_heartbeat_at=None,
            stopped_at=None,
            stop_reason="",
            reattach_count=state.reattach_count + 1,
        )
    if event.type == WORKER_STOP_REQUESTED:
        state = _move(state, S.STOPPING)
        return replace(state, stop_reason=str(event.payload.get("reason", "")))
    if event.type in REPORTED_TYPES:
        if not state.status.is_active:
            raise IllegalWorkerEvent(f"{event.type} on a {state.status.value} worker")
        state = replace(state, last_heartbeat_at=event.occurred_at)
        target = _MOVES.get(event.type)
        if event.type == WORKER_ERROR:
            state = replace(state, last_error=str(event.payload.get("message", "")) or "worker error")
        if target is not None and target != state.status:
            state = _move(state, target)
        return state
    raise IllegalWorkerEvent(f"unknown worker event type {event.type!r}")


def _move(state: WorkerState, target: WorkerStatus) -> WorkerState:
    if target not in TRANSITIONS[state.status]:
        raise IllegalWorkerEvent(f"{state.status.value} → {target.value}")
    ended = state.updated_at if not target.is_active else None
    return replace(state, status=target, stopped_at=ended)


# ----- decisions: what a command appends, given the worker's current state -----


@dataclass(frozen=True, slots=True)
class PriorRequest:
    """A control request recorded earlier under the same request id."""

    fingerprint: str
    seq: int


@dataclass(frozen=True, slots=True)
class WorkerDecision:
    """Events to append (none: an idempotent replay), and a request to remember."""

    events: tuple[NewWorkerEvent, ...] = ()
    request: tuple[str, str] | None = None  # (request_id, fingerprint)
    replayed_seq: int | None = None  # a replayed control request's original seq

    @property
    def replay(self) -> bool:
        return not self.events


def decide_create(state: WorkerState | None, spec: WorkerSpec) -> WorkerDecision:
    """Create, reattach (a stopped or failed worker), or replay (the same request again)."""
    if state is None:
        return WorkerDecision((NewWorkerEvent(WORKER_CREATED, spec.to_payload()),))
    for name in IMMUTABLE_FIELDS:
        given = getattr(spec, name)
        if given and given != getattr(state, name):
            raise WorkerAlreadyExists(state.worker_id, name)
    if state.status.is_active:
        if spec.metadata is not None and dict(spec.metadata) != dict(state.metadata):
            raise WorkerAlreadyExists(state.worker_id, "metadata")
        return WorkerDecision()
    payload: dict[str, Any] = {"from_status": state.status.value}
    if spec.metadata is not None:
        payload["metadata"] = dict(spec.metadata)
    return WorkerDecision((NewWorkerEvent(WORKER_REATTACHED, payload),))


def decide_stop(state: WorkerState, reason: str) -> WorkerDecision:
    """Stopping and stopped workers answer as they are; a failed one cannot be stopped."""
    if state.status in (S.STOPPING, S.STOPPED):
        return WorkerDecision()
    if state.status == S.FAILED:
        raise WorkerStateConflict(state.worker_id, state.status, "stop")
    return WorkerDecision((NewWorkerEvent(WORKER_STOP_REQUESTED, {"reason": reason}),))


def decide_request(
    state: WorkerState, request_id: str, request: Mapping[str, Any], prior: PriorRequest | None
) -> WorkerDecision:
    """Records a control request once per request id; only a starting or running worker takes one."""
    fingerprint = canonical_json(dict(request))
    if prior is not None:
        if prior.fingerprint != fingerprint:
            raise WorkerRequestConflict(state.worker_id, request_id)
        return WorkerDecision(replayed_seq=prior.seq)
    if state.status not in (S.STARTING, S.RUNNING):
        raise WorkerStateConflict(state.worker_id, state.status, "take a request")
    event = NewWorkerEvent(WORKER_REQUEST_RECEIVED, dict(request))
    return WorkerDecision((event,), request=(request_id, fingerprint))


def decide_report(state: WorkerState, event_type: str, payload: Mapping[str, Any]) -> WorkerDecision:
    """An event the worker reports; a status move must be an arrow of the machine."""
    if not state.status.is_active:
        raise WorkerStateConflict(state.worker_id, state.status, f"record {event_type}")
    target = _MOVES.get(event_type)
    if target is not None and target != state.status and target not in TRANSITIONS[state.status]:
        raise WorkerStateConflict(state.worker_id, state.status, f"record {event_type}")
    return WorkerDecision((NewWorkerEvent(event_type, dict(payload)),))


# ----- heartbeat -----


class HeartbeatState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    state: HeartbeatState
    age_ms: int | None  # None: nothing reported since (re)attaching
    stale_after_ms: int


def heartbeat(worker: WorkerState, now: datetime, stale_after_ms: int = DEFAULT_STALE_AFTER_MS) -> Heartbeat:
    """The worker's heartbeat as of `now`: a stopped or failed status says so; otherwise the
    age of its latest reported event decides (older than `stale_after_ms` is stale)."""
    age = None
    if worker.last_heartbeat_at is not None:
        # Integer division of timedeltas: float seconds * 1000 would read 1.001 s as 1000 ms.
        age = max(0, (now - worker.last_heartbeat_at) // timedelta(milliseconds=1))
    if worker.status == S.STOPPED:
        state = HeartbeatState.STOPPED
    elif worker.status == S.FAILED:
        state = HeartbeatState.FAILED
    elif age is None:
        state = HeartbeatState.MISSING
    else:
        state = HeartbeatState.FRESH if age <= stale_after_ms else HeartbeatState.STALE
    return Heartbeat(state, age, stale_after_ms)
