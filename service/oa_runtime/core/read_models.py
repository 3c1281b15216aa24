"""Laravel read models: the threads, runs, messages and run_events rows Laravel
reads, derived from the log. Pure.

Two ways to the same rows:
- Incrementally: the async projection `LARAVEL_READ_MODELS` turns each run event
  into a run_events row (and a messages row for a completed message); the sink
  (store/read_models.py) upserts them by (run_id, seq) and recomputes the run and
  thread rows of the runs a step touched (`run_row`, `thread_row`).
- By a fresh fold (`fold_run`): a run's events and its request, at once. Drift
  detection (`compare`) holds the stored rows against it; repair writes the fold.

A run's status, step count and finish reason are the run summary's (the inline
projection, run_state.apply), and its user id and model come from its request
(the run row written with run.accepted, immutable): the log plus the request is
the truth, and the fold reads both.

A rolled-back run (a later run's `rollback` thread input policy: it ends
`canceled` / `rolled_back`; or an agent turn canceled by the agent's `rollback` input
policy: the agent's `agent.turn_finished{rolled_back}`, index `agent_rollbacks`) left
the thread's history, so it leaves Laravel's conversation too: its messages rows are
deleted (and never written again), its run row stays (the run happened) with
`message_count` 0 and `finish_reason` `rolled_back`; its run_events rows stay (the log).
Whether a run is rolled back is read with its facts (the runtime's runs row and the
rollback index, as of now), so a replay writes the same rows whatever the order in
which it meets the run's messages and the rollback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import reduce
from typing import Any

from . import events as ev
from .agent_summary import AgentRow, AgentTouched
from .agents import events as agent_events
from .canonical import canonical_json
from .run_state import RunState, apply

# Drift reasons (the reproject command's output).
EVENT_COUNT_MISMATCH = "event_count_mismatch"
MESSAGE_COUNT_MISMATCH = "message_count_mismatch"
WATERMARK_BEHIND = "watermark_behind"
SUMMARY_HASH_MISMATCH = "summary_hash_mismatch"
PROJECTION_VERSION_CHANGED = "projection_version_changed"
DRIFT_REASONS = (
    EVENT_COUNT_MISMATCH,
    MESSAGE_COUNT_MISMATCH,
    WATERMARK_BEHIND,
    SUMMARY_HASH_MISMATCH,
    PROJECTION_VERSION_CHANGED,
)


def laravel_user_id(user_id: str) -> int | None:
    """Laravel's users.id is an integer; the runtime keeps the id as text (see
    ARCHITECTURE §7). A non-numeric id (a guest) has no Laravel user: NULL."""
    text = user_id.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a run's request and summary say (the runtime's runs row)."""

    run_id: str
    thread_id: str
    user_id: int | None
    model: str
    status: str
    step_count: int
    finish_reason: str
    error_message: str
    created_at: datetime
    agent_rollback: bool = False  # an agent's rollback input policy dropped this turn

    @property
    def rolled_back(self) -> bool:
        return self.agent_rollback or is_rolled_back(self.status, self.finish_reason)


def is_rolled_back(status: str, finish_reason: str) -> bool:
    """A run a later run of its thread canceled with the rollback policy (its own log says so)."""
    return status == "canceled" and finish_reason == ev.FINISH_ROLLED_BACK


@dataclass(frozen=True, slots=True)
class RunRolledBack:
    """An agent's turn (this run) was rolled back: the run leaves the conversation."""

    run_id: str
    position: int


@dataclass(frozen=True, slots=True)
class RunEventRow:
    run_id: str
    seq: int
    position: int
    event_id: str
    type: str
    payload: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    run_id: str
    seq: int
    position: int
    thread_id: str
    message_id: str
    role: str
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    thread_id: str
    user_id: int | None
    status: str
    model: str
    last_seq: int
    event_count: int
    message_count: int
    step_count: int
    finish_reason: str
    error_message: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    last_position: int


@dataclass(frozen=True, slots=True)
class ThreadRow:
    thread_id: str
    user_id: int | None
    run_count: int
    last_run_id: str
    last_status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunModel:
    """One run's rows: the run row, its messages and its events, in seq order."""

    run: RunRow
    messages: tuple[MessageRow, ...]
    events: tuple[RunEventRow, ...]


# ----- the async projection -----


ReadModelChange = RunEventRow | MessageRow | RunRolledBack | AgentTouched


