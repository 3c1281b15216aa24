"""Memory core parts: summary prompts and the scripted summary, expand, retention, map/reduce."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from oa_runtime.core.errors import StaleCursor
from oa_runtime.core.memory.chunks import Chunk, Level, SeqRange, StreamRef, Window, window_of
from oa_runtime.core.memory.expand import expand_chunk
from oa_runtime.core.memory.mapreduce import (
    MAP_DONE,
    REDUCE_DONE,
    fold,
    next_batch,
    plan_map_reduce,
    reduce_input,
)
from oa_runtime.core.memory.planning import ChunkRef
from oa_runtime.core.memory.prompt import is_summary_prompt, l1_prompt, rollup_prompt, scripted_summary
from oa_runtime.core.memory.raw import RawEvent, render_event
from oa_runtime.core.memory.retention import (
    CursorBelowFloor,
    RetentionClass,
    RetentionPolicy,
    check_cursor,
    removable_chunks,
    retention_floor,
)
from oa_runtime.core.memory.tokens import ByteEstimator

from tests.test_memory_context import history, make_chunk

STREAM = StreamRef("agent", "a1")
START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_events_render_compactly_with_sorted_keys_and_cut_values() -> None:
    event = RawEvent(STREAM, 12, START + timedelta(seconds=75), "tool.finished", {"z": 1, "a": "x" * 500})
    line = render_event(event)
    assert line.startswith("#12 00:01:15Z tool.finished a=" + "x" * 400 + "…[+100 chars] z=1")


def test_the_l1_prompt_keeps_facts_decisions_questions_and_tool_outcomes() -> None:
    window = window_of(Level.L1, START)
    events = [RawEvent(STREAM, s, START + timedelta(seconds=s), "text", {"text": f"t{s}"}) for s in (3, 2)]
    prompt = l1_prompt(STREAM, window, events)
    for heading in ("Facts", "Decisions", "Open questions", "Tool outcomes"):
        assert heading in prompt.system
    assert prompt.user.split("\n")[1].startswith("#2 ")
    assert is_summary_prompt(prompt.user) and not is_summary_prompt("hello")
    summary = scripted_summary(prompt.user)
    assert summary.startswith(
        "L1 agent:a1 2026-11-01T00:00:00+00:00/2026-11-01T00:10:00+00:00: 2 events (seq 2-3)"
    )
    assert summary == scripted_summary(l1_prompt(STREAM, window, list(reversed(events))).user)
    changed = [events[0], RawEvent(STREAM, 2, events[1].occurred_at, "text", {"text": "other"})]
    assert scripted_summary(l1_prompt(STREAM, window, changed).user) != summary


def test_the_scripted_summary_reads_a_multi_line_value_as_part_of_its_event() -> None:
    """A prompt of two lines (an agent turn of two frames) continues its event's line."""
    window = window_of(Level.L1, START)
    events = [
        RawEvent(STREAM, 1, START, "run.accepted", {"prompt": "/say first\n/say second"}),
        RawEvent(STREAM, 2, START + timedelta(seconds=1), "message.completed", {"text": "first"}),
    ]
    summary = scripted_summary(l1_prompt(STREAM, window, events).user)
    assert "2 events (seq 1-2); types: message.completed, run.accepted" in summary


def test_the_rollup_prompt_lists_children_oldest_first() -> None:
    counter = ByteEstimator()
    kids = [
        make_chunk(Level.L1, START + timedelta(minutes=m), f"s{m}", counter, SeqRange(m + 1, m + 1))
        for m in (10, 0)
    ]
    prompt = rollup_prompt(Level.L2, STREAM, window_of(Level.L2, START), kids)
    summary = scripted_summary(prompt.user)
    assert f"2 summaries: {kids[1].chunk_id}, {kids[0].chunk_id}" in summary
    with pytest.raises(ValueError):
        rollup_prompt(Level.L1, STREAM, window_of(Level.L1, START), kids)


