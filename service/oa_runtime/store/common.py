"""The pure decisions of the store: append planning (which seqs, is it a conflict,
what the run summary becomes: the run row is the inline run summary projection),
row -> record conversion and the migration files.

The SQL around them is in flows.py, once for both databases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from ..core import events as ev
from ..core.errors import (
    DomainError,
    FencedOff,
    IdempotencyKeyReused,
    InvalidArgument,
    InvalidCursor,
    RunNotFound,
    SeqConflict,
)
from ..core.projections import RUN_SUMMARY
from ..core.records import AppendResult, RunRecord, StartRequest
from ..core.run_state import RunState, RunStatus
from ..ports import AppendRequest

# The columns every run query selects, in the order `record_from_values` takes them.
RUN_COLUMNS = (
    "request, fingerprint, status, created_at, updated_at, last_seq, step_count, finish_reason,"
    " error_message, wake_at"
)
# What a claim returns: the lease, then the run row (so a resume reads nothing more of it;
# flows.claimed_lease decodes it).
CLAIM_RETURNING = f"run_id, lease_token, recovery_attempts, {RUN_COLUMNS}, state"
# What event reads select, in the order `event_from_values` takes them.
EVENT_COLUMNS = "stream_id, seq, event_id, type, occurred_at, payload, position"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC, so text comparison orders like time (SQLite)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_cursor(before: tuple[str, str]) -> tuple[datetime, str]:
    """The list_runs keyset cursor as (created_at, run_id); InvalidCursor if malformed."""
    created_at, run_id = before
    try:
        moment = datetime.fromisoformat(created_at)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor(f"bad cursor time {created_at!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, run_id


# ----- appends -----


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    event_id: str
    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PlannedAppend:
    """What one accepted AppendRequest writes: its event rows and the new run state."""

    state: RunState
    rows: tuple[EventRow, ...]

    @property
    def seqs(self) -> tuple[int, ...]:
        return tuple(row.seq for row in self.rows)

    def durable_events(self, run_id: str, occurred_at: datetime, first_position: int) -> tuple[ev.Event, ...]:
        """The events as stored, equal to what a later read returns."""
        moment = occurred_at.astimezone(UTC)
        return tuple(
            ev.Event(run_id, r.seq, r.event_id, r.type, moment, r.payload, first_position + i)
            for i, r in enumerate(self.rows)
        )

    def result(self, run_id: str, occurred_at: datetime, first_position: int) -> AppendResult:
        return AppendResult(self.seqs, events=self.durable_events(run_id, occurred_at, first_position))


def check_idempotency(request: AppendRequest, stored: tuple[str, list[int]] | None) -> AppendResult | None:
    """The replayed result if the key was used with the same hash; None if unused.

    `stored` is the (request_hash, seqs) row of this run's key, if any.
    """
    if request.idempotency_key is None or stored is None:
        return None
    stored_hash, seqs = stored
    if stored_hash != (request.request_hash or ""):
        raise IdempotencyKeyReused(request.idempotency_key)
    return AppendResult(tuple(int(s) for s in seqs), replayed=True)


def plan_append(run_id: str, state: RunState, request: AppendRequest) -> PlannedAppend:
    """Checks the expected seq and folds the events (IllegalTransition on a bad one)."""
    expected = request.expected_previous_seq
    if expected is not None and expected != state.last_seq:
        raise SeqConflict(run_id, expected, state.last_seq)
    return plan_events(state, request.events)


def plan_events(state: RunState, new_events: Sequence[ev.NewEvent]) -> PlannedAppend:
    """Folds the events into the run summary (the inline projection the run row is)."""
    fold = RUN_SUMMARY.fold
    rows: list[EventRow] = []
    for event in new_events:
        state = fold(state, event)
        rows.append(EventRow(state.last_seq, event.event_id, event.type, dict(event.payload)))
    return PlannedAppend(state, tuple(rows))


def summary_values(state: RunState) -> tuple[str, int, int, str, str]:
    """The runs-row columns mirrored from the state: status, last_seq, step_count, finish_reason,
    error_message."""
    status = state.status.value if state.status else ""
    return status, state.last_seq, state.step, state.finish_reason, state.error_message


def duplicate_event_result(
    request: AppendRequest, found: Mapping[str, tuple[str, int]], run_id: str
) -> AppendResult:
    """After an event_id unique violation: the same events already in this run are a
    replay (the caller retried without a key); anything else is a client error.

    `found` maps event_id -> (run_id, seq) for the request's ids that exist.
    """
    ids = [e.event_id for e in request.events]
    if ids and all(found.get(i, ("", 0))[0] == run_id for i in ids):
        return AppendResult(tuple(found[i][1] for i in ids), replayed=True)
    raise InvalidArgument("events.event_id", "already used by another event")


# ----- batched appends -----
#
# The fast path of append_many: one read of every run row the batch touches, the
# whole batch planned here in memory (requests of one run chained in order), then
# bulk writes. The run row's `state` column keeps the whole folded RunState, but
# the fast path never reads or rewrites its transcript (which grows with the
# run): it reads the state without it (`HEAD_FIELD`), plans from that projection
# (run_state.apply only ever appends to the transcript), and writes back the other
# top-level fields plus the messages appended. A unique violation (a re-sent
# event id) makes the adapter undo the batch and take the per-request path,
# which resolves it exactly as before.

TRANSCRIPT_FIELD = "transcript"
MAX_SEQ = 2**63 - 1  # no bound (seqs are int64)


@dataclass(frozen=True, slots=True)
class RunHead:
    """What an append needs of a run row: the state without its transcript, and the lease token."""

    state: RunState
    lease_token: int
    # The row's `state` fields as stored (without the transcript), what a plan diffs against.
    fields: Mapping[str, Any] = field(default_factory=dict)


# The fields every stored state has (`rolled_back` only once set; the transcript is apart).
_STORED_FIELDS = frozenset(RunState().to_json()) - {TRANSCRIPT_FIELD, "rolled_back"}


def head_from_values(state_without_transcript: Mapping[str, Any], lease_token: int) -> RunHead:
    data = dict(state_without_transcript)
    data[TRANSCRIPT_FIELD] = []
    return RunHead(RunState.from_json(data), int(lease_token), state_without_transcript)


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """How one run's row changes: the new summary, the top-level `state` fields whose
    value changed (replaced), the messages appended to its transcript."""

    run_id: str
    state: RunState  # the projected state after the batch (its transcript: only the new messages)
    status_changed: bool
    fields: dict[str, Any]
    appended: list[Any]


@dataclass
class BatchPlan:
    outcomes: list[PlannedAppend | AppendResult | Exception]
    updates: list[StateUpdate]
    keys: list[tuple[str, str, str, list[int]]]  # run_id, key, request_hash, seqs

    def event_rows(self, run_ids: Sequence[str]) -> list[tuple[str, EventRow]]:
        return [
            (run_id, row)
            for run_id, outcome in zip(run_ids, self.outcomes, strict=True)
            if isinstance(outcome, PlannedAppend)
            for row in outcome.rows
        ]

    def results(
        self, run_ids: Sequence[str], occurred_at: datetime, first_position: int
    ) -> list[AppendResult | Exception]:
        """Each request's outcome; the events took positions from `first_position` on,
        in `event_rows` order."""
        out: list[AppendResult | Exception] = []
        position = first_position
        for run_id, outcome in zip(run_ids, self.outcomes, strict=True):
            if isinstance(outcome, PlannedAppend):
                out.append(outcome.result(run_id, occurred_at, position))
                position += len(outcome.rows)
            else:
                out.append(outcome)
        return out


def fenced_off(run_id: str, fence: int, token: int) -> FencedOff:
    return FencedOff(f"run {run_id!r} was taken over", run_id=run_id, fence=fence, token=token)


def plan_batch(
    requests: Sequence[AppendRequest],
    heads: Mapping[str, RunHead],
    stored_keys: Mapping[tuple[str, str], tuple[str, list[int]]],
) -> BatchPlan:
    """Plans every request in order as if each were applied alone after the ones
    before it: the same checks, in the same order, as one request at a time.

    `heads` holds the runs that exist; `stored_keys` the idempotency keys already
    stored among those the requests carry."""
    states: dict[str, RunState] = {}
    new_keys: dict[tuple[str, str], tuple[str, list[int]]] = {}
    outcomes: list[PlannedAppend | AppendResult | Exception] = []
    for request in requests:
        run_id = request.run_id
        try:
            head = heads.get(run_id)
            if head is None:
                raise RunNotFound(run_id)
            if request.fence is not None and request.fence != head.lease_token:
                raise fenced_off(run_id, request.fence, head.lease_token)
            key = request.idempotency_key
            if key is not None:
                stored = new_keys.get((run_id, key)) or stored_keys.get((run_id, key))
                replay = check_idempotency(request, stored)
                if replay is not None:
                    outcomes.append(replay)
                    continue
            plan = plan_append(run_id, states.get(run_id, head.state), request)
            states[run_id] = plan.state
            if key is not None:
                new_keys[(run_id, key)] = (request.request_hash or "", list(plan.seqs))
            outcomes.append(plan)
        except DomainError as exc:
            outcomes.append(exc)
    updates = []
    for run_id, state in states.items():
        head = heads[run_id]
        before = head.state
        # Most batches move only scalars (seq, open text): no encoding of the state then.
        fields_stored = head.fields
        changed = (
            state.scalar_changes(before) if fields_stored and fields_stored.keys() >= _STORED_FIELDS else None
        )
        appended: list[Any] = []
        if changed is None:
            fields = state.to_json()
            appended = fields.pop(TRANSCRIPT_FIELD)
            # Against the stored fields, not `before.to_json()`: no second encoding per run per
            # batch; a field the stored JSON lacks (an older state) is written once.
            old = fields_stored or before.to_json()
            changed = {name: value for name, value in fields.items() if name not in old or old[name] != value}
        updates.append(StateUpdate(run_id, state, state.status != before.status, changed, appended))
    keys = [(run_id, key, h, seqs) for (run_id, key), (h, seqs) in new_keys.items()]
    return BatchPlan(outcomes, updates, keys)


# ----- pending cancels -----


# Spends a nonce: an expired one may be used again, a live one may not (no row back).
# The caller's clock set the expiry, so the same clock decides it (`:nonce_now`).
SPEND_NONCE = (
    "INSERT INTO nonces (nonce, expires_at) VALUES (:nonce, :nonce_expires) ON CONFLICT (nonce)"
    " DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= :nonce_now RETURNING nonce"
)


def pending_cancel_json(event: ev.NewEvent) -> dict[str, Any]:
    return {"type": event.type, "payload": dict(event.payload), "event_id": event.event_id}


def pending_cancel_event(data: Mapping[str, Any]) -> ev.NewEvent:
    return ev.NewEvent(data["type"], data["payload"], data["event_id"])


# ----- rows -> records -----


def record_from_values(values: Sequence[Any]) -> RunRecord:
    """A RunRecord from RUN_COLUMNS values with JSON decoded and times as datetimes."""
    request, fingerprint, status, created, updated, last_seq, steps, reason, error, wake = values
    if isinstance(wake, datetime):  # PostgreSQL keeps a timestamp, SQLite epoch seconds
        wake = wake.timestamp()
    return RunRecord(
        request=StartRequest.from_json(request),
        fingerprint=fingerprint,
        status=RunStatus(status),
        created_at=created.astimezone(UTC),
        updated_at=updated.astimezone(UTC),
        last_seq=int(last_seq),
        step_count=int(steps),
        finish_reason=reason,
        error_message=error,
        wake_at=None if wake is None else float(wake),
    )


def new_run_record(request: StartRequest, fingerprint: str, state: RunState, now: datetime) -> RunRecord:
    """The record of a run just created, without reading it back."""
    status, last_seq, steps, reason, error = summary_values(state)
    return RunRecord(request, fingerprint, RunStatus(status), now, now, last_seq, steps, reason, error)


# ----- migrations -----

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations(backend: str) -> list[tuple[int, str]]:
    """(version, sql) of the packaged migrations for `backend`, in order."""
    folder = resources.files("oa_runtime.store").joinpath("migrations", backend)
    found: list[tuple[int, str]] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)
