"""Small helpers for the gRPC end-to-end tests."""

from __future__ import annotations

import grpc
import grpc.aio
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status
from openagents.runtime.v1 import run_event_pb2, run_service_pb2

from tests.support.runtime import RuntimeHandle


async def start(
    rt: RuntimeHandle, run_id: str, prompt: str, thread_id: str = "t1", **fields: object
) -> run_service_pb2.StartRunResponse:
    request = run_service_pb2.StartRunRequest(run_id=run_id, thread_id=thread_id, prompt=prompt, **fields)  # type: ignore[arg-type]
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
