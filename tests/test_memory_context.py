"""Context assembly (core/memory/context.py): within budget, newest event first, replayable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.errors import InvalidArgument
from oa_runtime.core.memory.chunks import (
    Chunk,
    Level,
    ModelUsage,
    SeqRange,
    StreamRef,
    new_chunk,
    window_of,
)
from oa_runtime.core.memory.context import (
    TRUNCATION_MARKER,
    ChunkIndex,
    ContextPlan,
    ContextPolicy,
    assemble_context,
    render_plan,
)
from oa_runtime.core.memory.raw import RawEvent
from oa_runtime.core.memory.tokens import MESSAGE_OVERHEAD_TOKENS, ByteEstimator, TokenCounter

STREAM = StreamRef("agent", "a1")
START = datetime(2026, 11, 1, tzinfo=UTC)
USAGE = ModelUsage("scripted", "scripted", 100, 20, 3)


def make_chunk(
    level: Level,
    start: datetime,
    summary: str,
    counter: TokenCounter,
    seq_range: SeqRange | None = None,
    input_ids: tuple[str, ...] = (),
) -> Chunk:
    window = window_of(level, start)
    return new_chunk(STREAM, level, window, summary, USAGE, counter, seq_range=seq_range, input_ids=input_ids)


def history(days: int, counter: TokenCounter, events_per_l1: int = 5) -> tuple[list[Chunk], list[RawEvent]]:
    """`days` of summaries (every L1, L2 and L3) and the raw tail after them (the next 30 minutes)."""
    chunks: list[Chunk] = []
    seq = 1
    for day in range(days):
        l2_ids = []
        for hour in range(24):
            l1_ids = []
            for tenth in range(6):
                t = START + timedelta(days=day, hours=hour, minutes=10 * tenth)
                text = f"Facts: step {seq} checked file_{seq % 97}.py; Decisions: keep going; tool grep ok"
                c = make_chunk(Level.L1, t, text, counter, SeqRange(seq, seq + events_per_l1 - 1))
                seq += events_per_l1
                chunks.append(c)
                l1_ids.append(c.chunk_id)
            hour_start = START + timedelta(days=day, hours=hour)
            l2 = make_chunk(
                Level.L2, hour_start, f"Hour {hour} of day {day}: progress", counter, None, tuple(l1_ids)
            )
            chunks.append(l2)
            l2_ids.append(l2.chunk_id)
        chunks.append(
            make_chunk(Level.L3, START + timedelta(days=day), f"Day {day}", counter, None, tuple(l2_ids))
        )
    tail_start = START + timedelta(days=days)
    raw = [
        RawEvent(STREAM, seq + i, tail_start + timedelta(seconds=20 * i), "text", {"text": f"line {i}"})
        for i in range(90)
    ]
    return chunks, raw


def message_tokens(counter: TokenCounter, texts: list[str]) -> int:
    return sum(counter.count(t) + MESSAGE_OVERHEAD_TOKENS for t in texts)


def test_thirty_days_fill_raw_then_l1_l2_l3_in_time_order() -> None:
    counter = ByteEstimator()
    chunks, raw = history(30, counter)
    result = assemble_context("You are a careful agent.", raw, chunks, counter, ContextPolicy(16_000))
    plan = result.plan
    assert plan.raw is not None and plan.raw.last == raw[-1].seq
    assert plan.total_tokens <= 16_000
    levels = [c.level for c in plan.chunks]
    assert set(levels) == {Level.L1, Level.L2, Level.L3}
    assert levels == sorted(levels, reverse=True), "coarser (older) summaries come first"
    by_id = {c.chunk_id: c for c in chunks}
    starts = [by_id[c.chunk_id].window.start for c in plan.chunks]
    assert starts == sorted(starts)
    # The newest L1 is the one just before the raw tail: nothing between summaries and raw.
    assert by_id[plan.chunks[-1].chunk_id].window.end == raw[0].occurred_at
    assert [m.role for m in result.messages] == ["system", "system", "user"]


def test_plan_round_trips_through_json_and_replays_the_same_messages() -> None:
    counter = ByteEstimator()
    chunks, raw = history(3, counter)
    result = assemble_context("Instructions.", raw, chunks, counter, ContextPolicy(6_000))
    recorded = json.loads(json.dumps(result.plan.to_json()))
    plan = ContextPlan.from_json(recorded)
    assert plan == result.plan
    replayed = render_plan(plan, "Instructions.", {e.seq: e for e in raw}, {c.chunk_id: c for c in chunks})
    assert replayed == result.messages


def test_replay_says_what_is_missing() -> None:
    counter = ByteEstimator()
    chunks, raw = history(1, counter)
    result = assemble_context("I.", raw, chunks, counter, ContextPolicy(4_000))
    with pytest.raises(ValueError, match="chunk"):
        render_plan(result.plan, "I.", {e.seq: e for e in raw}, {})


def test_instructions_over_the_budget_are_a_configuration_error() -> None:
    with pytest.raises(InvalidArgument):
        assemble_context("x" * 100, [], [], ByteEstimator(), ContextPolicy(50))


def test_a_newest_event_too_big_is_cut_with_a_marker() -> None:
    counter = ByteEstimator()
    event = RawEvent(STREAM, 7, START, "tool.finished", {"output": "y" * 5_000})
    result = assemble_context("I.", [event], [], counter, ContextPolicy(300))
    assert result.plan.raw == SeqRange(7, 7) and result.plan.raw_truncated_chars is not None
    assert result.messages[-1].text.endswith(TRUNCATION_MARKER.format(seq=7))
    assert message_tokens(counter, [m.text for m in result.messages]) <= 300


def test_when_not_even_the_marker_fits_the_plan_says_the_newest_was_omitted() -> None:
    event = RawEvent(STREAM, 7, START, "text", {"text": "hello"})
    result = assemble_context("x" * 40, [event], [], ByteEstimator(), ContextPolicy(50))
    assert result.plan.raw is None and result.plan.newest_omitted
    assert len(result.messages) == 1


texts = st.text(max_size=300)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[RawEvent], list[Chunk], int]:
    counter = ByteEstimator()
    instructions = draw(st.text(max_size=200))
    n_raw = draw(st.integers(0, 30))
    head = draw(st.integers(n_raw, 10_000))
    raw = [
        RawEvent(
            STREAM, head - n_raw + 1 + i, START + timedelta(days=5, seconds=i), "text", {"t": draw(texts)}
        )
        for i in range(n_raw)
    ]
    chunks = []
    for i in range(draw(st.integers(0, 40))):
        level = draw(st.sampled_from(list(Level)))
        start = START + timedelta(minutes=10 * draw(st.integers(0, 700)))
        seqs = SeqRange(i * 10 + 1, i * 10 + 10) if level == Level.L1 else None
        chunks.append(make_chunk(level, start, draw(texts), counter, seqs, () if seqs else ("x",)))
    unique = {c.chunk_id: c for c in chunks}
    budget = draw(st.integers(1, 6_000))
    return instructions, raw, list(unique.values()), budget


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_context_never_exceeds_the_budget_and_keeps_the_newest_event(
    scenario: tuple[str, list[RawEvent], list[Chunk], int],
) -> None:
    instructions, raw, chunks, budget = scenario
    counter = ByteEstimator()
    try:
        result = assemble_context(instructions, raw, chunks, counter, ContextPolicy(budget))
    except InvalidArgument:
        assert counter.count(instructions) + MESSAGE_OVERHEAD_TOKENS > budget
        return
    plan = result.plan
    assert plan.total_tokens <= budget
    assert message_tokens(counter, [m.text for m in result.messages]) <= budget
    if raw:
        assert plan.newest_omitted or (plan.raw is not None and plan.raw.last == raw[-1].seq)
        if plan.newest_omitted:
            assert plan.total_tokens == plan.instructions_tokens + plan.memory_header_tokens + sum(
                c.tokens for c in plan.chunks
            )
    again = assemble_context(
        instructions, list(reversed(raw)), list(reversed(chunks)), counter, ContextPolicy(budget)
    )
    assert again == result, "assembly does not depend on input order"
    replayed = render_plan(plan, instructions, {e.seq: e for e in raw}, {c.chunk_id: c for c in chunks})
    assert replayed == result.messages
    # An agent's hot window (events before it left to the summaries once covered) keeps both.
    covered = raw[len(raw) // 2].seq if raw else 0
    hot_policy = ContextPolicy(budget, hot_window=timedelta(minutes=3))
    hot = assemble_context(instructions, raw, chunks, counter, hot_policy, covered_seq=covered).plan
    assert hot.total_tokens <= budget
    if raw:
        assert hot.newest_omitted or (hot.raw is not None and hot.raw.last == raw[-1].seq)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100), st.text(min_size=1, max_size=2_000), st.integers(20, 800))
def test_the_newest_event_is_whole_when_it_fits_and_cut_only_when_it_does_not(
    instructions: str, text: str, budget: int
) -> None:
    counter = ByteEstimator()
    event = RawEvent(STREAM, 1, START, "text", {"text": text})
    whole = assemble_context(instructions, [event], [], counter, ContextPolicy(10**9)).plan
    if whole.total_tokens > 10**9 or whole.instructions_tokens > budget:
        return
    plan = assemble_context(instructions, [event], [], counter, ContextPolicy(budget)).plan
    if whole.total_tokens <= budget:
        assert plan.raw == SeqRange(1, 1) and plan.raw_truncated_chars is None
    else:
        assert plan.raw_truncated_chars is not None or plan.newest_omitted


def test_a_hot_window_leaves_older_covered_events_to_the_summaries() -> None:
    counter = ByteEstimator()
    chunks, raw = history(1, counter)  # 90 raw events 20 s apart (30 minutes), none covered
    newest = raw[-1]
    wide = assemble_context("I.", raw, chunks, counter, ContextPolicy(64_000)).plan
    assert wide.raw == SeqRange(raw[0].seq, newest.seq)
    hot = ContextPolicy(64_000, hot_window=timedelta(minutes=5))
    # Uncovered events stay raw whatever their age: nothing else shows them.
    assert assemble_context("I.", raw, chunks, counter, hot).plan.raw == wide.raw
    covered = raw[84].seq  # all but the newest 5 events are in an L1 chunk
    plan = assemble_context("I.", raw, chunks, counter, hot, covered_seq=covered).plan
    inside = [e.seq for e in raw if e.occurred_at >= newest.occurred_at - timedelta(minutes=5)]
    assert len(inside) == 16 and plan.raw == SeqRange(inside[0], newest.seq)
    assert plan.total_tokens < wide.total_tokens


def test_an_index_kept_between_turns_assembles_the_same_context() -> None:
    counter = ByteEstimator()
    chunks, raw = history(2, counter)
    index = ChunkIndex(chunks, counter)
    policy = ContextPolicy(8_000)
    first = assemble_context("I.", raw, index, counter, policy)
    assert first == assemble_context("I.", raw, chunks, counter, policy)
    assert assemble_context("I.", raw, index, counter, policy) == first


def test_an_index_counted_with_another_counter_is_refused() -> None:
    class Words:
        name = "words"

        def count(self, text: str) -> int:
            return len(text.split())

    chunks, raw = history(1, ByteEstimator())
    with pytest.raises(ValueError, match="counts with"):
        assemble_context("I.", raw, ChunkIndex(chunks, ByteEstimator()), Words(), ContextPolicy(4_000))
    # Chunks counted by another counter are recounted, never trusted.
    plan = assemble_context("I.", raw, chunks, Words(), ContextPolicy(400)).plan
    assert plan.counter == "words" and plan.total_tokens <= 400 and plan.chunks
