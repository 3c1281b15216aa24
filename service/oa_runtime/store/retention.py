"""The RetentionStore on either database: what each stream's log may lose, the trims, and
the collector of unreferenced artifact bytes (core/run_retention.py says why each rule holds).

A trim removes a stream's events below its new floor in one transaction, and never an event an
async projection has not applied yet (its position is past the slowest projection's checkpoint,
the sync documents' included): such a stream is skipped and trimmed by a later pass.

- A run's trim also moves `runs.oldest_seq` (what readers check cursors against), drops the
  checkpoints below the one the floor rests on, and indexes the artifact references of the
  `tool.result` events it removes (so the index never needs them again: a rebuild of the
  artifact_index projection keeps the rows below a run's floor, store/artifacts.py).
- On a memory thread, a run's cover is the memory chunks (`_memory_cover`).
- An agent's or worker's floor is its oldest retained event; an agent's trim re-reads its fold
  in the transaction and never passes a frame it holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..core import events as ev
from ..core.agents.checkpoint import state_from_json
from ..core.artifacts import ARTIFACT_INDEX
from ..core.errors import DependencyUnavailable
from ..core.memory.records import THREAD
from ..core.run_retention import (
    STREAM_AGENT,
    STREAM_WORKER,
    RetentionCandidate,
    StreamCandidate,
    Sweep,
    held_seq,
)
from ..core.run_state import RunStatus
from ..ports import EventStore, RetentionStore
from .artifacts import ArtifactIndexSink
from .base import SqlStore
from .common import EVENT_COLUMNS
from .dialect import Dialect
from .flows import event, read_log
from .sql import Done, Flow, command, done, query

_TERMINAL = tuple(s.value for s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED))
# Unindexed `tool.result` events the collector reads at most; more: the index is behind, wait.
UNINDEXED_LIMIT = 10_000


class SqlRetentionStore:
    def __init__(self, events: SqlStore) -> None:
        self._events = events
        self._d = events.dialect

    async def retention_candidates(
        self, finished_before: datetime, *, limit: int, after_run_id: str = ""
    ) -> list[RetentionCandidate]:
        return await self._events._read(candidates(self._d, finished_before, limit, after_run_id))

    async def trim_run(self, run_id: str, floor: int) -> int | None:
        d = self._d
        return await self._events._write(lambda: trim_run(d, run_id, floor))

    async def stream_candidates(
        self, stream_kind: str, occurred_before: datetime, *, limit: int, after_id: str = ""
    ) -> list[StreamCandidate]:
        flow = stream_candidates(self._d, stream_kind, occurred_before, limit, after_id)
        return await self._events._read(flow)

    async def trim_stream(self, stream_kind: str, stream_id: str, floor: int) -> int | None:
        d = self._d
        return await self._events._write(lambda: trim_stream(d, stream_kind, stream_id, floor))

    async def collect_artifacts(
        self, stored_before: datetime, *, limit: int, after_sha256: str = "", dry_run: bool = False
    ) -> Sweep:
        d = self._d
        if dry_run:
            return await self._events._read(sweep(d, stored_before, limit, after_sha256, dry_run=True))
        return await self._events._write(lambda: _done(sweep(d, stored_before, limit, after_sha256)))


def open_retention_store(events: EventStore) -> RetentionStore:
    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no retention store for {type(events).__name__}")
    return SqlRetentionStore(events)


def _done(flow: Flow[Sweep]) -> Flow[Done[Sweep]]:
    result = yield from flow
    return done(result)


# ----- runs -----


def candidates(
    d: Dialect, finished_before: datetime, limit: int, after_run_id: str
) -> Flow[list[RetentionCandidate]]:
    """Finished runs (by run id, after `after_run_id`) finished before the instant, with a
    checkpoint at or past their floor (something a trim could remove); on a memory thread,
    with the checkpoint memory's chunks allow."""
    rows = yield query(
        d.sql(
            "SELECT run_id, updated_at, last_seq, oldest_seq, covers, thread_id, memory FROM (SELECT"
            " r.run_id, r.updated_at, r.last_seq, r.oldest_seq, r.thread_id,"
            " (SELECT max(c.covers_seq) FROM checkpoints c WHERE c.run_id = r.run_id) AS covers,"
            " EXISTS (SELECT 1 FROM memory_streams m WHERE m.stream_kind = ? AND m.stream_id = r.thread_id)"
            " AS memory FROM runs r WHERE r.status IN (?, ?, ?) AND r.updated_at < ? AND r.run_id > ?) AS t"
            " WHERE covers >= oldest_seq ORDER BY run_id LIMIT ?"
        ),
        (THREAD, *_TERMINAL, d.time(finished_before), after_run_id, limit),
    )
    found = []
    for run_id, at, last, floor, covers, thread_id, memory in rows:
        candidate = RetentionCandidate(run_id, d.from_time(at), int(last), int(floor), int(covers))
        if memory:
            candidate = yield from _memory_cover(d, candidate, thread_id)
        found.append(candidate)
    return found


