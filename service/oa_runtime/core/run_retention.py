"""Retention of event logs: where each stream's retention floor may move, and what a sweep
of unreferenced artifact bytes reports. Pure.

A stream's **retention floor** is the oldest seq it keeps; events below it are removed and a
cursor below `floor - 1` gets STALE_CURSOR (`core/memory/retention.py` `check_cursor`, HTTP 410
through the gateway). Events are removed only once they are older than the class's raw age
(`RetentionPolicy.age("raw")`; None keeps every log) **and** something else covers them:

- **Runs** (finished only: a live run's executor reads its log; `runs.oldest_seq`). The floor is
  always **one past a checkpoint**: a finished run's checkpoint is the folded state at a step
  end, which is what a reader resuming after it needs (`api/sse.py` `mapper_at` starts from it),
  so a resume at any cursor at or after `floor - 1` folds only retained events.
  - On a thread **without memory**, the run's latest checkpoint covers everything up to it.
  - On a thread **with memory** (issue 14 item 6: "removed only once covered by a chunk"), an
    event is covered once an L1 chunk other than the thread's newest summarises it (context
    assembly reads the newest chunk's raw events again, `engine/memory_context.py`), so the
    floor rests on the latest checkpoint at or below the last run seq such chunks cover
    (`chunk_seq`): no chunk yet, no trim; a checkpoint still makes the resume cheap.
- **Agents** (`stream_kind` agent): the agent row is the fold of its stream (its checkpoint),
  so only the frames it still holds (pending, in the running turn, to retry: each body is the
  event at the frame's seq, read when a turn starts) are needed: the floor stays at or below
  the oldest of them.
- **Codex workers** (`stream_kind` worker): the summary row is the whole fold and a replayed
  control request answers only its seq, so nothing else holds an event back.

For agents and workers the floor is the seq of their oldest retained event (or one past the
head once all are removed), so it needs no column of its own (`floor_of`). On every stream a
trim never removes an event an async projection (read models, sync documents, the artifact
index) has not applied (the store defers it to a later pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .agents.state import AgentState
from .memory.retention import CursorBelowFloor, RetentionPolicy


@dataclass(frozen=True, slots=True)
class RetentionCandidate:
    """A finished run and what covers its log, as the store answers it."""

    run_id: str
    finished_at: datetime
    last_seq: int
    floor: int  # the current retention floor (oldest seq kept)
    checkpoint_seq: int | None  # covers_seq of the latest checkpoint the cover allows
    chunk_seq: int | None = None  # memory threads: the last run seq older L1 chunks cover
    memory: bool = False  # the run's thread keeps memory: chunks must cover a trim

    @property
    def covered_by(self) -> str:
        return "memory" if self.memory else "checkpoint"


def new_floor(candidate: RetentionCandidate, policy: RetentionPolicy, now: datetime) -> int | None:
    """The floor the run may move to, or None to leave it.

    The floor lands one past the checkpoint (the resume point); on a memory thread that
    checkpoint must lie within what chunks cover (no chunk coverage: no trim)."""
    age = policy.age("raw")
    if age is None or candidate.finished_at + age > now or candidate.checkpoint_seq is None:
        return None
    covered = candidate.checkpoint_seq
    if candidate.memory and (candidate.chunk_seq is None or candidate.chunk_seq < covered):
        return None  # memory has not summarised up to the resume point yet
    floor = min(covered, candidate.last_seq) + 1
    return floor if floor > candidate.floor else None


@dataclass(frozen=True, slots=True)
class Trim:
    """One stream's planned (or done) trim."""

    stream_kind: str
    stream_id: str
    old_floor: int
    new_floor: int
    removed: int = 0  # events removed (0 in a dry run)
    covered_by: str = ""  # checkpoint | memory | fold

    def to_json(self) -> dict[str, object]:
        return {
            "stream_kind": self.stream_kind,
            "stream_id": self.stream_id,
            "old_floor": self.old_floor,
            "new_floor": self.new_floor,
            "removed": self.removed,
            "covered_by": self.covered_by,
        }


# ----- agent and worker streams -----

STREAM_AGENT = "agent"
STREAM_WORKER = "worker"


@dataclass(frozen=True, slots=True)
class StreamCandidate:
    """An agent's or worker's stream whose oldest event is older than the raw age."""

    stream_kind: str
    stream_id: str
    head: int  # the stream's latest seq
    floor: int  # the seq of its oldest retained event
    aged_seq: int  # the last seq that occurred before `now - raw age`
    held_seq: int | None = None  # agents: the oldest frame the fold still reads from the log


def stream_floor(candidate: StreamCandidate) -> int | None:
    """The floor an agent's or worker's stream may move to, or None to leave it: one past the
    last aged event, never past a held frame (its body is still read) nor past the head + 1."""
    floor = min(candidate.aged_seq, candidate.head) + 1
    if candidate.held_seq is not None:
        floor = min(floor, candidate.held_seq)
    return floor if floor > candidate.floor else None


def held_seq(state: AgentState) -> int | None:
    """The oldest event an agent's fold still reads: a frame it holds (pending, in the running
    turn or to retry) has its body at its seq; None when it holds none."""
    return min((f.seq for f in state._held_frames()), default=None)


def floor_of(oldest_retained_seq: int | None, head: int) -> int:
    """An agent's or worker's floor: its oldest retained event, or one past the head when
    retention removed them all (a stream is never empty before that: its first event creates it)."""
    return head + 1 if oldest_retained_seq is None else oldest_retained_seq


def check_contiguous(first_seq: int | None, last_read: int, page_last: int) -> None:
    """A page read after `last_read` that does not start at `last_read + 1` lost events to
    retention while the reader paged: STALE_CURSOR (in-band once the stream started); the
    page's first event is the floor."""
    if first_seq is not None and first_seq != last_read + 1:
        raise CursorBelowFloor(first_seq, last_read, page_last)


# ----- artifact bytes -----


@dataclass(frozen=True, slots=True)
class Sweep:
    """One page of the artifact byte collector: blobs removed (or, dry, that would be)."""

    removed: tuple[tuple[str, int], ...] = ()  # (sha256, size in bytes)
    deferred: str = ""  # why this pass collected nothing ("" when it ran)
    last_key: str = ""  # the page's last candidate sha256 (keyset for the next page)
    full: bool = False  # the page was full: more candidates may follow
