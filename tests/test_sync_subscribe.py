"""SyncService.Subscribe over gRPC on loopback, on SQLite and PostgreSQL: a topic replays its
documents then follows live; a watermark resumes where it left; a cursor of another projection
version gets `full_resync_required` and a full replay; ids filter; bad cursors and requests are
refused with their reasons; a bound token may only watch the one run or worker it is bound to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from oa_runtime.core.sync import SYNC_PROJECTION_VERSION
from openagents.runtime.v1 import sync_service_pb2 as pb
from openagents.runtime.v1 import sync_service_pb2_grpc as pb_grpc

from tests.e2e.helpers import error_info, events, start
from tests.e2e.test_workers_grpc import create, report
from tests.support.runtime import RuntimeHandle

RUNS = pb.SYNC_TOPIC_RUN_SUMMARIES
WORKERS = pb.SYNC_TOPIC_CODEX_WORKER_SUMMARIES


def subscribe(
    rt: RuntimeHandle, *topics: pb.TopicSubscription, metadata: tuple[tuple[str, str], ...] | None = None
) -> AsyncIterator[pb.SubscribeResponse]:
    stub = pb_grpc.SyncServiceStub(rt.channel)
    call: AsyncIterator[pb.SubscribeResponse] = stub.Subscribe(
        pb.SubscribeRequest(topics=list(topics)), metadata=metadata or rt.md()
    )
    return call


async def until_replayed(call: AsyncIterator[pb.SubscribeResponse]) -> list[pb.SubscribeResponse]:
    """Batches up to and including the one with replay_complete."""
    out: list[pb.SubscribeResponse] = []
    async with asyncio.timeout(20):
        async for batch in call:
            out.append(batch)
            if batch.replay_complete:
                return out
    raise AssertionError("the stream ended before replay_complete")


async def next_documents(call: AsyncIterator[pb.SubscribeResponse], want: int) -> list[pb.SyncDocument]:
    """The next `want` documents (a run's document arrives once per projected version)."""
    docs: list[pb.SyncDocument] = []
    async with asyncio.timeout(20):
        async for batch in call:
            docs.extend(batch.documents)
            if len(docs) >= want:
                return docs
    raise AssertionError("the stream ended")


def latest(docs: list[pb.SyncDocument]) -> dict[str, pb.SyncDocument]:
    out: dict[str, pb.SyncDocument] = {}
    for doc in docs:
        out[doc.id] = doc
    return out


async def finished_run(rt: RuntimeHandle, run_id: str) -> int:
    await start(rt, run_id, f"/say {run_id}", thread_id="t-sub")
    return len(await events(rt, run_id))


async def wait_projected(rt: RuntimeHandle, run_id: str, last_seq: int) -> pb.SubscribeResponse:
    """Subscribes to the run alone until its document reaches `last_seq`; the last batch."""
    call = subscribe(rt, pb.TopicSubscription(topic=RUNS, ids=[run_id]))
    async with asyncio.timeout(20):
        async for batch in call:
            if any(d.envelope.seq_to == last_seq for d in batch.documents):
                call.cancel()  # type: ignore[attr-defined]
                return batch
    raise AssertionError("no document")


async def test_replay_then_live_then_resume(runtime: RuntimeHandle) -> None:
    last = {run_id: await finished_run(runtime, run_id) for run_id in ("sub-1", "sub-2")}
    await wait_projected(runtime, "sub-2", last["sub-2"])

    call = subscribe(runtime, pb.TopicSubscription(topic=RUNS))
    replay = await until_replayed(call)
    docs = latest([d for b in replay for d in b.documents])
    assert set(docs) == {"runtime/run_summary:sub-1", "runtime/run_summary:sub-2"}
    doc = docs["runtime/run_summary:sub-1"]
    assert doc.kind == "run_summary" and doc.version == f"{SYNC_PROJECTION_VERSION}.{last['sub-1']}"
    assert dict(doc.envelope.source_ids) == {"run_id": "sub-1", "thread_id": "t-sub"}
    assert (doc.envelope.seq_from, doc.envelope.seq_to, doc.envelope.projection_version) == (
        1,
        last["sub-1"],
        SYNC_PROJECTION_VERSION,
    )
    assert doc.envelope.payload_hash.startswith("sha256:") and doc.payload["status"] == "succeeded"
    assert all(b.topic == RUNS and b.watermark for b in replay)
    watermark = replay[-1].watermark

    last["sub-3"] = await finished_run(runtime, "sub-3")  # live: arrives on the open stream
    live: dict[str, pb.SyncDocument] = {}
    async with asyncio.timeout(20):
        async for batch in call:
            assert not batch.replay_complete and not batch.full_resync_required
            live.update(latest(list(batch.documents)))
            if live.get("runtime/run_summary:sub-3", pb.SyncDocument()).envelope.seq_to == last["sub-3"]:
                break
    assert set(live) == {"runtime/run_summary:sub-3"}
    call.cancel()  # type: ignore[attr-defined]

    resumed = await until_replayed(subscribe(runtime, pb.TopicSubscription(topic=RUNS, cursor=watermark)))
    assert set(latest([d for b in resumed for d in b.documents])) == {"runtime/run_summary:sub-3"}


async def test_a_cursor_of_another_version_gets_a_full_resync(runtime: RuntimeHandle) -> None:
    last = await finished_run(runtime, "sub-r")
    await wait_projected(runtime, "sub-r", last)
    replay = await until_replayed(subscribe(runtime, pb.TopicSubscription(topic=RUNS, cursor="v99.3")))
    assert replay[0].full_resync_required and not replay[0].documents
    assert "runtime/run_summary:sub-r" in latest([d for b in replay[1:] for d in b.documents])
    assert not any(b.full_resync_required for b in replay[1:])


async def test_ids_filter_and_the_worker_topic(runtime: RuntimeHandle) -> None:
    for worker_id in ("w-a", "w-b"):
        await create(runtime, worker_id)
    seq = await report(runtime, "w-a", "worker.started")
    call = subscribe(runtime, pb.TopicSubscription(topic=WORKERS, ids=["w-a"]))
    docs = latest(await next_documents(call, 1))
    while docs["runtime/codex_worker_summary:w-a"].envelope.seq_to < seq:
        docs.update(latest(await next_documents(call, 1)))
    call.cancel()  # type: ignore[attr-defined]
    assert set(docs) == {"runtime/codex_worker_summary:w-a"}
    assert docs["runtime/codex_worker_summary:w-a"].payload["status"] == "running"
    assert dict(docs["runtime/codex_worker_summary:w-a"].envelope.source_ids) == {"worker_id": "w-a"}


@pytest.mark.parametrize(
    ("subscription", "reason", "field"),
    [
        (pb.TopicSubscription(topic=RUNS, cursor="not-a-cursor"), "SYNC_CURSOR_INVALID", None),
        (pb.TopicSubscription(topic=pb.SYNC_TOPIC_UNSPECIFIED), "INVALID_ARGUMENT", "topics[0].topic"),
        (pb.TopicSubscription(topic=RUNS, ids=["bad id!"]), "INVALID_ARGUMENT", "topics[0].ids"),
    ],
)
async def test_bad_requests_are_refused_with_their_reason(
    runtime: RuntimeHandle, subscription: pb.TopicSubscription, reason: str, field: str | None
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await until_replayed(subscribe(runtime, subscription))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(caught.value)
    assert info.reason == reason and info.domain == "runtime.openagents.dev"
    if field is not None:
        assert info.metadata["field"] == field


async def test_a_bound_token_watches_only_its_own_run(runtime: RuntimeHandle) -> None:
    last = await finished_run(runtime, "sub-own")
    await finished_run(runtime, "sub-other")
    own = pb.TopicSubscription(topic=RUNS, ids=["sub-own"])
    replay = await until_replayed(subscribe(runtime, own, metadata=runtime.md(run_id="sub-own")))
    assert set(latest([d for b in replay for d in b.documents])) <= {"runtime/run_summary:sub-own"}
    assert last > 0

    for refused in (pb.TopicSubscription(topic=RUNS), pb.TopicSubscription(topic=RUNS, ids=["sub-other"])):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await until_replayed(subscribe(runtime, refused, metadata=runtime.md(run_id="sub-own")))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value).reason == "CLAIM_MISMATCH"


async def test_reflection_lists_the_sync_service(runtime: RuntimeHandle) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(runtime.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names: list[str] = []
    async for answer in stub.ServerReflectionInfo(iter([request]), metadata=runtime.md()):
        names += [s.name for s in answer.list_services_response.service]
    assert "openagents.runtime.v1.SyncService" in names
