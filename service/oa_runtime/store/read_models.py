"""The Laravel read models' tables: their DDL, the projection's sink, and the reads
and rewrites `reproject` needs (the pure parts are core/read_models.py).

On PostgreSQL the tables live in their own schema (RUNTIME_READ_MODEL_SCHEMA,
default `laravel`); on SQLite, in the same file, named `<schema>_<table>`. Every
write is an upsert keyed by (run_id, seq) or the run/thread id, so a step applied
twice changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

from ..core import events as ev
from ..core.agent_summary import AgentTouched
from ..core.canonical import canonical_json
from ..core.read_models import (
    LARAVEL_READ_MODELS,
    Checkpoint,
    MessageRow,
    ReadModelChange,
    RunEventRow,
    RunFacts,
    RunModel,
    RunRolledBack,
    RunRow,
    Snapshot,
    ThreadRow,
    laravel_user_id,
    run_row,
    thread_row,
)
from ..core.records import StartRequest
from . import agent_read_models, flows  # module imports: both import this module too
from .common import EVENT_COLUMNS
from .dialect import Dialect
from .sql import Flow, Stmt, command, query

DEFAULT_SCHEMA = "laravel"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")

RUN_COLUMNS = (
    "run_id, thread_id, user_id, status, model, last_seq, event_count, message_count, step_count,"
    " finish_reason, error_message, created_at, updated_at, finished_at, last_position"
)
MESSAGE_COLUMNS = "run_id, seq, position, thread_id, message_id, role, content, created_at"
EVENT_ROW_COLUMNS = "run_id, seq, position, event_id, type, payload, occurred_at"
THREAD_COLUMNS = "thread_id, user_id, run_count, last_run_id, last_status, created_at, updated_at"


def schema() -> str:
    """The read models' schema (PostgreSQL) or table-name prefix (SQLite)."""
    name = os.environ.get("RUNTIME_READ_MODEL_SCHEMA", "") or DEFAULT_SCHEMA
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"RUNTIME_READ_MODEL_SCHEMA must match {_SCHEMA_NAME.pattern}: {name!r}")
    return name


def table(d: Dialect, name: str, space: str | None = None) -> str:
    """A read-model table's name; `space` another schema (prefix) than the configured one
    (the tables a new projection version is built in, `aside_space`)."""
    space = space or schema()
    return f'"{space}".{name}' if d.name == "postgres" else f"{space}_{name}"


def aside_space() -> str:
    """Where a new projection version's tables are built while the old ones serve."""
    return f"{schema()}__next"


def _ddl(d: Dialect, space: str) -> str:
    text = resources.files("oa_runtime.store").joinpath("migrations", d.name, "read_models.sql").read_text()
    prefix = table(d, "", space)
    text = text.replace("{schema}", f'"{space}"').replace("{rm}", prefix)
    return text.replace("{ix}", "" if d.name == "postgres" else prefix)


def ensure_tables(d: Dialect) -> Stmt:
    """The read models' DDL for the configured schema (idempotent; after the migrations)."""
    text = _ddl(d, schema())
    if d.name == "sqlite":
        text = f"BEGIN IMMEDIATE;\n{text}\nCOMMIT;"  # executescript commits on its own
    return Stmt(text, script=True)


def _statements(text: str) -> list[str]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in code.split(";") if stmt.strip()]


TABLES = ("threads", "runs", "messages", "run_events", "agents")


def prepare_aside(d: Dialect) -> Flow[None]:
    """Empty tables in `aside_space` for a rebuild (inside the projector's transaction)."""
    for name in TABLES:
        yield command(f"DROP TABLE IF EXISTS {table(d, name, aside_space())}")
    for stmt in _statements(_ddl(d, aside_space())):
        yield command(stmt)


