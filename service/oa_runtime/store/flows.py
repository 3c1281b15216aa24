"""Every store operation's SQL, once, for both databases (see sql.py for how flows run).

The decisions between statements (seqs, conflicts, the run summary) are the pure
functions of common.py; what differs between SQLite and PostgreSQL is the Dialect.
Lock order, which keeps PostgreSQL free of deadlocks: a run id's advisory lock,
then thread and run rows (in run id order), and the `log_head` counter last (see
dialect.py: it is what makes global positions follow commit order).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from ..core import events as ev
from ..core.admission import PlanStart
from ..core.errors import DomainError, InvalidToken, NotThreadOwner, RunAlreadyExists, RunNotFound
from ..core.leases import Lease
from ..core.messages import ChatMessage
from ..core.projections import THREAD_MESSAGES, Projection, ProjectionStep, ThreadMessage, by_run
from ..core.records import (
    AppendResult,
    CancelResult,
    CheckpointRecord,
    CreateResult,
    NonceToSpend,
    RunRecord,
    StartRequest,
)
from ..core.run_state import RunState, RunStatus
from ..ports import AppendRequest
from . import admission, read_models
from .common import (
    EVENT_COLUMNS,
    MAX_SEQ,
    RUN_COLUMNS,
    SPEND_NONCE,
    PlannedAppend,
    check_idempotency,
    duplicate_event_result,
    fenced_off,
    head_from_values,
    migrations,
    new_run_record,
    parse_cursor,
    pending_cancel_event,
    pending_cancel_json,
    plan_append,
    plan_batch,
    plan_events,
    record_from_values,
    summary_values,
    utc_now,
)
from .dialect import Dialect
from .projections import SINKS, AsideSink
from .sql import Deferred, Done, Flow, Stmt, command, done, query

_NO_POSITIONS = Deferred([(0,)])


def record(d: Dialect, row: Sequence[Any]) -> RunRecord:
    values = list(row)
    values[0] = d.from_json(values[0])
    values[3], values[4] = d.from_time(values[3]), d.from_time(values[4])
    return record_from_values(values)


def claimed_lease(d: Dialect, row: Sequence[Any]) -> Lease:
    """A Lease from a CLAIM_RETURNING row, with the run's record and folded state."""
    state = RunState.from_json(d.from_json(row[-1]))
    return Lease(row[0], int(row[1]), int(row[2]), record=record(d, row[3:-1]), state=state)


def event(d: Dialect, row: Sequence[Any], kind: str = ev.STREAM_RUN) -> ev.Event:
    stream_id, seq, event_id, type_, occurred_at, payload, position = row
    return ev.Event(
        stream_id,
        int(seq),
        event_id,
        type_,
        d.from_time(occurred_at),
        d.from_json(payload),
        int(position),
        kind,
    )


# ----- writes -----