class LaravelReadModels:
    """Each run event becomes a run_events row, a completed message also a messages
    row; the sink keys both by (run_id, seq), so applying an event twice is harmless.
    An agent's rolled-back turn becomes a `RunRolledBack` (the sink deletes the run's
    messages rows; deleting twice is harmless too), and every agent event an
    `AgentTouched` (the sink upserts the agent's row from the runtime's agents row)."""

    name = "laravel_read_models"
    # 2: rolled-back runs lose their messages rows; the agents table (a bump rebuilds aside).
    version = 2
    event_types: frozenset[str] | None = None  # every run event is a run_events row

    def apply(self, event: ev.Event) -> Sequence[ReadModelChange]:
        if event.stream_kind == agent_events.STREAM_AGENT:
            touched = AgentTouched(event.run_id, event.position)
            if event.type == agent_events.TURN_FINISHED and event.payload.get("rolled_back"):
                return (RunRolledBack(str(event.payload["run_id"]), event.position), touched)
            return (touched,)
        if event.stream_kind != ev.STREAM_RUN:
            return ()
        return event_rows(event, thread_id="")


LARAVEL_READ_MODELS = LaravelReadModels()


def event_rows(event: ev.Event, thread_id: str) -> tuple[RunEventRow | MessageRow, ...]:
    """The rows one run event makes (a message's thread id is filled in by the sink,
    which knows the run's thread; `thread_id` is given by the fold)."""
    row = RunEventRow(
        event.run_id, event.seq, event.position, event.event_id, event.type, event.payload, event.occurred_at
    )
    if event.type != ev.MESSAGE_COMPLETED:
        return (row,)
    p = event.payload
    message = MessageRow(
        event.run_id,
        event.seq,
        event.position,
        thread_id,
        p["message_id"],
        p.get("role") or "assistant",
        p["text"],
        event.occurred_at,
    )
    return (row, message)


def run_row(
    facts: RunFacts,
    last: RunEventRow,
    *,
    event_count: int,
    message_count: int,
    finished_at: datetime | None,
) -> RunRow:
    """The run row once its events up to `last` are projected."""
    return RunRow(
        facts.run_id,
        facts.thread_id,
        facts.user_id,
        facts.status,
        facts.model,
        last.seq,
        event_count,
        message_count,
        facts.step_count,
        ev.FINISH_ROLLED_BACK if facts.agent_rollback else facts.finish_reason,
        facts.error_message,
        facts.created_at,
        last.occurred_at,
        finished_at,
        last.position,
    )


def thread_row(thread_id: str, runs: Iterable[RunRow]) -> ThreadRow | None:
    """A thread's row from its runs' rows: the latest run (by creation) speaks for it."""
    ordered = sorted(runs, key=lambda r: (r.created_at, r.run_id))
    if not ordered:
        return None
    latest = ordered[-1]
    return ThreadRow(
        thread_id,
        latest.user_id,
        len(ordered),
        latest.run_id,
        latest.status,
        ordered[0].created_at,
        max(r.updated_at for r in ordered),
    )


# ----- a fresh fold -----


def fold_run(facts: RunFacts, events: Sequence[ev.Event]) -> RunModel | None:
    """A run's rows from all its events (None before any is projected). The status
    and counters are folded from the events, not taken from the facts, so a summary
    that disagrees with its log shows up as drift too."""
    if not events:
        return None
    ordered = sorted(events, key=lambda e: e.seq)
    rows = [r for e in ordered for r in event_rows(e, facts.thread_id)]
    run_events = tuple(r for r in rows if isinstance(r, RunEventRow))
    state = reduce(apply, ordered, RunState())
    finished = [r.occurred_at for r in run_events if r.type == ev.RUN_FINISHED]
    folded = replace(
        facts,
        status=state.status.value if state.status else "",
        step_count=state.step,
        finish_reason=state.finish_reason,
        error_message=state.error_message,
    )
    messages = () if folded.rolled_back else tuple(r for r in rows if isinstance(r, MessageRow))
    run = run_row(
        folded,
        run_events[-1],
        event_count=len(run_events),
        message_count=len(messages),
        finished_at=finished[-1] if finished else None,
    )
    return RunModel(run, messages, run_events)


# ----- drift -----


@dataclass(frozen=True, slots=True)
class Checkpoint:
    version: int | None  # None: the projection never ran
    position: int


@dataclass(frozen=True, slots=True)
class Drift:
    scope: str  # "projection", "run" or "thread"
    id: str
    reason: str
    expected: Any
    actual: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "drift": self.reason,
            "scope": self.scope,
            "id": self.id,
            "expected": self.expected,
            "actual": self.actual,
        }