def swap_aside(d: Dialect) -> Flow[None]:
    """Replaces the serving tables with the ones built aside, in the caller's transaction:
    a Laravel reader sees the old rows or the new ones, never a mix or none."""
    live, aside = schema(), aside_space()
    for name in TABLES:
        yield command(f"DROP TABLE {table(d, name, live)}")
        if d.name == "postgres":
            yield command(f'ALTER TABLE {table(d, name, aside)} SET SCHEMA "{live}"')
        else:
            yield command(f"ALTER TABLE {table(d, name, aside)} RENAME TO {table(d, name, live)}")
    if d.name == "sqlite":  # index names carry the prefix: give them the serving one
        rows = yield query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE ? ESCAPE '!'",
            (aside.replace("_", "!_") + "!_%",),
        )
        for (index,) in rows:
            yield command(f"DROP INDEX {index}")
        for stmt in _statements(_ddl(d, live)):
            yield command(stmt)


def _time(d: Dialect, moment: datetime | None) -> Any:
    return None if moment is None else d.time(moment)


def _from_time(d: Dialect, value: Any) -> datetime | None:
    return None if value is None else d.from_time(value)


# ----- the sink -----


class LaravelReadModelsSink:
    """An AsideSink (store/projections.py): a version bump builds the new version's tables
    aside while the old ones serve (flows.project_aside), instead of emptying the tables
    Laravel reads."""

    def write(self, d: Dialect, changes: Sequence[ReadModelChange], space: str | None = None) -> Flow[None]:
        events = [c for c in changes if isinstance(c, RunEventRow)]
        rollbacks = sorted({c.run_id for c in changes if isinstance(c, RunRolledBack)})
        if rollbacks:
            yield from drop_messages(d, rollbacks, space)
        agents = [c.agent_id for c in changes if isinstance(c, AgentTouched)]
        if agents:
            yield from agent_read_models.write_agents(d, agents, space)
        if not events:
            return
        run_ids = sorted({e.run_id for e in events})
        facts = yield from run_facts(d, run_ids)
        threads = {run_id: f.thread_id for run_id, f in facts.items()}
        # A rolled-back run's messages are not written, and those written before it was
        # rolled back go (core/read_models.py): the run left the thread's history.
        dropped = [r for r in run_ids if facts[r].rolled_back]
        if dropped:
            yield from drop_messages(d, dropped, space)
        messages = [m for m in changes if isinstance(m, MessageRow) and not facts[m.run_id].rolled_back]
        yield from write_rows(d, events, [_with_thread(m, threads[m.run_id]) for m in messages], space)
        counts = yield from row_counts(d, run_ids, space)
        last: dict[str, RunEventRow] = {}
        finished: dict[str, datetime] = {}
        for e in events:
            if e.run_id not in last or e.seq > last[e.run_id].seq:
                last[e.run_id] = e
            if e.type == ev.RUN_FINISHED:
                finished[e.run_id] = e.occurred_at
        rows = [
            run_row(
                facts[r],
                last[r],
                event_count=counts[r][0],
                message_count=counts[r][1],
                finished_at=finished.get(r),
            )
            for r in run_ids
        ]
        yield from upsert_runs(d, rows, keep_newer=True, space=space)
        yield from refresh_threads(d, {row.thread_id for row in rows}, space)

    def write_aside(self, d: Dialect, changes: Sequence[ReadModelChange]) -> Flow[None]:
        yield from self.write(d, changes, aside_space())

    def prepare_aside(self, d: Dialect) -> Flow[None]:
        yield from prepare_aside(d)

    def swap_aside(self, d: Dialect) -> Flow[None]:
        yield from swap_aside(d)

    def clear(self, d: Dialect) -> Flow[None]:
        for name in ("run_events", "messages", "runs", "threads", "agents"):
            yield command(f"DELETE FROM {table(d, name)}")


def drop_messages(d: Dialect, run_ids: Sequence[str], space: str | None = None) -> Flow[None]:
    """Rolled-back runs: no messages rows, and their run rows say so (idempotent)."""
    match, param = d.in_list("run_id", run_ids)
    yield command(d.sql(f"DELETE FROM {table(d, 'messages', space)} WHERE {match}"), (param,))
    yield command(
        d.sql(f"UPDATE {table(d, 'runs', space)} SET message_count = 0, finish_reason = ? WHERE {match}"),
        (ev.FINISH_ROLLED_BACK, param),
    )


