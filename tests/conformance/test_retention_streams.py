"""Retention beyond a run's checkpoint, on both backends (issue 14 item 6):

- a run on a memory thread is trimmed only below what L1 chunks older than the newest cover;
- a trimmed run's artifacts stay listed, even after the artifact index is rebuilt from the log;
- agents' streams are trimmed below the frames their fold holds, workers' streams entirely, and
  a cursor below the floor gets STALE_CURSOR at open and in-band;
- artifact bytes nothing references are collected after their grace period, never the bytes of
  a writer that stored them again meanwhile (a writer racing the collector)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from oa_runtime.app.retention import retention_loop, retention_pass
from oa_runtime.config import Settings
from oa_runtime.core import events as ev
from oa_runtime.core.agents.inputs import FrameIn
from oa_runtime.core.artifacts import ARTIFACT_INDEX, OWNER_RUN, Artifact, ArtifactRef, ArtifactScope, digest
from oa_runtime.core.events import Event
from oa_runtime.core.memory.chunks import Level, SeqRange, new_chunk, to_epoch_ms, window_of
from oa_runtime.core.memory.records import StoredChunk, thread_stream
from oa_runtime.core.memory.retention import CursorBelowFloor
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.core.workers import WORKER_EVENT, WorkerEvent
from oa_runtime.engine import worker_streams
from oa_runtime.engine.agent_streams import stream_agent_events
from oa_runtime.engine.projector import Projector
from oa_runtime.engine.worker_streams import WorkerHub, stream_worker_events
from oa_runtime.ports import AppendRequest, ArtifactStore, EventStore, RetentionStore
from oa_runtime.store.agents import open_agent_store
from oa_runtime.store.artifacts import open_artifact_store
from oa_runtime.store.memory import open_memory_store
from oa_runtime.store.retention import open_retention_store
from oa_runtime.store.workers import open_worker_store

from .conftest import make_store
from .helpers import append, finish, new_run
from .test_agent_store import T0, creating, framing
from .test_artifact_store import started_run, tool_output
from .test_memory_store import USAGE
from .test_retention_store import RAW_NOW, finished_run
from .test_worker_store import new_worker, report

SOON = timedelta(seconds=5)


@pytest.fixture
def retention(store: EventStore) -> RetentionStore:
    return open_retention_store(store)


@pytest.fixture
def artifacts(store: EventStore) -> ArtifactStore:
    return open_artifact_store(store)


async def positions(store: EventStore, run_id: str) -> dict[int, int]:
    return {e.seq: e.position for e in await store.read_events(run_id, 0)}


def l1(thread_id: str, minute: int, first: int, last: int, at: tuple[int, int]) -> StoredChunk:
    """An L1 chunk of the thread whose window starts `minute`s after T0, covering positions `at`."""
    window = window_of(Level.L1, T0 + timedelta(minutes=minute))
    chunk = new_chunk(
        thread_stream(thread_id),
        Level.L1,
        window,
        f"s{minute}",
        USAGE,
        ByteEstimator(),
        seq_range=SeqRange(first, last),
    )
    return StoredChunk(chunk, at, T0)


async def test_a_memory_thread_is_trimmed_only_below_older_chunks(
    store: EventStore, retention: RetentionStore
) -> None:
    memory = open_memory_store(store)
    await memory.enable_memory(thread_stream("thread-m"), to_epoch_ms(T0))
    run_id, last_checkpoint = await finished_run(store, "thread-m")  # checkpoints at 6, 10, 14
    later = datetime.now(UTC) + SOON
    assert (await retention_pass(retention, RAW_NOW, later, dry_run=False)).trims == []  # no chunk
    at = await positions(store, run_id)
    assert await memory.write_chunk(l1("thread-m", 0, 1, 8, (at[1], at[8])))
    assert await memory.write_chunk(l1("thread-m", 10, 9, 15, (at[9], at[15])))  # the newest
    (candidate,) = await retention.retention_candidates(later, limit=10)
    assert (candidate.memory, candidate.chunk_seq, candidate.checkpoint_seq) == (True, 8, 6)
    done = await retention_pass(retention, RAW_NOW, later, dry_run=False)
    assert [t.to_json() for t in done.trims] == [
        {"stream_kind": "run", "stream_id": run_id, "old_floor": 1, "new_floor": 7, "removed": 6}
        | {"covered_by": "memory"}
    ]
    assert await store.oldest_retained_seq(run_id) == 7
    # A later run's window becomes the newest: the first run is covered up to its last checkpoint.
    second = await new_run(store, "thread-m")
    await finish(store, second)
    tail = await positions(store, second)
    assert await memory.write_chunk(l1("thread-m", 20, 16, 17, (min(tail.values()), max(tail.values()))))
    again = await retention_pass(retention, RAW_NOW, datetime.now(UTC) + SOON, dry_run=False)
    assert [(t.stream_id, t.new_floor) for t in again.trims] == [(run_id, last_checkpoint + 1)]


async def test_a_trimmed_run_keeps_its_artifacts_through_an_index_rebuild(
    store: EventStore, retention: RetentionStore, artifacts: ArtifactStore
) -> None:
    run_id = await started_run(store, "thread-a")
    seq = await tool_output(store, artifacts, run_id, "call-1", "x" * 200)
    await append(store, AppendRequest(run_id, [ev.step_finished(1, ev.STEP_STOP)]))
    state = await store.run_state(run_id)
    assert state is not None
    await store.save_checkpoint(run_id, seq + 1, state.to_json())
    await finish(store, run_id)
    scope = ArtifactScope(run_id=run_id)
    listed = await artifacts.list_artifacts(scope, limit=10)
    assert [a.seq for a in listed] == [seq]
    # No projector ran: the trim itself indexes the reference it removes.
    assert await retention.trim_run(run_id, seq + 2) == seq + 1
    assert await artifacts.list_artifacts(scope, limit=10) == listed
    await store.reset_projection(ARTIFACT_INDEX.name)  # a rebuild from the (trimmed) log
    await Projector(store, [ARTIFACT_INDEX]).catch_up()
    assert await artifacts.list_artifacts(scope, limit=10) == listed
    assert await artifacts.list_artifacts(ArtifactScope(thread_id="thread-a"), limit=10) == listed


async def read_agent(store: EventStore, agent_id: str, after: int) -> list[int]:
    """The agent's seqs after `after` up to its head (which must be past `after`)."""
    agents = open_agent_store(store)
    record = await agents.get_agent(agent_id)
    assert record is not None and record.state.last_seq > after
    seqs: list[int] = []
    stream = cast(
        AsyncGenerator[Event | None, None],
        stream_agent_events(agents, WorkerHub(), agent_id, after, poll_s=0.01),
    )
    try:
        async for event in stream:
            assert event is not None
            seqs.append(event.seq)
            if event.seq >= record.state.last_seq:
                break
    finally:
        await stream.aclose()
    return seqs