def create_run(
    d: Dialect,
    request: StartRequest,
    fingerprint: str,
    accepted: ev.NewEvent,
    lease_owner: str | None,
    lease_ttl_s: float,
    plan_start: PlanStart | None = None,
    sender: str = "",
    nonce: NonceToSpend | None = None,
    prune_nonces: bool = False,
) -> Flow[Done[CreateResult]]:
    """`plan_start` (core/admission.py) decides from the thread's latest unfinished run,
    read in the same statement, whether the new run starts now, waits, or is refused.
    Under interrupt and rollback the earlier runs' cancel requests are written here too,
    so a crash after the commit, or a retried StartRun, cannot leave them running.
    `nonce`, the request token's, is spent in the same transaction (its first statement
    on PostgreSQL, no round trip of its own); a live one refuses the request (InvalidToken)."""
    run_id = request.run_id
    now = utc_now()
    # The run id's lock, then the thread row, both before the log_head lock: the thread
    # insert can wait for a concurrent creator of the same thread (see the lock order
    # above). A no-op when the run exists.
    yield from d.lock_run_id_and_add_thread(run_id, request.thread_id, request.user_id, now)
    params: dict[str, Any] = {"run_id": run_id, "thread_id": request.thread_id}
    spend, spent = "", "1"
    if nonce is not None:
        params |= {"nonce": nonce.value, "nonce_expires": nonce.expires_at_epoch, "nonce_now": time.time()}
        if prune_nonces:
            yield command(d.sql("DELETE FROM nonces WHERE expires_at <= :nonce_now"), params)
        spend, spent = yield from d.spend_nonce(params)
    [row] = yield query(
        d.sql(
            f"{spend}SELECT {RUN_COLUMNS}, pending_cancels.event, {admission.LATEST_UNFINISHED_ON_THREAD},"
            f" (SELECT user_id FROM threads WHERE thread_id = :thread_id), {spent} FROM (SELECT 1) AS one"
            " LEFT JOIN runs ON runs.run_id = :run_id"
            " LEFT JOIN pending_cancels ON pending_cancels.run_id = :run_id"
        ),
        params,
    )
    if not row[-1]:
        raise InvalidToken("nonce already used")  # the transaction is undone: nothing written
    yield from own_thread(d, request.thread_id, request.user_id, owner=row[-2])
    row = row[:-2]
    if row[0] is not None:
        existing = record(d, row[:-2])
        if existing.fingerprint != fingerprint:
            raise RunAlreadyExists(run_id)
        return done(CreateResult(existing, created=False))
    new_events = [accepted]
    plan = None if plan_start is None else plan_start(row[-1])
    if plan is not None:
        if not plan.executes:
            lease_owner = None
        position = (yield from admission.queue_length(d)) + 1 if plan.queued_for_capacity else 0
        queued = plan.queued_event(position)
        if queued is not None:
            new_events.append(queued)
    if row[-2] is not None:
        new_events.append(pending_cancel_event(d.from_json(row[-2])))
    cancels: list[Done[tuple[ev.Event, ...]]] = []
    if plan is not None and plan.cancels:
        cancels = yield from cancel_earlier_runs(d, request.thread_id, run_id, plan.cancel_event, now, sender)
    planned = plan_events(RunState(), new_events)
    status, last_seq, steps, reason, error = summary_values(planned.state)
    values = {
        "run_id": run_id,
        "thread_id": request.thread_id,
        "request": d.json(request.to_json()),
        "fingerprint": fingerprint,
        "status": status,
        "now": d.time(now),
        "last_seq": last_seq,
        "steps": steps,
        "reason": reason,
        "error": error,
        "state": d.json(planned.state.to_json()),
        "after_run_id": (plan.waiting_for_run_id or None) if plan is not None else None,
        # The accepting replica's first lease (token 1), in the same transaction.
        "owner": lease_owner,
        "token": 0 if lease_owner is None else 1,
        "ttl": lease_ttl_s,
        "expires": None if lease_owner is None else time.time() + lease_ttl_s,
    }
    positions = yield from d.create_run_rows(values, planned.rows, now)
    # The state as created rides along, so the run loop starting it reads nothing more of the row.
    lease = None if lease_owner is None else Lease(run_id, token=1, state=planned.state)
    created = new_run_record(request, fingerprint, planned.state, now)
    return lambda: CreateResult(
        created,
        created=True,
        events=planned.durable_events(run_id, now, positions.first()),
        lease=lease,
        plan=plan,
        cancels=tuple(e for canceled in cancels for e in canceled()),
    )


