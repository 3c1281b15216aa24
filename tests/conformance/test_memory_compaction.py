"""Compaction over each store (SQLite, PostgreSQL) on an injected clock: a simulated week gives
exactly the expected chunks per level; a compaction that dies mid-way resumes without redoing
a written chunk; two replicas compacting at once write every chunk once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import pytest
from oa_runtime.app.memory import Compactor
from oa_runtime.core.memory.chunks import Level
from oa_runtime.core.memory.context import ContextPlan, render_plan
from oa_runtime.core.memory.prompt import is_summary_prompt
from oa_runtime.core.memory.records import CHUNK_STREAM, CONTEXT_PLANNED, thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.memory_context import MEMORY_INSTRUCTIONS, MemoryContexts
from oa_runtime.models.registry import ModelRegistry
from oa_runtime.models.scripted import ScriptedProvider
from oa_runtime.ports import EventStore, FinishChunk, ModelChunk, ModelError, ModelRequest
from oa_runtime.store.memory import SqlMemoryStore, open_memory_store

from tests.support.memory import seed_thread

STREAM = thread_stream("t-week")


def next_midnight() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CountingProvider(ScriptedProvider):
    """The scripted model, counting summary calls; fails (as a crash would stop it) once
    `fail_after` calls have been answered."""

    def __init__(self, fail_after: int | None = None, pause_s: float = 0.0) -> None:
        super().__init__(pause_s)
        self.calls: list[str] = []
        self.fail_after = fail_after

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise ModelError("the model went away", retryable=True)
        assert is_summary_prompt(request.messages[-1].content)
        self.calls.append(request.run_id)
        async for piece in super().stream(request):
            yield piece


def compactor(
    memory: SqlMemoryStore, provider: CountingProvider, clock: Clock, owner: str = "r1"
) -> Compactor:
    return Compactor(memory, ModelRegistry([provider]), ByteEstimator(), owner, clock=clock)


async def levels(memory: SqlMemoryStore) -> dict[Level, int]:
    chunks = await memory.list_chunks(STREAM, limit=10_000)
    return {level: sum(1 for s in chunks if s.chunk.level == level) for level in Level}


async def test_a_simulated_week_gives_exactly_the_expected_chunks(store: EventStore) -> None:
    start = next_midnight()
    # One event every 5 minutes for 7 days, after the run's `run.accepted` at the start.
    instants = [start + timedelta(minutes=5 * i) for i in range(7 * 24 * 12)]
    await seed_thread(store, STREAM.id, "run-week", instants)
    memory = open_memory_store(store)
    clock = Clock(start)
    provider = CountingProvider()
    job = compactor(memory, provider, clock)
    while clock.now < start + timedelta(days=8):  # hourly ticks, a day past the week
        await job.compact(STREAM)
        clock.now += timedelta(hours=1)
    assert await levels(memory) == {Level.L1: 1008, Level.L2: 168, Level.L3: 7}
    l1 = await memory.list_chunks(STREAM, level=Level.L1, limit=10_000)
    ranges = [s.chunk.seq_range for s in l1]
    # The L1 ranges tile the thread's seqs: the first window holds run.accepted and two messages.
    expected = [(1, 3)] + [(4 + 2 * i, 5 + 2 * i) for i in range(1007)]
    assert [(r.first, r.last) for r in ranges if r] == expected
    first = l1[0].chunk
    assert first.summary.startswith(f"L1 {STREAM} {start.isoformat()}")
    assert "3 events (seq 1-3); types: message.completed, run.accepted" in first.summary
    assert len(provider.calls) == len(set(provider.calls)) == 1008 + 168 + 7  # none summarised twice
    audit = await memory.memory_events(CHUNK_STREAM, STREAM.id)
    assert sorted(e.payload["chunk_id"] for e in audit) == sorted(provider.calls)


async def test_a_compaction_that_dies_resumes_without_redoing_a_chunk(store: EventStore) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-crash", [start + timedelta(minutes=3 * i) for i in range(40)])
    memory = open_memory_store(store)
    clock = Clock(start + timedelta(hours=3))
    dying = CountingProvider(fail_after=5)
    with pytest.raises(ModelError):
        await compactor(memory, dying, clock).compact(STREAM)
    assert sum((await levels(memory)).values()) == 5
    resumed = CountingProvider()
    await compactor(memory, resumed, clock).compact(STREAM)
    assert not set(dying.calls) & set(resumed.calls)
    counts = await levels(memory)
    assert counts[Level.L1] == 12 and counts[Level.L2] == 2  # 40 events x 3 min = 2 hours
    assert len(dying.calls) + len(resumed.calls) == sum(counts.values())
    assert sorted(dying.calls + resumed.calls) == sorted(
        s.chunk.chunk_id for s in await memory.list_chunks(STREAM)
    )


class SilentProvider(CountingProvider):
    """The scripted model without its usage report (a provider that reports none)."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        async for piece in super().stream(request):
            yield FinishChunk(piece.reason) if isinstance(piece, FinishChunk) else piece


