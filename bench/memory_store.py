"""`python -m bench.memory_store [--days 30] [--backend sqlite|postgres]`: memory through the
store, on SQLite (a temp file) or a throwaway PostgreSQL (tests/support/postgres.py).

Not part of `make bench` or the test suite (nothing asserts a time). Figures printed:

* `compaction`: the Compactor writing a day of a thread's history (one event a minute: 144 L1,
  24 L2, 1 L3) with the scripted model (so the figure is the runtime's own cost: planning,
  prompts, reads, one transaction per chunk with its event), as chunks/s and events/s.
* `turn_context_ms` p50/p99: what a turn of a memory-enabled thread pays before its model call
  (engine/memory_context.py) with `--days` of an agent's life: one run (turn) of 20 events per
  10-minute window (4,320 runs and 86,400 events for 30 days), compacted by the Compactor
  (5,067 chunks), a 200-event raw tail; within 16k and 128k tokens. "first turn after a start":
  a new MemoryContexts each turn on a store just reopened; "assemble+record" also appends the
  plan. Goal: <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from oa_runtime.app.memory import Compactor
from oa_runtime.core.memory.chunks import Level
from oa_runtime.core.memory.records import thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.memory_context import MemoryContexts
from oa_runtime.models.registry import ModelRegistry
from oa_runtime.models.scripted import ScriptedProvider
from oa_runtime.ports import EventStore, MemoryStore
from oa_runtime.store import open_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.memory import SqlMemoryStore, open_memory_store
from oa_runtime.store.sql import Done, Flow, command, done

from bench.memory import START
from tests.support.memory import seed_thread
from tests.support.postgres import start_postgres

THREAD = "bench"
MARKS = hasattr(SqlMemoryStore, "mark_thread_runs")


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


async def seed_history(store: EventStore, days: int) -> tuple[datetime, int]:
    """A thread with `days` of an agent's life: one run (turn) per 10-minute window, each of 20
    events, compacted by the Compactor (scripted model), then a 30-minute uncompacted tail run of
    180 events and the turn's own run. Answers the tail's start and the chunks written."""
    memory = open_memory_store(store)
    await memory.enable_memory(thread_stream(THREAD), 0)
    windows = days * 24 * 6
    for i in range(windows):
        at = START + timedelta(minutes=10 * i)
        await simulate_turn(store, f"run-{i:05d}", at, [at + timedelta(seconds=30 * k) for k in range(19)])
    tail = START + timedelta(days=days)
    job = Compactor(memory, ModelRegistry([ScriptedProvider()]), ByteEstimator(), "bench", clock=lambda: tail)
    written = 0
    while True:  # one compact() per call: 10 s of work at a time is fine for a bench
        done_now = await job.compact(thread_stream(THREAD)) or []
        written += len(done_now)
        if not done_now:
            break
    await simulate_turn(store, "run-tail", tail, [tail + timedelta(seconds=10 * i) for i in range(179)])
    await simulate_turn(store, "run-turn", tail + timedelta(minutes=31), [tail + timedelta(minutes=31)])
    return tail, written


async def simulate_turn(store: EventStore, run_id: str, at: datetime, instants: list[datetime]) -> None:
    """A turn of the thread at the simulated instant `at`: the run mark its context read leaves
    (engine/memory_context.py `mark_thread_runs`, taken with the clock of `at`: no run of the
    thread is unfinished between turns here), then the run, created at `at`."""
    assert isinstance(store, SqlStore)
    d = store.dialect

    def mark() -> Flow[Done[None]]:
        yield command(
            d.sql(
                "INSERT INTO memory_run_marks (thread_id, position, runs_from)"
                " SELECT ?, position, ? FROM log_head WHERE true ON CONFLICT DO NOTHING"
            ),
            (THREAD, d.time(at - timedelta(minutes=10))),  # store/memory.py RUN_CLOCK_SKEW_MARGIN
        )
        return done(None)

    def backdate() -> Flow[Done[None]]:
        yield command(d.sql("UPDATE runs SET created_at = ? WHERE run_id = ?"), (d.time(at), run_id))
        return done(None)

    if MARKS:  # an earlier checkout (for an A/B) has no run marks
        await store._write(mark)
    await seed_thread(store, THREAD, run_id, instants)
    await store._write(backdate)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def analyze() -> Flow[Done[None]]:
    yield command("ANALYZE")
    return done(None)


async def explain_reads(url: str, store: EventStore) -> None:
    """PostgreSQL's plans of a turn's reads (the raw tail from the newest L1 chunk, its pages)."""
    import psycopg
    from oa_runtime.core.memory.context import ChunkPage
    from oa_runtime.store.memory import chunk_page, thread_events

    assert isinstance(store, SqlStore)
    d = store.dialect
    newest = await open_memory_store(store).newest_chunk(thread_stream(THREAD), Level.L1)
    assert newest is not None and newest.positions is not None and newest.chunk.seq_range is not None
    flows = [
        thread_events(d, THREAD, newest.positions[0] - 1, None, 1000),
        chunk_page(d, thread_stream(THREAD), ChunkPage(Level.L1, None, newest.chunk.seq_range.first, 32)),
        chunk_page(d, thread_stream(THREAD), ChunkPage(Level.L2, newest.chunk.window.start, None, 32)),
    ]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for flow in flows:
            step = next(flow)
            while True:
                if step.sql.startswith("SELECT runs_from"):
                    rows = await (await conn.execute(step.sql, step.params)).fetchall()
                else:
                    plan = await (await conn.execute("EXPLAIN ANALYZE " + step.sql, step.params)).fetchall()
                    print("\n".join(["EXPLAIN ANALYZE " + step.sql[:90] + "…", *(f"  {r[0]}" for r in plan)]))
                    rows = []
                try:
                    step = flow.send(rows)
                except StopIteration:
                    break


async def _time_turns(make_step: Callable[[], Step], iterations: int) -> tuple[list[float], list[float]]:
    """Wall and process CPU ms of `iterations` turns (the CPU of every thread of this process:
    on SQLite all of a turn's work, less sensitive than wall time to the machine's load)."""
    wall, cpu = [], []
    for _ in range(iterations):
        step = make_step()
        t0, c0 = time.perf_counter(), time.process_time()
        await step(THREAD, "run-turn")
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


Step = Callable[[str, str], Awaitable[object]]


def _fresh_assemble(memory: MemoryStore, budget: int) -> Step:
    return MemoryContexts(memory, ByteEstimator(), budget).assemble


def _same(step: Step) -> Step:
    return step


def _report(what: str, wall: list[float], cpu: list[float]) -> None:
    (p50, p99), (c50, c99) = _percentiles(wall), _percentiles(cpu)
    print(f"turn_context_ms {what}: p50 {p50:.1f} p99 {p99:.1f}; process CPU p50 {c50:.1f} p99 {c99:.1f}")


async def bench_turn_context(url: str, backend: str, days: int, iterations: int) -> None:
    store = open_store(url)
    await store.open()
    try:
        t0 = time.perf_counter()
        _, chunks = await seed_history(store, days)
        print(f"seeded and compacted {days} days ({chunks} chunks) in {time.perf_counter() - t0:.0f} s")
        assert isinstance(store, SqlStore)
        await store._write(analyze)  # statistics of the seeded (and backdated) rows, as autovacuum keeps them
        if backend == "postgresql":
            await explain_reads(url, store)
    finally:
        await store.close()
    store = open_store(url)  # a fresh start: nothing cached in this process
    await store.open()
    try:
        memory = open_memory_store(store)
        counter = ByteEstimator()
        what = f"{backend}, {chunks} chunks and {days * 144} runs over {days} days, 200-event raw tail"
        for budget in (16_000, 128_000):
            where = f"({what}, {budget // 1000}k budget)"
            # A new MemoryContexts each time: the first turn after a start.
            wall, cpu = await _time_turns(partial(_fresh_assemble, memory, budget), iterations)
            if budget == 16_000:  # the first reads of this process
                print(f"turn_context_ms the very first turn after opening the store {where}: {wall[0]:.1f}")
            _report(f"first turn after a start {where}", wall, cpu)
            contexts = MemoryContexts(memory, counter, budget)
            for name, step in (("assemble", contexts.assemble), ("assemble+record", contexts.history)):
                _report(f"{name} {where}", *await _time_turns(partial(_same, step), iterations))
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description="Memory through the store (docs/MEMORY.md).")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--skip-compaction", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if not args.skip_compaction:
            await bench_compaction(Path(directory))
        if args.backend == "sqlite":
            await bench_turn_context(
                f"sqlite:///{directory}/context.db", "sqlite", args.days, args.iterations
            )
        else:
            with start_postgres() as url:
                await bench_turn_context(url, "postgresql", args.days, args.iterations)


if __name__ == "__main__":
    asyncio.run(main())
