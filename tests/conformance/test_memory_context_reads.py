"""A turn's context read from the store (engine/memory_context.py): per-model budgets, pages of
chunks equal to the in-memory assembly, and run marks that bound the raw read without losing
an event. Both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from oa_runtime.config import Settings
from oa_runtime.core import events as ev
from oa_runtime.core.memory.chunks import Level
from oa_runtime.core.memory.context import ContextPolicy, assemble_context
from oa_runtime.core.memory.records import thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.memory_context import MEMORY_INSTRUCTIONS, MemoryContexts, TurnMemoryPolicy
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.base import SqlStore
from oa_runtime.store.common import EventRow, utc_now
from oa_runtime.store.memory import SqlMemoryStore, open_memory_store
from oa_runtime.store.sql import Done, Flow, command, done

from tests.support.memory import seed_thread

from .helpers import append, new_run
from .test_memory_compaction import Clock, CountingProvider, compactor, next_midnight

THREAD = "t-ctx"


async def backdate_run(store: EventStore, run_id: str, by: timedelta) -> None:
    assert isinstance(store, SqlStore)
    d = store.dialect

    def flow() -> Flow[Done[None]]:
        yield command(
            d.sql("UPDATE runs SET created_at = ? WHERE run_id = ?"), (d.time(utc_now() - by), run_id)
        )
        return done(None)

    await store._write(flow)


async def insert_event(store: EventStore, run_id: str, seq: int) -> None:
    assert isinstance(store, SqlStore)
    d = store.dialect

    def flow() -> Flow[Done[None]]:
        row = EventRow(seq, f"ev_{run_id}_{seq}", ev.MESSAGE_COMPLETED, {"message_id": "m", "text": "late"})
        yield from d.insert_events(ev.STREAM_RUN, [(run_id, row)], utc_now())
        return done(None)

    await store._write(flow)


STREAM = thread_stream(THREAD)


async def compacted_thread(store: EventStore) -> SqlMemoryStore:
    """Three hours of a thread (an event every 2 minutes) compacted into L1 and L2 chunks, a
    half-hour raw tail after them, and the turn `run-now`."""
    start = next_midnight()
    await seed_thread(store, THREAD, "run-old", [start + timedelta(minutes=2 * i) for i in range(90)])
    memory = open_memory_store(store)
    await compactor(memory, CountingProvider(), Clock(start + timedelta(hours=4))).compact(STREAM)
    tail = start + timedelta(hours=4)
    await seed_thread(store, THREAD, "run-tail", [tail + timedelta(minutes=i) for i in range(30)])
    await seed_thread(store, THREAD, "run-now", [tail + timedelta(minutes=31)])
    await memory.enable_memory(STREAM, 0)
    return memory


async def test_an_escalated_turn_on_a_bigger_model_gets_that_models_budget(store: EventStore) -> None:
    memory = await compacted_thread(store)
    contexts = MemoryContexts(memory, ByteEstimator(), 2_000, model_budgets={"big": 8_000})
    small = await contexts.assemble(THREAD, "run-now", "small")
    big = await contexts.assemble(THREAD, "run-now", "big")
    assert small is not None and big is not None
    assert (small.plan.budget_tokens, big.plan.budget_tokens) == (2_000, 8_000)
    assert small.plan.total_tokens <= 2_000 < big.plan.total_tokens <= 8_000
    assert small.plan.raw is not None and big.plan.raw is not None
    assert big.plan.raw.last == small.plan.raw.last  # both end at the newest event
    assert big.plan.raw.first < small.plan.raw.first
    assert len(big.plan.chunks) > len(small.plan.chunks)

    async def agent_budget(run_id: str) -> TurnMemoryPolicy:
        return TurnMemoryPolicy(budget_tokens=5_000)

    # An agent's own budget lowers the model's, never raises it.
    lowered = MemoryContexts(
        memory, ByteEstimator(), 2_000, model_budgets={"big": 8_000}, run_policy=agent_budget
    )
    assert (await lowered.policy("run-now", "big")).budget_tokens == 5_000
    assert (await lowered.policy("run-now", "small")).budget_tokens == 2_000


async def test_chunk_pages_from_the_store_give_the_in_memory_plan(store: EventStore) -> None:
    memory = await compacted_thread(store)
    everything = [s.chunk for s in await memory.list_chunks(STREAM, limit=1_000)]
    contexts = MemoryContexts(memory, ByteEstimator(), 1)  # the budget is set per call below
    events = [e.raw for e in await contexts.recent_events(THREAD, "run-now")]
    newest = await memory.newest_chunk(STREAM, Level.L1)
    assert newest is not None and newest.chunk.seq_range is not None
    for budget in (600, 2_000, 6_000, 60_000):
        contexts.budget_tokens = budget
        paged = await contexts.assemble(THREAD, "run-now")
        whole = assemble_context(
            MEMORY_INSTRUCTIONS,
            events,
            everything,
            ByteEstimator(),
            ContextPolicy(budget),
            covered_seq=newest.chunk.seq_range.last,
        )
        assert paged == whole


async def test_a_run_mark_bounds_the_raw_read_to_runs_that_can_have_new_events(store: EventStore) -> None:
    memory = open_memory_store(store)
    finished = await new_run(store, THREAD, "run-finished")
    waiting = await new_run(store, THREAD, "run-open")  # created before the mark, unfinished
    await append(
        store,
        AppendRequest(finished, [ev.run_started("x", 1), ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")]),
    )
    await backdate_run(store, finished, timedelta(hours=1))
    head = await store.log_head()
    await memory.mark_thread_runs(THREAD, 0)
    assert await memory.runs_marked_after(THREAD, 0)
    assert not await memory.runs_marked_after(THREAD, head)
    await append(store, AppendRequest(waiting, [ev.run_started("x", 1)]))
    later = await new_run(store, THREAD, "run-later")
    events = await memory.thread_events(THREAD, head, 100)
    assert [(e.run_id, e.type) for e in events] == [(waiting, ev.RUN_STARTED), (later, ev.RUN_ACCEPTED)]
    # Every event is still read from before the mark (no mark bounds that read).
    assert [e.run_id for e in await memory.thread_events(THREAD, 0, 100)] == [
        finished,
        waiting,
        finished,
        finished,
        waiting,
        later,
    ]
    # The bounded read walks only the runs the mark allows: an event of the finished, older run
    # written past the mark (which the log never does) is not even looked at.
    await insert_event(store, finished, 4)
    assert [e.run_id for e in await memory.thread_events(THREAD, head, 100)] == [waiting, later]
    assert [e.run_id for e in await memory.thread_events(THREAD, 0, 100)][-1] == finished
    # A mark that later reads pass keeps the marks they use and drops the older ones.
    await memory.mark_thread_runs(THREAD, await store.log_head())
    assert await memory.runs_marked_after(THREAD, head)


def test_model_budgets_are_read_from_the_environment() -> None:
    env = {
        "RUNTIME_MEMORY_CONTEXT_BUDGETS": " small=2000, big = 128000 ,",
        "RUNTIME_MEMORY_CONTEXT_BUDGET": "900",
    }
    settings = Settings.from_env(env)
    assert settings.memory_context_budget == 900
    assert dict(settings.memory_context_budgets) == {"small": 2_000, "big": 128_000}
    for wrong in ("big", "big=0", "=5", "big=lots"):
        with pytest.raises(ValueError, match="RUNTIME_MEMORY_CONTEXT_BUDGETS"):
            Settings.from_env({"RUNTIME_MEMORY_CONTEXT_BUDGETS": wrong})
