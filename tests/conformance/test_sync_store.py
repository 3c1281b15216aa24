"""The sync documents' store (store/sync.py), on SQLite and PostgreSQL: the projection builds
one document per run and worker with its envelope and skips unchanged ones; a new projection
version is built aside while the old one serves and replaces it atomically once caught up; the
sink's lease is exclusive and fences a replica that lost it; acknowledged documents are skipped."""

from __future__ import annotations

import asyncio

import pytest
from oa_runtime.app import workers as app
from oa_runtime.app.workers import Workers
from oa_runtime.core import events as ev
from oa_runtime.core.sync import RUN_SUMMARY, WORKER_SUMMARY, SinkLeaseLost, payload_hash
from oa_runtime.core.workers import WorkerSpec
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.base import SqlStore
from oa_runtime.store.sql import Done, Flow, command, done
from oa_runtime.store.sync import SqlSyncStore, open_sync_store
from oa_runtime.store.workers import open_worker_store

from tests.conformance.helpers import append, finish, new_run


@pytest.fixture
def sync(store: EventStore) -> SqlSyncStore:
    return open_sync_store(store)


async def project_all(sync: SqlSyncStore, version: int, limit: int = 500) -> int:
    """Steps `version` until it applied the log head; the number of steps taken."""
    steps = 0
    while True:
        step = await sync.project_sync(version, limit)
        assert step is not None
        steps += 1
        if step.caught_up:
            return steps


async def test_documents_carry_the_summary_and_its_envelope(store: EventStore, sync: SqlSyncStore) -> None:
    run_id = await new_run(store, "thread-s", "run-s1")
    await append(store, AppendRequest(run_id, [ev.step_started(1)]))
    await finish(store, run_id)
    await app.create_worker(Workers(open_worker_store(store)), WorkerSpec("w-s1", "42", "ws-1"))
    await project_all(sync, 1)

    serving = await sync.sync_serving()
    assert serving is not None and serving.version == 1 and serving.position == await store.log_head()
    [run_doc] = await sync.sync_changes(1, RUN_SUMMARY, [], 0, 10)
    record = await store.get_run(run_id)
    assert record is not None
    assert run_doc.doc_id == "runtime/run_summary:run-s1"
    assert dict(run_doc.source_ids) == {"run_id": "run-s1", "thread_id": "thread-s"}
    assert (run_doc.seq_from, run_doc.seq_to, run_doc.projection_version) == (1, record.last_seq, 1)
    assert run_doc.payload["status"] == "succeeded" and run_doc.payload["last_seq"] == record.last_seq
    assert run_doc.payload_hash == payload_hash(run_doc.payload)
    [worker_doc] = await sync.sync_changes(1, WORKER_SUMMARY, ["w-s1"], 0, 10)
    assert worker_doc.doc_id == "runtime/codex_worker_summary:w-s1"
    assert worker_doc.payload["status"] == "starting" and worker_doc.source_ids == {"worker_id": "w-s1"}
    assert await sync.sync_changes(1, WORKER_SUMMARY, ["w-other"], 0, 10) == []


async def test_a_step_over_unchanged_summaries_writes_nothing(store: EventStore, sync: SqlSyncStore) -> None:
    for n in range(3):
        await finish(store, await new_run(store, run_id=f"run-u{n}"))
    await project_all(sync, 1)
    before = await sync.sync_changes(1, RUN_SUMMARY, [], 0, 10)

    await _reset_checkpoint(store, 1)  # the log is read again: same seqs, same hashes
    step = await sync.project_sync(1, 500)
    assert step is not None and step.applied > 0
    assert (step.written, step.skipped) == (0, 3)
    assert await sync.sync_changes(1, RUN_SUMMARY, [], 0, 10) == before


