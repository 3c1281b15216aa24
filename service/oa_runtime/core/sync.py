"""Sync documents: run, Codex worker and agent summaries as documents for a reactive sync layer. Pure.

The runtime is the only writer of these documents. Each is keyed `runtime/<kind>:<source id>`
and carries an envelope (the runtime ids it came from, the seq range of the stream it covers,
the projection version, when it was projected, the hash of its payload) and a payload (the
summary). A document's *version* is `(projection_version, seq_to)`: a newer version replaces
an older one, the same version again is a duplicate (upserts are idempotent), an older one is
stale. The payload hash makes "nothing changed" cheap to see: a document whose seq, version
and hash are those already stored (or already acknowledged by the sink) is not written again.

Who does what: the sync projection (store/sync.py) turns log events into documents;
the sink pusher (engine/sync_sink.py) pushes them to the HTTP sink; `Subscribe`
(api/sync.py) streams them to gRPC clients from a cursor (`Cursor`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from . import events as ev
from .agent_summary import agent_payload, agent_row
from .agents import events as agent_events
from .agents.record import AgentRecord
from .canonical import canonical_json
from .errors import DomainError
from .records import RunRecord
from .workers import WorkerState

# Bump when a document's payload or envelope changes: the new version is built aside while
# the old one keeps serving, and replaces it atomically once caught up (store/sync.py).
# 2: agent summaries (a replay from position 0 gives every existing agent its document).
SYNC_PROJECTION_VERSION: Final = 2

RUN_SUMMARY: Final = "run_summary"
WORKER_SUMMARY: Final = "codex_worker_summary"
AGENT_SUMMARY: Final = "agent_summary"
KINDS: Final = (RUN_SUMMARY, WORKER_SUMMARY, AGENT_SUMMARY)
_STREAM_KINDS: Final = {
    ev.STREAM_RUN: RUN_SUMMARY,
    "worker": WORKER_SUMMARY,
    agent_events.STREAM_AGENT: AGENT_SUMMARY,
}


class SyncCursorInvalid(DomainError):
    """A Subscribe cursor that this runtime never handed out."""

    code = "INVALID_ARGUMENT"
    reason = "SYNC_CURSOR_INVALID"

    def __init__(self, topic: str, cursor: str) -> None:
        super().__init__(f"cursor {cursor!r} of topic {topic!r} is not a sync cursor", topic=topic)


def document_id(kind: str, source_id: str) -> str:
    return f"runtime/{kind}:{source_id}"


@dataclass(frozen=True, slots=True)
class Touch:
    """A log event changed the summary of (kind, source_id); `position` is the event's."""

    kind: str
    source_id: str
    position: int
    occurred_at: datetime


def touches(events: Iterable[ev.Event]) -> dict[tuple[str, str], Touch]:
    """The summaries a batch of log events changed, each with the latest event that did."""
    out: dict[tuple[str, str], Touch] = {}
    for e in events:
        kind = _STREAM_KINDS.get(e.stream_kind)
        if kind is None:
            continue
        out[(kind, e.run_id)] = Touch(kind, e.run_id, e.position, e.occurred_at)
    return out


