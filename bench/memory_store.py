"""`python -m bench.memory_store [--days 30]`: memory through the store on SQLite (a temp file).

Not part of `make bench` or the test suite (nothing asserts a time). Figures printed:

* `compaction`: the Compactor writing a day of a thread's history (one event a minute: 144 L1,
  24 L2, 1 L3) with the scripted model (so the figure is the runtime's own cost: planning,
  prompts, reads, one transaction per chunk with its event), as chunks/s and events/s.
* `turn_context_ms` p50/p99: what a turn of a memory-enabled thread pays before its model call
  (engine/memory_context.py): reading `--days` of chunks (169 a day) and the raw tail, assembling
  within 16k tokens, recording the plan. Goal: <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oa_runtime.app.memory import Compactor
from oa_runtime.core.memory.records import StoredChunk, thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.memory_context import MemoryContexts
from oa_runtime.models.registry import ModelRegistry
from oa_runtime.models.scripted import ScriptedProvider
from oa_runtime.store import open_store
from oa_runtime.store.memory import open_memory_store

from bench.memory import START, build_history
from tests.support.memory import seed_thread


async def bench_compaction(directory: Path) -> None:
    store = open_store(f"sqlite:///{directory / 'compaction.db'}")
    await store.open()
    try:
        day = datetime(2026, 10, 1, tzinfo=UTC)
        await seed_thread(store, "day", "run-day", [day + timedelta(minutes=i) for i in range(24 * 60)])
        memory = open_memory_store(store)
        job = Compactor(
            memory,
            ModelRegistry([ScriptedProvider()]),
            ByteEstimator(),
            "bench",
            clock=lambda: day + timedelta(days=2),
        )
        t0 = time.perf_counter()
        written = await job.compact(thread_stream("day")) or []
        elapsed = time.perf_counter() - t0
        print(
            f"compaction (sqlite, scripted model): {len(written)} chunks from 1440 events"
            f" in {elapsed:.2f} s: {len(written) / elapsed:.0f} chunks/s, {1440 / elapsed:.0f} events/s"
        )
    finally:
        await store.close()


async def bench_turn_context(directory: Path, days: int, iterations: int) -> None:
    store = open_store(f"sqlite:///{directory / 'context.db'}")
    await store.open()
    try:
        memory = open_memory_store(store)
        counter = ByteEstimator()
        chunks, _ = build_history(days, counter)
        for chunk in chunks:
            await memory.write_chunk(StoredChunk(chunk, None, START))
        tail = START + timedelta(days=days)
        await seed_thread(store, "bench", "run-tail", [tail + timedelta(seconds=10 * i) for i in range(180)])
        await seed_thread(store, "bench", "run-turn", [tail + timedelta(hours=1)])
        await memory.enable_memory(thread_stream("bench"), 0)
        contexts = MemoryContexts(memory, counter, 16_000)
        t0 = time.perf_counter()
        await contexts.assemble("bench", "run-turn")
        cold = (time.perf_counter() - t0) * 1000
        what = f"sqlite, {len(chunks)} chunks over {days} days, 180-event tail, 16k budget"
        print(f"turn_context cold (first turn after a start: every chunk read) ({what}): {cold:.0f} ms")
        for name, step in (("assemble", contexts.assemble), ("assemble+record", contexts.history)):
            samples = []
            for _ in range(iterations):
                t0 = time.perf_counter()
                await step("bench", "run-turn")
                samples.append((time.perf_counter() - t0) * 1000)
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(f"turn_context_ms {name} ({what}): p50 {statistics.median(samples):.1f} p99 {p99:.1f}")
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description="Memory through the store (docs/MEMORY.md).")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        await bench_compaction(Path(directory))
        await bench_turn_context(Path(directory), args.days, args.iterations)


if __name__ == "__main__":
    asyncio.run(main())
