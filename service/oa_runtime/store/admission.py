"""The SQL of admission control and thread input, for both databases (core/admission.py
decides; see README "Admission and overload").

A run waits for a free executor slot while it is `queued`, unleased and not held back by
an earlier unfinished run of its thread (`after_run_id`, migration 0009). Claims take runs
in (created_at, run_id) order, so a queue position is the number of such runs before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.leases import CLAIMABLE_STATUSES, WAITING_STATUS
from ..core.run_state import RunStatus
from .sql import Flow, query

if TYPE_CHECKING:  # dialect.py imports the lease modules, which import this one
    from .dialect import Dialect

UNFINISHED = ", ".join(repr(s) for s in (*CLAIMABLE_STATUSES, WAITING_STATUS))
_QUEUED = RunStatus.QUEUED.value
_CANCELING = RunStatus.CANCELING.value

# A run that waits for its thread (after_run_id set) may start once no earlier run of its
# thread is unfinished; a canceled one may always start, to record its end at once. For
# the claim queries (table `runs`).
_EARLIER_UNFINISHED = (
    "SELECT {cols} FROM runs AS before_it WHERE before_it.thread_id = {me}.thread_id"
    f" AND before_it.status IN ({UNFINISHED}) AND (before_it.created_at < {{me}}.created_at"
    " OR (before_it.created_at = {me}.created_at AND before_it.run_id < {me}.run_id))"
)
PREDECESSOR_ENDED = (
    f"(after_run_id IS NULL OR status = '{_CANCELING}'"
    f" OR NOT EXISTS ({_EARLIER_UNFINISHED.format(cols='1', me='runs')}))"
)
# Runs waiting for an executor slot (not for their thread).
WAITING_FOR_SLOT = f"status = '{_QUEUED}' AND lease_owner IS NULL AND {PREDECESSOR_ENDED}"

# The thread's latest unfinished run, read in create_run's first statement (index
# runs_thread_unfinished). Named parameter :thread_id.
LATEST_UNFINISHED_ON_THREAD = (
    f"(SELECT run_id FROM runs AS on_thread WHERE on_thread.thread_id = :thread_id"
    f" AND on_thread.status IN ({UNFINISHED}) ORDER BY on_thread.created_at DESC, on_thread.run_id DESC"
    " LIMIT 1)"
)


def queue_length(d: Dialect) -> Flow[int]:
    """How many runs wait for an executor slot now (the position a new one gets, less one)."""
    [(count,)] = yield query(d.sql(f"SELECT count(*) FROM runs WHERE {WAITING_FOR_SLOT}"), ())
    return int(count)


def queue_place(d: Dialect, run_id: str) -> Flow[tuple[int, str]]:
    """(1-based position among runs waiting for a slot, or 0; the latest unfinished earlier
    run of its thread that it waits for, or "")."""
    waiting_for = _EARLIER_UNFINISHED.format(cols="before_it.run_id", me="mine")
    rows = yield query(
        d.sql(
            "SELECT mine.status, mine.lease_owner, mine.after_run_id,"
            f" ({waiting_for} ORDER BY before_it.created_at DESC, before_it.run_id DESC LIMIT 1),"
            " (SELECT count(*) FROM runs WHERE"
            f"   {WAITING_FOR_SLOT} AND (runs.created_at < mine.created_at"
            "   OR (runs.created_at = mine.created_at AND runs.run_id < mine.run_id)))"
            " FROM runs AS mine WHERE mine.run_id = :run_id"
        ),
        {"run_id": run_id},
    )
    if not rows:
        return 0, ""
    status, owner, after, waiting_for_run, ahead = rows[0]
    if status != _QUEUED or owner is not None:
        return 0, ""
    if after is not None and waiting_for_run is not None:
        return 0, str(waiting_for_run)
    return int(ahead) + 1, ""