def _with_thread(m: MessageRow, thread_id: str) -> MessageRow:
    return MessageRow(m.run_id, m.seq, m.position, thread_id, m.message_id, m.role, m.content, m.created_at)


def write_rows(
    d: Dialect, events: Sequence[RunEventRow], messages: Sequence[MessageRow], space: str | None = None
) -> Flow[None]:
    """Upserts run_events and messages rows by (run_id, seq) (the last of a key wins)."""
    event_rows = {
        (e.run_id, e.seq): (
            e.run_id,
            e.seq,
            e.position,
            e.event_id,
            e.type,
            canonical_json(dict(e.payload)) if d.name == "postgres" else d.json(dict(e.payload)),
            d.time(e.occurred_at),
        )
        for e in events
    }
    message_rows = {
        (m.run_id, m.seq): (
            m.run_id,
            m.seq,
            m.position,
            m.thread_id,
            m.message_id,
            m.role,
            m.content,
            d.time(m.created_at),
        )
        for m in messages
    }
    if event_rows:
        yield upsert(d, "run_events", EVENT_ROW_COLUMNS, _EVENT_TYPES, list(event_rows.values()), space)
    if message_rows:
        yield upsert(d, "messages", MESSAGE_COLUMNS, _MESSAGE_TYPES, list(message_rows.values()), space)


_EVENT_TYPES = ("text", "bigint", "bigint", "text", "text", "jsonb", "timestamptz")
_MESSAGE_TYPES = ("text", "bigint", "bigint", "text", "text", "text", "text", "timestamptz")


def upsert(
    d: Dialect,
    name: str,
    columns: str,
    pg_types: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    space: str | None = None,
) -> Stmt:
    """An upsert keyed (run_id, seq) of every other column."""
    names = [c.strip() for c in columns.split(",")]
    update = ", ".join(f"{c} = excluded.{c}" for c in names if c not in ("run_id", "seq"))
    conflict = f" ON CONFLICT (run_id, seq) DO UPDATE SET {update}"
    return insert_rows(d, table(d, name, space), columns, pg_types, rows, conflict)


def insert_rows(
    d: Dialect, target: str, columns: str, pg_types: Sequence[str], rows: Sequence[tuple[Any, ...]], tail: str
) -> Stmt:
    """`INSERT INTO target (columns) <rows> tail` (an ON CONFLICT clause). PostgreSQL gets the
    rows as one array per column (`unnest`: one statement and no per-row work in the driver,
    whatever the count), SQLite as executemany (in-process, no round trips)."""
    if d.name != "postgres":
        marks = ", ".join("?" for _ in pg_types)
        return Stmt(f"INSERT INTO {target} ({columns}) VALUES ({marks}){tail}", list(rows), many=True)
    names = [c.strip() for c in columns.split(",")]
    # Binary arrays (`%b`): text ones would be escaped element by element. JSON travels as text.
    arrays = ", ".join(f"%b::{'text' if t == 'jsonb' else t}[]" for t in pg_types)
    select = ", ".join(
        f"u.{c}::jsonb" if t == "jsonb" else f"u.{c}" for c, t in zip(names, pg_types, strict=True)
    )
    return Stmt(
        f"INSERT INTO {target} ({columns}) SELECT {select} FROM unnest({arrays}) AS u({columns}){tail}",
        [list(column) for column in zip(*rows, strict=True)],
    )


_RUN_TYPES = (
    *("text", "text", "bigint", "text", "text", "bigint", "bigint", "bigint", "integer"),
    *("text", "text", "timestamptz", "timestamptz", "timestamptz", "bigint"),
)


