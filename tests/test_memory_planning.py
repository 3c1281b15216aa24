"""Memory planning (core/memory/planning.py): windows, L1 due rules, roll-ups, a simulated week."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.memory.chunks import Level, SeqRange, StreamRef, Window, chunk_id, window_of
from oa_runtime.core.memory.planning import (
    ChunkRef,
    CompactionPolicy,
    EventMark,
    Reason,
    plan_compaction,
)

STREAM = StreamRef("agent", "a1")
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
GRACE = timedelta(minutes=2)
TICK = timedelta(minutes=10)


def marks(times: list[datetime], tokens: int = 10, first_seq: int = 1) -> list[EventMark]:
    return [EventMark(first_seq + i, t, tokens) for i, t in enumerate(times)]


class Simulation:
    """Drives the planner on an injected clock and folds every planned chunk as if written."""

    def __init__(self, events: list[EventMark], policy: CompactionPolicy | None = None) -> None:
        self.events = events
        self.policy = policy or CompactionPolicy()
        self.chunks: list[ChunkRef] = []
        self.written_at: dict[str, datetime] = {}
        self.covered = 0

    def tick(self, now: datetime) -> None:
        visible = [e for e in self.events[self.covered :] if e.occurred_at <= now]
        plan = plan_compaction(STREAM, visible, self.chunks, now, self.policy)
        for ref in plan.refs:
            assert ref.chunk_id not in self.written_at, "a chunk was planned twice"
            self.written_at[ref.chunk_id] = now
        self.chunks.extend(plan.refs)
        if plan.l1:
            self.covered = plan.l1[-1].seq_range.last

    def run(self, start: datetime, end: datetime) -> None:
        now = start
        while now <= end:
            self.tick(now)
            now += TICK

    def count(self) -> Counter[Level]:
        return Counter(c.level for c in self.chunks)

    def of(self, level: Level) -> list[ChunkRef]:
        return sorted((c for c in self.chunks if c.level == level), key=lambda c: c.window)


def test_windows_are_utc_aligned_and_half_open() -> None:
    t = datetime(2026, 11, 30, 13, 47, 59, tzinfo=UTC)
    assert window_of(Level.L1, t) == Window(t.replace(minute=40, second=0), t.replace(minute=50, second=0))
    assert window_of(Level.L2, t).start == t.replace(minute=0, second=0)
    assert window_of(Level.L3, t).start == MONDAY
    boundary = MONDAY + timedelta(minutes=10)
    assert window_of(Level.L1, boundary).start == boundary
    eastern = t.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert window_of(Level.L3, eastern) == window_of(Level.L3, t)


def test_chunk_ids_are_deterministic_and_distinct() -> None:
    w = window_of(Level.L1, MONDAY)
    assert chunk_id(STREAM, Level.L1, w) == chunk_id(StreamRef("agent", "a1"), Level.L1, w)
    others = {
        chunk_id(StreamRef("agent", "a2"), Level.L1, w),
        chunk_id(StreamRef("run", "a1"), Level.L1, w),
        chunk_id(STREAM, Level.L2, window_of(Level.L2, MONDAY)),
        chunk_id(STREAM, Level.L1, window_of(Level.L1, MONDAY + TICK)),
    }
    assert chunk_id(STREAM, Level.L1, w) not in others and len(others) == 4
    assert chunk_id(STREAM, Level.L1, w).startswith("mc1_")


def test_a_continuously_active_week_gives_1008_l1_168_l2_7_l3() -> None:
    week = [MONDAY + timedelta(minutes=m, seconds=30) for m in range(7 * 24 * 60)]
    sim = Simulation(marks(week))
    sim.run(MONDAY, MONDAY + timedelta(days=8))
    assert sim.count() == {Level.L1: 7 * 144, Level.L2: 7 * 24, Level.L3: 7}
    l1 = sim.of(Level.L1)
    assert [c.seq_range for c in l1] == [SeqRange(10 * i + 1, 10 * i + 10) for i in range(1008)]
    assert all(c.chunk_id == chunk_id(STREAM, c.level, c.window) for c in sim.chunks)
    # L1 lands within 20 minutes of its window's end (grace, then the next tick), L2 and L3 a
    # tick after their last input.
    assert max(sim.written_at[c.chunk_id] - c.window.end for c in l1) == timedelta(minutes=10)
    assert max(sim.written_at[c.chunk_id] - c.window.end for c in sim.of(Level.L2)) == timedelta(minutes=20)
    assert max(sim.written_at[c.chunk_id] - c.window.end for c in sim.of(Level.L3)) == timedelta(minutes=30)
    # Nothing more is due, however long the clock runs.
    assert plan_compaction(STREAM, [], sim.chunks, MONDAY + timedelta(days=30)).refs == ()


def test_a_sparse_week_gives_one_chunk_per_active_window_hour_and_day() -> None:
    times = []
    for day in range(5):  # Monday to Friday; the weekend is quiet
        base = MONDAY + timedelta(days=day)
        times += [base + timedelta(hours=9), base + timedelta(hours=9, minutes=5)]
        times += [base + timedelta(hours=9, minutes=25), base + timedelta(hours=13, minutes=40)]
    sim = Simulation(marks(times))
    sim.run(MONDAY, MONDAY + timedelta(days=7))
    # Per day: L1 09:00, 09:20, 13:40; L2 09h, 13h; one L3.
    assert sim.count() == {Level.L1: 15, Level.L2: 10, Level.L3: 5}
    assert [len(c.seq_range or ()) for c in sim.of(Level.L1)[:3]] == [2, 1, 1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3 * 24 * 60 * 60 - 1), min_size=1, max_size=120))
def test_any_timeline_is_tiled_exactly_once(offsets: list[int]) -> None:
    times = [MONDAY + timedelta(seconds=s) for s in sorted(offsets)]
    sim = Simulation(marks(times))
    sim.run(MONDAY, MONDAY + timedelta(days=4))
    l1 = sim.of(Level.L1)
    ranges = [c.seq_range for c in l1]
    assert ranges[0] is not None and ranges[0].first == 1
    assert all(a is not None and b is not None and a.last + 1 == b.first for a, b in pairwise(ranges))
    assert ranges[-1] is not None and ranges[-1].last == len(times)
    assert {c.window for c in l1} == {window_of(Level.L1, t) for t in times}
    assert {c.window for c in sim.of(Level.L2)} == {window_of(Level.L2, t) for t in times}
    assert {c.window for c in sim.of(Level.L3)} == {window_of(Level.L3, t) for t in times}
    assert len({c.chunk_id for c in sim.chunks}) == len(sim.chunks)


def test_a_window_waits_for_its_grace_period() -> None:
    events = marks([MONDAY + timedelta(minutes=3)])
    end = MONDAY + TICK
    assert plan_compaction(STREAM, events, [], end + GRACE - timedelta(seconds=1)).l1 == ()
    (planned,) = plan_compaction(STREAM, events, [], end + GRACE).l1
    assert planned.reason == Reason.WINDOW_CLOSED and planned.seq_range == SeqRange(1, 1)


def test_force_compacts_every_ended_window_but_never_the_open_one() -> None:
    events = marks([MONDAY + timedelta(minutes=m) for m in (1, 12, 25)])
    now = MONDAY + timedelta(minutes=21)
    plan = plan_compaction(STREAM, events, [], now, force=True)
    assert [(p.seq_range, p.reason) for p in plan.l1] == [
        (SeqRange(1, 1), Reason.WINDOW_CLOSED),
        (SeqRange(2, 2), Reason.FORCED),
    ]


def test_a_hot_window_over_budget_compacts_its_oldest_ended_part_now() -> None:
    policy = CompactionPolicy(hot_budget_tokens=8_000)
    times = [MONDAY + timedelta(minutes=m) for m in (1, 2, 3, 11, 12, 21)]
    events = marks(times, tokens=2_000)
    now = MONDAY + timedelta(minutes=21)  # [0,10) ended 11 min ago (closed), [10,20) ended 1 min ago
    plan = plan_compaction(STREAM, events, [], now, policy)
    assert [p.reason for p in plan.l1] == [Reason.WINDOW_CLOSED]
    events = marks([MONDAY + timedelta(minutes=m) for m in (11, 12, 13, 14, 21)], tokens=2_000)
    plan = plan_compaction(STREAM, events, [], now, policy)  # 10,000 tokens > 8,000
    assert [(p.seq_range, p.reason) for p in plan.l1] == [(SeqRange(1, 4), Reason.OVER_BUDGET)]
    events = marks([MONDAY + timedelta(minutes=m) for m in (20, 21, 22, 23, 24)], tokens=2_000)
    assert plan_compaction(STREAM, events, [], now, policy).l1 == ()  # only the open window


def test_a_late_event_is_summarised_with_the_next_window() -> None:
    first = plan_compaction(
        STREAM, marks([MONDAY + timedelta(minutes=5)]), [], MONDAY + timedelta(minutes=13)
    )
    written = list(first.refs)
    late = EventMark(2, MONDAY + timedelta(minutes=9, seconds=59), 10)
    (planned,) = plan_compaction(STREAM, [late], written, MONDAY + timedelta(minutes=30)).l1
    assert planned.window == window_of(Level.L1, MONDAY + TICK)
    assert planned.seq_range == SeqRange(2, 2)


def test_a_roll_up_waits_for_every_input_of_its_window() -> None:
    times = [MONDAY + timedelta(minutes=m) for m in (5, 55)]
    events = marks(times)
    l1_first = plan_compaction(STREAM, events[:1], [], MONDAY + timedelta(minutes=15)).refs
    # 01:10: the hour is closed but 00:50's event is not summarised yet: no L2, its L1 first.
    plan = plan_compaction(STREAM, events, l1_first, MONDAY + timedelta(hours=1, minutes=10))
    assert [p.seq_range for p in plan.l1] == [SeqRange(2, 2)] and plan.rollups == ()
    written = [*l1_first, *plan.refs]
    (l2,) = plan_compaction(STREAM, [], written, MONDAY + timedelta(hours=1, minutes=10)).rollups
    assert l2.level == Level.L2 and l2.input_ids == tuple(c.chunk_id for c in written)


def test_dense_seqs_are_required() -> None:
    events = [EventMark(1, MONDAY, 1), EventMark(3, MONDAY, 1)]
    try:
        plan_compaction(STREAM, events, [], MONDAY + timedelta(days=1))
    except ValueError as error:
        assert "dense" in str(error)
    else:
        raise AssertionError("a gap in seqs was accepted")
