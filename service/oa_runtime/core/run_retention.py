"""Retention of runs' event logs: where a finished run's retention floor may move. Pure.

A stream's **retention floor** is the oldest seq it keeps (`runs.oldest_seq`); events below it
are removed and a cursor below `floor - 1` gets STALE_CURSOR (`core/memory/retention.py`
`check_cursor`, HTTP 410 through the gateway). Events are removed only once something else
covers them, answered by the store (`RetentionStore.retention_candidates`):

- a memory chunk (L1) covering the stream's raw seqs, when memory has one (issue 14 item 1);
- otherwise the run's latest checkpoint: a finished run's checkpoint is the folded state at its
  last step end, which is what a reader resuming after it needs (`api/sse.py` `mapper_at` starts
  from it). So the floor is always **one past a checkpoint**, and a resume at any cursor at or
  after `floor - 1` folds only retained events.

Only finished runs are trimmed (a live run's executor reads its log), and only when finished
longer ago than the stream's raw age (`RetentionPolicy.age("raw")`; None keeps the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .memory.retention import RetentionPolicy


@dataclass(frozen=True, slots=True)
class RetentionCandidate:
    """A finished run and what covers its log, as the store answers it."""

    run_id: str
    finished_at: datetime
    last_seq: int
    floor: int  # the current retention floor (oldest seq kept)
    checkpoint_seq: int | None  # covers_seq of the latest checkpoint
    chunk_seq: int | None = None  # the last raw seq memory chunks cover contiguously from the start


def new_floor(candidate: RetentionCandidate, policy: RetentionPolicy, now: datetime) -> int | None:
    """The floor the run may move to, or None to leave it.

    The floor lands one past the checkpoint (the resume point); memory coverage, when the
    store reports it, may only hold the floor back (an event no chunk covers yet is kept)."""
    age = policy.age("raw")
    if age is None or candidate.finished_at + age > now or candidate.checkpoint_seq is None:
        return None
    covered = candidate.checkpoint_seq
    if candidate.chunk_seq is not None and candidate.chunk_seq < covered:
        return None  # memory has not summarised up to the resume point yet
    floor = min(covered, candidate.last_seq) + 1
    return floor if floor > candidate.floor else None


@dataclass(frozen=True, slots=True)
class Trim:
    """One run's planned (or done) trim."""

    run_id: str
    old_floor: int
    new_floor: int
    removed: int = 0  # events removed (0 in a dry run)

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "old_floor": self.old_floor,
            "new_floor": self.new_floor,
            "removed": self.removed,
        }