async def test_a_new_version_is_built_aside_and_replaces_the_old_when_caught_up(
    store: EventStore, sync: SqlSyncStore
) -> None:
    for n in range(4):
        await finish(store, await new_run(store, run_id=f"run-v{n}"))
    await project_all(sync, 1)
    v1_docs = await sync.sync_changes(1, RUN_SUMMARY, [], 0, 100)
    assert len(v1_docs) == 4

    first = await sync.project_sync(2, 3)  # a small batch: version 2 is behind after it
    assert first is not None and not first.caught_up and not first.switched
    serving = await sync.sync_serving()
    assert serving is not None and serving.version == 1  # the old version keeps serving, whole
    assert await sync.sync_changes(1, RUN_SUMMARY, [], 0, 100) == v1_docs

    while True:
        step = await sync.project_sync(2, 3)
        assert step is not None
        if step.switched:
            break
        assert (await sync.sync_serving()) == serving
    switched = await sync.sync_serving()
    assert switched is not None and switched.version == 2
    v2_docs = await sync.sync_changes(2, RUN_SUMMARY, [], 0, 100)
    assert [d.doc_id for d in v2_docs] == [d.doc_id for d in v1_docs]
    assert {d.version for d in v2_docs} == {(2, d.seq_to) for d in v1_docs}
    assert await sync.sync_changes(1, RUN_SUMMARY, [], 0, 100) == []  # dropped in the switch
    assert await sync.project_sync(1, 500) is None  # an older release leaves a newer version alone


async def test_the_sink_lease_is_exclusive_and_fences_a_lost_holder(
    store: EventStore, sync: SqlSyncStore
) -> None:
    await finish(store, await new_run(store, run_id="run-l1"))
    await project_all(sync, 1)
    token = await sync.claim_sink("s", "a@1", ttl_s=0.3)
    assert token is not None
    assert await sync.claim_sink("s", "b@1", ttl_s=5) is None
    batch = await sync.sink_batch("s", token, 10)
    assert batch is not None and [d.doc_id for d in batch.documents] == ["runtime/run_summary:run-l1"]

    await asyncio.sleep(0.4)  # a's lease expires (a paused replica)
    taken = await sync.claim_sink("s", "b@1", ttl_s=5)
    assert taken == token + 1
    assert not await sync.ack_sink("s", token, batch)  # a's late acknowledgement is fenced off
    assert not await sync.renew_sink("s", token, 5)
    with pytest.raises(SinkLeaseLost):
        await sync.sink_batch("s", token, 10)
    assert await sync.ack_sink("s", taken, batch)
    assert (await sync.sink_pending_since("s")) == {}


async def test_acknowledged_documents_are_skipped_when_seen_again(
    store: EventStore, sync: SqlSyncStore
) -> None:
    for n in range(2):
        await finish(store, await new_run(store, run_id=f"run-k{n}"))
    await project_all(sync, 1)
    token = await sync.claim_sink("s", "a@1", ttl_s=5)
    assert token is not None
    batch = await sync.sink_batch("s", token, 10)
    assert batch is not None and len(batch.documents) == 2
    assert await sync.ack_sink("s", token, batch)
    assert (await sync.sink_batch("s", token, 10)) is not None

    await _execute(store, "UPDATE sync_sinks SET position = 0")  # the checkpoint is lost
    again = await sync.sink_batch("s", token, 10)
    assert again is not None and again.documents == [] and again.skipped == 2  # same seq, version, hash

    await finish(store, await new_run(store, run_id="run-k2"))
    await project_all(sync, 1)
    fresh = await sync.sink_batch("s", token, 10)
    assert fresh is not None and [d.doc_id for d in fresh.documents] == ["runtime/run_summary:run-k2"]


async def _reset_checkpoint(store: EventStore, version: int) -> None:
    await _execute(store, f"UPDATE sync_projection SET position = 0 WHERE projection_version = {version}")


async def _execute(store: EventStore, sql: str) -> None:
    """A raw statement on the store's own connections (tests only)."""
    assert isinstance(store, SqlStore)

    def flow() -> Flow[Done[None]]:
        yield command(sql)
        return done(None)

    await store._write(flow)