async def test_a_chunk_records_the_providers_token_counts_or_the_counters(store: EventStore) -> None:
    """Prompt and completion tokens are the provider's when it reports them (the scripted model
    counts words), memory's counter's otherwise; `counted_by` says which."""
    start = next_midnight()
    instants = [start + timedelta(minutes=5 * i) for i in range(4)]  # two 10-minute windows
    for thread, provider in (("t-reported", CountingProvider()), ("t-counted", SilentProvider())):
        await seed_thread(store, thread, f"run-{thread}", instants)
        memory = open_memory_store(store)
        await compactor(memory, provider, Clock(start + timedelta(minutes=30))).compact(thread_stream(thread))
        (first, *_) = await memory.list_chunks(thread_stream(thread), level=Level.L1)
        usage, counter = first.chunk.usage, ByteEstimator()
        if thread == "t-reported":
            assert usage.counted_by == "provider"
            assert usage.completion_tokens == len(first.chunk.summary.split())
        else:
            assert usage.counted_by == counter.name == first.chunk.token_counter
            assert usage.completion_tokens == counter.count(first.chunk.summary)
        assert usage.prompt_tokens > 0


async def test_two_replicas_compacting_at_once_write_each_chunk_once(store: EventStore) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-race", [start + timedelta(minutes=4 * i) for i in range(30)])
    memory = open_memory_store(store)
    clock = Clock(start + timedelta(hours=3))
    a, b = CountingProvider(pause_s=0.01), CountingProvider(pause_s=0.01)
    results = await asyncio.gather(
        compactor(memory, a, clock, "r1").compact(STREAM), compactor(memory, b, clock, "r2").compact(STREAM)
    )
    assert sorted(r is None for r in results) == [False, True]  # one held the job, one was refused
    written = await memory.list_chunks(STREAM)
    assert sorted(a.calls + b.calls) == sorted(s.chunk.chunk_id for s in written)
    audit = await memory.memory_events(CHUNK_STREAM, STREAM.id)
    assert len(audit) == len(written)


async def test_a_turn_of_a_memory_thread_gets_an_assembled_context_recorded_and_replayable(
    store: EventStore,
) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-old", [start + timedelta(minutes=2 * i) for i in range(90)])
    memory = open_memory_store(store)
    clock = Clock(start + timedelta(hours=4))
    await compactor(memory, CountingProvider(), clock).compact(STREAM)
    await seed_thread(store, STREAM.id, "run-now", [start + timedelta(hours=5)])
    contexts = MemoryContexts(memory, ByteEstimator(), 2_000)
    assert await contexts.history(STREAM.id, "run-now") is None  # memory not enabled yet
    await memory.enable_memory(STREAM, 0)
    messages = await contexts.history(STREAM.id, "run-now")
    assert messages is not None and messages[0].content == MEMORY_INSTRUCTIONS
    [planned] = [e for e in await memory.memory_events(CHUNK_STREAM, STREAM.id) if e.type == CONTEXT_PLANNED]
    plan = ContextPlan.from_json(planned.payload["plan"])
    assert planned.payload["run_id"] == "run-now" and plan.total_tokens <= 2_000
    assert plan.raw is not None and plan.raw.last == 91  # the newest event of the earlier run
    assert {c.level for c in plan.chunks} >= {Level.L1, Level.L2}
    # Replay: the recorded plan over the log and the chunk store gives the same messages.
    events = {e.raw.seq: e.raw for e in await contexts.recent_events(STREAM.id, "run-now")}
    chunks = {s.chunk.chunk_id: s.chunk for s in await memory.list_chunks(STREAM, limit=1000)}
    replayed = render_plan(plan, MEMORY_INSTRUCTIONS, events, chunks)
    assert [(m.role, m.text) for m in replayed] == [(m.role, m.content) for m in messages]
    again = await contexts.history(STREAM.id, "run-now")
    assert again == messages
    assert (
        len([e for e in await memory.memory_events(CHUNK_STREAM, STREAM.id) if e.type == CONTEXT_PLANNED])
        == 1
    )


async def test_a_turn_that_finds_the_hot_window_over_budget_wakes_compaction(store: EventStore) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-old", [start + timedelta(minutes=5 * i) for i in range(6)])
    memory = open_memory_store(store)
    await compactor(memory, CountingProvider(), Clock(start + timedelta(hours=1))).compact(STREAM)
    await seed_thread(store, STREAM.id, "run-hot", [start + timedelta(hours=1, seconds=i) for i in range(20)])
    await seed_thread(store, STREAM.id, "run-now", [start + timedelta(hours=2)])
    await memory.enable_memory(STREAM, 0)
    woken: list[int] = []

    def wake() -> None:
        woken.append(1)

    # 21 uncovered events (run-hot's accepted + 20 notes) of ~75 bytes each: about 1,600 tokens.
    for hot_budget, expected in ((100_000, 0), (1_000, 1)):
        contexts = MemoryContexts(
            memory, ByteEstimator(), 8_000, hot_budget_tokens=hot_budget, on_hot_window_full=wake
        )
        await contexts.assemble(STREAM.id, "run-now")
        assert len(woken) == expected