def upsert_runs(
    d: Dialect, rows: Sequence[RunRow], *, keep_newer: bool, space: str | None = None
) -> Flow[None]:
    """`keep_newer`: a row already past the new one's last seq keeps its progress
    columns (an older step replayed); its counts and summary are refreshed."""
    progress = "updated_at = excluded.updated_at, last_position = excluded.last_position"
    if keep_newer:
        progress = (
            "updated_at = CASE WHEN excluded.last_seq >= cur.last_seq THEN excluded.updated_at"
            " ELSE cur.updated_at END, last_position = CASE WHEN excluded.last_seq >= cur.last_seq"
            " THEN excluded.last_position ELSE cur.last_position END,"
            " last_seq = CASE WHEN excluded.last_seq >= cur.last_seq THEN excluded.last_seq"
            " ELSE cur.last_seq END"
        )
    else:
        progress += ", last_seq = excluded.last_seq"
    yield insert_rows(
        d,
        f"{table(d, 'runs', space)} AS cur",
        RUN_COLUMNS,
        _RUN_TYPES,
        [
            (
                r.run_id,
                r.thread_id,
                r.user_id,
                r.status,
                r.model,
                r.last_seq,
                r.event_count,
                r.message_count,
                r.step_count,
                r.finish_reason,
                r.error_message,
                d.time(r.created_at),
                d.time(r.updated_at),
                _time(d, r.finished_at),
                r.last_position,
            )
            for r in rows
        ],
        " ON CONFLICT (run_id) DO UPDATE SET"
        " thread_id = excluded.thread_id, user_id = excluded.user_id, status = excluded.status,"
        " model = excluded.model, event_count = excluded.event_count,"
        " message_count = excluded.message_count, step_count = excluded.step_count,"
        " finish_reason = excluded.finish_reason, error_message = excluded.error_message,"
        " created_at = excluded.created_at,"
        " finished_at = COALESCE(excluded.finished_at, cur.finished_at), " + progress,
    )


def refresh_threads(d: Dialect, thread_ids: Iterable[str], space: str | None = None) -> Flow[None]:
    """Recomputes the threads' rows from their run rows (core `thread_row`)."""
    wanted = sorted(thread_ids)
    if not wanted:
        return
    runs = yield from stored_runs(d, "thread_id", wanted, space)
    by_thread: dict[str, list[RunRow]] = {}
    for r in runs:
        by_thread.setdefault(r.thread_id, []).append(r)
    rows = [t for t in (thread_row(tid, by_thread.get(tid, ())) for tid in wanted) if t is not None]
    gone = [tid for tid in wanted if tid not in by_thread]
    if gone:
        match, param = d.in_list("thread_id", gone)
        yield command(d.sql(f"DELETE FROM {table(d, 'threads', space)} WHERE {match}"), (param,))
    if rows:
        yield Stmt(
            d.sql(
                f"INSERT INTO {table(d, 'threads', space)} ({THREAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (thread_id) DO UPDATE SET user_id = excluded.user_id,"
                " run_count = excluded.run_count, last_run_id = excluded.last_run_id,"
                " last_status = excluded.last_status, created_at = excluded.created_at,"
                " updated_at = excluded.updated_at"
            ),
            [
                (
                    t.thread_id,
                    t.user_id,
                    t.run_count,
                    t.last_run_id,
                    t.last_status,
                    d.time(t.created_at),
                    d.time(t.updated_at),
                )
                for t in rows
            ],
            many=True,
        )


# ----- reads -----


def run_facts(d: Dialect, run_ids: Sequence[str]) -> Flow[dict[str, RunFacts]]:
    """The runtime's runs rows (request and summary) as the read models need them."""
    match, param = d.in_list("r.run_id", run_ids)
    rows = yield query(
        d.sql(
            "SELECT r.run_id, r.request, r.status, r.step_count, r.finish_reason, r.error_message,"
            " r.created_at, a.run_id FROM runs r LEFT JOIN agent_rollbacks a ON a.run_id = r.run_id"
            f" WHERE {match}"
        ),
        (param,),
    )
    out: dict[str, RunFacts] = {}
    for run_id, request, status, steps, reason, error, created_at, agent_rollback in rows:
        start = StartRequest.from_json(d.from_json(request))
        out[run_id] = RunFacts(
            run_id,
            start.thread_id,
            laravel_user_id(start.user_id),
            start.model,
            status,
            int(steps),
            reason or "",
            error or "",
            d.from_time(created_at),
            agent_rollback is not None,
        )
    return out


