"""The ArtifactStore on either database: blobs in chunks, and the artifact index.

Bytes live in the database so every replica reads what any replica stored: one
`artifact_contents` row per digest and its bytes cut into `artifact_chunks` of CHUNK_BYTES,
so a ranged read (`artifact_read`, FetchArtifact with an offset) reads only the chunks it
needs and no single value grows past a chunk. The `artifacts` index has a run's artifacts
(the artifact_index projection's rows, from `tool.result` events), an agent's own
(written by their producer) and memory summaries (owner kind `memory`, written with their chunk
by store/memory.py). Listing a run or thread tops up from the log past the
projection's checkpoint, so an artifact is listed as soon as its event is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core import events as ev
from ..core.artifacts import (
    ARTIFACT_INDEX,
    CHUNK_BYTES,
    OWNER_AGENT,
    OWNER_RUN,
    Artifact,
    ArtifactRef,
    ArtifactScope,
    PageKey,
    digest,
    page_key,
)
from ..core.errors import DependencyUnavailable
from ..ports import ArtifactStore, EventStore
from .common import utc_now
from .dialect import Dialect
from .sql import Done, Flow, Stmt, command, done, query

if TYPE_CHECKING:  # base imports flows, which imports this module's sink (projections.py)
    from .base import SqlStore

_COLUMNS = (
    "owner_kind, owner_id, seq, sha256, run_id, thread_id, agent_id, name, media_type,"
    " size_bytes, producer, preview, created_at"
)


class SqlArtifactStore:
    """ArtifactStore on a SQLite or PostgreSQL event store (same database, same connections)."""

    def __init__(self, events: SqlStore) -> None:
        self._events = events
        self._d = events.dialect

    async def put_content(self, data: bytes) -> str:
        sha256 = digest(data)
        # Always a write, even for bytes already stored: it moves `stored_at`, which is what
        # keeps the artifact collector off them until this writer's reference commits.
        await self._events._write(lambda: put_content(self._d, sha256, data))
        return sha256

    async def read_content(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes | None:
        return await self._events._read(read_content(self._d, sha256, offset, length))

    async def index_artifacts(self, artifacts: Sequence[Artifact]) -> None:
        if artifacts:
            await self._events._write(lambda: _write_done(ArtifactIndexSink().write(self._d, artifacts)))

    async def list_artifacts(
        self, scope: ArtifactScope, *, limit: int, after: PageKey | None = None
    ) -> list[Artifact]:
        return await self._events._read(list_artifacts(self._d, scope, limit, after))

    async def find_artifact(self, scope: ArtifactScope, sha256: str) -> Artifact | None:
        found = await self._events._read(list_artifacts(self._d, scope, 1, None, sha256=sha256))
        return found[0] if found else None


def open_artifact_store(events: EventStore) -> ArtifactStore:
    """The ArtifactStore on the same database (and connections) as `events`."""
    from .base import SqlStore

    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no artifact store for {type(events).__name__}")
    return SqlArtifactStore(events)


# ----- flows -----


def put_content(d: Dialect, sha256: str, data: bytes) -> Flow[Done[None]]:
    """The content row and its chunks, once per digest; bytes already stored are only marked
    stored again (`stored_at`: the artifact collector's grace period starts over, see
    store/retention.py `sweep`). A concurrent put of the same new bytes writes the same rows
    (ON CONFLICT); on PostgreSQL a put racing the collector's DELETE waits for it and then
    finds the row (kept: stored again) or no row (removed: stored anew)."""
    now = d.time(utc_now())
    touched = yield query(
        d.sql("UPDATE artifact_contents SET stored_at = ? WHERE sha256 = ? RETURNING sha256"), (now, sha256)
    )
    if touched:
        return done(None)
    yield command(
        d.sql(
            "INSERT INTO artifact_contents (sha256, size_bytes, chunk_bytes, created_at, stored_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET stored_at = excluded.stored_at"
        ),
        (sha256, len(data), CHUNK_BYTES, now, now),
    )
    chunks = [
        (sha256, i, data[at : at + CHUNK_BYTES]) for i, at in enumerate(range(0, len(data), CHUNK_BYTES))
    ]
    if chunks:
        yield Stmt(
            d.sql("INSERT INTO artifact_chunks (sha256, idx, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
            chunks,
            many=True,
        )
    return done(None)


def read_content(d: Dialect, sha256: str, offset: int, length: int | None) -> Flow[bytes | None]:
    rows = yield query(
        d.sql("SELECT size_bytes, chunk_bytes FROM artifact_contents WHERE sha256 = ?"), (sha256,)
    )
    if not rows:
        return None
    size, chunk = int(rows[0][0]), int(rows[0][1])
    end = size if length is None else min(size, offset + max(0, length))
    if offset >= end:
        return b""
    first, last = offset // chunk, (end - 1) // chunk
    parts = yield query(
        d.sql("SELECT data FROM artifact_chunks WHERE sha256 = ? AND idx >= ? AND idx <= ? ORDER BY idx"),
        (sha256, first, last),
    )
    data = b"".join(bytes(p[0]) for p in parts)
    return data[offset - first * chunk : end - first * chunk]


def list_artifacts(
    d: Dialect, scope: ArtifactScope, limit: int, after: PageKey | None, *, sha256: str | None = None
) -> Flow[list[Artifact]]:
    """The index rows of the scope, plus (for a run or thread) the references of `tool.result`
    events past the projection's checkpoint: read first, so a row written meanwhile is found
    twice (deduplicated), never missed."""
    checkpoint = 0
    if not scope.agent_id:
        rows = yield query(
            d.sql("SELECT position FROM projection_checkpoints WHERE name = ? AND version = ?"),
            (ARTIFACT_INDEX.name, ARTIFACT_INDEX.version),
        )
        checkpoint = int(rows[0][0]) if rows else 0
    where, params = _scope_where(scope)
    if sha256 is not None:
        where += " AND sha256 = ?"
        params.append(sha256)
    if after is not None:
        where += " AND " + _after_sql(scope)
        params += _after_params(d, scope, after)
    stored = yield query(
        d.sql(f"SELECT {_COLUMNS} FROM artifacts WHERE {where} ORDER BY {_order(scope)} LIMIT ?"),
        (*params, limit),
    )
    found = {_key(a): a for a in (_row(d, r) for r in stored)}
    if not scope.agent_id:
        recent = yield from _recent(d, scope, checkpoint)
        for artifact in recent:
            if sha256 is None or artifact.ref.sha256 == sha256:
                found.setdefault(_key(artifact), artifact)
    sort = _sort_key(scope)
    items = sorted(found.values(), key=sort)
    if after is not None:
        bound = _bound(scope, after)
        items = [a for a in items if sort(a) > bound]
    return items[:limit]


def _scope_where(scope: ArtifactScope) -> tuple[str, list[Any]]:
    if scope.run_id:
        return "owner_kind = ? AND owner_id = ?", [OWNER_RUN, scope.run_id]
    if scope.thread_id:
        return "thread_id = ?", [scope.thread_id]
    return "agent_id = ?", [scope.agent_id]


def _order(scope: ArtifactScope) -> str:
    return "seq, sha256" if scope.run_id else "created_at, owner_id, seq, sha256"


def _after_sql(scope: ArtifactScope) -> str:
    if scope.run_id:
        return "(seq, sha256) > (?, ?)"
    return "(created_at, owner_id, seq, sha256) > (?, ?, ?, ?)"


def _after_params(d: Dialect, scope: ArtifactScope, after: PageKey) -> tuple[Any, ...]:
    at, owner, seq, sha256 = after
    if scope.run_id:
        return (seq, sha256)
    return (d.time(datetime.fromisoformat(at)), owner, seq, sha256)


def _sort_key(scope: ArtifactScope) -> Callable[[Artifact], tuple[Any, ...]]:
    if scope.run_id:
        return lambda a: (a.seq, a.ref.sha256)
    return page_key


def _bound(scope: ArtifactScope, after: PageKey) -> tuple[Any, ...]:
    return (after[2], after[3]) if scope.run_id else after


def _key(a: Artifact) -> tuple[str, str, int, str]:
    return (a.owner_kind, a.owner_id, a.seq, a.ref.sha256)


def _recent(d: Dialect, scope: ArtifactScope, checkpoint: int) -> Flow[list[Artifact]]:
    """References in the scope's `tool.result` events the projection has not reached: the
    projector's lag, read by the position index (CROSS JOIN keeps SQLite's join order)."""
    column, value = ("r.run_id", scope.run_id) if scope.run_id else ("r.thread_id", scope.thread_id)
    rows = yield query(
        d.sql(
            "SELECT e.stream_id, e.seq, e.event_id, e.type, e.occurred_at, e.payload, e.position, r.thread_id"
            " FROM events e CROSS JOIN runs r WHERE e.position > ? AND e.type = ? AND e.stream_kind = ?"
            f" AND r.run_id = e.stream_id AND {column} = ? ORDER BY e.position"
        ),
        (checkpoint, ev.TOOL_RESULT, ev.STREAM_RUN, value),
    )
    out: list[Artifact] = []
    for stream_id, seq, event_id, type_, at, payload, position, thread_id in rows:
        event = ev.Event(
            stream_id, int(seq), event_id, type_, d.from_time(at), d.from_json(payload), int(position)
        )
        for artifact in ARTIFACT_INDEX.apply(event):
            out.append(_with_thread(artifact, thread_id))
    return out


def _with_thread(a: Artifact, thread_id: str) -> Artifact:
    return Artifact(
        a.ref,
        a.owner_kind,
        a.owner_id,
        a.seq,
        a.run_id,
        thread_id,
        a.agent_id,
        a.producer,
        a.preview,
        a.created_at,
    )


def _row(d: Dialect, row: Sequence[Any]) -> Artifact:
    kind, owner, seq, sha256, run_id, thread_id, agent_id, name, media_type, size, producer, preview, at = row
    return Artifact(
        ArtifactRef(sha256, int(size), media_type, name),
        kind,
        owner,
        int(seq),
        run_id,
        thread_id,
        agent_id,
        producer,
        preview,
        d.from_time(at),
    )


def _write_done(flow: Flow[None]) -> Flow[Done[None]]:
    yield from flow
    return done(None)


class ArtifactIndexSink:
    """The artifact_index projection's rows (store/projections.py), and the rows producers
    index themselves. A rebuild clears only the projection's own rows (a run's) that the log
    can give again."""

    def write(self, d: Dialect, changes: Sequence[Artifact]) -> Flow[None]:
        yield Stmt(
            d.sql(
                f"INSERT INTO artifacts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?,"
                " COALESCE(NULLIF(?, ''), (SELECT thread_id FROM runs WHERE run_id = ?), ''),"
                " ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            ),
            [
                (
                    a.owner_kind,
                    a.owner_id,
                    a.seq,
                    a.ref.sha256,
                    a.run_id,
                    a.thread_id,
                    a.run_id,
                    a.agent_id,
                    a.ref.name,
                    a.ref.media_type,
                    a.ref.size_bytes,
                    a.producer,
                    a.preview,
                    d.time(a.created_at),
                )
                for a in changes
            ],
            many=True,
        )

    def clear(self, d: Dialect) -> Flow[None]:
        """A rebuild replays the log, so it clears only the rows the log still has the events
        of: a row below its run's retention floor stays (retention indexed it before removing
        its event, store/retention.py), or a trimmed run's artifacts would vanish."""
        yield command(
            d.sql(
                "DELETE FROM artifacts WHERE owner_kind = ? AND seq >="
                " COALESCE((SELECT r.oldest_seq FROM runs r WHERE r.run_id = artifacts.owner_id), 1)"
            ),
            (OWNER_RUN,),
        )


__all__ = ["OWNER_AGENT", "ArtifactIndexSink", "SqlArtifactStore", "open_artifact_store"]
