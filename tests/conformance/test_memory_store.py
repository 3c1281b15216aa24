"""The MemoryStore conformance suite, run on every adapter (SQLite, PostgreSQL): chunks are
insert-if-absent by id with one `memory.chunk_written` event each; lists page by keyset in
window order; a thread's events are its runs' memory-visible events in position order; a job
has one holder until its time runs out; questions and memory events are idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oa_runtime.core import events as ev
from oa_runtime.core.memory.chunks import (
    Level,
    ModelUsage,
    SeqRange,
    Window,
    new_chunk,
    to_epoch_ms,
    window_of,
)
from oa_runtime.core.memory.records import (
    CHUNK_STREAM,
    CHUNK_WRITTEN,
    MemoryQueryRecord,
    StoredChunk,
    thread_stream,
)
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.ports import AppendRequest, EventStore, MemoryStore
from oa_runtime.store.memory import open_memory_store

from .helpers import append, new_run

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
USAGE = ModelUsage("scripted", "scripted", 10, 5, 3)
STREAM = thread_stream("thread-1")


def l1(start: datetime, first: int, last: int, text: str = "summary") -> StoredChunk:
    window = window_of(Level.L1, start)
    chunk = new_chunk(STREAM, Level.L1, window, text, USAGE, ByteEstimator(), seq_range=SeqRange(first, last))
    return StoredChunk(chunk, (first * 10, last * 10), T0)


def rollup(level: Level, start: datetime, inputs: tuple[str, ...]) -> StoredChunk:
    chunk = new_chunk(
        STREAM, level, window_of(level, start), "roll", USAGE, ByteEstimator(), input_ids=inputs
    )
    return StoredChunk(chunk, None, T0)


async def test_a_chunk_is_written_once_with_one_event(store: EventStore) -> None:
    memory: MemoryStore = open_memory_store(store)
    stored = l1(T0, 1, 4)
    assert await memory.write_chunk(stored)
    assert not await memory.write_chunk(l1(T0, 1, 4, text="another text, same window"))
    got = await memory.get_chunks([stored.chunk.chunk_id, "mc1_missing"])
    assert list(got) == [stored.chunk.chunk_id]
    assert got[stored.chunk.chunk_id].chunk == stored.chunk
    assert got[stored.chunk.chunk_id].positions == (10, 40)
    events = await memory.memory_events(CHUNK_STREAM, "thread-1")
    assert [(e.seq, e.type, e.payload["chunk_id"]) for e in events] == [
        (1, CHUNK_WRITTEN, stored.chunk.chunk_id)
    ]
    assert events[0].payload["summary_sha256"] == stored.chunk.summary_sha256
    assert events[0].position == await store.log_head()


async def test_chunks_list_in_window_order_by_level_and_page(store: EventStore) -> None:
    memory = open_memory_store(store)
    first, second = l1(T0, 1, 2), l1(T0 + timedelta(minutes=10), 3, 5)
    hour = rollup(Level.L2, T0, (first.chunk.chunk_id, second.chunk.chunk_id))
    for stored in (second, hour, first):
        await memory.write_chunk(stored)
    listed = await memory.list_chunks(STREAM)
    assert [s.chunk.chunk_id for s in listed] == [
        hour.chunk.chunk_id,
        first.chunk.chunk_id,
        second.chunk.chunk_id,
    ]
    assert [s.chunk.chunk_id for s in await memory.list_chunks(STREAM, level=Level.L1)] == [
        first.chunk.chunk_id,
        second.chunk.chunk_id,
    ]
    page = await memory.list_chunks(STREAM, limit=2)
    last = page[-1].chunk
    rest = await memory.list_chunks(
        STREAM, after=(to_epoch_ms(last.window.start), -int(last.level), last.chunk_id)
    )
    assert [s.chunk.chunk_id for s in page + rest] == [s.chunk.chunk_id for s in listed]
    late = await memory.list_chunks(STREAM, ends_after_ms=to_epoch_ms(T0 + timedelta(minutes=10)))
    assert [s.chunk.chunk_id for s in late] == [hour.chunk.chunk_id, second.chunk.chunk_id]
    early = await memory.list_chunks(STREAM, starts_before_ms=to_epoch_ms(T0 + timedelta(minutes=10)))
    assert [s.chunk.chunk_id for s in early] == [hour.chunk.chunk_id, first.chunk.chunk_id]
    assert await memory.list_chunks(thread_stream("other")) == []
    newest = await memory.newest_chunk(STREAM, Level.L1)
    assert newest is not None and newest.chunk == second.chunk
    assert await memory.newest_chunk(STREAM, Level.L3) is None


async def test_thread_events_are_the_visible_run_events_in_position_order(store: EventStore) -> None:
    memory = open_memory_store(store)
    a = await new_run(store, "thread-1")
    b = await new_run(store, "thread-1")
    await new_run(store, "thread-2")
    await append(
        store, AppendRequest(a, [ev.run_started("x", 1), ev.step_started(1), ev.message_delta("m", "hi")])
    )
    await append(store, AppendRequest(b, [ev.run_started("x", 1)]))
    events = await memory.thread_events("thread-1", 0, 100)
    assert [(e.run_id, e.type) for e in events] == [
        (a, ev.RUN_ACCEPTED),
        (b, ev.RUN_ACCEPTED),
        (a, ev.RUN_STARTED),
        (a, ev.STEP_STARTED),
        (b, ev.RUN_STARTED),
    ]
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    assert [e.position for e in await memory.thread_events("thread-1", positions[1], 100)] == positions[2:]
    between = await memory.thread_events_between("thread-1", positions[1], positions[2], 100)
    assert [e.position for e in between] == positions[1:3]
    assert await memory.run_prompts([a]) == {a: "hello"}


async def test_a_job_has_one_holder_until_its_time_runs_out(store: EventStore) -> None:
    memory = open_memory_store(store)
    assert await memory.claim_job("compact:t", "r1", 1_000, 500) == 1
    assert await memory.claim_job("compact:t", "r2", 1_200, 500) is None
    assert await memory.claim_job("compact:t", "r1", 1_300, 500) == 1  # renewed: until 1_800
    assert await memory.claim_job("compact:t", "r2", 1_700, 500) is None
    assert await memory.claim_job("compact:t", "r2", 1_800, 500) == 2  # expired: taken over
    await memory.release_job("compact:t", "r1")  # not the holder: nothing happens
    assert await memory.claim_job("compact:t", "r1", 1_900, 500) is None
    await memory.release_job("compact:t", "r2")
    assert await memory.claim_job("compact:t", "r1", 1_900, 500) == 1


async def test_questions_and_memory_events_are_idempotent(store: EventStore) -> None:
    memory = open_memory_store(store)
    record = MemoryQueryRecord("q1", STREAM, "f1", {"question": "what?"}, 5)
    assert await memory.create_query(record) == record
    again = await memory.create_query(MemoryQueryRecord("q1", STREAM, "f2", {"question": "other"}, 6))
    assert again == record
    assert await memory.get_query("q2") is None
    assert await memory.append_memory_event("memory_query", "q1", "ev_a", "memory.map_done", {"n": 1})
    assert not await memory.append_memory_event("memory_query", "q1", "ev_a", "memory.map_done", {"n": 2})
    assert await memory.append_memory_event("memory_query", "q1", "ev_b", "memory.reduce_done", {"n": 3})
    events = await memory.memory_events("memory_query", "q1")
    assert [(e.seq, e.payload["n"]) for e in events] == [(1, 1), (2, 3)]
    enabled = [STREAM, thread_stream("a")]
    for stream in enabled + enabled:
        await memory.enable_memory(stream, 7)
    assert await memory.memory_streams() == sorted(enabled)
    assert await memory.memory_enabled(STREAM) and not await memory.memory_enabled(thread_stream("b"))


def test_windows_round_trip() -> None:
    window = Window(T0, T0 + timedelta(minutes=10))
    assert window_of(Level.L1, T0) == window