def cancel_earlier_runs(
    d: Dialect,
    thread_id: str,
    new_run_id: str,
    cancel_event: Callable[[str], ev.NewEvent],
    now: datetime,
    sender: str,
) -> Flow[list[Done[tuple[ev.Event, ...]]]]:
    """create_run's part of interrupt and rollback: a cancel request on each unfinished run
    of the thread (not yet canceling; rolled-back agent turns are not the thread's), their
    rows locked in run id order before the log_head lock (see the lock order above)."""
    rows = yield query(
        d.sql(
            f"SELECT run_id, state FROM runs WHERE thread_id = ? AND status IN ({admission.UNFINISHED})"
            " AND run_id NOT IN (SELECT run_id FROM agent_rollbacks WHERE thread_id = ?)"
            " ORDER BY run_id" + d.for_update
        ),
        (thread_id, thread_id),
    )
    written: list[Done[tuple[ev.Event, ...]]] = []
    for earlier_id, state_json in rows:
        state = RunState.from_json(d.from_json(state_json))
        if state.is_terminal or state.cancel_requested:
            continue
        plan = plan_events(state, [cancel_event(new_run_id)])
        positions = yield from write_plan(d, earlier_id, plan, now)
        yield from d.notify_appended(sender, [(earlier_id, plan.seqs[-1])])
        yield from d.notify_cancel(earlier_id)
        written.append(partial(_events_at, plan, earlier_id, now, positions))
    return written


def _events_at(plan: PlannedAppend, run_id: str, now: datetime, positions: Deferred) -> tuple[ev.Event, ...]:
    return plan.durable_events(run_id, now, positions.first())


def own_thread(d: Dialect, thread_id: str, user_id: str, owner: str | None) -> Flow[None]:
    """A thread keeps the user it was first created for (a run's or an agent's): any other
    user is refused, in the create's transaction (a concurrent first create on the thread
    waits for this one's thread insert, then reads its owner: two users cannot both pass).
    `owner` is the thread row's owner as the caller read it; None: claim it if unowned (a
    thread from before owners were kept), else read who has it."""
    if owner is None:
        claimed = yield query(
            d.sql("UPDATE threads SET user_id = ? WHERE thread_id = ? AND user_id IS NULL RETURNING user_id"),
            (user_id, thread_id),
        )
        if claimed:
            return
        [(owner,)] = yield query(d.sql("SELECT user_id FROM threads WHERE thread_id = ?"), (thread_id,))
    if owner != user_id:
        raise NotThreadOwner(thread_id)


def append_batch(
    d: Dialect, requests: Sequence[AppendRequest], now: datetime, sender: str
) -> Flow[Done[list[AppendResult | Exception]]]:
    """The fast path of append_many: one read of the batch's run rows (without
    transcripts), the whole batch planned in memory (common.plan_batch), one bulk
    write per table. A re-sent event id fails the insert: the caller undoes the
    batch and takes `append_one` per request."""
    run_ids = list(dict.fromkeys(r.run_id for r in requests))
    rows = yield d.select_heads(run_ids)
    heads = {row[0]: head_from_values(d.from_json(row[1]), row[2]) for row in rows}
    wanted = list({(r.run_id, r.idempotency_key) for r in requests if r.idempotency_key is not None})
    stored: dict[tuple[str, str], tuple[str, list[int]]] = {}
    if wanted:
        found = yield d.select_keys(wanted)
        stored = {(r[0], r[1]): (r[2], d.from_json(r[3])) for r in found}
    plan = plan_batch(requests, heads, stored)
    request_runs = [q.run_id for q in requests]
    event_rows = plan.event_rows(request_runs)
    if plan.updates:
        yield from d.update_runs(plan.updates, now)
    if plan.keys:
        yield from d.insert_keys(plan.keys)
    appended = [
        (u.run_id, u.state.last_seq)
        for u in plan.updates
        if u.state.last_seq > heads[u.run_id].state.last_seq
    ]
    yield from d.notify_appended(sender, appended)
    positions = _NO_POSITIONS
    if event_rows:  # last: the log_head lock is held from here to the commit
        positions = yield from d.insert_events(ev.STREAM_RUN, event_rows, now)
    return lambda: plan.results(request_runs, now, positions.first())