async def test_an_agent_stream_is_trimmed_below_the_frames_it_holds(
    store: EventStore, retention: RetentionStore
) -> None:
    agents = open_agent_store(store)
    await agents.update_agent("a1", creating("a1", "thread-g"), now=T0)  # seq 1
    frames = framing(FrameIn("f1", "signal", "x"), FrameIn("f2", "signal", "y"))
    await agents.update_agent("a1", frames, now=T0, frame_ids=["f1", "f2"])
    record = await agents.get_agent("a1")
    assert record is not None
    held = min(f.seq for f in record.state.pending)
    assert held > 1 and record.state.last_seq >= held
    after_age = T0 + timedelta(hours=1)  # every event is older than the raw age (0)
    plan = await retention_pass(retention, RAW_NOW, after_age, dry_run=True)
    assert [(t.stream_kind, t.stream_id, t.old_floor, t.new_floor) for t in plan.trims] == [
        ("agent", "a1", 1, held)  # the pending frames' bodies are read when their turn starts
    ]
    assert plan.summary()["agents"] == 1
    assert await read_agent(store, "a1", 0) == list(range(1, record.state.last_seq + 1))  # dry
    done = await retention_pass(retention, RAW_NOW, after_age, dry_run=False)
    assert [(t.new_floor, t.removed, t.covered_by) for t in done.trims] == [(held, held - 1, "fold")]
    assert (await retention_pass(retention, RAW_NOW, after_age, dry_run=False)).trims == []  # held
    with pytest.raises(CursorBelowFloor) as err:
        await read_agent(store, "a1", held - 2)
    assert err.value.metadata["floor"] == str(held) and err.value.http_status == "410"
    assert await read_agent(store, "a1", held - 1) == list(range(held, record.state.last_seq + 1))
    # Asked to go further, the trim stops at the oldest frame the fold holds at that moment.
    assert await retention.trim_stream("agent", "a1", held + 2) == 0
    assert await read_agent(store, "a1", held - 1) == list(range(held, record.state.last_seq + 1))


