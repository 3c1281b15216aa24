"""Small helpers for the gRPC end-to-end tests."""

from __future__ import annotations

from typing import Protocol

import grpc
import grpc.aio
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from openagents.runtime.v1 import run_event_pb2, run_service_pb2, run_service_pb2_grpc

from tests.support.runtime import RuntimeHandle


async def start(
    rt: RuntimeHandle, run_id: str, prompt: str, thread_id: str = "t1", **fields: object
) -> run_service_pb2.StartRunResponse:
    request = run_service_pb2.StartRunRequest(run_id=run_id, thread_id=thread_id, prompt=prompt, **fields)
    response: run_service_pb2.StartRunResponse = await rt.stub.StartRun(
        request, metadata=rt.md(run_id=run_id, thread_id=thread_id)
    )
    return response


async def events(rt: RuntimeHandle, run_id: str, after_seq: int = 0) -> list[run_event_pb2.RunEvent]:
    out = []
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq),
        metadata=rt.md(run_id=run_id),
    )
    async for message in call:
        out.append(message.event)
    return out


class Client(Protocol):
    """A RuntimeHandle (in-process service) or a Replica (service process)."""

    stub: run_service_pb2_grpc.RunServiceStub

    def md(self, **claims: str | None) -> tuple[tuple[str, str], ...]: ...


async def events_so_far(rt: Client, run_id: str) -> list[run_event_pb2.RunEvent]:
    """The events up to the run's current last seq, without waiting for the end."""
    request = run_service_pb2.GetRunRequest(run_id=run_id)
    run = (await rt.stub.GetRun(request, metadata=rt.md(run_id=run_id), timeout=10)).run
    out = []
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md(run_id=run_id), timeout=10
    )
    async for message in call:
        out.append(message.event)
        if message.event.seq >= run.last_seq:
            call.cancel()
            break
    return out


def types(evs: list[run_event_pb2.RunEvent]) -> list[str]:
    return [e.type for e in evs]


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo a failed call carries in grpc-status-details-bin."""
    status = rpc_status.from_call(err)
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo in the status details")
