"""The AgentStore on either database: each agent is a stream of the global log.

An agent's events are rows of `events` with `stream_kind = 'agent'` (dense seqs from 1,
global positions), so catch-up readers of the log see them. Its row (`agents`) is an inline
projection: the fold of the stream (`core.agents.state.apply`), written in the same
transaction as the events, with `wake_at` (when it needs an executor) and its lease. Every
frame it records is indexed in `agent_frames`, unique per (agent, frame id): the guard that
makes a frame durable once and idempotent for the agent's whole life. One flow per
operation, for both databases (see sql.py).

Lock order, as flows.py keeps it: the agent's advisory lock (PostgreSQL), its rows, then the
`log_head` counter last (the events insert).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..core.agents import events as aev
from ..core.agents.checkpoint import state_from_json, state_to_json
from ..core.agents.decide import claim_at
from ..core.agents.errors import AgentNotFound
from ..core.agents.record import AgentRecord
from ..core.agents.spec import AgentSpec
from ..core.agents.state import AgentState, AgentStatus, apply
from ..core.canonical import canonical_json
from ..core.errors import DependencyUnavailable, FencedOff
from ..core.events import Event
from ..ports import AgentDecider, AgentLease, AgentStore, AgentUpdate, EventStore
from .base import SqlStore
from .common import EVENT_COLUMNS, EventRow, utc_now
from .dialect import Dialect
from .flows import own_thread
from .sql import Done, Flow, Stmt, command, query

STREAM_AGENT = aev.STREAM_AGENT
_ROW_COLUMNS = "state, fingerprint, created_at, updated_at, wake_at"


class SqlAgentStore:
    """AgentStore on a SQLite or PostgreSQL event store (same database, same connections)."""

    def __init__(self, events: SqlStore) -> None:
        self._events = events
        self._d = events.dialect

    async def update_agent(
        self,
        agent_id: str,
        decide: AgentDecider,
        *,
        now: datetime,
        frame_ids: Sequence[str] = (),
        fence: AgentLease | None = None,
        claim: tuple[str, float] | None = None,
    ) -> AgentUpdate:
        # Pipelined (PostgreSQL): only the reads the decision needs wait for the server; the
        # writes after it, the NOTIFY and the commit go in one round trip.
        sender = self._events.sender
        return await self._events._write(
            lambda: update_agent(self._d, agent_id, decide, now, frame_ids, fence, claim, sender),
            pipeline=True,
        )

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        return await self._events._read(get_agent(self._d, agent_id))

    async def list_agents(
        self,
        *,
        status: AgentStatus | None,
        thread_id: str | None,
        limit: int,
        before: tuple[str, str] | None,
        parent_agent_id: str | None = None,
    ) -> list[AgentRecord]:
        flow = list_agents(self._d, status, thread_id, parent_agent_id, limit, before)
        return await self._events._read(flow)

    async def read_agent_events(self, agent_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        return await self._events._read(read_agent_events(self._d, agent_id, after_seq, limit))

    async def claim_agents(
        self,
        owner: str,
        ttl_s: float,
        *,
        now: datetime,
        agent_ids: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        limit: int = 100,
    ) -> list[AgentLease]:
        def flow() -> Flow[Done[list[AgentLease]]]:
            leases = yield from claim_agents(self._d, owner, ttl_s, now, agent_ids, exclude, limit)
            return lambda: leases

        return await self._events._write(flow)

    async def renew_agent_leases(self, owner: str, leases: Sequence[AgentLease], ttl_s: float) -> set[str]:
        if not leases:
            return set()

        def flow() -> Flow[Done[set[str]]]:
            held = yield from renew_agent_leases(self._d, owner, leases, ttl_s)
            return lambda: held

        return await self._events._write(flow)

    async def release_agent(self, owner: str, lease: AgentLease, seen_seq: int | None) -> bool:
        def flow() -> Flow[Done[bool]]:
            unseen = "" if seen_seq is None else " AND last_seq = ?"
            rows = yield query(
                self._d.sql(
                    "UPDATE agents SET lease_owner = NULL, lease_expires_at = NULL"
                    f" WHERE agent_id = ? AND lease_owner = ? AND lease_token = ?{unseen} RETURNING agent_id"
                ),
                (lease.agent_id, owner, lease.token, *(() if seen_seq is None else (seen_seq,))),
            )
            return lambda: bool(rows)

        return await self._events._write(flow)

    async def agent_seqs(self, agent_ids: Sequence[str]) -> dict[str, int]:
        if not agent_ids:
            return {}
        condition, param = self._d.in_list("agent_id", agent_ids)
        sql = self._d.sql(f"SELECT agent_id, last_seq FROM agents WHERE {condition}")
        rows = await self._events._read(_rows(query(sql, (param,))))
        return {str(a): int(s) for a, s in rows}


def open_agent_store(events: EventStore) -> AgentStore:
    """The AgentStore on the same database (and connections) as `events`."""
    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no agent store for {type(events).__name__}")
    return SqlAgentStore(events)


# ----- flows -----


def _rows(stmt: Stmt) -> Flow[list[Any]]:
    rows = yield stmt
    return rows


def update_agent(
    d: Dialect,
    agent_id: str,
    decide: AgentDecider,
    now: datetime,
    frame_ids: Sequence[str],
    fence: AgentLease | None,
    claim: tuple[str, float] | None = None,
    sender: str = "",
) -> Flow[Done[AgentUpdate]]:
    if d.for_update:  # PostgreSQL: serialize the agent's updates (a new one has no row to lock)
        yield command(d.sql("SELECT pg_advisory_xact_lock(hashtextextended(?, 3))"), (agent_id,))
    # The row locked while the update decides (PostgreSQL): the fence check and the lease
    # `_claim_with` takes (token read + 1) must not race claim_agents on another replica, which
    # only takes row locks (SKIP LOCKED). Unlocked, both could end up holding the same token.
    rows = yield query(
        d.sql(
            f"SELECT {_ROW_COLUMNS}, lease_owner, lease_token, lease_expires_at"
            f" FROM agents WHERE agent_id = ?{d.for_update}"
        ),
        (agent_id,),
    )
    current = _record(d, rows[0][:5]) if rows else None
    if fence is not None and (not rows or rows[0][5] is None or int(rows[0][6]) != fence.token):
        raise FencedOff(f"agent {agent_id!r}: lease {fence.token} is no longer current")
    known: dict[str, str] = {}
    if frame_ids:
        condition, param = d.in_list("frame_id", frame_ids)
        found = yield query(
            d.sql(f"SELECT frame_id, digest FROM agent_frames WHERE agent_id = ? AND {condition}"),
            (agent_id, param),
        )
        known = {str(f): str(g) for f, g in found}
    new_events = list(decide(current, known))
    if not new_events:
        return lambda: AgentUpdate(current, [])
    if current is None and new_events[0].type != aev.AGENT_CREATED:
        raise AgentNotFound(agent_id)
    state = current.state if current else AgentState()
    seq = state.last_seq
    placed: list[Event] = []
    for new in new_events:
        seq += 1
        event = Event(agent_id, seq, new.event_id, new.type, now, new.payload, 0, STREAM_AGENT)
        state = apply(state, event)
        placed.append(event)
    assert state.spec is not None
    if current is None:
        yield from _own_thread(d, state.spec, now)
        fingerprint = aev.spec_fingerprint(state.spec.to_json())
        record = AgentRecord(state, fingerprint, now, now, claim_at(state, now))
        yield _insert_row(d, state.spec, record)
    else:
        record = AgentRecord(state, current.fingerprint, current.created_at, now, claim_at(state, now))
        yield _update_row(d, record)
    lease = (yield from _claim_with(d, agent_id, rows[0][5:], record, now, claim)) if rows and claim else None
    yield from _index_rows(d, agent_id, state.spec.thread_id, placed)
    event_rows = [(agent_id, EventRow(e.seq, e.event_id, e.type, dict(e.payload))) for e in placed]
    positions = yield from d.insert_events(STREAM_AGENT, event_rows, now)  # last: log_head's lock
    due = lease is None and record.wake_at is not None and record.wake_at <= now and not _held(d, rows)
    yield from d.notify_agent(sender, agent_id, state.last_seq, due)  # PostgreSQL: peers poke or claim

    def result() -> AgentUpdate:
        first = int(positions.first())
        return AgentUpdate(record, [_at(e, first + i) for i, e in enumerate(placed)], lease)

    return result


def _held(d: Dialect, rows: Sequence[Any]) -> bool:
    """Whether the agent row read (locked) by update_agent has a live lease."""
    if not rows or rows[0][5] is None or rows[0][7] is None:
        return False
    return bool(d.from_time(rows[0][7]) >= utc_now())


def _own_thread(d: Dialect, spec: AgentSpec, now: datetime) -> Flow[None]:
    """A new agent's thread is its user's, like a run's: a new thread becomes theirs, an
    unowned one is claimed, another user's is refused, in the create's transaction (so no
    other user can later start runs or agents on it, nor list this one)."""
    user = str(spec.user_id) if spec.user_id else ""
    yield command(
        d.sql("INSERT INTO threads (thread_id, created_at, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
        (spec.thread_id, d.time(now), user),
    )
    yield from own_thread(d, spec.thread_id, user, owner=None)


def _claim_with(
    d: Dialect,
    agent_id: str,
    lease_row: Sequence[Any],
    record: AgentRecord,
    now: datetime,
    claim: tuple[str, float],
) -> Flow[AgentLease | None]:
    """Leases the agent to `claim`'s owner in the update's transaction when it is due and
    nobody holds it (or the lease expired): the replica that took a frame executes the agent
    without a claim of its own."""
    owner, expires = lease_row[0], lease_row[2]
    wall = utc_now()
    if record.wake_at is None or record.wake_at > now:
        return None
    if owner is not None and expires is not None and d.from_time(expires) >= wall:
        return None
    token = int(lease_row[1]) + 1
    yield command(
        d.sql("UPDATE agents SET lease_owner = ?, lease_token = ?, lease_expires_at = ? WHERE agent_id = ?"),
        (claim[0], token, d.time(wall + timedelta(seconds=claim[1])), agent_id),
    )
    return AgentLease(agent_id, token)


def _index_rows(d: Dialect, agent_id: str, thread_id: str, placed: Sequence[Event]) -> Flow[None]:
    """The frame index rows of the frames recorded, and the rollbacks of turns finished."""
    frames = [_frame_row(agent_id, e) for e in placed if e.type in (aev.FRAME_RECEIVED, aev.TIMER_FIRED)]
    if frames:
        insert = d.sql("INSERT INTO agent_frames (agent_id, frame_id, digest, seq) VALUES (?, ?, ?, ?)")
        yield Stmt(insert, frames, many=True)
    rolled_back = [(e.payload["run_id"], thread_id) for e in placed if e.payload.get("rolled_back")]
    if rolled_back:
        insert = d.sql("INSERT INTO agent_rollbacks (run_id, thread_id) VALUES (?, ?)")
        yield Stmt(insert, rolled_back, many=True)


def _frame_row(agent_id: str, event: Event) -> tuple[str, str, str, int]:
    p = event.payload
    if event.type == aev.FRAME_RECEIVED:
        return (agent_id, p["frame_id"], p["digest"], event.seq)
    kind = aev.FRAME_CRON_TICK if p["source"] == aev.SOURCE_SCHEDULE else aev.FRAME_TIMER
    return (agent_id, p["frame_id"], aev.frame_digest(kind, p.get("text", ""), None, p["instant"]), event.seq)


def _insert_row(d: Dialect, spec: AgentSpec, r: AgentRecord) -> Stmt:
    s = r.state
    assert s.status is not None
    return command(
        d.sql(
            "INSERT INTO agents (agent_id, thread_id, user_id, parent_agent_id, status, fingerprint,"
            " last_seq, created_at, updated_at, wake_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            spec.agent_id,
            spec.thread_id,
            str(spec.user_id) if spec.user_id else "",
            spec.parent_agent_id,
            s.status.value,
            r.fingerprint,
            s.last_seq,
            d.time(r.created_at),
            d.time(r.updated_at),
            _time_or_null(d, r.wake_at),
            canonical_json(state_to_json(s)),  # TEXT on both databases (migration 0012)
        ),
    )


def _update_row(d: Dialect, r: AgentRecord) -> Stmt:
    s = r.state
    assert s.status is not None and s.spec is not None
    return command(
        d.sql(
            "UPDATE agents SET status = ?, last_seq = ?, updated_at = ?, wake_at = ?, state = ?"
            " WHERE agent_id = ?"
        ),
        (
            s.status.value,
            s.last_seq,
            d.time(r.updated_at),
            _time_or_null(d, r.wake_at),
            canonical_json(state_to_json(s)),  # TEXT on both databases (migration 0012)
            s.spec.agent_id,
        ),
    )


def _time_or_null(d: Dialect, moment: datetime | None) -> Any:
    return None if moment is None else d.time(moment)


def _record(d: Dialect, row: Sequence[Any]) -> AgentRecord:
    state_json, fingerprint, created_at, updated_at, wake_at = row
    return AgentRecord(
        state_from_json(json.loads(state_json)),
        str(fingerprint),
        d.from_time(created_at),
        d.from_time(updated_at),
        None if wake_at is None else d.from_time(wake_at),
    )


def get_agent(d: Dialect, agent_id: str) -> Flow[AgentRecord | None]:
    rows = yield query(d.sql(f"SELECT {_ROW_COLUMNS} FROM agents WHERE agent_id = ?"), (agent_id,))
    return _record(d, rows[0]) if rows else None


def agent_records(d: Dialect, agent_ids: Sequence[str]) -> Flow[list[AgentRecord]]:
    """The rows of these agents (those that exist), by id: the sync documents and the read
    models read them in their projection's transaction."""
    match, param = d.in_list("agent_id", list(agent_ids))
    rows = yield query(d.sql(f"SELECT {_ROW_COLUMNS} FROM agents WHERE {match} ORDER BY agent_id"), (param,))
    return [_record(d, row) for row in rows]