def row_counts(
    d: Dialect, run_ids: Sequence[str], space: str | None = None
) -> Flow[dict[str, tuple[int, int]]]:
    """run id -> (run_events rows, messages rows), in one statement."""
    counts = {r: [0, 0] for r in run_ids}
    match, param = d.in_list("run_id", run_ids)
    rows = yield query(
        d.sql(
            f"SELECT 0, run_id, count(*) FROM {table(d, 'run_events', space)} WHERE {match} GROUP BY run_id"
            f" UNION ALL SELECT 1, run_id, count(*) FROM {table(d, 'messages', space)} WHERE {match}"
            " GROUP BY run_id"
        ),
        (param, param),
    )
    for i, run_id, n in rows:
        counts[run_id][int(i)] = int(n)
    return {r: (c[0], c[1]) for r, c in counts.items()}


def stored_runs(
    d: Dialect, column: str, values: Sequence[str], space: str | None = None
) -> Flow[list[RunRow]]:
    match, param = d.in_list(column, values)
    rows = yield query(d.sql(f"SELECT {RUN_COLUMNS} FROM {table(d, 'runs', space)} WHERE {match}"), (param,))
    return [
        RunRow(
            r[0],
            r[1],
            None if r[2] is None else int(r[2]),
            r[3],
            r[4],
            int(r[5]),
            int(r[6]),
            int(r[7]),
            int(r[8]),
            r[9],
            r[10],
            d.from_time(r[11]),
            d.from_time(r[12]),
            _from_time(d, r[13]),
            int(r[14]),
        )
        for r in rows
    ]


def stored_models(d: Dialect, run_ids: Sequence[str]) -> Flow[dict[str, RunModel | None]]:
    """The read models' rows of these runs, as they are (None: no run row)."""
    runs = {r.run_id: r for r in (yield from stored_runs(d, "run_id", run_ids))}
    match, param = d.in_list("run_id", run_ids)
    message_rows = yield query(
        d.sql(f"SELECT {MESSAGE_COLUMNS} FROM {table(d, 'messages')} WHERE {match} ORDER BY run_id, seq"),
        (param,),
    )
    event_rows = yield query(
        d.sql(f"SELECT {EVENT_ROW_COLUMNS} FROM {table(d, 'run_events')} WHERE {match} ORDER BY run_id, seq"),
        (param,),
    )
    messages: dict[str, list[MessageRow]] = {}
    for m in message_rows:
        messages.setdefault(m[0], []).append(
            MessageRow(m[0], int(m[1]), int(m[2]), m[3], m[4], m[5], m[6], d.from_time(m[7]))
        )
    events: dict[str, list[RunEventRow]] = {}
    for e in event_rows:
        events.setdefault(e[0], []).append(
            RunEventRow(e[0], int(e[1]), int(e[2]), e[3], e[4], d.from_json(e[5]), d.from_time(e[6]))
        )
    out: dict[str, RunModel | None] = {}
    for run_id in run_ids:
        run = runs.get(run_id)
        out[run_id] = (
            None
            if run is None
            else RunModel(run, tuple(messages.get(run_id, ())), tuple(events.get(run_id, ())))
        )
    return out


def stored_threads(d: Dialect, thread_ids: Sequence[str]) -> Flow[dict[str, ThreadRow | None]]:
    match, param = d.in_list("thread_id", thread_ids)
    rows = yield query(d.sql(f"SELECT {THREAD_COLUMNS} FROM {table(d, 'threads')} WHERE {match}"), (param,))
    found = {
        r[0]: ThreadRow(
            r[0],
            None if r[1] is None else int(r[1]),
            int(r[2]),
            r[3],
            r[4],
            d.from_time(r[5]),
            d.from_time(r[6]),
        )
        for r in rows
    }
    return {t: found.get(t) for t in thread_ids}