def lookup_of(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {c.chunk_id: c for c in chunks}


def test_expand_walks_down_to_raw_ranges_within_bounds() -> None:
    chunks, _ = history(1, ByteEstimator())
    by_id = lookup_of(chunks)
    day = next(c for c in chunks if c.level == Level.L3)
    full = expand_chunk(day.chunk_id, by_id.get, max_depth=3, max_items=1_000)
    assert full is not None and not full.truncated and not full.missing
    assert [sum(1 for n in full.nodes if n.depth == d) for d in range(3)] == [1, 24, 144]
    assert full.raw_ranges[0] == SeqRange(1, 5) and full.raw_ranges[-1] == SeqRange(716, 720)
    shallow = expand_chunk(day.chunk_id, by_id.get, max_depth=1)
    assert shallow is not None and shallow.truncated and len(shallow.nodes) == 25 and shallow.raw_ranges == ()
    few = expand_chunk(day.chunk_id, by_id.get, max_items=10)
    assert few is not None and few.truncated and len(few.nodes) == 10
    assert expand_chunk("nope", by_id.get) is None
    hour = next(c for c in chunks if c.level == Level.L2)
    del by_id[hour.input_ids[0]]
    partial = expand_chunk(hour.chunk_id, by_id.get)
    assert partial is not None and partial.missing == (hour.input_ids[0],) and len(partial.nodes) == 6


def l1_refs(n: int, start: datetime = START) -> list[ChunkRef]:
    refs = []
    for i in range(n):
        window = window_of(Level.L1, start + timedelta(minutes=10 * i))
        refs.append(ChunkRef(f"c{i}", Level.L1, window, SeqRange(5 * i + 1, 5 * i + 5)))
    return refs


def test_the_retention_floor_is_covered_and_old_enough() -> None:
    refs = l1_refs(6)  # seqs 1..30, windows 00:00..01:00
    hot = RetentionPolicy(RetentionClass.HOT)
    assert retention_floor(refs, hot, START + DAY) == 1  # nothing is 2 days old yet
    assert retention_floor(refs, hot, START + 2 * DAY + timedelta(minutes=30)) == 16
    assert retention_floor(refs, hot, START + 3 * DAY) == 31
    assert retention_floor(refs, RetentionPolicy(RetentionClass.ARCHIVE), START + 999 * DAY) == 1
    compact = RetentionPolicy(RetentionClass.COMPACT_ONLY)
    assert retention_floor(refs, compact, START + timedelta(minutes=20)) == 11
    gap = [refs[0], refs[2]]
    assert retention_floor(gap, compact, START + DAY) == 6, "the floor stops at the first uncovered seq"
    custom = RetentionPolicy(RetentionClass.HOT, {"raw": timedelta(hours=1)})
    assert custom.age("raw") == timedelta(hours=1) and custom.age("L1") == 30 * DAY
    with pytest.raises(ValueError):
        RetentionPolicy(overrides={"L4": None})


def test_a_cursor_below_the_floor_is_stale_with_floor_requested_and_head() -> None:
    check_cursor(after_seq=15, floor=16, head=40)
    with pytest.raises(StaleCursor) as caught:
        check_cursor(after_seq=14, floor=16, head=40)
    assert isinstance(caught.value, CursorBelowFloor)
    assert caught.value.reason == "STALE_CURSOR"
    assert {k: caught.value.metadata[k] for k in ("floor", "requested", "head")} == {
        "floor": "16",
        "requested": "14",
        "head": "40",
    }


def test_a_chunk_is_removed_only_when_old_and_covered_by_the_next_level() -> None:
    chunks, _ = history(2, ByteEstimator())
    policy = RetentionPolicy(RetentionClass.HOT)
    assert removable_chunks(chunks, policy, START + 10 * DAY) == ()
    gone = removable_chunks(chunks, policy, START + 31 * DAY)
    assert len(gone) == 144 and all(c.startswith("mc1_") for c in gone)
    first_day_l2 = [c for c in chunks if c.level == Level.L2][:24]
    without_l2 = [c for c in chunks if c not in first_day_l2]
    assert len(removable_chunks(without_l2, policy, START + 32 * DAY)) == 288 - 144


def test_map_reduce_tiles_the_range_coarsest_first_and_resumes_without_redoing() -> None:
    chunks, _ = history(2, ByteEstimator())
    window = Window(START + timedelta(hours=22, minutes=30), START + 2 * DAY)
    plan = plan_map_reduce("q1", "what failed?", window, chunks, max_parallel=2)
    levels = [m.level for m in plan.maps]
    # 22:30-23:00 by three L1, 23:00-24:00 by one L2, day 2 by its L3.
    assert levels == [Level.L1] * 3 + [Level.L2, Level.L3]
    assert len({m.map_id for m in plan.maps}) == 5
    state = fold([])
    first = next_batch(plan, state)
    assert [m.chunk_id for m in first] == [m.chunk_id for m in plan.maps[:2]]
    events = [(MAP_DONE, {"map_id": m.map_id, "answer": f"a{i}"}) for i, m in enumerate(first)]
    events.append((MAP_DONE, {"map_id": first[0].map_id, "answer": "retried"}))
    state = fold(events)  # a crash here: the fold says what is done
    assert next_batch(plan, state) == plan.maps[2:4]
    assert reduce_input(plan, state) is None
    events += [(MAP_DONE, {"map_id": m.map_id, "answer": "x"}) for m in plan.maps[2:]]
    state = fold(events)
    assert next_batch(plan, state) == ()
    data = reduce_input(plan, state)
    assert data is not None and data.answers[0] == (plan.maps[0].chunk_id, "a0")
    assert fold([*events, (REDUCE_DONE, {"answer": "done"})]).answer == "done"


def test_chunks_refuse_inconsistent_fields() -> None:
    good = make_chunk(Level.L1, START, "s", ByteEstimator(), SeqRange(1, 2))
    with pytest.raises(ValueError, match="sha256"):
        replace(good, summary="other")
    with pytest.raises(ValueError, match="seq range"):
        replace(good, seq_range=None)
    with pytest.raises(ValueError, match="input chunk ids"):
        replace(good, level=Level.L2, seq_range=None)
    with pytest.raises(ValueError, match="bad seq range"):
        SeqRange(5, 4)
    with pytest.raises(ValueError, match="naive"):
        window_of(Level.L1, datetime(2026, 11, 30))
