"""The read models' `agents` table: the projection's writes, and the reads and rewrites
`reproject` needs (the row is core/agent_summary.py's `AgentRow`; the DDL is in
read_models.sql). Every write is an upsert by agent id of the agent's current row, so an
event applied twice, or in a replay, leaves the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from typing import Any

from ..core.agent_summary import AgentRow, agent_row
from ..core.agents.record import AgentRecord
from ..core.read_models import LARAVEL_READ_MODELS, AgentSnapshot
from . import read_models as rm  # a module import: read_models imports this module too
from .dialect import Dialect
from .sql import Flow, command, query

AGENT_FIELDS = tuple(f.name for f in fields(AgentRow))
AGENT_COLUMNS = ", ".join(AGENT_FIELDS)
_TIMES = frozenset({"pause_until", "wake_at", "created_at", "updated_at"})
_INTS = {  # the integer columns and their PostgreSQL types
    "user_id": "bigint",
    "turn_count": "integer",
    "pending_frame_count": "integer",
    "last_seq": "bigint",
}


def _records(d: Dialect, agent_ids: Sequence[str]) -> Flow[list[AgentRecord]]:
    # Imported here: store/agents.py imports base.py, which imports this module.
    from .agents import agent_records

    return (yield from agent_records(d, agent_ids))


def write_agents(d: Dialect, agent_ids: Sequence[str], space: str | None = None) -> Flow[None]:
    """The agents' rows as their runtime rows are now."""
    records = yield from _records(d, sorted(set(agent_ids)))
    yield from upsert_agents(d, [agent_row(r) for r in records], space)


def upsert_agents(d: Dialect, rows: Sequence[AgentRow], space: str | None = None) -> Flow[None]:
    if not rows:
        return
    update = ", ".join(f"{c} = excluded.{c}" for c in AGENT_FIELDS if c != "agent_id")
    yield rm.insert_rows(
        d,
        rm.table(d, "agents", space),
        AGENT_COLUMNS,
        [_INTS.get(c, "timestamptz" if c in _TIMES else "text") for c in AGENT_FIELDS],
        [_values(d, row) for row in rows],
        f" ON CONFLICT (agent_id) DO UPDATE SET {update}",
    )


def _values(d: Dialect, row: AgentRow) -> tuple[Any, ...]:
    return tuple(
        (None if v is None else d.time(v)) if name in _TIMES else v
        for name, v in zip(AGENT_FIELDS, astuple(row), strict=True)
    )


def stored_agents(d: Dialect, agent_ids: Sequence[str]) -> Flow[dict[str, AgentRow | None]]:
    match, param = d.in_list("agent_id", list(agent_ids))
    rows = yield query(d.sql(f"SELECT {AGENT_COLUMNS} FROM {rm.table(d, 'agents')} WHERE {match}"), (param,))
    found = {str(row[0]): _row(d, row) for row in rows}
    return {a: found.get(a) for a in agent_ids}


def _row(d: Dialect, row: Sequence[Any]) -> AgentRow:
    values: dict[str, Any] = {}
    for name, v in zip(AGENT_FIELDS, row, strict=True):
        if v is None:
            values[name] = None
        elif name in _TIMES:
            values[name] = d.from_time(v)
        else:
            values[name] = int(v) if name in _INTS else v
    return AgentRow(**values)


def agent_scope(d: Dialect, agent_id: str | None) -> Flow[list[str]]:
    """The agents a reproject covers: one, or (None) every agent."""
    if agent_id is not None:
        rows = yield query(d.sql("SELECT agent_id FROM agents WHERE agent_id = ?"), (agent_id,))
    else:
        rows = yield query("SELECT agent_id FROM agents ORDER BY agent_id")
    return [str(r[0]) for r in rows]


def agent_snapshot(d: Dialect, agent_ids: Sequence[str]) -> Flow[AgentSnapshot]:
    """The checkpoint first (as in read_models.snapshot), then the runtime's rows, each
    agent's latest event position, and the stored rows."""
    mark = yield from rm.checkpoint(d)
    expected = {r.state.agent_id: agent_row(r) for r in (yield from _records(d, agent_ids))}
    match, param = d.in_list("stream_id", list(agent_ids))
    rows = yield query(
        d.sql(
            f"SELECT stream_id, max(position) FROM events WHERE stream_kind = 'agent' AND {match}"
            " GROUP BY stream_id"
        ),
        (param,),
    )
    positions = {str(r[0]): int(r[1]) for r in rows}
    stored = yield from stored_agents(d, agent_ids)
    return AgentSnapshot(mark, expected, positions, stored)


def replace_agents(d: Dialect, agent_ids: Sequence[str]) -> Flow[bool]:
    """Rewrites these agents' rows from the runtime's rows, under the projection's lock
    (False, nothing done: a projector holds it); a row of an agent that is gone goes."""
    if not (yield from d.try_lock_projection(LARAVEL_READ_MODELS.name)):
        return False
    match, param = d.in_list("agent_id", list(agent_ids))
    yield command(d.sql(f"DELETE FROM {rm.table(d, 'agents')} WHERE {match}"), (param,))
    yield from write_agents(d, agent_ids)
    return True