def _memory_cover(d: Dialect, candidate: RetentionCandidate, thread_id: str) -> Flow[RetentionCandidate]:
    """The run's events L1 chunks older than the thread's newest cover (L1 chunks tile the
    thread's events by position from the start: each compaction goes on after the newest's
    last position), and its latest checkpoint within them."""
    rows = yield query(
        d.sql(
            "SELECT max(position_first) FROM memory_chunks"
            " WHERE stream_kind = ? AND stream_id = ? AND level = 1"
        ),
        (THREAD, thread_id),
    )
    newest_first = rows[0][0]
    chunk_seq, checkpoint = 0, None
    if newest_first is not None:
        rows = yield query(
            d.sql("SELECT max(seq) FROM events WHERE stream_kind = ? AND stream_id = ? AND position < ?"),
            (ev.STREAM_RUN, candidate.run_id, int(newest_first)),
        )
        chunk_seq = int(rows[0][0] or 0)
        rows = yield query(
            d.sql("SELECT max(covers_seq) FROM checkpoints WHERE run_id = ? AND covers_seq <= ?"),
            (candidate.run_id, chunk_seq),
        )
        checkpoint = None if rows[0][0] is None else int(rows[0][0])
    return replace(candidate, checkpoint_seq=checkpoint, chunk_seq=chunk_seq, memory=True)


def trim_run(d: Dialect, run_id: str, floor: int) -> Flow[Done[int | None]]:
    """Events removed (0 when the floor was already there); None when a projection has not
    reached them yet (try again later)."""
    yield command(d.sql(f"SELECT 1 FROM runs WHERE run_id = ? {d.for_update}"), (run_id,))
    if (yield from _projections_behind(d, ev.STREAM_RUN, run_id, floor)):
        return done(None)
    yield from _index_removed_artifacts(d, run_id, floor)
    removed = yield from _delete_below(d, ev.STREAM_RUN, run_id, floor)
    yield command(d.sql("DELETE FROM checkpoints WHERE run_id = ? AND covers_seq < ?"), (run_id, floor - 1))
    yield command(
        d.sql("UPDATE runs SET oldest_seq = ? WHERE run_id = ? AND oldest_seq < ?"), (floor, run_id, floor)
    )
    return done(removed)


def _index_removed_artifacts(d: Dialect, run_id: str, floor: int) -> Flow[None]:
    """The artifact index rows of the `tool.result` events about to go (idempotent: the
    projection has usually written them already), so the index never needs those events."""
    rows = yield query(
        d.sql(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = ? AND stream_id = ? AND seq < ?"
            " AND type = ?"
        ),
        (ev.STREAM_RUN, run_id, floor, ev.TOOL_RESULT),
    )
    found = [a for row in rows for a in ARTIFACT_INDEX.apply(event(d, row))]
    if found:
        yield from ArtifactIndexSink().write(d, found)


def _projections_behind(d: Dialect, kind: str, stream_id: str, floor: int) -> Flow[bool]:
    """Whether an event below `floor` lies past the slowest async projection's checkpoint."""
    slowest = yield query(
        "SELECT min(position) FROM (SELECT position FROM projection_checkpoints"
        " UNION ALL SELECT position FROM sync_projection) AS applied"
    )
    guard = slowest[0][0] if slowest and slowest[0][0] is not None else None
    if guard is None:
        return False
    ahead = yield query(
        d.sql(
            "SELECT count(*) FROM events WHERE stream_kind = ? AND stream_id = ? AND seq < ? AND position > ?"
        ),
        (kind, stream_id, floor, guard),
    )
    return bool(int(ahead[0][0]))


def _delete_below(d: Dialect, kind: str, stream_id: str, floor: int) -> Flow[int]:
    where = "stream_kind = ? AND stream_id = ? AND seq < ?"
    counted = yield query(d.sql(f"SELECT count(*) FROM events WHERE {where}"), (kind, stream_id, floor))
    yield command(d.sql(f"DELETE FROM events WHERE {where}"), (kind, stream_id, floor))
    return int(counted[0][0])


# ----- agents and Codex workers -----

_HEADS = {
    STREAM_AGENT: ("agents", "agent_id", "last_seq", "h.state"),
    STREAM_WORKER: ("codex_workers", "worker_id", "latest_seq", "NULL"),
}


