"""Helpers the store conformance suites share: requests, runs, appends."""

from __future__ import annotations

import hashlib
import uuid

from oa_runtime.core import events as ev
from oa_runtime.core.canonical import canonical_json
from oa_runtime.core.records import AppendResult, StartRequest
from oa_runtime.ports import AppendRequest, EventLog


def start_request(run_id: str, thread_id: str = "thread-1", prompt: str = "hello") -> StartRequest:
    return StartRequest(run_id=run_id, thread_id=thread_id, user_id="user-1", prompt=prompt, model="scripted")


def fingerprint(request: StartRequest) -> str:
    return hashlib.sha256(canonical_json(request.to_json()).encode()).hexdigest()


def accepted(thread_id: str = "thread-1") -> ev.NewEvent:
    return ev.run_accepted(thread_id, "scripted", "m1")


async def new_run(store: EventLog, thread_id: str = "thread-1", run_id: str | None = None) -> str:
    request = start_request(run_id or f"run-{uuid.uuid4().hex[:12]}", thread_id)
    result = await store.create_run(request, fingerprint(request), accepted(thread_id))
    assert result.created
    return request.run_id


async def append(store: EventLog, request: AppendRequest) -> AppendResult:
    """One append; raises its error instead of returning it."""
    [result] = await store.append_many([request])
    if isinstance(result, Exception):
        raise result
    return result


async def finish(store: EventLog, run_id: str) -> None:
    await append(store, AppendRequest(run_id, [ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")]))
