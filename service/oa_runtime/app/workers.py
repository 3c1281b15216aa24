"""Codex workers: create or reattach, read, list, control requests, stop, reported events.

Each use case validates its input, then hands the store a pure decision (`core/workers.py`)
that runs inside the store's transaction on the worker's current state, and wakes the
worker's live readers. Heartbeats are computed on read, from the injected clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core.canonical import canonical_json
from ..core.errors import InvalidArgument
from ..core.validation import require_depth, require_id
from ..core.workers import (
    DEFAULT_STALE_AFTER_MS,
    REPORTED_TYPES,
    Heartbeat,
    PriorRequest,
    WorkerDecision,
    WorkerNotFound,
    WorkerSpec,
    WorkerState,
    WorkerStatus,
    decide_create,
    decide_report,
    decide_request,
    decide_stop,
    heartbeat,
)
from ..engine.worker_streams import WorkerHub
from ..ports import WorkerStore, WorkerUpdate
from .paging import decode_page_token, encode_page_token

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_METADATA_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024
# Field length limits, as Laravel validates them before proxying.
_LIMITS = {
    "workspace_ref": 255,
    "codex_home_ref": 255,
    "adapter": 120,
    "reason": 255,
    "request.request_id": 160,
    "request.method": 120,
    "request.request_version": 32,
    "request.sent_at": 64,
    "request.source": 120,
    "request.session_id": 160,
    "request.thread_id": 160,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Workers:
    """What the worker use cases share; built and owned by the server's lifecycle."""

    store: WorkerStore
    hub: WorkerHub = field(default_factory=WorkerHub)
    stale_after_ms: int = DEFAULT_STALE_AFTER_MS
    clock: Callable[[], datetime] = _utc_now
    poll_s: float | None = None  # re-read live streams this often (other replicas write too)
    sse_heartbeat_s: float = 15.0


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A worker and its heartbeat as of the moment it was read."""

    state: WorkerState
    heartbeat: Heartbeat


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    view: WorkerView
    replay: bool
    seq: int  # the seq of the event that records the call (a replay: the original one)


@dataclass(frozen=True, slots=True)
class ControlRequest:
    request_id: str
    method: str
    params: Any = None
    request_version: str = ""
    sent_at: str = ""
    source: str = ""
    session_id: str = ""
    thread_id: str = ""


def view(workers: Workers, state: WorkerState) -> WorkerView:
    return WorkerView(state, heartbeat(state, workers.clock(), workers.stale_after_ms))


async def create_worker(workers: Workers, spec: WorkerSpec) -> WorkerOutcome:
    """Creates or reattaches the worker; the same request again is a replay."""
    if not spec.worker_id:
        spec = WorkerSpec(
            f"codexw_{secrets.token_hex(12)}",
            spec.owner,
            spec.workspace_ref,
            spec.codex_home_ref,
            spec.adapter,
            spec.metadata,
        )
    require_id("worker_id", spec.worker_id)
    for name in ("workspace_ref", "codex_home_ref", "adapter"):
        _limit(name, getattr(spec, name))
    metadata = None if spec.metadata is None else _json_object("metadata", spec.metadata, MAX_METADATA_BYTES)
    spec = WorkerSpec(
        spec.worker_id, spec.owner, spec.workspace_ref, spec.codex_home_ref, spec.adapter, metadata
    )
    return await _update(workers, spec.worker_id, lambda state, _: decide_create(state, spec))


async def get_worker(workers: Workers, worker_id: str) -> WorkerView:
    state = await workers.store.get_worker(require_id("worker_id", worker_id))
    if state is None:
        raise WorkerNotFound(worker_id)
    return view(workers, state)


async def list_workers(
    workers: Workers,
    *,
    owner: str | None,
    status: str,
    workspace_ref: str,
    limit: int,
    page_token: str,
) -> tuple[list[WorkerView], str]:
    """A page of workers, newest first, and the token of the next page ("" on the last)."""
    if limit < 0 or limit > MAX_LIMIT:
        raise InvalidArgument("limit", f"must be between 1 and {MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
    size = limit or DEFAULT_LIMIT
    try:
        wanted = WorkerStatus(status) if status else None
    except ValueError:
        raise InvalidArgument("status", "must be starting, running, stopping, stopped or failed") from None
    _limit("workspace_ref", workspace_ref)
    filters = {"owner": owner, "status": status, "workspace_ref": workspace_ref}
    before = decode_page_token(page_token, filters) if page_token else None
    states = await workers.store.list_workers(
        owner=owner, status=wanted, workspace_ref=workspace_ref or None, limit=size + 1, before=before
    )
    page = states[:size]
    token = encode_page_token(page[-1].created_at, page[-1].worker_id, filters) if len(states) > size else ""
    return [view(workers, s) for s in page], token


async def control_worker(workers: Workers, worker_id: str, request: ControlRequest) -> WorkerOutcome:
    """Records a control request (once per request id) for the worker to read from its stream."""
    require_id("worker_id", worker_id)
    if not request.request_id:
        raise InvalidArgument("request.request_id", "is required")
    if not request.method:
        raise InvalidArgument("request.method", "is required")
    for name in ("request_id", "method", "request_version", "sent_at", "source", "session_id", "thread_id"):
        _limit(f"request.{name}", getattr(request, name))
    doc = {
        "request_id": request.request_id,
        "method": request.method,
        "params": _json_object("request.params", request.params, MAX_PAYLOAD_BYTES),
        **{
            name: getattr(request, name)
            for name in ("request_version", "sent_at", "source", "session_id", "thread_id")
            if getattr(request, name)
        },
    }

    def decide(state: WorkerState | None, prior: PriorRequest | None) -> WorkerDecision:
        return decide_request(_existing(state, worker_id), request.request_id, doc, prior)

    return await _update(workers, worker_id, decide, request_id=request.request_id)


async def stop_worker(workers: Workers, worker_id: str, reason: str) -> WorkerOutcome:
    require_id("worker_id", worker_id)
    _limit("reason", reason)
    return await _update(
        workers, worker_id, lambda state, _: decide_stop(_existing(state, worker_id), reason)
    )


async def report_event(workers: Workers, worker_id: str, event_type: str, payload: Any) -> WorkerOutcome:
    """Appends an event the worker reports (it refreshes the heartbeat, and may move the status)."""
    require_id("worker_id", worker_id)
    if event_type not in REPORTED_TYPES:
        raise InvalidArgument("event.event_type", "must be one of " + ", ".join(sorted(REPORTED_TYPES)))
    data = _json_object("event.payload", payload, MAX_PAYLOAD_BYTES)
    return await _update(
        workers, worker_id, lambda state, _: decide_report(_existing(state, worker_id), event_type, data)
    )


# ----- helpers -----


async def _update(
    workers: Workers,
    worker_id: str,
    decide: Callable[[WorkerState | None, PriorRequest | None], WorkerDecision],
    *,
    request_id: str | None = None,
) -> WorkerOutcome:
    update: WorkerUpdate = await workers.store.update_worker(worker_id, decide, request_id=request_id)
    if update.events:
        workers.hub.publish(worker_id)
    seq = update.events[-1].seq if update.events else update.decision.replayed_seq or update.state.latest_seq
    return WorkerOutcome(view(workers, update.state), update.decision.replay, seq)


def _existing(state: WorkerState | None, worker_id: str) -> WorkerState:
    if state is None:
        raise WorkerNotFound(worker_id)
    return state


def _limit(name: str, value: str) -> None:
    limit = _LIMITS[name]
    if len(value) > limit:
        raise InvalidArgument(name, f"must be at most {limit} characters")


def _json_object(name: str, value: Any, max_bytes: int) -> dict[str, Any]:
    """A JSON object; null and an empty array (PHP's empty array) count as an empty one."""
    if value is None or value == []:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(name, "must be a JSON object")
    require_depth(name, value)
    if len(canonical_json(value).encode("utf-8")) > max_bytes:
        raise InvalidArgument(name, f"must be at most {max_bytes} bytes as JSON")
    return dict(value)