@dataclass(frozen=True, slots=True)
class SyncDocument:
    """One document as stored, pushed and streamed."""

    doc_id: str
    kind: str
    source_ids: Mapping[str, str]
    seq_from: int
    seq_to: int
    projection_version: int
    projected_at: datetime
    payload_hash: str
    payload: Mapping[str, Any]
    position: int  # the log position of the latest event that changed it (the cursor order)
    changed_at: datetime  # when that event happened (the sink's lag is measured from it)

    @property
    def version(self) -> tuple[int, int]:
        return (self.projection_version, self.seq_to)

    @property
    def version_text(self) -> str:
        """The version as the sink and Subscribe see it: `<projection_version>.<seq_to>`."""
        return f"{self.projection_version}.{self.seq_to}"

    def same_content(self, projection_version: int, seq_to: int, payload_hash: str) -> bool:
        return (self.projection_version, self.seq_to, self.payload_hash) == (
            projection_version,
            seq_to,
            payload_hash,
        )

    def envelope(self) -> dict[str, Any]:
        return {
            "source_ids": dict(self.source_ids),
            "seq_range": {"from": self.seq_from, "to": self.seq_to},
            "projection_version": self.projection_version,
            "projected_at": _iso(self.projected_at),
            "payload_hash": self.payload_hash,
            "position": self.position,
        }

    def to_json(self) -> dict[str, Any]:
        """The wire form (the sink protocol in docs/SYNC.md, and the stored column)."""
        return {
            "id": self.doc_id,
            "kind": self.kind,
            "version": self.version_text,
            "envelope": self.envelope(),
            "payload": dict(self.payload),
            "changed_at": _iso(self.changed_at),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SyncDocument:
        env = doc["envelope"]
        return cls(
            doc_id=doc["id"],
            kind=doc["kind"],
            source_ids=dict(env["source_ids"]),
            seq_from=int(env["seq_range"]["from"]),
            seq_to=int(env["seq_range"]["to"]),
            projection_version=int(env["projection_version"]),
            projected_at=datetime.fromisoformat(env["projected_at"]),
            payload_hash=env["payload_hash"],
            payload=dict(doc["payload"]),
            position=int(env["position"]),
            changed_at=datetime.fromisoformat(doc["changed_at"]),
        )


def payload_hash(payload: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(dict(payload)).encode()).hexdigest()


def run_summary_payload(record: RunRecord) -> dict[str, Any]:
    request = record.request
    return {
        "run_id": record.run_id,
        "thread_id": record.thread_id,
        "user_id": request.user_id,
        "model": request.model,
        "status": record.status.value,
        "last_seq": record.last_seq,
        "step_count": record.step_count,
        "finish_reason": record.finish_reason,
        "error_message": record.error_message,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


def worker_summary_payload(state: WorkerState) -> dict[str, Any]:
    # The heartbeat *state* (fresh/stale) depends on the reader's clock: clients derive it
    # from last_heartbeat_at, so a document changes only when the worker's stream does.
    return state.to_json()


def agent_document(record: AgentRecord, touch: Touch, version: int, now: datetime) -> SyncDocument:
    payload = agent_payload(agent_row(record))
    return _document(
        AGENT_SUMMARY,
        payload["agent_id"],
        {"agent_id": payload["agent_id"], "thread_id": payload["thread_id"]},
        record.state.last_seq,
        payload,
        touch,
        version,
        now,
    )


def run_document(record: RunRecord, touch: Touch, version: int, now: datetime) -> SyncDocument:
    return _document(
        RUN_SUMMARY,
        record.run_id,
        {"run_id": record.run_id, "thread_id": record.thread_id},
        record.last_seq,
        run_summary_payload(record),
        touch,
        version,
        now,
    )


def worker_document(state: WorkerState, touch: Touch, version: int, now: datetime) -> SyncDocument:
    return _document(
        WORKER_SUMMARY,
        state.worker_id,
        {"worker_id": state.worker_id},
        state.latest_seq,
        worker_summary_payload(state),
        touch,
        version,
        now,
    )


def _document(
    kind: str,
    source_id: str,
    source_ids: Mapping[str, str],
    seq_to: int,
    payload: Mapping[str, Any],
    touch: Touch,
    version: int,
    now: datetime,
) -> SyncDocument:
    return SyncDocument(
        doc_id=document_id(kind, source_id),
        kind=kind,
        source_ids=source_ids,
        seq_from=1,  # a summary folds its whole stream
        seq_to=seq_to,
        projection_version=version,
        projected_at=now,
        payload_hash=payload_hash(payload),
        payload=payload,
        position=touch.position,
        changed_at=touch.occurred_at,
    )


# ----- the projection and the sink pusher -----


@dataclass(frozen=True, slots=True)
class SyncStep:
    """What one projection step did."""

    version: int
    from_position: int
    to_position: int
    applied: int  # log events read
    written: int  # documents that changed
    skipped: int  # documents touched whose seq, version and hash were unchanged
    switched: bool = False  # this step made `version` the serving one
    caught_up: bool = False


@dataclass(frozen=True, slots=True)
class Serving:
    """The serving projection version, its checkpoint and the resync horizon (None: none yet)."""

    version: int
    position: int
    horizon: int


@dataclass(frozen=True, slots=True)
class SinkBatch:
    """The next documents to push: `documents` changed since the sink's checkpoint and not
    already acknowledged; `end` is where the checkpoint moves once they are."""

    version: int
    start: int
    end: int
    documents: list[SyncDocument]
    skipped: int


class SinkLeaseLost(Exception):
    """Another replica holds the sink's lease now (or the token is stale)."""


# ----- Subscribe cursors -----


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a subscriber is in one topic: every document of `projection_version` changed
    at or before `position` was delivered. Opaque to clients: `v<version>.<position>`."""

    projection_version: int
    position: int

    def encode(self) -> str:
        return f"v{self.projection_version}.{self.position}"

    @classmethod
    def decode(cls, topic: str, text: str) -> Cursor | None:
        """None for an empty cursor (from the beginning)."""
        if not text:
            return None
        version, dot, position = text.removeprefix("v").partition(".")
        if not text.startswith("v") or not dot or not version.isdigit() or not position.isdigit():
            raise SyncCursorInvalid(topic, text)
        if len(position) > 18 or len(version) > 9:
            raise SyncCursorInvalid(topic, text)
        return cls(int(version), int(position))


def resync_needed(cursor: Cursor | None, serving_version: int, horizon: int, head: int) -> bool:
    """A cursor the kept documents cannot continue: of another projection version (the
    documents were rebuilt), below the horizon (documents before it were dropped), or past
    the head (from another database)."""
    if cursor is None:
        return False
    return cursor.projection_version != serving_version or cursor.position < horizon or cursor.position > head


# ----- the sink's retries -----


def backoff_s(
    attempt: int, *, base_s: float = 0.2, cap_s: float = 30.0, rng: random.Random | None = None
) -> float:
    """Full-jitter exponential backoff before retry `attempt` (1, 2, ...)."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt - 1, 20)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")
