"""Codex workers over gRPC on loopback, on SQLite and PostgreSQL: the typed event stream
(backlog, live, resume, tail), and, on PostgreSQL, a stream on one replica following events
written through another."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import struct_pb2
from openagents.runtime.v1 import codex_worker_service_pb2 as pb
from openagents.runtime.v1 import codex_worker_service_pb2_grpc as pb_grpc

from tests.e2e.helpers import error_info
from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime

OWNER = 42


def stub(rt: RuntimeHandle) -> pb_grpc.CodexWorkerServiceStub:
    return pb_grpc.CodexWorkerServiceStub(rt.channel)


async def create(rt: RuntimeHandle, worker_id: str) -> pb.CreateCodexWorkerResponse:
    response: pb.CreateCodexWorkerResponse = await stub(rt).CreateCodexWorker(
        pb.CreateCodexWorkerRequest(worker_id=worker_id, workspace_ref="workspace://demo"),
        metadata=rt.md(user_id=OWNER),
    )
    return response


async def report(rt: RuntimeHandle, worker_id: str, event_type: str, **payload: str) -> int:
    value = struct_pb2.Value()
    value.struct_value.update(payload)
    response = await stub(rt).IngestCodexWorkerEvent(
        pb.IngestCodexWorkerEventRequest(
            worker_id=worker_id, event=pb.CodexWorkerEventInput(event_type=event_type, payload=value)
        ),
        metadata=rt.md(user_id=OWNER),
    )
    seq: int = response.seq
    return seq


async def collect(
    rt: RuntimeHandle, worker_id: str, after_seq: int = 0, tail_ms: int | None = None
) -> list[pb.CodexWorkerEvent]:
    request = pb.StreamCodexWorkerEventsRequest(worker_id=worker_id, after_seq=after_seq)
    if tail_ms is not None:
        request.tail_ms = tail_ms
    out: list[pb.CodexWorkerEvent] = []
    async with asyncio.timeout(20):
        async for message in stub(rt).StreamCodexWorkerEvents(request, metadata=rt.md(worker_id=worker_id)):
            out.append(message.event)
    return out


async def test_typed_stream_replays_follows_and_ends_when_the_worker_stops(runtime: RuntimeHandle) -> None:
    created = await create(runtime, "w1")
    assert created.status == "starting" and not created.idempotent_replay
    live = asyncio.create_task(collect(runtime, "w1"))
    await asyncio.sleep(0.2)
    assert await report(runtime, "w1", "worker.started") == 2
    assert await report(runtime, "w1", "worker.event", method="turn/started") == 3
    assert await report(runtime, "w1", "worker.error", message="gone") == 4
    events = await live
    assert [(e.seq, e.event_type) for e in events] == [
        (1, "worker.created"),
        (2, "worker.started"),
        (3, "worker.event"),
        (4, "worker.error"),
    ]
    assert events[2].payload["method"] == "turn/started"
    assert all(e.worker_id == "w1" and e.event_id and e.occurred_at.seconds for e in events)
    assert [e.seq for e in await collect(runtime, "w1", after_seq=2)] == [3, 4]


async def test_typed_stream_tail_and_errors(runtime: RuntimeHandle) -> None:
    await create(runtime, "w1")
    assert [e.seq for e in await collect(runtime, "w1", tail_ms=200)] == [1]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(runtime, "nope")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(err.value).reason == "WORKER_NOT_FOUND"


async def test_a_stream_follows_events_written_through_another_replica(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database("workers_two_replicas")
    env = {"RUNTIME_STREAM_POLL_S": "0.1"}
    async with (
        running_runtime(url, {**env, "RUNTIME_EXECUTOR_ID": "replica-a"}) as first,
        running_runtime(url, {**env, "RUNTIME_EXECUTOR_ID": "replica-b"}, secret=first.secret) as second,
    ):
        await create(first, "w1")
        live = asyncio.create_task(collect(first, "w1"))
        await asyncio.sleep(0.3)
        assert await report(second, "w1", "worker.started") == 2
        assert await report(second, "w1", "worker.stopped") == 3
        assert [e.event_type for e in await live] == ["worker.created", "worker.started", "worker.stopped"]
