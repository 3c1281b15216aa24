"""The RetentionStore on either database: finished runs whose log may be trimmed, and the trim.

A trim removes a run's events below its new floor, moves `runs.oldest_seq` (what readers check
cursors against) and drops the checkpoints below the one the floor rests on, in one
transaction. It never removes an event an async projection has not applied yet (its position
is past the slowest projection's checkpoint, the sync documents' included): such a run is
skipped and trimmed by a later pass. Memory coverage (issue 14 item 1) is not stored here
yet: `chunk_seq` is None, so the run's latest checkpoint alone covers (core/run_retention.py).
"""

from __future__ import annotations

from datetime import datetime

from ..core import events as ev
from ..core.errors import DependencyUnavailable
from ..core.run_retention import RetentionCandidate
from ..core.run_state import RunStatus
from ..ports import EventStore, RetentionStore
from .base import SqlStore
from .dialect import Dialect
from .sql import Done, Flow, command, done, query

_TERMINAL = tuple(s.value for s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED))


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


def open_retention_store(events: EventStore) -> RetentionStore:
    if not isinstance(events, SqlStore):
        raise DependencyUnavailable("database", f"no retention store for {type(events).__name__}")
    return SqlRetentionStore(events)


def candidates(
    d: Dialect, finished_before: datetime, limit: int, after_run_id: str
) -> Flow[list[RetentionCandidate]]:
    """Finished runs (by run id, after `after_run_id`) finished before the instant, with a
    checkpoint at or past their floor (something a trim could remove)."""
    rows = yield query(
        d.sql(
            "SELECT run_id, updated_at, last_seq, oldest_seq, covers FROM (SELECT r.run_id,"
            " r.updated_at, r.last_seq, r.oldest_seq,"
            " (SELECT max(c.covers_seq) FROM checkpoints c WHERE c.run_id = r.run_id) AS covers"
            " FROM runs r WHERE r.status IN (?, ?, ?) AND r.updated_at < ? AND r.run_id > ?) AS t"
            " WHERE covers >= oldest_seq ORDER BY run_id LIMIT ?"
        ),
        (*_TERMINAL, d.time(finished_before), after_run_id, limit),
    )
    return [
        RetentionCandidate(run_id, d.from_time(at), int(last), int(floor), int(covers))
        for run_id, at, last, floor, covers in rows
    ]


def trim_run(d: Dialect, run_id: str, floor: int) -> Flow[Done[int | None]]:
    """Events removed (0 when the floor was already there); None when a projection has not
    reached them yet (try again later)."""
    yield command(d.sql(f"SELECT 1 FROM runs WHERE run_id = ? {d.for_update}"), (run_id,))
    slowest = yield query(
        "SELECT min(position) FROM (SELECT position FROM projection_checkpoints"
        " UNION ALL SELECT position FROM sync_projection) AS applied"
    )
    guard = slowest[0][0] if slowest and slowest[0][0] is not None else None
    where = "stream_kind = ? AND stream_id = ? AND seq < ?"
    params = (ev.STREAM_RUN, run_id, floor)
    if guard is not None:
        ahead = yield query(
            d.sql(f"SELECT count(*) FROM events WHERE {where} AND position > ?"), (*params, guard)
        )
        if int(ahead[0][0]):
            return done(None)
    counted = yield query(d.sql(f"SELECT count(*) FROM events WHERE {where}"), params)
    yield command(d.sql(f"DELETE FROM events WHERE {where}"), params)
    yield command(d.sql("DELETE FROM checkpoints WHERE run_id = ? AND covers_seq < ?"), (run_id, floor - 1))
    yield command(
        d.sql("UPDATE runs SET oldest_seq = ? WHERE run_id = ? AND oldest_seq < ?"), (floor, run_id, floor)
    )
    return done(int(counted[0][0]))
