"""Memory summaries through the ArtifactService over gRPC on loopback, on SQLite and PostgreSQL:
after compacting a seeded thread, ListArtifacts by the thread lists one summary per chunk
(producer memory:L1 / memory:L2) and FetchArtifact returns exactly each chunk's summary bytes;
compacting again lists nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from oa_runtime.core.memory.records import SUMMARY_MEDIA_TYPE
from openagents.runtime.v1 import artifact_service_pb2 as artifact_pb
from openagents.runtime.v1 import artifact_service_pb2_grpc as artifact_pb_grpc
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from tests.support.memory import seed_past_thread
from tests.support.runtime import RuntimeHandle, running_runtime

THREAD = "t-mem-art"


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[RuntimeHandle]:
    await seed_past_thread(database_url, THREAD, "run-mem-art")
    async with running_runtime(database_url) as handle:
        yield handle


async def compacted_chunks(rt: RuntimeHandle, count: int) -> list[pb.MemoryChunk]:
    memory = pb_grpc.MemoryServiceStub(rt.channel)
    await memory.CompactMemoryNow(
        pb.CompactMemoryNowRequest(thread_id=THREAD), metadata=rt.md(thread_id=THREAD)
    )
    async with asyncio.timeout(30):
        while True:
            listed = await memory.ListMemoryChunks(
                pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=500), metadata=rt.md(thread_id=THREAD)
            )
            if len(listed.chunks) >= count:
                return list(listed.chunks)
            await asyncio.sleep(0.1)


async def thread_artifacts(rt: RuntimeHandle) -> list[artifact_pb.Artifact]:
    stub = artifact_pb_grpc.ArtifactServiceStub(rt.channel)
    listed = await stub.ListArtifacts(
        artifact_pb.ListArtifactsRequest(thread_id=THREAD, page_size=500), metadata=rt.md(thread_id=THREAD)
    )
    assert listed.next_page_token == ""
    return list(listed.artifacts)


async def fetch(rt: RuntimeHandle, sha256: str) -> tuple[bytes, set[str]]:
    stub = artifact_pb_grpc.ArtifactServiceStub(rt.channel)
    request = artifact_pb.FetchArtifactRequest(thread_id=THREAD, sha256=sha256)
    data, content_types = b"", set()
    async for message in stub.FetchArtifact(request, metadata=rt.md(thread_id=THREAD)):
        data += message.body.data
        content_types.add(message.body.content_type)
    return data, content_types


async def test_summaries_are_listed_and_fetched_by_thread(seeded: RuntimeHandle) -> None:
    rt = seeded
    chunks = await compacted_chunks(rt, 14)  # 24 events over 2 hours: 12 L1 + 2 L2
    listed = await thread_artifacts(rt)
    by_name = {a.name: a for a in listed}
    assert len(by_name) == len(listed) == len(chunks)
    levels = {pb.MEMORY_LEVEL_L1: "memory:L1", pb.MEMORY_LEVEL_L2: "memory:L2"}
    for chunk in chunks:
        artifact = by_name[f"{chunk.chunk_id}.md"]
        assert (artifact.sha256, artifact.producer, artifact.media_type, artifact.run_id) == (
            chunk.summary_sha256,
            levels[chunk.level],
            SUMMARY_MEDIA_TYPE,
            "",
        )
        data, content_types = await fetch(rt, artifact.sha256)
        assert data == chunk.summary.encode("utf-8") and artifact.size_bytes == len(data)
        assert hashlib.sha256(data).hexdigest() == chunk.summary_sha256
        assert content_types == {SUMMARY_MEDIA_TYPE}
    assert sorted(a.producer for a in listed) == ["memory:L1"] * 12 + ["memory:L2"] * 2
    # Compacting again writes nothing new and lists nothing twice.
    await compacted_chunks(rt, 14)
    assert await thread_artifacts(rt) == listed