def list_agents(
    d: Dialect,
    status: AgentStatus | None,
    thread_id: str | None,
    parent_agent_id: str | None,
    limit: int,
    before: tuple[str, str] | None,
) -> Flow[list[AgentRecord]]:
    """Newest first by (created_at, agent_id), keyset-paged after `before`."""
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("status = ?")
        params.append(status.value)
    if thread_id is not None:
        where.append("thread_id = ?")
        params.append(thread_id)
    if parent_agent_id is not None:
        where.append("parent_agent_id = ?")
        params.append(parent_agent_id)
    if before is not None:
        created = d.time(datetime.fromisoformat(before[0]))
        where.append("(created_at < ? OR (created_at = ? AND agent_id < ?))")
        params += [created, created, before[1]]
    sql = f"SELECT {_ROW_COLUMNS} FROM agents" + (" WHERE " + " AND ".join(where) if where else "")
    rows = yield query(d.sql(sql + " ORDER BY created_at DESC, agent_id DESC LIMIT ?"), (*params, limit))
    return [_record(d, row) for row in rows]


def read_agent_events(d: Dialect, agent_id: str, after_seq: int, limit: int) -> Flow[list[Event]]:
    rows = yield query(
        d.sql(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = '{STREAM_AGENT}' AND stream_id = ?"
            " AND seq > ? ORDER BY seq LIMIT ?"
        ),
        (agent_id, after_seq, limit),
    )
    return [
        Event(
            stream_id,
            int(seq),
            event_id,
            type_,
            d.from_time(at),
            d.from_json(payload),
            int(pos),
            STREAM_AGENT,
        )
        for stream_id, seq, event_id, type_, at, payload, pos in rows
    ]


