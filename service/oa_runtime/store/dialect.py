"""Where SQLite and PostgreSQL differ, and only that: placeholders, how JSON and
times travel, row locks, and the bulk forms of the append hot path.

Shared SQL is written once with SQLite's placeholders (`?`, `:name`);
`Dialect.sql` rewrites it for psycopg (`%s`, `%(name)s`). The bulk statements
differ by design: SQLite (in-process, one writer thread) uses executemany and
json_set; PostgreSQL sends whole batches as binary `unnest` arrays, one
statement per table, so a batch costs the same few round trips at any size.

Global positions (the order a catch-up reader follows, see flows.py) come from
the one-row `log_head` counter, bumped in the statement that inserts the events:
- SQLite: one writer thread commits one transaction at a time, so positions are
  handed out in commit order by construction.
- PostgreSQL: the UPDATE takes the counter row's lock, held until COMMIT, and
  every transaction that inserts events takes it as its last lock (after its run
  rows, thread rows and advisory locks, so it never waits for anything while
  holding it). A transaction with a higher position therefore commits after every
  lower one: a reader that saw position p committed can never later find a
  committed event below p. Aborted transactions roll the counter back, so
  positions stay dense. The cost is that the tail of event-writing transactions
  (the events insert, which flows put last, and the commit) runs one at a time
  across replicas; the writer's group commit keeps those transactions few.
  (Measured: append and create_run within the machine's noise of before, ~5%
  slower on append in alternating runs.)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..core.canonical import canonical_json
from ..core.leases import CANCEL_PREFIX, CONTROL_CHANNEL, EVENTS_CHANNEL, agent_notify_payload, notify_payload
from .common import SPEND_NONCE, TRANSCRIPT_FIELD, EventRow, StateUpdate, iso, summary_values
from .sql import Deferred, Flow, Stmt, command, query

# stream_kind, stream_id, seq, position, event_id, type, occurred_at, payload
INSERT_EVENT_COLUMNS = "stream_kind, stream_id, seq, position, event_id, type, occurred_at, payload"
_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)")


class Dialect:
    """The SQLite dialect; PostgresDialect overrides what differs."""

    name = "sqlite"
    for_update = ""  # one writer: nothing to lock
    time_type = "TEXT"
    payload_chars = "length(payload)"  # an event's payload size in characters (its JSON text)

    def sql(self, text: str) -> str:
        return text

    # ----- values -----

    def json(self, value: Any) -> Any:
        return canonical_json(value)

    def from_json(self, value: Any) -> Any:
        return json.loads(value)

    def time(self, moment: datetime) -> Any:
        return iso(moment)

    def from_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).astimezone(UTC)

    def epoch(self, seconds: float | None) -> Any:
        """wake_at: epoch seconds (REAL) on SQLite, a timestamp on PostgreSQL."""
        return seconds

    def in_list(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        """`column` is one of `values`: the condition and its one parameter."""
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))

    # ----- locks -----

    def lock_run_id(self, run_id: str) -> Flow[None]:
        """Serializes create and cancel of one run id (PostgreSQL); one writer needs none."""
        return
        yield

    def spend_nonce(self, params: dict[str, Any]) -> Flow[tuple[str, str]]:
        """Spends a request's nonce (`:nonce`, `:nonce_expires`, `:nonce_now` in `params`)
        with the statement that follows: (a prefix for it, a column that is 0 when the
        nonce was live, i.e. already used). One writer: a statement of its own, same trip."""
        rows = yield query(SPEND_NONCE, params)
        return "", "1" if rows else "0"

    def lock_run_id_and_add_thread(
        self, run_id: str, thread_id: str, user_id: str, now: datetime
    ) -> Flow[None]:
        """`lock_run_id`, then the thread row (if new, owned by `user_id`): a create's first
        locks, in that order."""
        yield command(
            "INSERT INTO threads (thread_id, created_at, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (thread_id, self.time(now), user_id),
        )

    def lock_migrations(self) -> Flow[None]:
        return
        yield

    def try_lock_projection(self, name: str) -> Flow[bool]:
        """One projector per projection across replicas; one process owns a SQLite file."""
        return True
        yield

    def try_lock_projections(self, names: Sequence[str]) -> Flow[set[str]]:
        """`try_lock_projection` of several in one statement: the names locked."""
        return set(names)
        yield

    # ----- the append hot path -----

    def select_heads(self, run_ids: Sequence[str]) -> Stmt:
        return query(
            f"SELECT run_id, json_remove(state, '$.{TRANSCRIPT_FIELD}'), lease_token FROM runs"
            " WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(run_ids)),),
        )

    def select_keys(self, wanted: Sequence[tuple[str, str]]) -> Stmt:
        return query(
            "SELECT k.run_id, k.key, k.request_hash, k.seqs FROM idempotency_keys k"
            " JOIN json_each(?) w ON k.run_id = json_extract(w.value, '$[0]')"
            " AND k.key = json_extract(w.value, '$[1]')",
            (json.dumps(list(wanted)),),
        )

    def insert_events(self, kind: str, rows: Sequence[tuple[str, EventRow]], now: datetime) -> Flow[Deferred]:
        """Inserts the rows with the next global positions; the Deferred's first value
        is the first position taken (the others follow in order)."""
        [(last,)] = yield query(
            "UPDATE log_head SET position = position + ? WHERE id = 1 RETURNING position", (len(rows),)
        )
        first = int(last) - len(rows) + 1
        occurred_at = iso(now)
        yield Stmt(
            f"INSERT INTO events ({INSERT_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    kind,
                    stream_id,
                    r.seq,
                    first + i,
                    r.event_id,
                    r.type,
                    occurred_at,
                    canonical_json(r.payload),
                )
                for i, (stream_id, r) in enumerate(rows)
            ],
            many=True,
        )
        return Deferred([(first,)])

    def update_runs(self, updates: Sequence[StateUpdate], now: datetime) -> Flow[None]:
        by_sql: dict[str, list[list[Any]]] = {}
        occurred_at = iso(now)
        for update in updates:
            status, last_seq, steps, reason, error = summary_values(update.state)
            names = tuple(update.fields)
            # status is indexed: set it only when it changed.
            params: list[Any] = [status] if update.status_changed else []
            params += [last_seq, steps, reason, error]
            params += [canonical_json(update.fields[name]) for name in names]
            params += [canonical_json(m) for m in update.appended]
            params += [occurred_at, update.state.wake_at, update.run_id]
            sql = _sqlite_update_run(update.status_changed, names, len(update.appended))
            by_sql.setdefault(sql, []).append(params)
        for sql, rows in by_sql.items():
            yield Stmt(sql, rows, many=True)

    def insert_keys(self, keys: Sequence[tuple[str, str, str, list[int]]]) -> Flow[None]:
        yield Stmt(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs) VALUES (?, ?, ?, ?)",
            [(run_id, key, h, json.dumps(seqs)) for run_id, key, h, seqs in keys],
            many=True,
        )

    def create_run_rows(
        self, values: dict[str, Any], rows: Sequence[EventRow], now: datetime
    ) -> Flow[Deferred]:
        """The writes of a new run (its thread row was written before): the pending
        cancel consumed, the run row (with the creator's lease), its first events."""
        yield command("DELETE FROM pending_cancels WHERE run_id = :run_id", values)
        yield command(
            "INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at, updated_at,"
            " last_seq, step_count, finish_reason, error_message, state, lease_owner, lease_token,"
            " lease_expires_at, after_run_id)"
            " VALUES (:run_id, :thread_id, :request, :fingerprint, :status, :now, :now, :last_seq, :steps,"
            " :reason, :error, :state, :owner, :token, :expires, :after_run_id)",
            values,
        )
        return (yield from self.insert_events("run", [(values["run_id"], r) for r in rows], now))

    def save_checkpoint(self, run_id: str, covers_seq: int, state: Any, now: Any) -> Flow[None]:
        yield command(
            "INSERT INTO checkpoints (run_id, covers_seq, state, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id, covers_seq) DO UPDATE SET state = excluded.state,"
            " created_at = excluded.created_at",
            (run_id, covers_seq, state, now),
        )
        yield command("UPDATE runs SET recovery_attempts = 0 WHERE run_id = ?", (run_id,))

    # ----- notifications (PostgreSQL only) -----

    def notify_appended(self, sender: str, positions: Sequence[tuple[str, int]]) -> Flow[None]:
        return
        yield

    def notify_cancel(self, run_id: str) -> Flow[None]:
        return
        yield

    def notify_agent(self, sender: str, agent_id: str, seq: int, due: bool) -> Flow[None]:
        return
        yield

    # ----- migrations -----

    def migration(self, version: int, sql: str) -> Stmt:
        # executescript would commit on its own: the script opens and commits its transaction.
        record = f"INSERT INTO schema_migrations VALUES ({version}, CURRENT_TIMESTAMP);"
        return Stmt(f"BEGIN IMMEDIATE;\n{sql}\n;{record}\nCOMMIT;", script=True)


class PostgresDialect(Dialect):
    name = "postgres"
    for_update = " FOR UPDATE"
    time_type = "TIMESTAMPTZ"
    payload_chars = "length(payload::text)"

    def __init__(self) -> None:
        # Imported here: a SQLite service never loads the PostgreSQL driver (cold start).
        from psycopg.types.json import Jsonb

        self._jsonb = Jsonb

    def sql(self, text: str) -> str:
        return _psycopg_sql(text)

    def json(self, value: Any) -> Any:
        return self._jsonb(value)

    def from_json(self, value: Any) -> Any:
        return value

    def time(self, moment: datetime) -> Any:
        return moment

    def from_time(self, value: Any) -> datetime:
        return value.astimezone(UTC)  # type: ignore[no-any-return]

    def epoch(self, seconds: float | None) -> Any:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    def in_list(self, column: str, values: Sequence[str]) -> tuple[str, Any]:
        return f"{column} = ANY(%s)", list(values)

    def lock_run_id(self, run_id: str) -> Flow[None]:
        yield command("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (run_id,))

    def spend_nonce(self, params: dict[str, Any]) -> Flow[tuple[str, str]]:
        # A data-modifying CTE of the statement that follows: no round trip of its own.
        return f"WITH spent AS ({SPEND_NONCE}) ", "(SELECT count(*) FROM spent)"
        yield

    def lock_run_id_and_add_thread(
        self, run_id: str, thread_id: str, user_id: str, now: datetime
    ) -> Flow[None]:
        # One statement; the insert reads the lock's row, so the locks are taken first. The
        # thread's lock (seed 2) serializes creates on one thread, so each sees the other's
        # run when it reads the thread's unfinished runs (thread input, core/admission.py).
        yield command(
            "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended(%s, 0)) AS run_lock,"
            "  pg_advisory_xact_lock(hashtextextended(%s, 2)) AS thread_lock)"
            " INSERT INTO threads (thread_id, created_at, user_id) SELECT %s, %s, %s FROM locked"
            " ON CONFLICT DO NOTHING",
            (run_id, thread_id, thread_id, now, user_id),
        )

    def lock_migrations(self) -> Flow[None]:
        yield command("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))

    def try_lock_projection(self, name: str) -> Flow[bool]:
        # Transaction-scoped: held while one projector transaction reads, applies and
        # writes; a replica that does not get it skips this round.
        [(locked,)] = yield query("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 1))", (name,))
        return bool(locked)

    def try_lock_projections(self, names: Sequence[str]) -> Flow[set[str]]:
        # Try-locks never wait, so the order they are taken in cannot deadlock.
        rows = yield query(
            "SELECT n FROM unnest(%s::text[]) AS n WHERE pg_try_advisory_xact_lock(hashtextextended(n, 1))",
            (list(names),),
        )
        return {str(row[0]) for row in rows}

    def select_heads(self, run_ids: Sequence[str]) -> Stmt:
        # Locks in run id order (ORDER BY … FOR UPDATE), as every other batch does.
        return query(
            f"SELECT run_id, state - '{TRANSCRIPT_FIELD}', lease_token FROM runs WHERE run_id = ANY(%s)"
            " ORDER BY run_id FOR UPDATE",
            (sorted(run_ids),),
        )

    def select_keys(self, wanted: Sequence[tuple[str, str]]) -> Stmt:
        return query(
            "SELECT k.run_id, k.key, k.request_hash, k.seqs FROM idempotency_keys k"
            " JOIN unnest(%b::text[], %b::text[]) AS w(run_id, key) ON k.run_id = w.run_id AND k.key = w.key",
            ([w[0] for w in wanted], [w[1] for w in wanted]),
        )

    def insert_events(self, kind: str, rows: Sequence[tuple[str, EventRow]], now: datetime) -> Flow[Deferred]:
        # The counter row's lock is this transaction's last (see the module docstring).
        positions = Deferred()
        yield Stmt(
            "WITH head AS (UPDATE log_head SET position = position + %(n)s WHERE id = 1"
            "   RETURNING position - %(n)s AS base),"
            f" inserted AS (INSERT INTO events ({INSERT_EVENT_COLUMNS})"
            "  SELECT %(kind)s, u.stream_id, u.seq, head.base + u.ord, u.event_id, u.type, %(now)s,"
            "   u.payload::jsonb"
            "  FROM head, unnest(%(ids)b::text[], %(seqs)b::bigint[], %(event_ids)b::text[],"
            "   %(types)b::text[], %(payloads)b::text[])"
            "  WITH ORDINALITY AS u(stream_id, seq, event_id, type, payload, ord))"
            " SELECT base + 1 FROM head",  # one row: the first position taken
            {
                "n": len(rows),
                "kind": kind,
                "now": now,
                "ids": [stream_id for stream_id, _ in rows],
                "seqs": [r.seq for _, r in rows],
                "event_ids": [r.event_id for _, r in rows],
                "types": [r.type for _, r in rows],
                "payloads": [canonical_json(r.payload) for _, r in rows],
            },
            deferred=positions,
        )
        return positions

    def update_runs(self, updates: Sequence[StateUpdate], now: datetime) -> Flow[None]:
        summaries = [summary_values(u.state) for u in updates]
        yield command(
            "UPDATE runs AS r SET status = v.status, last_seq = v.last_seq, step_count = v.step_count,"
            " finish_reason = v.finish_reason, error_message = v.error_message,"
            " state = CASE WHEN v.appended = '[]' THEN r.state || v.fields::jsonb"
            f"  ELSE jsonb_set(r.state || v.fields::jsonb, '{{{TRANSCRIPT_FIELD}}}',"
            f"   (r.state -> '{TRANSCRIPT_FIELD}') || v.appended::jsonb) END,"
            " updated_at = %s, wake_at = v.wake_at"
            " FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::text[], %b::text[],"
            "  %b::text[], %b::text[], %b::timestamptz[])"
            " AS v(run_id, status, last_seq, step_count, finish_reason, error_message, fields, appended,"
            "  wake_at)"
            " WHERE r.run_id = v.run_id",
            (
                now,
                [u.run_id for u in updates],
                *([s[i] for s in summaries] for i in range(5)),
                [canonical_json(u.fields) for u in updates],
                [canonical_json(u.appended) for u in updates],
                [self.epoch(u.state.wake_at) for u in updates],
            ),
        )

    def insert_keys(self, keys: Sequence[tuple[str, str, str, list[int]]]) -> Flow[None]:
        yield command(
            "INSERT INTO idempotency_keys (run_id, key, request_hash, seqs)"
            " SELECT u.run_id, u.key, u.request_hash, u.seqs::jsonb"
            " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])"
            " AS u(run_id, key, request_hash, seqs)",
            (
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [canonical_json(k[3]) for k in keys],
            ),
        )

    def create_run_rows(
        self, values: dict[str, Any], rows: Sequence[EventRow], now: datetime
    ) -> Flow[Deferred]:
        # One statement (CPU per start counts): pending cancel, run row, counter, events.
        positions = Deferred()
        yield Stmt(
            "WITH pending AS (DELETE FROM pending_cancels WHERE run_id = %(run_id)s),"
            " run AS (INSERT INTO runs (run_id, thread_id, request, fingerprint, status, created_at,"
            "   updated_at, last_seq, step_count, finish_reason, error_message, state,"
            "   lease_owner, lease_token, lease_expires_at, after_run_id)"
            "   VALUES (%(run_id)s, %(thread_id)s, %(request)s, %(fingerprint)s, %(status)s, %(now)s,"
            "   %(now)s, %(last_seq)s, %(steps)s, %(reason)s, %(error)s, %(state)s,"
            # The accepting replica's first lease (token 1), on the database clock.
            "   %(owner)s, %(token)s, CASE WHEN %(owner)s::text IS NULL THEN NULL"
            "     ELSE clock_timestamp() + make_interval(secs => %(ttl)s) END, %(after_run_id)s)),"
            " head AS (UPDATE log_head SET position = position + %(n)s WHERE id = 1"
            "   RETURNING position - %(n)s AS base),"
            f" inserted AS (INSERT INTO events ({INSERT_EVENT_COLUMNS})"
            "  SELECT 'run', %(run_id)s, u.seq, head.base + u.ord, u.event_id, u.type, %(now)s,"
            "   u.payload::jsonb"
            "  FROM head, unnest(%(seqs)b::bigint[], %(ids)b::text[], %(types)b::text[],"
            "   %(payloads)b::text[]) WITH ORDINALITY AS u(seq, event_id, type, payload, ord))"
            " SELECT base + 1 FROM head",
            {
                **values,
                "n": len(rows),
                "seqs": [r.seq for r in rows],
                "ids": [r.event_id for r in rows],
                "types": [r.type for r in rows],
                "payloads": [canonical_json(r.payload) for r in rows],
            },
            deferred=positions,
        )
        return positions

    def save_checkpoint(self, run_id: str, covers_seq: int, state: Any, now: Any) -> Flow[None]:
        # One statement (atomic on its own): no BEGIN/COMMIT round trips.
        yield command(
            "WITH saved AS (INSERT INTO checkpoints (run_id, covers_seq, state, created_at)"
            "  VALUES (%(run_id)s, %(covers_seq)s, %(state)s, %(now)s)"
            "  ON CONFLICT (run_id, covers_seq) DO UPDATE SET state = excluded.state,"
            "  created_at = excluded.created_at)"
            " UPDATE runs SET recovery_attempts = 0 WHERE run_id = %(run_id)s",
            {"run_id": run_id, "covers_seq": covers_seq, "state": state, "now": now},
        )

    def notify_appended(self, sender: str, positions: Sequence[tuple[str, int]]) -> Flow[None]:
        # Queued with the transaction: PostgreSQL delivers it at commit, or never.
        for payload in notify_payload(sender, list(positions)):
            yield command("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, payload))

    def notify_cancel(self, run_id: str) -> Flow[None]:
        yield command("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, CANCEL_PREFIX + run_id))

    def notify_agent(self, sender: str, agent_id: str, seq: int, due: bool) -> Flow[None]:
        # In the agent update's transaction: peers hear of it at commit, or never (see agent_wake.py).
        yield command(
            "SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, agent_notify_payload(sender, agent_id, seq, due))
        )

    def migration(self, version: int, sql: str) -> Stmt:
        # Several statements, no parameters: the simple query protocol, inside the flow's transaction.
        return Stmt(f"{sql}\n;INSERT INTO schema_migrations VALUES ({version}, now());", script=True)


_MIGRATION_LOCK = 0x6F615F6D69677261  # any constant; serializes replicas migrating at once


@functools.lru_cache(maxsize=512)
def _psycopg_sql(text: str) -> str:
    return _NAMED.sub(r"%(\1)s", text.replace("?", "%s"))


@functools.lru_cache(maxsize=256)
def _sqlite_update_run(status: bool, names: tuple[str, ...], appended: int) -> str:
    """The run row UPDATE of the fast path: summary columns (status only if it changed),
    the state's top-level `names` replaced (json_set with json values), `appended`
    messages added to its transcript (json_insert at the end, in order)."""
    state = "state"
    if names:
        pairs = ", ".join(f"'$.\"{name}\"', json(?)" for name in names)
        state = f"json_set({state}, {pairs})"
    if appended:
        pairs = ", ".join(f"'$.{TRANSCRIPT_FIELD}[#]', json(?)" for _ in range(appended))
        state = f"json_insert({state}, {pairs})"
    return (
        f"UPDATE runs SET {'status = ?, ' if status else ''}last_seq = ?, step_count = ?, finish_reason = ?,"
        f" error_message = ?, state = {state}, updated_at = ?, wake_at = ? WHERE run_id = ?"
    )