def lock_runs(d: Dialect, run_ids: Sequence[str]) -> Flow[None]:
    """Takes the run rows' locks up front, in run id order (PostgreSQL), so a
    request-by-request transaction never waits for a row while holding log_head."""
    if d.for_update:
        yield d.select_heads(run_ids)


def append_one(d: Dialect, request: AppendRequest, now: datetime) -> Flow[Done[AppendResult]]:
    """One request with its run's full state (the slow path, and the reference semantics)."""
    run_id = request.run_id
    rows = yield query(
        d.sql("SELECT state, lease_token FROM runs WHERE run_id = ?" + d.for_update), (run_id,)
    )
    if not rows:
        raise RunNotFound(run_id)
    state_json, token = rows[0]
    if request.fence is not None and request.fence != token:
        raise fenced_off(run_id, request.fence, token)
    key = request.idempotency_key
    if key is not None:
        stored = yield query(
            d.sql("SELECT request_hash, seqs FROM idempotency_keys WHERE run_id = ? AND key = ?"),
            (run_id, key),
        )
        found = None if not stored else (stored[0][0], d.from_json(stored[0][1]))
        replay = check_idempotency(request, found)
        if replay is not None:
            return done(replay)
    plan = plan_append(run_id, RunState.from_json(d.from_json(state_json)), request)
    positions = yield from write_plan(d, run_id, plan, now)
    if key is not None:
        yield command(
            d.sql("INSERT INTO idempotency_keys (run_id, key, request_hash, seqs) VALUES (?, ?, ?, ?)"),
            (run_id, key, request.request_hash or "", d.json(list(plan.seqs))),
        )
    return lambda: plan.result(run_id, now, positions.first())


def duplicate_events(d: Dialect, request: AppendRequest) -> Flow[Done[AppendResult | Exception]]:
    """After an event_id unique violation: a replay of the same events, or a client error."""
    match, param = d.in_list("event_id", [e.event_id for e in request.events])
    rows = yield query(f"SELECT event_id, stream_id, seq FROM events WHERE {match}", (param,))
    try:
        return done(duplicate_event_result(request, {r[0]: (r[1], int(r[2])) for r in rows}, request.run_id))
    except DomainError as exc:
        return done(exc)


def write_plan(d: Dialect, run_id: str, plan: PlannedAppend, now: datetime) -> Flow[Deferred]:
    positions = yield from d.insert_events(ev.STREAM_RUN, [(run_id, r) for r in plan.rows], now)
    status, last_seq, steps, reason, error = summary_values(plan.state)
    yield command(
        d.sql(
            "UPDATE runs SET status = ?, last_seq = ?, step_count = ?, finish_reason = ?, error_message = ?,"
            " state = ?, updated_at = ?, wake_at = ? WHERE run_id = ?"
        ),
        (
            status,
            last_seq,
            steps,
            reason,
            error,
            d.json(plan.state.to_json()),
            d.time(now),
            d.epoch(plan.state.wake_at),
            run_id,
        ),
    )
    return positions


def request_cancel(d: Dialect, run_id: str, cancel: ev.NewEvent, sender: str) -> Flow[Done[CancelResult]]:
    yield from d.lock_run_id(run_id)
    rows = yield query(d.sql("SELECT state FROM runs WHERE run_id = ?" + d.for_update), (run_id,))
    if not rows:
        yield command(
            d.sql("INSERT INTO pending_cancels (run_id, event) VALUES (?, ?) ON CONFLICT DO NOTHING"),
            (run_id, d.json(pending_cancel_json(cancel))),
        )
        return done(CancelResult(recorded=True, seq=None, pending=True))
    state = RunState.from_json(d.from_json(rows[0][0]))
    if state.is_terminal or state.cancel_requested:
        return done(CancelResult(recorded=False, seq=None))
    plan = plan_events(state, [cancel])
    now = utc_now()
    positions = yield from write_plan(d, run_id, plan, now)
    yield from d.notify_appended(sender, [(run_id, plan.seqs[-1])])
    yield from d.notify_cancel(run_id)
    return lambda: CancelResult(
        recorded=True, seq=plan.seqs[0], event=plan.durable_events(run_id, now, positions.first())[0]
    )