def _hash(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return hashlib.sha256(canonical_json(plain(value)).encode()).hexdigest()


def summary_hash(model: RunModel | ThreadRow | None) -> str:
    """SHA-256 of a run's (or thread's) rows in canonical JSON."""
    return _hash(None if model is None else asdict(model))


def compare_run(
    run_id: str, expected: RunModel | None, actual: RunModel | None, watermark: int
) -> list[Drift]:
    """One run's drift, at most one reason: the watermark first (a lagging projector
    explains every other difference), then the counts, then the rows' hash."""
    if expected is not None and expected.run.last_position > watermark:
        return [Drift("run", run_id, WATERMARK_BEHIND, expected.run.last_position, watermark)]
    for reason, want, rows, column in (
        (
            EVENT_COUNT_MISMATCH,
            0 if expected is None else len(expected.events),
            0 if actual is None else len(actual.events),
            0 if actual is None else actual.run.event_count,
        ),
        (
            MESSAGE_COUNT_MISMATCH,
            0 if expected is None else len(expected.messages),
            0 if actual is None else len(actual.messages),
            0 if actual is None else actual.run.message_count,
        ),
    ):
        if rows != want or column != want:
            return [Drift("run", run_id, reason, want, rows if rows != want else column)]
    want_hash, have_hash = summary_hash(expected), summary_hash(actual)
    if want_hash != have_hash:
        return [Drift("run", run_id, SUMMARY_HASH_MISMATCH, want_hash, have_hash)]
    return []


def compare(
    expected: Mapping[str, RunModel | None],
    actual: Mapping[str, RunModel | None],
    expected_threads: Mapping[str, ThreadRow | None],
    actual_threads: Mapping[str, ThreadRow | None],
    checkpoint: Checkpoint,
    version: int,
) -> list[Drift]:
    """Every drift between the stored read models and a fresh fold, for the runs and
    threads in `expected` (their ids are the scope)."""
    if checkpoint.version is not None and checkpoint.version != version:
        return [
            Drift(
                "projection",
                LARAVEL_READ_MODELS.name,
                PROJECTION_VERSION_CHANGED,
                version,
                checkpoint.version,
            )
        ]
    drifts: list[Drift] = []
    for run_id in sorted(expected):
        drifts += compare_run(run_id, expected[run_id], actual.get(run_id), checkpoint.position)
    behind = any(d.reason == WATERMARK_BEHIND for d in drifts)
    for thread_id in sorted(expected_threads):
        want, have = summary_hash(expected_threads[thread_id]), summary_hash(actual_threads.get(thread_id))
        if want != have and not behind:
            drifts.append(Drift("thread", thread_id, SUMMARY_HASH_MISMATCH, want, have))
    return drifts


def expected_threads(models: Mapping[str, RunModel | None]) -> dict[str, ThreadRow | None]:
    """The thread rows a set of folded runs (all of each thread's runs) makes."""
    by_thread: dict[str, list[RunRow]] = {}
    for model in models.values():
        if model is not None:
            by_thread.setdefault(model.run.thread_id, []).append(model.run)
    return {t: thread_row(t, runs) for t, runs in by_thread.items()}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a drift check reads, for a set of runs: the log (facts and events) and the
    read models' rows (runs and, when the scope is whole threads, their threads)."""

    checkpoint: Checkpoint
    facts: Mapping[str, RunFacts]
    events: Mapping[str, Sequence[ev.Event]]
    stored: Mapping[str, RunModel | None]
    stored_threads: Mapping[str, ThreadRow | None]

    def folded(self) -> dict[str, RunModel | None]:
        return {r: fold_run(f, self.events.get(r, ())) for r, f in self.facts.items()}


def check(snapshot: Snapshot, version: int) -> list[Drift]:
    """The drift of a snapshot against a fresh fold of its log."""
    folded = snapshot.folded()
    wanted_threads = {t: row for t, row in expected_threads(folded).items() if t in snapshot.stored_threads}
    return compare(
        folded, snapshot.stored, wanted_threads, snapshot.stored_threads, snapshot.checkpoint, version
    )


# ----- agents -----


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """What an agents drift check reads: the checkpoint (first), each agent's row as the
    runtime's agents row (the fold of its stream) makes it, the log position of its latest
    event, and the read models' row."""

    checkpoint: Checkpoint
    expected: Mapping[str, AgentRow]
    positions: Mapping[str, int]
    stored: Mapping[str, AgentRow | None]


def check_agents(snapshot: AgentSnapshot, version: int) -> list[Drift]:
    """Each agent's drift, at most one reason: the watermark (its latest event is past the
    checkpoint: lag), then the row's hash (a missing row hashes as None)."""
    mark = snapshot.checkpoint
    if mark.version is not None and mark.version != version:
        return [
            Drift("projection", LARAVEL_READ_MODELS.name, PROJECTION_VERSION_CHANGED, version, mark.version)
        ]
    drifts: list[Drift] = []
    for agent_id in sorted(snapshot.expected):
        position = snapshot.positions.get(agent_id, 0)
        if position > mark.position:
            drifts.append(Drift("agent", agent_id, WATERMARK_BEHIND, position, mark.position))
            continue
        want, have = (
            _hash(asdict(snapshot.expected[agent_id])),
            _hash(_as_dict(snapshot.stored.get(agent_id))),
        )
        if want != have:
            drifts.append(Drift("agent", agent_id, SUMMARY_HASH_MISMATCH, want, have))
    return drifts


def _as_dict(row: AgentRow | None) -> dict[str, Any] | None:
    return None if row is None else asdict(row)