def run_events(d: Dialect, run_ids: Sequence[str]) -> Flow[dict[str, list[ev.Event]]]:
    """Every event of these runs, by seq (the log, for a fresh fold)."""
    match, param = d.in_list("stream_id", run_ids)
    rows = yield query(
        d.sql(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_kind = 'run' AND {match}"
            " ORDER BY stream_id, seq"
        ),
        (param,),
    )
    out: dict[str, list[ev.Event]] = {r: [] for r in run_ids}
    for row in rows:
        out[row[0]].append(flows.event(d, row))
    return out


def scope_run_ids(d: Dialect, *, run_id: str | None, thread_id: str | None) -> Flow[list[tuple[str, str]]]:
    """(run id, thread id) of the runs a reproject covers: one run, a thread's runs, or
    (neither given) all runs; by thread."""
    sql = "SELECT run_id, thread_id FROM runs"
    params: tuple[str, ...] = ()
    if run_id is not None:
        sql, params = sql + " WHERE run_id = ?", (run_id,)
    elif thread_id is not None:
        sql, params = sql + " WHERE thread_id = ?", (thread_id,)
    rows = yield query(d.sql(sql + " ORDER BY thread_id, run_id"), params)
    return [(r[0], r[1]) for r in rows]


def sample_run_ids(d: Dialect, size: int) -> Flow[list[tuple[str, str]]]:
    """(run id, thread id) of up to `size` runs picked at random (a periodic drift check)."""
    rows = yield query(d.sql("SELECT run_id, thread_id FROM runs ORDER BY random() LIMIT ?"), (size,))
    return [(r[0], r[1]) for r in rows]


def checkpoint(d: Dialect) -> Flow[Checkpoint]:
    rows = yield query(
        d.sql("SELECT version, position FROM projection_checkpoints WHERE name = ?"),
        (LARAVEL_READ_MODELS.name,),
    )
    return Checkpoint(int(rows[0][0]), int(rows[0][1])) if rows else Checkpoint(None, 0)


# ----- repair -----


def replace_runs(d: Dialect, run_ids: Sequence[str], models: Sequence[RunModel]) -> Flow[bool]:
    """Rewrites these runs' rows from a fresh fold (and their threads' rows), in one
    transaction, under the projection's lock (False, nothing done: a projector holds it)."""
    if not (yield from d.try_lock_projection(LARAVEL_READ_MODELS.name)):
        return False
    match, param = d.in_list("run_id", run_ids)
    before = yield query(d.sql(f"SELECT DISTINCT thread_id FROM {table(d, 'runs')} WHERE {match}"), (param,))
    for name in ("run_events", "messages", "runs"):
        yield command(d.sql(f"DELETE FROM {table(d, name)} WHERE {match}"), (param,))
    yield from write_rows(d, [e for m in models for e in m.events], [x for m in models for x in m.messages])
    if models:
        yield from upsert_runs(d, [m.run for m in models], keep_newer=False)
    yield from refresh_threads(d, {r[0] for r in before} | {m.run.thread_id for m in models})
    return True


def snapshot(d: Dialect, run_ids: Sequence[str], *, threads: bool) -> Flow[Snapshot]:
    """The checkpoint first: rows a projector step writes after it read as ahead of
    it, which the fold (of the whole log) agrees with, never as missing."""
    mark = yield from checkpoint(d)
    facts = yield from run_facts(d, run_ids)
    stored = yield from stored_models(d, run_ids)
    thread_ids = sorted({f.thread_id for f in facts.values()}) if threads else []
    stored_thread_rows = (yield from stored_threads(d, thread_ids)) if thread_ids else {}
    log = yield from run_events(d, run_ids)
    return Snapshot(mark, facts, log, stored, stored_thread_rows)