def stream_candidates(
    d: Dialect, kind: str, occurred_before: datetime, limit: int, after_id: str
) -> Flow[list[StreamCandidate]]:
    """Agents' or workers' streams (by id, after `after_id`) whose oldest retained event
    occurred before the instant: their head, floor, last aged seq and (agents) held frame."""
    table, key, head, state = _HEADS[kind]
    same_stream = f"e.stream_kind = ? AND e.stream_id = h.{key}"
    cutoff = d.time(occurred_before)
    # The last aged seq is looked for only in streams whose oldest event is aged (the derived
    # table filters first): a young stream costs two index seeks, not a walk of its events.
    rows = yield query(
        d.sql(
            "SELECT id, head, oldest, (SELECT e.seq FROM events e WHERE e.stream_kind = ? AND"
            " e.stream_id = t.id AND e.occurred_at < ? ORDER BY e.seq DESC LIMIT 1) AS aged, state"
            f" FROM (SELECT h.{key} AS id, h.{head} AS head, {state} AS state,"
            f" (SELECT e.seq FROM events e WHERE {same_stream} ORDER BY e.seq LIMIT 1) AS oldest,"
            f" (SELECT e.occurred_at FROM events e WHERE {same_stream} ORDER BY e.seq LIMIT 1) AS oldest_at"
            f" FROM {table} h WHERE h.{key} > ?) AS t WHERE oldest_at < ? ORDER BY id LIMIT ?"
        ),
        (kind, cutoff, kind, kind, after_id, cutoff, limit),
    )
    return [
        StreamCandidate(kind, str(i), int(h), int(oldest), int(aged), _held(kind, state))
        for i, h, oldest, aged, state in rows
    ]


def _held(kind: str, state: Any) -> int | None:
    # agents.state is JSON text on both dialects (migration 0012 made it text on PostgreSQL).
    return held_seq(state_from_json(json.loads(state))) if kind == STREAM_AGENT else None


def trim_stream(d: Dialect, kind: str, stream_id: str, floor: int) -> Flow[Done[int | None]]:
    """An agent's or worker's events below `floor` removed (an agent's floor lowered to the
    oldest frame its fold holds now); None when a projection has not applied them yet."""
    table, key, _, state = _HEADS[kind]
    rows = yield query(d.sql(f"SELECT {state} FROM {table} h WHERE h.{key} = ? {d.for_update}"), (stream_id,))
    if not rows:
        return done(0)
    held = _held(kind, rows[0][0])
    if held is not None:
        floor = min(floor, held)
    if (yield from _projections_behind(d, kind, stream_id, floor)):
        return done(None)
    removed = yield from _delete_below(d, kind, stream_id, floor)
    return done(removed)


# ----- artifact bytes -----


def sweep(
    d: Dialect, stored_before: datetime, limit: int, after: str, *, dry_run: bool = False
) -> Flow[Sweep]:
    """One page of blobs (by sha256 after `after`) stored before the instant that no index row
    and no `tool.result` event the index has not reached yet references; removed unless dry.

    Holding the artifact_index projection's lock, the index rows and its checkpoint cannot
    change under the sweep (a rebuild clears and refills them step by step). The unindexed
    events are read before the index rows are checked, as listings do: a reference the
    projector (or a trim) moves into the index meanwhile is found twice, never missed. A blob a
    writer stored or stored again after `stored_before` is never taken (`stored_at` is
    re-checked by the DELETE itself, so a put committed meanwhile wins)."""
    if not dry_run and not (yield from d.try_lock_projection(ARTIFACT_INDEX.name)):
        return Sweep(deferred="the artifact index is being written by another replica")
    rows = yield query(
        d.sql("SELECT version, position FROM projection_checkpoints WHERE name = ?"), (ARTIFACT_INDEX.name,)
    )
    indexed = int(rows[0][1]) if rows and int(rows[0][0]) == ARTIFACT_INDEX.version else 0
    unindexed = yield from read_log(d, indexed, UNINDEXED_LIMIT, types=ARTIFACT_INDEX.event_types)
    if len(unindexed) == UNINDEXED_LIMIT:
        return Sweep(deferred="the artifact index is behind the log")
    referenced = {a.ref.sha256 for e in unindexed for a in ARTIFACT_INDEX.apply(e)}
    stored = d.time(stored_before)
    unreferenced = "stored_at < ? AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = c.sha256)"
    page = yield query(
        d.sql(
            f"SELECT sha256, size_bytes FROM artifact_contents c WHERE sha256 > ? AND {unreferenced}"
            " ORDER BY sha256 LIMIT ?"
        ),
        (after, stored, limit),
    )
    last_key, full = (str(page[-1][0]) if page else after), len(page) == limit
    chosen = [(str(sha), int(size)) for sha, size in page if sha not in referenced]
    if dry_run or not chosen:
        return Sweep(tuple(chosen), last_key=last_key, full=full)
    removed = yield from _remove_blobs(d, [sha for sha, _ in chosen], stored, unreferenced)
    return Sweep(removed, last_key=last_key, full=full)


def _remove_blobs(
    d: Dialect, shas: Sequence[str], stored: Any, unreferenced: str
) -> Flow[tuple[tuple[str, int], ...]]:
    match, param = d.in_list("sha256", shas)
    gone = yield query(
        d.sql(
            f"DELETE FROM artifact_contents AS c WHERE {match} AND {unreferenced}"
            " RETURNING sha256, size_bytes"
        ),
        (param, stored),
    )
    removed = tuple(sorted((str(sha), int(size)) for sha, size in gone))
    if removed:
        match, param = d.in_list("sha256", [sha for sha, _ in removed])
        yield command(d.sql(f"DELETE FROM artifact_chunks WHERE {match}"), (param,))
    return removed
