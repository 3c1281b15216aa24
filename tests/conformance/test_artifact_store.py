"""ArtifactStore conformance on both backends: bytes stored once per digest and read by range
across chunk boundaries; a run's artifacts indexed from its `tool.result` events (listed before
and after the projector reached them, the same either way, and rebuildable); thread and agent
listings with keyset pages; lookups by digest within a scope only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.artifacts import (
    ARTIFACT_INDEX,
    CHUNK_BYTES,
    OWNER_AGENT,
    Artifact,
    ArtifactRef,
    ArtifactScope,
    digest,
    offload,
    page_key,
)
from oa_runtime.engine.projector import Projector
from oa_runtime.ports import AppendRequest, ArtifactStore, EventStore
from oa_runtime.store.artifacts import open_artifact_store
from oa_runtime.store.base import SqlStore

from .helpers import append, new_run


@pytest.fixture
def artifacts(store: EventStore) -> ArtifactStore:
    return open_artifact_store(store)


async def tool_output(store: EventStore, artifacts: ArtifactStore, run_id: str, call: str, text: str) -> int:
    """A tool call of `run_id` whose big output is stored and referenced; the result's seq."""
    stand_in = offload("echo", call, text, inline_max_bytes=16)
    assert stand_in is not None
    assert await artifacts.put_content(stand_in.data) == stand_in.ref.sha256
    result = await append(
        store,
        AppendRequest(
            run_id,
            [
                ev.tool_call_requested(call, "echo", "{}"),
                ev.tool_result(
                    call,
                    "echo",
                    output_json=stand_in.output_json,
                    receipt={"artifact": stand_in.ref.to_json()},
                ),
            ],
        ),
    )
    return result.seqs[-1]


async def started_run(store: EventStore, thread_id: str) -> str:
    run_id = await new_run(store, thread_id)
    await append(store, AppendRequest(run_id, [ev.run_started("x", 1), ev.step_started(1)]))
    return run_id


async def test_content_is_stored_once_and_read_by_range(store: EventStore, artifacts: ArtifactStore) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES * 2 // 256 + 7)  # two chunks and a bit
    sha = await artifacts.put_content(data)
    assert sha == digest(data)
    assert await artifacts.put_content(data) == sha  # again: nothing new
    assert isinstance(store, SqlStore)
    assert await artifacts.read_content(sha) == data
    edge = CHUNK_BYTES - 5
    assert await artifacts.read_content(sha, edge, 10) == data[edge : edge + 10]  # across a boundary
    assert await artifacts.read_content(sha, len(data) - 3, 100) == data[-3:]  # short at the end
    assert await artifacts.read_content(sha, len(data) + 1, 5) == b""
    assert await artifacts.read_content("0" * 64) is None
    before = store.rows_read
    await artifacts.read_content(sha, 10, 20)
    assert store.rows_read - before == 2  # the content row and one chunk, not the whole blob
    assert await artifacts.put_content(b"") == digest(b"")
    assert await artifacts.read_content(digest(b"")) == b""


async def test_run_artifacts_come_from_tool_results(store: EventStore, artifacts: ArtifactStore) -> None:
    run_id = await started_run(store, "thread-a")
    seq1 = await tool_output(store, artifacts, run_id, "c1", "x" * 100)
    seq2 = await tool_output(store, artifacts, run_id, "c2", "y" * 200)
    scope = ArtifactScope(run_id=run_id)
    before = await artifacts.list_artifacts(scope, limit=10)  # the projector has not run: top-up
    assert [(a.seq, a.ref.size_bytes, a.thread_id, a.producer) for a in before] == [
        (seq1, 100, "thread-a", "tool:echo"),
        (seq2, 200, "thread-a", "tool:echo"),
    ]
    assert before[0].preview == "x" * 100
    await Projector(store, [ARTIFACT_INDEX]).catch_up()
    after = await artifacts.list_artifacts(scope, limit=10)
    assert after == before
    # A rebuild from zero ends equal.
    await store.reset_projection(ARTIFACT_INDEX.name)
    await Projector(store, [ARTIFACT_INDEX]).catch_up()
    assert await artifacts.list_artifacts(scope, limit=10) == before
    found = await artifacts.find_artifact(scope, before[1].ref.sha256)
    assert found is not None and found.seq == seq2
    other = await started_run(store, "thread-b")
    assert await artifacts.find_artifact(ArtifactScope(run_id=other), before[1].ref.sha256) is None


async def test_thread_listing_pages_across_runs(store: EventStore, artifacts: ArtifactStore) -> None:
    runs = [await started_run(store, "thread-p") for _ in range(3)]
    for i, run_id in enumerate(runs):
        await tool_output(store, artifacts, run_id, f"c{i}", f"output {i} " * 10)
    await Projector(store, [ARTIFACT_INDEX]).catch_up()
    await tool_output(store, artifacts, runs[0], "late", "late " * 10)  # not projected yet
    scope = ArtifactScope(thread_id="thread-p")
    whole = await artifacts.list_artifacts(scope, limit=10)
    assert len(whole) == 4
    paged: list[Artifact] = []
    after = None
    while True:
        page = await artifacts.list_artifacts(scope, limit=3 if after is None else 1, after=after)
        if not page:
            break
        paged += page
        after = page_key(page[-1])
    assert paged == whole
    assert await artifacts.list_artifacts(ArtifactScope(thread_id="thread-none"), limit=10) == []


async def test_agent_artifacts_are_indexed_by_their_producer(
    store: EventStore, artifacts: ArtifactStore
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i in range(3):
        data = f"summary {i}".encode()
        sha = await artifacts.put_content(data)
        ref = ArtifactRef(sha, len(data), "text/plain; charset=utf-8", f"L1-{i}.txt")
        at = t0 + timedelta(minutes=10 * i)
        items.append(Artifact(ref, OWNER_AGENT, "agent-1", i + 1, "", "", "agent-1", "memory:L1", "", at))
    await artifacts.index_artifacts(items)
    await artifacts.index_artifacts(items[:1])  # idempotent
    scope = ArtifactScope(agent_id="agent-1")
    assert await artifacts.list_artifacts(scope, limit=10) == items
    assert await artifacts.list_artifacts(scope, limit=10, after=page_key(items[0])) == items[1:]
    # A rebuild of the run index leaves an agent's own artifacts alone.
    await store.reset_projection(ARTIFACT_INDEX.name)
    assert await artifacts.list_artifacts(scope, limit=10) == items