def save_checkpoint(d: Dialect, run_id: str, covers_seq: int, state: dict[str, object]) -> Flow[None]:
    # A completed step is progress: the recovery budget starts over.
    yield from d.save_checkpoint(run_id, covers_seq, d.json(state), d.time(utc_now()))


def use_nonce(d: Dialect, nonce: str, expires_at_epoch: float, prune: bool) -> Flow[bool]:
    # The caller's clock set expires_at, so the same clock decides expiry.
    now = time.time()
    if prune:
        yield command(d.sql("DELETE FROM nonces WHERE expires_at <= ?"), (now,))
    rows = yield query(
        d.sql(SPEND_NONCE), {"nonce": nonce, "nonce_expires": expires_at_epoch, "nonce_now": now}
    )
    return bool(rows)


def migrate(d: Dialect) -> Flow[list[int]]:
    """Applies the packaged migrations not yet recorded; returns the versions applied."""
    yield from d.lock_migrations()
    yield command(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        f" (version INTEGER PRIMARY KEY, applied_at {d.time_type} NOT NULL)"
    )
    applied = {int(row[0]) for row in (yield query("SELECT version FROM schema_migrations"))}
    new: list[int] = []
    for version, sql in migrations(d.name):
        if version not in applied:
            yield d.migration(version, sql)
            new.append(version)
    yield read_models.ensure_tables(d)  # their schema is a setting: idempotent DDL on every start
    return new


# ----- reads -----


def ping() -> Flow[None]:
    yield query("SELECT 1")


def read_events(
    d: Dialect, run_id: str, after_seq: int, limit: int, max_chars: int | None = None
) -> Flow[list[ev.Event]]:
    page = (
        f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = 'run' AND stream_id = ? AND seq > ?"
        " ORDER BY seq LIMIT ?"
    )
    if max_chars is None:
        rows = yield query(d.sql(page), (run_id, after_seq, limit))
    else:
        # The running size is summed in the database, so rows past the budget never leave it;
        # the first row always does (a page holds at least one event).
        rows = yield query(
            d.sql(
                f"SELECT {EVENT_COLUMNS} FROM (SELECT {EVENT_COLUMNS},"
                f" sum({d.payload_chars}) OVER (ORDER BY seq) AS upto, {d.payload_chars} AS size"
                f" FROM ({page}) AS page) AS sized WHERE upto <= ? OR upto = size ORDER BY seq"
            ),
            (run_id, after_seq, limit, max_chars),
        )
    return [event(d, row) for row in rows]


def run_state(d: Dialect, run_id: str) -> Flow[RunState | None]:
    """The run row's copy of the folded state (written in every append's transaction)."""
    rows = yield query(d.sql("SELECT state FROM runs WHERE run_id = ?"), (run_id,))
    return RunState.from_json(d.from_json(rows[0][0])) if rows else None


def oldest_retained_seq(d: Dialect, run_id: str) -> Flow[int]:
    rows = yield query(d.sql("SELECT oldest_seq FROM runs WHERE run_id = ?"), (run_id,))
    if not rows:
        raise RunNotFound(run_id)
    return int(rows[0][0])


