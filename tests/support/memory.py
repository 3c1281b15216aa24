"""Seeding a thread's history at chosen instants, for memory tests and the bench.

The store stamps events with the time of the write; memory windows follow `occurred_at`, so a
simulated week needs events stamped with simulated instants. `seed_thread` creates the run the
usual way (create_run), restamps its `run.accepted`, and inserts its further events through the
dialect's own event insert (next global positions, dense seqs) with each event's instant, in one
transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import grpc.aio
from oa_runtime.core import events as ev
from oa_runtime.core.canonical import canonical_json
from oa_runtime.core.records import StartRequest
from oa_runtime.ports import EventStore
from oa_runtime.store.base import SqlStore
from oa_runtime.store.common import EventRow
from oa_runtime.store.sql import Done, Flow, command, done
from openagents.runtime.v1 import memory_service_pb2, memory_service_pb2_grpc


async def seed_thread(
    store: EventStore, thread_id: str, run_id: str, instants: Sequence[datetime], *, prompt: str = "hello"
) -> None:
    """A run on `thread_id`: its `run.accepted` (restamped at the first instant) and one
    `message.completed` per instant."""
    request = StartRequest(run_id=run_id, thread_id=thread_id, user_id="42", prompt=prompt, model="scripted")
    fingerprint = hashlib.sha256(canonical_json(request.to_json()).encode()).hexdigest()
    created = await store.create_run(request, fingerprint, ev.run_accepted(thread_id, "scripted", "m0"))
    assert created.created
    assert isinstance(store, SqlStore)
    d = store.dialect

    def insert() -> Flow[Done[None]]:
        yield command(
            d.sql(
                "UPDATE events SET occurred_at = ? WHERE stream_kind = 'run' AND stream_id = ? AND seq = 1"
            ),
            (d.time(instants[0]), run_id),
        )
        for i, instant in enumerate(instants, start=2):
            row = EventRow(
                i, f"ev_{run_id}_{i}", ev.MESSAGE_COMPLETED, {"message_id": f"m{i}", "text": f"note {i}"}
            )
            yield from d.insert_events(ev.STREAM_RUN, [(run_id, row)], instant)
        # A history, not a run to execute: no executor claims it (and appends after its seqs).
        yield command(
            d.sql("UPDATE runs SET status = 'succeeded', last_seq = ? WHERE run_id = ?"),
            (len(instants) + 1, run_id),
        )
        return done(None)

    await store._write(insert)


async def seed_past_thread(database_url: str, thread_id: str, run_id: str) -> datetime:
    """Seeds, before the service starts, a thread with one event every 5 minutes from 3 hours
    ago to 1 hour ago (whole closed windows and hours); answers the first instant."""
    from oa_runtime.store import open_store

    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    store = open_store(database_url)
    await store.open()
    try:
        await seed_thread(store, thread_id, run_id, [start + timedelta(minutes=5 * i) for i in range(24)])
    finally:
        await store.close()
    return start


class MemoryClient(Protocol):
    """A RuntimeHandle (in-process service) or a Replica (service process)."""

    channel: grpc.aio.Channel

    def md(self, **claims: str | None) -> tuple[tuple[str, str], ...]: ...


async def compact_until_settled(rt: MemoryClient, thread_id: str, within_s: float = 30) -> None:
    """Asks for a compaction of the thread until one plans nothing: every chunk due is written
    (the plan is read from the stored chunks, so a day's roll-up still to follow its hours, or
    a chunk a dead replica left, is planned)."""
    stub = memory_service_pb2_grpc.MemoryServiceStub(rt.channel)
    request = memory_service_pb2.CompactMemoryNowRequest(thread_id=thread_id)
    async with asyncio.timeout(within_s):
        while True:
            if not (await stub.CompactMemoryNow(request, metadata=rt.md(thread_id=thread_id))).planned:
                return
            await asyncio.sleep(0.05)


async def memory_stream(database_url: str, kind: str, stream_id: str) -> list[ev.Event]:
    """A memory stream's events, read with a store of its own (after the service stopped)."""
    from oa_runtime.store import open_store
    from oa_runtime.store.memory import open_memory_store

    store = open_store(database_url)
    await store.open()
    try:
        return await open_memory_store(store).memory_events(kind, stream_id)
    finally:
        await store.close()