async def read_worker(store: EventStore, worker_id: str, after: int) -> list[int]:
    stream = stream_worker_events(open_worker_store(store), WorkerHub(), worker_id, after, tail_s=0.05)
    return [e.seq async for e in stream if isinstance(e, WorkerEvent)]


async def test_a_worker_stream_is_trimmed_and_older_cursors_are_stale(
    store: EventStore, retention: RetentionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = open_worker_store(store)
    await new_worker(workers, "w1")
    for _ in range(3):
        await workers.update_worker("w1", report(WORKER_EVENT))
    worker = await workers.get_worker("w1")
    assert worker is not None
    head = worker.latest_seq
    assert await read_worker(store, "w1", 0) == list(range(1, head + 1))
    assert (await retention_pass(retention, RAW_NOW, datetime.now(UTC) - SOON, dry_run=False)).trims == []
    done = await retention_pass(retention, RAW_NOW, datetime.now(UTC) + SOON, dry_run=False)
    assert [(t.stream_kind, t.new_floor, t.removed) for t in done.trims] == [("worker", head + 1, head)]
    with pytest.raises(CursorBelowFloor) as err:
        await read_worker(store, "w1", head - 1)
    assert dict(err.value.metadata) == {
        "cursor": str(head - 1),
        "oldest_seq": str(head + 1),
        "floor": str(head + 1),
        "requested": str(head - 1),
        "head": str(head),
    }
    await workers.update_worker("w1", report(WORKER_EVENT))  # the stream goes on
    assert await read_worker(store, "w1", head) == [head + 1]
    # A reader paging when the floor moves past it fails in-band.
    for _ in range(3):
        await workers.update_worker("w1", report(WORKER_EVENT))
    monkeypatch.setattr(worker_streams, "PAGE", 1)
    stream = stream_worker_events(workers, WorkerHub(), "w1", head, tail_s=1.0)
    assert (first := await anext(stream)) is not None and first.seq == head + 1
    assert await retention.trim_stream("worker", "w1", head + 3) == 2
    with pytest.raises(CursorBelowFloor) as err:
        await anext(stream)
    assert err.value.metadata["floor"] == str(head + 3) and err.value.metadata["requested"] == str(head + 1)


# ----- artifact bytes -----


async def test_unreferenced_bytes_are_collected_after_their_grace(
    store: EventStore, retention: RetentionStore, artifacts: ArtifactStore
) -> None:
    run_id = await started_run(store, "thread-b")
    await tool_output(store, artifacts, run_id, "call-1", "referenced by an unindexed event " * 9)
    indexed = await artifacts.put_content(b"indexed")
    ref = ArtifactRef(indexed, 7, "text/plain", "i.txt")
    await artifacts.index_artifacts([Artifact(ref, OWNER_RUN, run_id, 99, run_id, "", "", "x", "", T0)])
    orphans = sorted([await artifacts.put_content(b"orphan one"), await artifacts.put_content(b"orphan 2")])
    grace = timedelta(hours=1)
    now = datetime.now(UTC)
    assert (
        await retention_pass(retention, RAW_NOW, now, dry_run=False, artifact_grace=grace)
    ).artifacts == []
    later = now + grace + SOON
    plan = await retention_pass(retention, RAW_NOW, later, dry_run=True, batch=1, artifact_grace=grace)
    assert [sha for sha, _ in plan.artifacts] == orphans
    assert plan.summary()["artifact_bytes_removed"] == len(b"orphan one") + len(b"orphan 2")
    assert all([await artifacts.read_content(sha) is not None for sha in orphans])  # dry
    done = await retention_pass(retention, RAW_NOW, later, dry_run=False, batch=1, artifact_grace=grace)
    assert [sha for sha, _ in done.artifacts] == orphans
    assert [await artifacts.read_content(sha) for sha in orphans] == [None, None]
    assert await artifacts.read_content(indexed) == b"indexed"
    for listed in await artifacts.list_artifacts(ArtifactScope(run_id=run_id), limit=10):
        assert await artifacts.read_content(listed.ref.sha256) is not None
    # Stored again: the grace period starts over.
    grace_ended = datetime.now(UTC)  # a collector whose grace ended just before the put
    await asyncio.sleep(0.002)
    again = await artifacts.put_content(b"orphan one")
    sweep = await retention.collect_artifacts(grace_ended, limit=10)
    assert again not in [sha for sha, _ in sweep.removed]
    assert await artifacts.read_content(again) == b"orphan one"


async def test_a_writer_racing_the_collector_never_loses_its_bytes(
    store_url: str, store: EventStore, retention: RetentionStore
) -> None:
    """Bytes stored long ago and unreferenced (the collector's prey) are stored again by a
    writer that then commits its reference, while a collector whose grace ended before the
    writer's put runs at the same time (on PostgreSQL from another pool: a second replica).
    Whichever commits first, the referenced bytes are there at the end."""
    other = make_store(store_url) if store_url.startswith("postgres") else store
    if other is not store:
        await other.open()
    try:
        writer = open_artifact_store(store)
        collector = open_retention_store(other)
        blobs = [f"blob {i}".encode() * 50 for i in range(12)]
        for data in blobs:
            await writer.put_content(data)
        await asyncio.sleep(0.01)
        cutoff = datetime.now(UTC)  # every blob was last stored before it: all are prey
        collected = 0

        async def write(i: int, data: bytes) -> None:
            sha = await writer.put_content(data)
            ref = ArtifactRef(sha, len(data), "text/plain", f"{i}.txt")
            await writer.index_artifacts([Artifact(ref, OWNER_RUN, "run-x", i, "run-x", "", "", "x", "", T0)])

        for i, data in enumerate(blobs):
            sweep, _ = await asyncio.gather(collector.collect_artifacts(cutoff, limit=100), write(i, data))
            collected += len(sweep.removed)
            assert await writer.read_content(digest(data)) == data, f"blob {i} lost"
        assert (await collector.collect_artifacts(cutoff, limit=100)).removed == ()  # all referenced
        assert collected >= 1  # the first sweep took the other blobs at least
    finally:
        if other is not store:
            await other.close()


async def test_the_service_workload_collects_bytes_too(store: EventStore, artifacts: ArtifactStore) -> None:
    """RUNTIME_RETENTION_INTERVAL_S: the server's periodic pass also runs the collector (here
    with no grace and a clock past the put, so the orphan goes on the first pass)."""
    orphan = await artifacts.put_content(b"an orphan the loop collects")
    kept = await artifacts.put_content(b"indexed, kept")
    ref = ArtifactRef(kept, 13, "text/plain", "k.txt")
    await artifacts.index_artifacts([Artifact(ref, OWNER_RUN, "run-k", 1, "run-k", "", "", "x", "", T0)])
    settings = replace(Settings(), retention_interval_s=0.001, artifact_gc_grace_s=0.0)
    passes: list[datetime] = []
    second_pass = asyncio.Event()

    def clock() -> datetime:  # read once at the start of each pass
        passes.append(datetime.now(UTC) + SOON)
        if len(passes) == 2:
            second_pass.set()  # so the first one is over
        return passes[-1]

    loop = asyncio.create_task(retention_loop(open_retention_store(store), settings, clock))
    try:
        await asyncio.wait_for(second_pass.wait(), 10)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert await artifacts.read_content(orphan) is None
    assert await artifacts.read_content(kept) == b"indexed, kept"
