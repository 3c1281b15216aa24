"""Helpers the store conformance suites share: requests, runs, appends."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator

import psycopg
from oa_runtime.core import events as ev
from oa_runtime.core.canonical import canonical_json
from oa_runtime.core.records import AppendResult, StartRequest
from oa_runtime.ports import AppendRequest, ChangeFeed, EventLog


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


# ----- the change feed -----


class Recorder:
    def __init__(self) -> None:
        self.appended: list[tuple[str, int]] = []
        self.cancels: list[str] = []
        self.runnable = 0
        self.resyncs = 0
        self.changed = asyncio.Event()

    def on_appended(self, run_id: str, seq: int) -> None:
        self.appended.append((run_id, seq))
        self.changed.set()

    def on_cancel(self, run_id: str) -> None:
        self.cancels.append(run_id)
        self.changed.set()

    def on_runnable(self) -> None:
        self.runnable += 1
        self.changed.set()

    def on_resync(self) -> None:
        self.resyncs += 1


@contextlib.asynccontextmanager
async def listening(store: ChangeFeed, owner: str, recorder: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    ready = asyncio.Event()
    task = asyncio.create_task(store.listen(owner, recorder, ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate: object, recorder: Recorder, within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # type: ignore[operator]
            recorder.changed.clear()
            await recorder.changed.wait()


async def until_owner_gone(postgres_url: str, owner: str, within_s: float = 10.0) -> None:
    """Returns once the replica `owner`'s liveness lock is free (its listener's backend has
    exited): blocks on the lock itself, so it wakes when the lock goes, not on a poll."""
    key = f"oa-executor:{owner}"  # as store/postgres_leases.py names it (_owner_key)
    async with asyncio.timeout(within_s):
        conn = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        async with conn:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
