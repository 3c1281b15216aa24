"""Helpers for the tool-task end-to-end tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2, tool_task_pb2

from tests.support.runtime import RuntimeHandle

TOOLS_CONFIG: dict[str, Any] = {"python": ["tests.support.tool_kit:TOOLS"]}
TOOL_ENV: Mapping[str, str] = {"RUNTIME_TOOLS_CONFIG": json.dumps(TOOLS_CONFIG)}
TS = tool_task_pb2  # states: TS.TOOL_TASK_STATE_SUCCEEDED, ...


def uid(prefix: str) -> str:
    """A run id unique to this test invocation (the tool kit's records outlive one runtime)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def get_run(rt: RuntimeHandle, run_id: str) -> run_pb2.Run:
    response = await rt.stub.GetRun(
        run_service_pb2.GetRunRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
    )
    run: run_pb2.Run = response.run
    return run


async def wait_state(rt: RuntimeHandle, run_id: str, state: int, timeout_s: float = 10.0) -> run_pb2.Run:
    """The run once it is in `state`. A run that does not exist yet (an agent records a sub-run
    or turn before it creates its run) is waited for like any other state."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            run: run_pb2.Run | None = await get_run(rt, run_id)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            run = None
        if run is not None and run.state == state:
            return run
        assert time.monotonic() < deadline, f"run {run_id} never reached state {state}: {run}"
        await asyncio.sleep(0.02)


async def wait_event(
    rt: RuntimeHandle, run_id: str, ready: Callable[[run_event_pb2.RunEvent], bool], timeout_s: float = 10.0
) -> run_event_pb2.RunEvent:
    """The first event of the run for which `ready` holds (the stream is dropped after it)."""
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
    )
    async with asyncio.timeout(timeout_s):
        async for message in call:
            if ready(message.event):
                call.cancel()
                return message.event
    raise AssertionError(f"run {run_id} ended without the awaited event")


def running(name: str | None = None) -> Callable[[run_event_pb2.RunEvent], bool]:
    def ready(event: run_event_pb2.RunEvent) -> bool:
        return (
            event.type == "tool.task"
            and event.tool_task.state == TS.TOOL_TASK_STATE_RUNNING
            and (name is None or event.tool_task.tool_name == name)
        )

    return ready


async def tool_tasks(rt: RuntimeHandle, run_id: str, page_size: int = 0) -> list[tool_task_pb2.ToolTask]:
    out: list[tool_task_pb2.ToolTask] = []
    token = ""
    while True:
        response = await rt.stub.ListToolTasks(
            run_service_pb2.ListToolTasksRequest(run_id=run_id, page_size=page_size, page_token=token),
            metadata=rt.md(run_id=run_id),
        )
        out.extend(response.tool_tasks)
        token = response.next_page_token
        if not token:
            return out


async def decide(
    rt: RuntimeHandle, run_id: str, approval_id: str, approved: bool, reason: str = ""
) -> run_service_pb2.DecideApprovalResponse:
    response: run_service_pb2.DecideApprovalResponse = await rt.stub.DecideApproval(
        run_service_pb2.DecideApprovalRequest(
            run_id=run_id, approval_id=approval_id, approved=approved, reason=reason
        ),
        metadata=rt.md(run_id=run_id),
    )
    return response


def results(evs: list[run_event_pb2.RunEvent]) -> dict[str, run_event_pb2.ToolCallResult]:
    return {e.tool_call_result.tool_call_id: e.tool_call_result for e in evs if e.type == "tool.result"}
