"""Every chunk compaction writes stores its summary as an artifact (issue 14 item 7), on each
store (SQLite, PostgreSQL): content-addressed by the chunk's SHA-256, indexed for its thread
with producer `memory:L<level>`, in the chunk's transaction; a resumed compaction or a chunk
written again adds no index entry."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from oa_runtime.core.artifacts import ArtifactScope
from oa_runtime.core.memory.records import CHUNK_STREAM, SUMMARY_MEDIA_TYPE, thread_stream
from oa_runtime.ports import ArtifactStore, EventStore, ModelError
from oa_runtime.store.artifacts import open_artifact_store
from oa_runtime.store.memory import SqlMemoryStore, open_memory_store

from tests.conformance.test_memory_compaction import Clock, CountingProvider, compactor, next_midnight
from tests.support.memory import seed_thread

STREAM = thread_stream("t-art")


async def summaries(artifacts: ArtifactStore) -> dict[str, tuple[str, str, str]]:
    """The thread's summary artifacts: chunk name -> (sha256, producer, media type)."""
    listed = await artifacts.list_artifacts(ArtifactScope(thread_id=STREAM.id), limit=1000)
    assert len(listed) == len({a.ref.name for a in listed})  # one entry per chunk
    return {a.ref.name: (a.ref.sha256, a.producer, a.ref.media_type) for a in listed}


async def assert_each_chunk_is_its_artifact(memory: SqlMemoryStore, artifacts: ArtifactStore) -> None:
    chunks = await memory.list_chunks(STREAM, limit=1000)
    listed = await summaries(artifacts)
    assert set(listed) == {f"{s.chunk.chunk_id}.md" for s in chunks}
    for stored in chunks:
        chunk = stored.chunk
        sha256, producer, media_type = listed[f"{chunk.chunk_id}.md"]
        assert (sha256, producer, media_type) == (
            chunk.summary_sha256,
            f"memory:L{int(chunk.level)}",
            SUMMARY_MEDIA_TYPE,
        )
        data = await artifacts.read_content(sha256)
        assert data == chunk.summary.encode("utf-8")
        assert hashlib.sha256(data).hexdigest() == chunk.summary_sha256


async def test_compaction_stores_every_summary_as_a_thread_artifact(store: EventStore) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-art", [start + timedelta(minutes=3 * i) for i in range(40)])
    memory, artifacts = open_memory_store(store), open_artifact_store(store)
    await compactor(memory, CountingProvider(), Clock(start + timedelta(hours=3))).compact(STREAM)
    await assert_each_chunk_is_its_artifact(memory, artifacts)
    producers = sorted(p for _, p, _ in (await summaries(artifacts)).values())
    assert producers == ["memory:L1"] * 12 + ["memory:L2"] * 2
    # The audit event names the artifact, at the seq its index entry records.
    listed = await artifacts.list_artifacts(ArtifactScope(thread_id=STREAM.id), limit=1000)
    seq_of = {a.ref.name: a.seq for a in listed}
    for event in await memory.memory_events(CHUNK_STREAM, STREAM.id):
        ref = event.payload["artifact"]
        assert ref["sha256"] == event.payload["summary_sha256"]
        assert ref["name"] == f"{event.payload['chunk_id']}.md"
        assert ref["media_type"] == SUMMARY_MEDIA_TYPE
        assert seq_of[ref["name"]] == event.seq
        found = await artifacts.find_artifact(ArtifactScope(thread_id=STREAM.id), ref["sha256"])
        assert found is not None and found.ref.size_bytes == ref["size_bytes"]


async def test_a_resumed_compaction_and_a_rewritten_chunk_add_no_index_entry(store: EventStore) -> None:
    start = next_midnight()
    await seed_thread(store, STREAM.id, "run-res", [start + timedelta(minutes=3 * i) for i in range(40)])
    memory, artifacts = open_memory_store(store), open_artifact_store(store)
    clock = Clock(start + timedelta(hours=3))
    with pytest.raises(ModelError):
        await compactor(memory, CountingProvider(fail_after=5), clock).compact(STREAM)
    assert len(await summaries(artifacts)) == 5
    await compactor(memory, CountingProvider(), clock).compact(STREAM)
    await assert_each_chunk_is_its_artifact(memory, artifacts)
    assert len(await summaries(artifacts)) == 14
    for stored in await memory.list_chunks(STREAM, limit=1000):  # every chunk written again
        assert not await memory.write_chunk(stored)
    assert len(await summaries(artifacts)) == 14
    await assert_each_chunk_is_its_artifact(memory, artifacts)