def claim_agents(
    d: Dialect,
    owner: str,
    ttl_s: float,
    now: datetime,
    agent_ids: Sequence[str] | None,
    exclude: Sequence[str],
    limit: int,
) -> Flow[list[AgentLease]]:
    wall = utc_now()  # leases expire by the database's clock of record, not an injected one
    where = ["wake_at <= ?", "(lease_owner IS NULL OR lease_expires_at < ?)"]
    params: list[Any] = [d.time(now), d.time(wall)]
    if agent_ids is not None:
        condition, param = d.in_list("agent_id", agent_ids)
        where.append(condition)
        params.append(param)
    if exclude:
        condition, param = d.in_list("agent_id", exclude)
        where.append(f"NOT {condition}")
        params.append(param)
    lock = " FOR UPDATE SKIP LOCKED" if d.for_update else ""
    rows = yield query(
        d.sql(
            "UPDATE agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ?"
            " WHERE agent_id IN (SELECT agent_id FROM agents WHERE "
            + " AND ".join(where)
            + f" ORDER BY wake_at LIMIT ?{lock}) RETURNING agent_id, lease_token"
        ),
        (owner, d.time(wall + timedelta(seconds=ttl_s)), *params, limit),
    )
    return [AgentLease(str(a), int(t)) for a, t in rows]


def renew_agent_leases(d: Dialect, owner: str, leases: Sequence[AgentLease], ttl_s: float) -> Flow[set[str]]:
    expires = d.time(utc_now() + timedelta(seconds=ttl_s))
    held: set[str] = set()
    for lease in leases:  # an executor holds few agents: one statement each is fine
        rows = yield query(
            d.sql(
                "UPDATE agents SET lease_expires_at = ? WHERE agent_id = ? AND lease_owner = ?"
                " AND lease_token = ? RETURNING agent_id"
            ),
            (expires, lease.agent_id, owner, lease.token),
        )
        held.update(str(r[0]) for r in rows)
    return held


def _at(event: Event, position: int) -> Event:
    return Event(
        event.run_id,
        event.seq,
        event.event_id,
        event.type,
        event.occurred_at,
        event.payload,
        position,
        STREAM_AGENT,
    )