def get_run(d: Dialect, run_id: str) -> Flow[RunRecord | None]:
    rows = yield query(d.sql(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?"), (run_id,))
    return record(d, rows[0]) if rows else None


def list_runs(
    d: Dialect, *, thread_id: str | None, status: RunStatus | None, limit: int, before: tuple[str, str] | None
) -> Flow[list[RunRecord]]:
    """Newest first, keyset-paged by (created_at, run_id)."""
    where: list[str] = []
    params: list[Any] = []
    if thread_id is not None:
        where.append("thread_id = ?")
        params.append(thread_id)
    if status is not None:
        where.append("status = ?")
        params.append(status.value)
    if before is not None:
        created_at, run_id = parse_cursor(before)
        where.append("(created_at, run_id) < (?, ?)")
        params += [d.time(created_at), run_id]
    sql = f"SELECT {RUN_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = yield query(d.sql(sql + " ORDER BY created_at DESC, run_id DESC LIMIT ?"), [*params, limit])
    return [record(d, row) for row in rows]


def thread_owner(d: Dialect, thread_id: str) -> Flow[str | None]:
    """The owner on the thread's row (migration 0010); None for no row or an unknown owner."""
    rows = yield query(d.sql("SELECT user_id FROM threads WHERE thread_id = ?"), (thread_id,))
    return None if not rows or rows[0][0] is None else str(rows[0][0])


def thread_runs(d: Dialect, thread_id: str) -> Flow[list[RunRecord]]:
    rows = yield query(
        d.sql(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE thread_id = ?"
            " AND run_id NOT IN (SELECT run_id FROM agent_rollbacks WHERE thread_id = ?)"
            " ORDER BY created_at, run_id"
        ),
        (thread_id, thread_id),
    )
    return [record(d, row) for row in rows]


def latest_checkpoint(
    d: Dialect, run_id: str, at_or_before: int | None = None
) -> Flow[CheckpointRecord | None]:
    """The checkpoint with the highest covers_seq, at most `at_or_before` when given."""
    rows = yield query(
        d.sql(
            "SELECT covers_seq, state, created_at FROM checkpoints WHERE run_id = ? AND covers_seq <= ?"
            " ORDER BY covers_seq DESC LIMIT 1"
        ),
        (run_id, MAX_SEQ if at_or_before is None else at_or_before),
    )
    if not rows:
        return None
    covers_seq, state, created_at = rows[0]
    return CheckpointRecord(run_id, int(covers_seq), d.from_json(state), d.from_time(created_at))


def last_seqs(d: Dialect, run_ids: Sequence[str]) -> Flow[dict[str, int]]:
    match, param = d.in_list("run_id", run_ids)
    rows = yield query(f"SELECT run_id, last_seq FROM runs WHERE {match}", (param,))
    return {row[0]: int(row[1]) for row in rows}


# ----- the global log and async projections -----


def read_log(
    d: Dialect,
    after_position: int,
    limit: int,
    *,
    up_to: int | None = None,
    types: frozenset[str] | None = None,
) -> Flow[list[ev.Event]]:
    # Positions follow commit order on both databases (dialect.py), so reading
    # `position > p` never skips an event that commits later.
    where, params = "position > ?", [after_position]
    if up_to is not None:
        where += " AND position <= ?"
        params.append(up_to)
    if types is not None:
        match, param = d.in_list("type", sorted(types))
        where += f" AND {match}"
        params.append(param)
    rows = yield query(
        d.sql(f"SELECT stream_kind, {EVENT_COLUMNS} FROM events WHERE {where} ORDER BY position LIMIT ?"),
        (*params, limit),
    )
    return [event(d, row[1:], row[0]) for row in rows]


def log_head(d: Dialect) -> Flow[int]:
    [(position,)] = yield query("SELECT position FROM log_head WHERE id = 1")
    return int(position)


def projection_position(d: Dialect, name: str) -> Flow[int]:
    rows = yield query(d.sql("SELECT position FROM projection_checkpoints WHERE name = ?"), (name,))
    return int(rows[0][0]) if rows else 0


def project(d: Dialect, projection: Projection[Any], limit: int) -> Flow[Done[ProjectionStep | None]]:
    """One projector step, in one transaction: checkpoint, events after it, the
    projection's changes and the new checkpoint."""
    if not (yield from d.try_lock_projection(projection.name)):
        return done(None)
    sink = SINKS[projection.name]
    rows = yield query(
        d.sql("SELECT version, position FROM projection_checkpoints WHERE name = ?"), (projection.name,)
    )
    current = bool(rows) and int(rows[0][0]) == projection.version
    start = int(rows[0][1]) if current else 0
    if rows and not current and isinstance(sink, AsideSink):
        return (yield from project_aside(d, projection, sink, limit))
    if rows and not current:
        yield from sink.clear(d)  # another version: rebuild from zero
    # The head first: every event up to it is committed and visible (dialect.py), so
    # the step may move its checkpoint to it past events it does not read.
    head = yield from log_head(d)
    events = yield from read_log(d, start, limit, up_to=head, types=projection.event_types)
    changes = [change for e in events for change in projection.apply(e)]
    if changes:
        yield from sink.write(d, changes)
    end = events[-1].position if len(events) == limit else head
    if end != start or not current:
        yield save_projection_checkpoints(d, [(projection.name, projection.version, end)])
    return done(ProjectionStep(len(events), start, end, more=len(events) == limit))


def save_projection_checkpoints(d: Dialect, rows: Sequence[tuple[str, int, int]]) -> Stmt:
    """(name, version, position) of each projection, in the step's transaction."""
    now = d.time(utc_now())
    return Stmt(
        d.sql(
            "INSERT INTO projection_checkpoints (name, version, position, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position,"
            " updated_at = excluded.updated_at"
        ),
        [(name, version, position, now) for name, version, position in rows],
        many=True,
    )


def project_together(
    d: Dialect, projections: Sequence[Projection[Any]], limit: int
) -> Flow[Done[list[ProjectionStep | None]]]:
    """One step of several projections in one transaction (the projector's round): each
    locked one (None: another replica holds it) whose checkpoint is of its version gets the
    events of its types from ONE read of the log after the lowest of their checkpoints, and
    they all move to the same new checkpoint, written with their rows (one statement).
    A projection without a checkpoint of its version takes its own step (`project`)."""
    names = [p.name for p in projections]
    locked = yield from d.try_lock_projections(names)
    # After the locks (a later statement: a checkpoint committed before them is seen), and
    # the head with them: every event up to it is committed and visible (dialect.py).
    match, param = d.in_list("c.name", names)
    rows = yield query(
        d.sql(
            "SELECT h.position, c.name, c.version, c.position FROM log_head h"
            f" LEFT JOIN projection_checkpoints c ON {match} WHERE h.id = 1"
        ),
        (param,),
    )
    head = int(rows[0][0])
    stored = {str(r[1]): (int(r[2]), int(r[3])) for r in rows if r[1] is not None}
    steps: dict[str, Done[ProjectionStep | None]] = {}
    together: list[tuple[Projection[Any], int]] = []
    for projection in projections:
        version, position = stored.get(projection.name, (None, 0))
        if projection.name not in locked:
            steps[projection.name] = done(None)
        elif version == projection.version:
            together.append((projection, position))
        else:
            steps[projection.name] = yield from project(d, projection, limit)
    if together:
        steps |= yield from _project_from_one_read(d, together, head, limit)
    return lambda: [steps[name]() for name in names]


def _project_from_one_read(
    d: Dialect, together: Sequence[tuple[Projection[Any], int]], head: int, limit: int
) -> Flow[dict[str, Done[ProjectionStep | None]]]:
    start = min(position for _, position in together)
    kinds = [p.event_types for p, _ in together]
    types = None if any(k is None for k in kinds) else frozenset().union(*(k or () for k in kinds))
    events = yield from read_log(d, start, limit, up_to=head, types=types)
    more = len(events) == limit
    end = events[-1].position if more else head
    steps: dict[str, Done[ProjectionStep | None]] = {}
    moved: list[tuple[str, int, int]] = []
    for projection, position in together:
        wanted = projection.event_types
        mine = [e for e in events if e.position > position and (wanted is None or e.type in wanted)]
        changes = [change for e in mine for change in projection.apply(e)]
        if changes:
            yield from SINKS[projection.name].write(d, changes)
        to = max(end, position)  # one ahead of the others (a step of its own) never goes back
        if to != position:
            moved.append((projection.name, projection.version, to))
        steps[projection.name] = done(ProjectionStep(len(mine), position, to, more=more))
    if moved:
        yield save_projection_checkpoints(d, moved)
    return steps


def project_aside(
    d: Dialect, projection: Projection[Any], sink: AsideSink, limit: int
) -> Flow[Done[ProjectionStep | None]]:
    """A step of a new version of a projection whose rows are read while it rebuilds: it
    replays the log into tables aside (checkpoint `<name>@next`) while the old version's rows
    keep serving, and the step that reaches the log head swaps them in and moves the
    projection's checkpoint to the new version, in one transaction."""
    aside = f"{projection.name}@next"
    rows = yield query(d.sql("SELECT version, position FROM projection_checkpoints WHERE name = ?"), (aside,))
    if rows and int(rows[0][0]) == projection.version:
        start = int(rows[0][1])
    else:
        yield from sink.prepare_aside(d)  # a build of another version (or none) restarts empty
        start = 0
    head = yield from log_head(d)
    events = yield from read_log(d, start, limit, up_to=head, types=projection.event_types)
    changes = [change for e in events for change in projection.apply(e)]
    if changes:
        yield from sink.write_aside(d, changes)
    end = events[-1].position if len(events) == limit else head
    caught_up = end >= head
    if caught_up:
        yield from sink.swap_aside(d)
        yield command(d.sql("DELETE FROM projection_checkpoints WHERE name = ?"), (aside,))
    yield save_projection_checkpoints(d, [(projection.name if caught_up else aside, projection.version, end)])
    return done(ProjectionStep(len(events), start, end, more=len(events) == limit))


def reset_projection(d: Dialect, name: str) -> Flow[Done[None]]:
    yield from SINKS[name].clear(d)
    yield command(d.sql("DELETE FROM projection_checkpoints WHERE name = ?"), (name,))
    return done(None)


def thread_messages(d: Dialect, thread_id: str) -> Flow[dict[str, list[ChatMessage]]]:
    """The projection's rows for the thread, topped up from the log past its
    checkpoint (read first: rows written after it are found twice, never missed).
    Three statements whatever the thread's age; the top-up reads only the
    projector's lag, driven by the position index (CROSS JOIN fixes SQLite's join order)."""
    rows = yield query(
        d.sql("SELECT position FROM projection_checkpoints WHERE name = ? AND version = ?"),
        (THREAD_MESSAGES.name, THREAD_MESSAGES.version),
    )
    checkpoint = int(rows[0][0]) if rows else 0
    stored = yield query(
        d.sql(
            "SELECT m.run_id, m.seq, m.position, m.message_id, m.role, m.content"
            " FROM runs r JOIN thread_messages m ON m.run_id = r.run_id WHERE r.thread_id = ?"
        ),
        (thread_id,),
    )
    types, param = d.in_list("e.type", sorted(THREAD_MESSAGES.event_types or ()))
    recent = yield query(
        d.sql(
            "SELECT e.stream_kind, "
            + ", ".join(f"e.{c.strip()}" for c in EVENT_COLUMNS.split(","))
            + " FROM events e CROSS JOIN runs r"
            f" WHERE e.position > ? AND {types} AND e.stream_kind = 'run' AND r.run_id = e.stream_id"
            " AND r.thread_id = ?"
        ),
        (checkpoint, param, thread_id),
    )
    messages = [ThreadMessage(r[0], int(r[1]), int(r[2]), r[3], r[4], r[5]) for r in stored]
    messages += [m for row in recent for m in THREAD_MESSAGES.apply(event(d, row[1:], row[0]))]
    return by_run(messages)
