"""The MemoryStore on either database: chunks, memory-enabled streams, job holders, queries.

Chunks are rows of `memory_chunks` (migration 0006), written insert-if-absent by their
deterministic id; the write that inserts one also appends `memory.chunk_written` to the
stream (memory, <thread id>) of the log in the same transaction, so every chunk is an
auditable event and a chunk written twice (a retried job, two replicas) is one row and one
event. The same transaction stores the summary as an artifact (its bytes by `summary_sha256`
and one index row for the thread), so every summary can be fetched with ListArtifacts /
FetchArtifact by its thread. A map/reduce question is a row of `memory_queries` plus its own stream
(memory_query, <query id>) whose events are its durable progress.

Lock order, as flows.py keeps it: the stream's advisory lock (PostgreSQL), its rows, then the
`log_head` counter last (the events insert).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from ..core import events as ev
from ..core.errors import DependencyUnavailable
from ..core.memory.chunks import (
    Chunk,
    Level,
    ModelUsage,
    SeqRange,
    StreamRef,
    Window,
    from_epoch_ms,
    to_epoch_ms,
)
from ..core.memory.context import AssembledContext, ChunkPage, ContextPolicy, plan_context
from ..core.memory.records import (
    CHUNK_STREAM,
    CHUNK_WRITTEN,
    INVISIBLE_TYPES,
    QUERY_STREAM,
    MemoryQueryRecord,
    StoredChunk,
    TurnContext,
    chunk_written_payload,
    number_events,
    summary_artifact,
    thread_stream,
)
from ..core.memory.tokens import TokenCounter
from ..ports import EventStore
from .artifacts import ArtifactIndexSink, put_content
from .base import SqlStore
from .common import EVENT_COLUMNS, EventRow, utc_now
from .dialect import Dialect
from .flows import event
from .sql import Done, Flow, command, done, query

_CHUNK_COLUMNS = (
    "chunk_id, stream_kind, stream_id, level, window_start_ms, window_end_ms, seq_first, seq_last,"
    " position_first, position_last, input_ids, summary, summary_sha256, summary_tokens, token_counter,"
    " model, provider, prompt_tokens, completion_tokens, latency_ms, created_at_ms, usage_counted_by"
)
_INVISIBLE = ", ".join(f"'{t}'" for t in sorted(INVISIBLE_TYPES))  # constants, not input


class SqlMemoryStore:
    """MemoryStore on a SQLite or PostgreSQL event store (same database, same connections)."""

    def __init__(self, events: SqlStore) -> None:
        self._events = events
        self._d = events.dialect

    # ----- the log, as memory reads it -----

    async def thread_events(self, thread_id: str, after_position: int, limit: int) -> list[ev.Event]:
        return await self._events._read(thread_events(self._d, thread_id, after_position, None, limit))

    async def thread_events_between(
        self, thread_id: str, first_position: int, last_position: int, limit: int
    ) -> list[ev.Event]:
        flow = thread_events(self._d, thread_id, first_position - 1, last_position, limit)
        return await self._events._read(flow)

    async def run_prompts(self, run_ids: Sequence[str]) -> dict[str, str]:
        return await self._events._read(run_prompts(self._d, run_ids))

    async def runs_marked_after(self, thread_id: str, position: int) -> bool:
        return await self._events._read(runs_marked_after(self._d, thread_id, position))

    async def mark_thread_runs(self, thread_id: str, used_from: int) -> None:
        await self._events._write(lambda: mark_thread_runs(self._d, thread_id, used_from))

    # ----- chunks -----

    async def write_chunk(self, stored: StoredChunk) -> bool:
        return await self._events._write(lambda: write_chunk(self._d, stored))

    async def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        return await self._events._read(get_chunks(self._d, chunk_ids))

    async def list_chunks(
        self,
        stream: StreamRef,
        *,
        level: Level | None = None,
        ends_after_ms: int | None = None,
        starts_before_ms: int | None = None,
        after: tuple[int, int, str] | None = None,
        limit: int = 100,
    ) -> list[StoredChunk]:
        flow = list_chunks(self._d, stream, level, ends_after_ms, starts_before_ms, after, limit)
        return await self._events._read(flow)

    async def newest_chunk(self, stream: StreamRef, level: Level) -> StoredChunk | None:
        return await self._events._read(newest_chunk(self._d, stream, level))

    async def chunk_page(self, stream: StreamRef, page: ChunkPage) -> list[StoredChunk]:
        return await self._events._read(chunk_page(self._d, stream, page))

    async def read_turn_context(
        self, thread_id: str, run_id: str, instructions: str, counter: TokenCounter, policy: ContextPolicy
    ) -> TurnContext | None:
        flow = read_turn_context(self._d, thread_id, run_id, instructions, counter, policy)
        return await self._events._read(flow)

    # ----- which streams keep memory -----

    async def enable_memory(self, stream: StreamRef, now_ms: int) -> None:
        await self._events._write(lambda: enable_memory(self._d, stream, now_ms))

    async def memory_enabled(self, stream: StreamRef) -> bool:
        sql = self._d.sql("SELECT 1 FROM memory_streams WHERE stream_kind = ? AND stream_id = ?")
        return bool(await self._events._read(_rows(sql, (stream.kind, stream.id))))

    async def memory_streams(self) -> list[StreamRef]:
        rows = await self._events._read(_rows("SELECT stream_kind, stream_id FROM memory_streams"))
        return sorted(StreamRef(kind, stream_id) for kind, stream_id in rows)

    # ----- one holder per job -----

    async def claim_job(self, job_key: str, owner: str, now_ms: int, ttl_ms: int) -> int | None:
        return await self._events._write(lambda: claim_job(self._d, job_key, owner, now_ms, ttl_ms))

    async def release_job(self, job_key: str, owner: str) -> None:
        sql = self._d.sql("DELETE FROM memory_jobs WHERE job_key = ? AND owner = ?")
        await self._events._write(lambda: _command(sql, (job_key, owner)))

    # ----- map/reduce questions -----

    async def create_query(self, record: MemoryQueryRecord) -> MemoryQueryRecord:
        return await self._events._write(lambda: create_query(self._d, record))

    async def get_query(self, query_id: str) -> MemoryQueryRecord | None:
        return await self._events._read(get_query(self._d, query_id))

    async def append_memory_event(
        self, kind: str, stream_id: str, event_id: str, type_: str, payload: Mapping[str, Any]
    ) -> bool:
        sender = self._events.sender
        flow = lambda: append_memory_event(self._d, kind, stream_id, event_id, type_, payload, sender)  # noqa: E731
        return await self._events._write(flow)

    async def memory_events(self, kind: str, stream_id: str, after_seq: int = 0) -> list[ev.Event]:
        return await self._events._read(memory_events(self._d, kind, stream_id, after_seq))


def open_memory_store(events: EventStore) -> SqlMemoryStore:
    """The MemoryStore on the same database (and connections) as `events`."""
    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no memory store for {type(events).__name__}")
    return SqlMemoryStore(events)


# ----- flows -----


def _rows(sql: str, params: Any = ()) -> Flow[list[Any]]:
    rows = yield query(sql, params)
    return list(rows)


def _command(sql: str, params: Any) -> Flow[Done[None]]:
    yield command(sql, params)
    return done(None)


def thread_events(
    d: Dialect, thread_id: str, after_position: int, up_to: int | None, limit: int
) -> Flow[list[ev.Event]]:
    """The memory-visible events of the thread's runs after `after_position`, in position order.

    Only the runs that can hold such events are walked: with a run mark at or below
    `after_position` (`mark_thread_runs`), the runs created since its `runs_from`; without one,
    every run of the thread (each run's events are read by primary key and filtered)."""
    marks = yield query(
        d.sql(
            "SELECT runs_from FROM memory_run_marks WHERE thread_id = ? AND position <= ?"
            " ORDER BY position DESC LIMIT 1"
        ),
        (thread_id, after_position),
    )
    since = "" if not marks else " AND r.created_at >= ?"
    bound = "" if up_to is None else " AND e.position <= ?"
    params: tuple[Any, ...] = (
        thread_id,
        *((marks[0][0],) if marks else ()),
        after_position,
        *(() if up_to is None else (up_to,)),
        limit,
    )
    rows = yield query(
        d.sql(
            "SELECT "
            + ", ".join(f"e.{c.strip()}" for c in EVENT_COLUMNS.split(","))
            # The thread's runs first (runs_thread_created), then their events by primary key
            # (CROSS JOIN fixes SQLite's join order; otherwise it walks every run event of the log).
            + f" FROM runs r CROSS JOIN events e WHERE r.thread_id = ?{since}"
            " AND e.stream_kind = 'run' AND e.stream_id = r.run_id"
            f" AND e.position > ?{bound} AND e.type NOT IN ({_INVISIBLE})"
            " ORDER BY e.position LIMIT ?"
        ),
        params,
    )
    return [event(d, row) for row in rows]


# A run created by another replica right after a mark is taken may carry a clock this much
# behind this one's; its created_at must still be at or after the mark's `runs_from`.
RUN_CLOCK_SKEW_MARGIN = timedelta(minutes=10)


def runs_marked_after(d: Dialect, thread_id: str, position: int) -> Flow[bool]:
    rows = yield query(
        d.sql("SELECT 1 FROM memory_run_marks WHERE thread_id = ? AND position > ? LIMIT 1"),
        (thread_id, position),
    )
    return bool(rows)


def mark_thread_runs(d: Dialect, thread_id: str, used_from: int) -> Flow[Done[None]]:
    """Records (head, runs_from): every run of the thread with an event after the log's head now
    is unfinished now (runs_thread_unfinished, migration 0009) or created from now on, so it was
    created at or after the oldest unfinished run (or now, less the clock-skew margin). Marks
    below the one a read from `used_from` uses are dropped: reads only move forward."""
    if (yield from runs_marked_after(d, thread_id, used_from)):
        return done(None)
    head = yield query("SELECT position FROM log_head")
    oldest = yield query(
        d.sql(
            "SELECT MIN(created_at) FROM runs WHERE thread_id = ?"
            " AND status IN ('queued', 'running', 'canceling', 'waiting')"
        ),
        (thread_id,),
    )
    runs_from = d.time(utc_now() - RUN_CLOCK_SKEW_MARGIN)
    if oldest and oldest[0][0] is not None:
        runs_from = min(runs_from, oldest[0][0])
    position = int(head[0][0]) if head else 0
    yield command(
        d.sql(
            "INSERT INTO memory_run_marks (thread_id, position, runs_from) VALUES (?, ?, ?)"
            " ON CONFLICT (thread_id, position) DO NOTHING"
        ),
        (thread_id, position, runs_from),
    )
    yield command(
        d.sql(
            "DELETE FROM memory_run_marks WHERE thread_id = ? AND position < (SELECT MAX(position)"
            " FROM memory_run_marks WHERE thread_id = ? AND position <= ?)"
        ),
        (thread_id, thread_id, used_from),
    )
    return done(None)


def run_prompts(d: Dialect, run_ids: Sequence[str]) -> Flow[dict[str, str]]:
    if not run_ids:
        return {}
    match, param = d.in_list("run_id", sorted(set(run_ids)))
    rows = yield query(d.sql(f"SELECT run_id, request FROM runs WHERE {match}"), (param,))
    return {run_id: str(d.from_json(request).get("prompt") or "") for run_id, request in rows}


def write_chunk(d: Dialect, stored: StoredChunk) -> Flow[Done[bool]]:
    """Insert-if-absent, and the chunk's `memory.chunk_written` event when it was new."""
    chunk = stored.chunk
    if d.for_update:  # PostgreSQL: serialize the memory stream's seqs
        yield command(d.sql("SELECT pg_advisory_xact_lock(hashtextextended(?, 6))"), (chunk.stream.id,))
    seqs, positions = chunk.seq_range, stored.positions
    inserted = yield query(
        d.sql(
            f"INSERT INTO memory_chunks ({_CHUNK_COLUMNS}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (chunk_id) DO NOTHING RETURNING chunk_id"
        ),
        (
            chunk.chunk_id,
            chunk.stream.kind,
            chunk.stream.id,
            int(chunk.level),
            to_epoch_ms(chunk.window.start),
            to_epoch_ms(chunk.window.end),
            None if seqs is None else seqs.first,
            None if seqs is None else seqs.last,
            None if positions is None else positions[0],
            None if positions is None else positions[1],
            json.dumps(list(chunk.input_ids)),
            chunk.summary,
            chunk.summary_sha256,
            chunk.summary_tokens,
            chunk.token_counter,
            chunk.usage.model,
            chunk.usage.provider,
            chunk.usage.prompt_tokens,
            chunk.usage.completion_tokens,
            chunk.usage.latency_ms,
            to_epoch_ms(stored.created_at),
            chunk.usage.counted_by,
        ),
    )
    if not inserted:
        return done(False)
    # The summary is also an artifact (issue 14 item 7): its bytes and its index entry for the
    # thread commit with the chunk, so a listed summary always has its chunk and bytes.
    seq = yield from _next_seq(d, CHUNK_STREAM, chunk.stream.id)
    yield from put_content(d, chunk.summary_sha256, chunk.summary.encode("utf-8"))
    yield from ArtifactIndexSink().write(d, [summary_artifact(stored, seq)])
    payload = {"stream": str(chunk.stream), **chunk_written_payload(stored)}
    yield from _append(d, CHUNK_STREAM, chunk.stream.id, "ev_" + chunk.chunk_id, CHUNK_WRITTEN, payload)
    return done(True)


def _next_seq(d: Dialect, kind: str, stream_id: str) -> Flow[int]:
    rows = yield query(
        d.sql("SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream_kind = ? AND stream_id = ?"),
        (kind, stream_id),
    )
    return int(rows[0][0]) + 1


def _append(
    d: Dialect, kind: str, stream_id: str, event_id: str, type_: str, payload: Mapping[str, Any]
) -> Flow[int]:
    """Appends one event at the stream's next seq (callers hold the stream's lock); its seq."""
    seq = yield from _next_seq(d, kind, stream_id)
    yield from d.insert_events(kind, [(stream_id, EventRow(seq, event_id, type_, dict(payload)))], utc_now())
    return seq


def append_memory_event(
    d: Dialect,
    kind: str,
    stream_id: str,
    event_id: str,
    type_: str,
    payload: Mapping[str, Any],
    sender: str = "",
) -> Flow[Done[bool]]:
    """Appends unless an event with `event_id` exists (a retried write): True when appended.
    A question's progress is announced to the other replicas at commit (PostgreSQL NOTIFY,
    as run appends are), so a `memory_query` tool waiting elsewhere wakes on it."""
    if d.for_update:
        yield command(d.sql("SELECT pg_advisory_xact_lock(hashtextextended(?, 6))"), (stream_id,))
    seen = yield query(d.sql("SELECT 1 FROM events WHERE event_id = ?"), (event_id,))
    if seen:
        return done(False)
    seq = yield from _append(d, kind, stream_id, event_id, type_, payload)
    if kind == QUERY_STREAM:
        yield from d.notify_appended(sender, [(stream_id, seq)])
    return done(True)


def memory_events(d: Dialect, kind: str, stream_id: str, after_seq: int) -> Flow[list[ev.Event]]:
    rows = yield query(
        d.sql(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = ? AND stream_id = ? AND seq > ?"
            " ORDER BY seq"
        ),
        (kind, stream_id, after_seq),
    )
    return [event(d, row, kind) for row in rows]


def _stored(row: Sequence[Any]) -> StoredChunk:
    (chunk_id, kind, stream_id, level, start, end, seq_first, seq_last, pos_first, pos_last) = row[:10]
    (inputs, summary, digest, tokens, counter, model, provider, prompt, completion, latency, created) = row[
        10:21
    ]
    counted_by = str(row[21])
    chunk = Chunk(
        chunk_id=chunk_id,
        stream=StreamRef(kind, stream_id),
        level=Level(int(level)),
        window=Window(from_epoch_ms(int(start)), from_epoch_ms(int(end))),
        seq_range=None if seq_first is None else SeqRange(int(seq_first), int(seq_last)),
        input_ids=tuple(json.loads(inputs)),
        summary=summary,
        summary_sha256=digest,
        summary_tokens=int(tokens),
        token_counter=counter,
        usage=ModelUsage(model, provider, int(prompt), int(completion), int(latency), counted_by),
    )
    positions = None if pos_first is None else (int(pos_first), int(pos_last))
    return StoredChunk(chunk, positions, from_epoch_ms(int(created)))


def get_chunks(d: Dialect, chunk_ids: Sequence[str]) -> Flow[dict[str, StoredChunk]]:
    if not chunk_ids:
        return {}
    match, param = d.in_list("chunk_id", sorted(set(chunk_ids)))
    rows = yield query(d.sql(f"SELECT {_CHUNK_COLUMNS} FROM memory_chunks WHERE {match}"), (param,))
    return {row[0]: _stored(row) for row in rows}


def list_chunks(
    d: Dialect,
    stream: StreamRef,
    level: Level | None,
    ends_after_ms: int | None,
    starts_before_ms: int | None,
    after: tuple[int, int, str] | None,
    limit: int,
) -> Flow[list[StoredChunk]]:
    """Oldest window first, coarser level first within one start; keyset-paged after
    `after` = (window start ms, -level, chunk id) of the previous page's last chunk."""
    where = ["stream_kind = ?", "stream_id = ?"]
    params: list[Any] = [stream.kind, stream.id]
    if level is not None:
        where.append("level = ?")
        params.append(int(level))
    if ends_after_ms is not None:
        where.append("window_end_ms > ?")
        params.append(ends_after_ms)
    if starts_before_ms is not None:
        where.append("window_start_ms < ?")
        params.append(starts_before_ms)
    if after is not None:
        where.append(
            "(window_start_ms > ? OR (window_start_ms = ? AND (-level > ? OR (-level = ? AND chunk_id > ?))))"
        )
        params += [after[0], after[0], after[1], after[1], after[2]]
    rows = yield query(
        d.sql(
            f"SELECT {_CHUNK_COLUMNS} FROM memory_chunks WHERE {' AND '.join(where)}"
            " ORDER BY window_start_ms, level DESC, chunk_id LIMIT ?"
        ),
        (*params, limit),
    )
    return [_stored(row) for row in rows]


def newest_chunk(d: Dialect, stream: StreamRef, level: Level) -> Flow[StoredChunk | None]:
    rows = yield query(
        d.sql(
            f"SELECT {_CHUNK_COLUMNS} FROM memory_chunks WHERE stream_kind = ? AND stream_id = ?"
            " AND level = ? ORDER BY window_start_ms DESC LIMIT 1"
        ),
        (stream.kind, stream.id, int(level)),
    )
    return _stored(rows[0]) if rows else None


def read_turn_context(
    d: Dialect, thread_id: str, run_id: str, instructions: str, counter: TokenCounter, policy: ContextPolicy
) -> Flow[TurnContext | None]:
    """Everything a turn's context reads, in one read transaction (one round trip of the pool on
    PostgreSQL instead of one per step): whether the thread keeps memory, its newest L1 chunk,
    the raw events after that chunk's first position up to this run (bounded by a run mark),
    their runs' prompts, then `plan_context`'s pages of chunks until every level is full."""
    stream = thread_stream(thread_id)
    enabled = yield query(
        d.sql("SELECT 1 FROM memory_streams WHERE stream_kind = ? AND stream_id = ?"),
        (stream.kind, stream.id),
    )
    if not enabled:
        return None
    newest = yield from newest_chunk(d, stream, Level.L1)
    read_from, first_seq, covered, covered_seq = 0, 1, 0, 0
    if newest is not None and newest.positions is not None and newest.chunk.seq_range is not None:
        read_from, first_seq = newest.positions[0] - 1, newest.chunk.seq_range.first
        covered, covered_seq = newest.positions[1], newest.chunk.seq_range.last
    events: list[ev.Event] = []
    after = read_from
    while True:
        page = yield from thread_events(d, thread_id, after, None, 1000)
        mine = next((i for i, e in enumerate(page) if e.run_id == run_id), None)
        events += page if mine is None else page[:mine]  # this run's own messages are its transcript
        if mine is not None or len(page) < 1000:
            break
        after = page[-1].position
    prompts = yield from run_prompts(d, [e.run_id for e in events if e.type == ev.RUN_ACCEPTED])
    numbered = number_events(stream, events, first_seq, prompts)
    marked = yield from runs_marked_after(d, thread_id, read_from)
    steps = plan_context(instructions, [e.raw for e in numbered], counter, policy, covered_seq=covered_seq)
    try:
        chunk_request = next(steps)
        while True:
            stored = yield from chunk_page(d, stream, chunk_request)
            chunk_request = steps.send([s.chunk for s in stored])
    except StopIteration as finished:
        assembled: AssembledContext = finished.value
    return TurnContext(assembled, numbered, read_from, covered, marked)


def chunk_page(d: Dialect, stream: StreamRef, page: ChunkPage) -> Flow[list[StoredChunk]]:
    """One range of memory_chunks_level (migration 0014), newest first."""
    where = ["stream_kind = ?", "stream_id = ?", "level = ?"]
    params: list[Any] = [stream.kind, stream.id, int(page.level)]
    if page.starts_before is not None:
        where.append("window_start_ms < ?")
        params.append(to_epoch_ms(page.starts_before))
    if page.seq_below is not None:
        where.append("(seq_first IS NULL OR seq_first < ?)")
        params.append(page.seq_below)
    rows = yield query(
        d.sql(
            f"SELECT {_CHUNK_COLUMNS} FROM memory_chunks WHERE {' AND '.join(where)}"
            " ORDER BY window_start_ms DESC LIMIT ?"
        ),
        (*params, page.limit),
    )
    return [_stored(row) for row in rows]


def enable_memory(d: Dialect, stream: StreamRef, now_ms: int) -> Flow[Done[None]]:
    yield command(
        d.sql(
            "INSERT INTO memory_streams (stream_kind, stream_id, enabled_at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (stream_kind, stream_id) DO NOTHING"
        ),
        (stream.kind, stream.id, now_ms),
    )
    return done(None)


def claim_job(d: Dialect, job_key: str, owner: str, now_ms: int, ttl_ms: int) -> Flow[Done[int | None]]:
    """Takes the job when nobody holds it, its holder's time ran out, or `owner` holds it
    (renewal); the token grows with every change of hands. None: held elsewhere."""
    rows = yield query(
        d.sql(
            "INSERT INTO memory_jobs (job_key, owner, token, expires_at_ms) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (job_key) DO UPDATE SET owner = excluded.owner,"
            " token = memory_jobs.token + CASE WHEN memory_jobs.owner = excluded.owner THEN 0 ELSE 1 END,"
            " expires_at_ms = excluded.expires_at_ms"
            " WHERE memory_jobs.owner = excluded.owner OR memory_jobs.expires_at_ms <= ?"
            " RETURNING token"
        ),
        (job_key, owner, now_ms + ttl_ms, now_ms),
    )
    return done(int(rows[0][0]) if rows else None)


def _query_record(d: Dialect, row: Sequence[Any]) -> MemoryQueryRecord:
    query_id, kind, stream_id, fingerprint, request, created = row
    return MemoryQueryRecord(
        query_id, StreamRef(kind, stream_id), fingerprint, d.from_json(request), int(created)
    )


def get_query(d: Dialect, query_id: str) -> Flow[MemoryQueryRecord | None]:
    rows = yield query(
        d.sql(
            "SELECT query_id, stream_kind, stream_id, fingerprint, request, created_at_ms"
            " FROM memory_queries WHERE query_id = ?"
        ),
        (query_id,),
    )
    return _query_record(d, rows[0]) if rows else None


def create_query(d: Dialect, record: MemoryQueryRecord) -> Flow[Done[MemoryQueryRecord]]:
    """Insert-if-absent; answers the stored record (the caller compares fingerprints)."""
    yield command(
        d.sql(
            "INSERT INTO memory_queries"
            " (query_id, stream_kind, stream_id, fingerprint, request, created_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (query_id) DO NOTHING"
        ),
        (
            record.query_id,
            record.stream.kind,
            record.stream.id,
            record.fingerprint,
            d.json(dict(record.request)),
            record.created_at_ms,
        ),
    )
    stored = yield from get_query(d, record.query_id)
    assert stored is not None
    return done(stored)


def memory_event_id(*parts: str) -> str:
    """A deterministic event id for memory's own events (a retried write names the same event)."""
    return "ev_m" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


__all__ = ["QUERY_STREAM", "SqlMemoryStore", "memory_event_id", "open_memory_store"]
