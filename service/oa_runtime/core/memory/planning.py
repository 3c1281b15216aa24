"""Which compactions are due: a pure planner over a stream's uncovered events and its chunks.

Rules (docs/MEMORY.md "Planning"):

* **L1.** Uncovered events (seq above the last L1 chunk's range) are grouped by the 10-minute window
  of their occurred-at, clamped so windows never go backwards along the seq order and never
  before the end of the last L1 window. The clamp keeps every L1 seq range contiguous, so the
  chunks tile the log with no gap and no overlap; a late event (written after its window was
  compacted) is summarised with the next window. A window is due once ``now >= end + grace``;
  a window with no event gets no chunk.
* **Hot window over budget.** When the uncovered events still exceed `hot_budget_tokens`, the
  oldest groups whose window has *ended* (grace not yet passed) are compacted now, oldest first,
  until the rest fits; the open window is never compacted.
* **L2 / L3.** An hour (day) is rolled up once it is closed (``now >= end + grace``), it has at
  least one written chunk of the level below, none of its time is still waiting for a chunk of
  the level below, and it has no roll-up yet. Inputs must be *written*: a chunk planned in this
  pass is not an input until it is folded in, so a roll-up never races its own inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .chunks import LEVEL_SPAN, Level, SeqRange, StreamRef, Window, chunk_id, parent_window, window_of


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """Knobs of the planner. `grace` waits for late events; the hot budget bounds raw tokens."""

    grace: timedelta = timedelta(minutes=2)
    hot_budget_tokens: int = 8_000

    def __post_init__(self) -> None:
        if self.grace < timedelta(0) or self.grace >= LEVEL_SPAN[Level.L1]:
            raise ValueError("grace must be in [0, 10 minutes)")
        if self.hot_budget_tokens < 1:
            raise ValueError("hot_budget_tokens must be positive")


@dataclass(frozen=True, slots=True)
class EventMark:
    """What the planner needs of an event: its seq, time and rendered size in tokens."""

    seq: int
    occurred_at: datetime
    tokens: int


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """What the planner needs of a written chunk."""

    chunk_id: str
    level: Level
    window: Window
    seq_range: SeqRange | None = None


class Reason(StrEnum):
    WINDOW_CLOSED = "window_closed"
    OVER_BUDGET = "over_budget"
    FORCED = "forced"


@dataclass(frozen=True, slots=True)
class PlannedL1:
    chunk_id: str
    window: Window
    seq_range: SeqRange
    tokens: int
    reason: Reason

    @property
    def ref(self) -> ChunkRef:
        return ChunkRef(self.chunk_id, Level.L1, self.window, self.seq_range)


@dataclass(frozen=True, slots=True)
class PlannedRollup:
    chunk_id: str
    level: Level
    window: Window
    input_ids: tuple[str, ...]

    @property
    def ref(self) -> ChunkRef:
        return ChunkRef(self.chunk_id, self.level, self.window)


@dataclass(frozen=True, slots=True)
class CompactionPlan:
    l1: tuple[PlannedL1, ...]
    rollups: tuple[PlannedRollup, ...]

    @property
    def refs(self) -> tuple[ChunkRef, ...]:
        return tuple(p.ref for p in self.l1) + tuple(p.ref for p in self.rollups)


@dataclass(slots=True)
class _Group:
    window: Window
    first: int
    last: int
    tokens: int


def _group_uncovered(events: Sequence[EventMark], chunks: Sequence[ChunkRef]) -> list[_Group]:
    l1 = [c for c in chunks if c.level == Level.L1]
    covered = max((c.seq_range.last for c in l1 if c.seq_range), default=0)
    floor = max((c.window.end for c in l1), default=None)
    groups: list[_Group] = []
    previous = covered
    for event in events:
        if event.seq <= covered:
            continue
        if event.seq != previous + 1:
            raise ValueError(f"events must be dense and seq-ordered: {event.seq} after {previous}")
        previous = event.seq
        window = window_of(Level.L1, event.occurred_at)
        if floor is not None and window.start < floor:
            window = window_of(Level.L1, floor)
        if groups and window.start < groups[-1].window.start:
            window = groups[-1].window
        if groups and groups[-1].window == window:
            groups[-1].last = event.seq
            groups[-1].tokens += event.tokens
        else:
            groups.append(_Group(window, event.seq, event.seq, event.tokens))
    return groups


def _plan_l1(
    stream: StreamRef, groups: list[_Group], now: datetime, policy: CompactionPolicy, force: bool
) -> list[PlannedL1]:
    planned: list[PlannedL1] = []
    remaining = sum(g.tokens for g in groups)
    for group in groups:
        if now >= group.window.end + policy.grace:
            reason = Reason.WINDOW_CLOSED
        elif now >= group.window.end and force:
            reason = Reason.FORCED
        elif now >= group.window.end and remaining > policy.hot_budget_tokens:
            reason = Reason.OVER_BUDGET
        else:
            break
        seqs = SeqRange(group.first, group.last)
        chunk = chunk_id(stream, Level.L1, group.window)
        planned.append(PlannedL1(chunk, group.window, seqs, group.tokens, reason))
        remaining -= group.tokens
    return planned


def _plan_rollups(
    stream: StreamRef,
    level: Level,
    chunks: Sequence[ChunkRef],
    pending_from: datetime | None,
    now: datetime,
    policy: CompactionPolicy,
) -> list[PlannedRollup]:
    """Roll-ups of `level` (L2 or L3) due over the written chunks of the level below."""
    below = Level(level - 1)
    done = {c.window for c in chunks if c.level == level}
    inputs: dict[Window, list[ChunkRef]] = {}
    for c in chunks:
        if c.level == below:
            inputs.setdefault(parent_window(below, c.window), []).append(c)
    waiting = _windows_waiting_below(level, chunks)
    planned = []
    for window in sorted(inputs):
        if window in done or window in waiting or now < window.end + policy.grace:
            continue
        if pending_from is not None and pending_from < window.end:
            continue
        ids = tuple(c.chunk_id for c in sorted(inputs[window], key=lambda c: c.window))
        planned.append(PlannedRollup(chunk_id(stream, level, window), level, window, ids))
    return planned


def _windows_waiting_below(level: Level, chunks: Sequence[ChunkRef]) -> set[Window]:
    """Windows of `level` that still miss a roll-up one level down (L3 waits for its L2s)."""
    if level == Level.L2:
        return set()
    l2_done = {c.window for c in chunks if c.level == Level.L2}
    return {
        parent_window(Level.L2, parent_window(Level.L1, c.window))
        for c in chunks
        if c.level == Level.L1 and parent_window(Level.L1, c.window) not in l2_done
    }


def plan_compaction(
    stream: StreamRef,
    events: Sequence[EventMark],
    chunks: Iterable[ChunkRef],
    now: datetime,
    policy: CompactionPolicy = CompactionPolicy(),
    *,
    force: bool = False,
) -> CompactionPlan:
    """The compactions due at `now`. `events` are the stream's events from the first seq not
    covered by an L1 chunk (earlier ones are skipped), dense and in seq order; `force` (the
    CompactNow API) compacts every window that has ended without waiting for the grace period."""
    written = list(chunks)
    groups = _group_uncovered(events, written)
    l1 = _plan_l1(stream, groups, now, policy, force)
    pending_from = groups[0].window.start if groups else None
    l2 = _plan_rollups(stream, Level.L2, written, pending_from, now, policy)
    l3 = _plan_rollups(stream, Level.L3, written, pending_from, now, policy)
    return CompactionPlan(tuple(l1), tuple(l2 + l3))
