"""Waiting for a map/reduce question's answer (MemoryApp.wait_query, what the `memory_query` tool
does) on each store: the waiter is woken by the question's own appends, here or (PostgreSQL) on
another replica through the change listener, never by a poll (the re-read interval is an hour
here); a question nobody can answer in time is a TimeoutError and goes on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oa_runtime.app.memory import Compactor
from oa_runtime.app.memory_api import MemoryApp
from oa_runtime.core.memory.chunks import Window, to_epoch_ms
from oa_runtime.core.memory.records import QUERY_STREAM, thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.broker import Broker
from oa_runtime.models.registry import ModelRegistry
from oa_runtime.models.scripted import ScriptedProvider
from oa_runtime.ports import EventStore
from oa_runtime.store.memory import open_memory_store

from tests.support.memory import seed_thread

from .helpers import Recorder, listening

STREAM = thread_stream("t-ask")
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))
NOW = START + timedelta(days=1)  # the replicas' clock
NEVER_S = 3600.0  # the fallback re-read: a waiter that returns sooner was woken by an append


class PokingRecorder(Recorder):
    """A replica's change handler: other replicas' appends poke its broker (the coordinator's job)."""

    def __init__(self, broker: Broker) -> None:
        super().__init__()
        self.broker = broker

    def on_appended(self, run_id: str, seq: int) -> None:
        super().on_appended(run_id, seq)
        self.broker.poke(run_id, seq)


@contextlib.asynccontextmanager
async def memory_app(store: EventStore, *, runs_queries: bool = True) -> AsyncIterator[MemoryApp]:
    """A replica's MemoryApp whose background jobs run in a TaskGroup (none when not `runs_queries`:
    its questions are answered by another replica)."""
    memory = open_memory_store(store)
    models = ModelRegistry([ScriptedProvider(0.05)])
    compactor = Compactor(
        memory, models, ByteEstimator(), f"r-{id(store)}", clock=lambda: START + timedelta(days=1)
    )
    async with asyncio.TaskGroup() as tg:

        def spawn(job: Coroutine[Any, Any, None]) -> None:
            if runs_queries:
                tg.create_task(job)
            else:
                job.close()

        yield MemoryApp(memory, compactor, spawn, broker=Broker(), recheck_s=NEVER_S)


async def seeded_and_compacted(store: EventStore) -> None:
    await seed_thread(store, STREAM.id, "run-ask", [START + timedelta(minutes=5 * i) for i in range(12)])
    async with memory_app(store) as app:
        assert await app.compactor.compact(STREAM)


async def test_a_waiter_wakes_on_the_questions_appends(store: EventStore) -> None:
    await seeded_and_compacted(store)
    async with memory_app(store) as app:
        await app.start_query("q-wait", STREAM, "what happened?", WINDOW, 2)
        began = time.monotonic()
        view = await app.wait_query("q-wait", timeout_s=30)
        assert view.state == "done" and view.maps_done == view.map_count >= 1
        assert time.monotonic() - began < NEVER_S / 100
        again = await app.wait_query("q-wait", timeout_s=0.01)  # answered: no wait at all
        assert again.answer == view.answer


async def test_a_question_nobody_answers_in_time_is_a_timeout(store: EventStore) -> None:
    await seeded_and_compacted(store)
    memory = open_memory_store(store)
    # Another replica holds the question's job and does nothing: no runner here can start it.
    assert await memory.claim_job("query:q-stuck", "elsewhere", to_epoch_ms(NOW), 60_000)
    async with memory_app(store) as app:
        await app.start_query("q-stuck", STREAM, "anything?", WINDOW, 1)
        with pytest.raises(TimeoutError):
            await app.wait_query("q-stuck", timeout_s=0.3)
        assert (await app.get_query("q-stuck")).state == "pending"
        await memory.release_job("query:q-stuck", "elsewhere")
        assert (await app.wait_query("q-stuck", timeout_s=30)).state == "done"


async def test_a_waiter_wakes_on_another_replicas_appends(store: EventStore, peer: EventStore) -> None:
    """PostgreSQL: replica B waits while replica A answers; A's appends reach B as NOTIFY."""
    await seeded_and_compacted(store)
    async with memory_app(peer, runs_queries=False) as waiter, memory_app(store) as runner:
        changes = PokingRecorder(waiter.broker)
        async with listening(peer, "replica-b", changes):
            await waiter.start_query("q-peer", STREAM, "what happened?", WINDOW, 2)
            waiting = asyncio.create_task(waiter.wait_query("q-peer", timeout_s=30))
            await asyncio.sleep(0)  # B reads the question (pending) and waits
            answered = await runner.wait_query("q-peer", timeout_s=30)  # A runs it
            view = await waiting
    assert [run_id for run_id, _ in changes.appended] == ["q-peer"] * (view.map_count + 2)
    assert view.state == "done" and view.answer == answered.answer
    events = await open_memory_store(store).memory_events(QUERY_STREAM, "q-peer")
    assert len(events) == 1 + view.map_count + 1  # the plan, the maps, the answer: each once
