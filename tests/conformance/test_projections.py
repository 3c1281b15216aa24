"""ProjectionStore conformance: the thread messages projection on both backends.

Incremental steps and a rebuild from zero end equal; a version change rebuilds;
readers top up from the log past the checkpoint, so a finished run is in the
next turn's history before the projector saw it; a thread of 200 runs costs a
bounded number of statements.
"""

from __future__ import annotations

import uuid

import psycopg
from oa_runtime.core import events as ev
from oa_runtime.core.messages import ChatMessage
from oa_runtime.core.projections import THREAD_MESSAGES, ThreadMessages
from oa_runtime.engine.projector import Projector
from oa_runtime.engine.thread_history import thread_conversation, thread_history
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.base import SqlStore

from tests.support.postgres import PostgresServer

from .conftest import make_store
from .helpers import append, new_run


async def turn(store: EventStore, thread_id: str, text: str) -> str:
    run_id = await new_run(store, thread_id)
    await append(
        store,
        AppendRequest(
            run_id,
            [
                ev.run_started("x", 1),
                ev.step_started(1),
                ev.message_delta("t", text),
                ev.message_completed(f"{run_id}-t", text),
                ev.step_finished(1, ev.STEP_STOP),
                ev.run_finished(ev.OUTCOME_SUCCEEDED, ev.STEP_STOP),
            ],
        ),
    )
    return run_id


def texts(messages: dict[str, list[ChatMessage]]) -> dict[str, list[str]]:
    return {run: [m.content for m in ms] for run, ms in messages.items()}


async def test_a_finished_run_is_in_the_history_before_the_projector_runs(store: EventStore) -> None:
    first = await turn(store, "t1", "one")
    await Projector(store, [THREAD_MESSAGES]).catch_up()
    second = await turn(store, "t1", "two")  # not projected yet: read from the log
    assert await store.projection_position("thread_messages") < await store.log_head()

    history = await thread_history(store, "t1", "next")
    assert [m.content for m in history] == ["hello", "one", "hello", "two"]
    assert texts(await store.thread_messages("t1")) == {first: ["one"], second: ["two"]}


async def test_incremental_steps_and_a_rebuild_from_zero_end_equal(store: EventStore) -> None:
    projector = Projector(store, [THREAD_MESSAGES], batch=3)
    for n in range(5):
        await turn(store, f"t{n % 2}", f"m{n}")
        await store.project(THREAD_MESSAGES, 4)  # partial steps between appends
    await projector.catch_up()
    incremental = [await store.thread_messages(t) for t in ("t0", "t1")]
    assert await projector.lag() == {"thread_messages": 0}

    await store.reset_projection("thread_messages")
    assert await store.projection_position("thread_messages") == 0
    await Projector(store, [THREAD_MESSAGES], batch=1000).catch_up()
    assert [await store.thread_messages(t) for t in ("t0", "t1")] == incremental


async def test_a_new_version_rebuilds_from_zero(store: EventStore) -> None:
    await turn(store, "t1", "one")
    await Projector(store, [THREAD_MESSAGES]).catch_up()

    class Renamed(ThreadMessages):
        version = 2

    step = await store.project(Renamed(), 1000)
    assert step is not None and step.from_position == 0 and step.to_position == await store.log_head()
    assert step.applied == 1  # the one message.completed; the other events are not read
    assert texts(await store.thread_messages("t1")) != {}


async def test_a_thread_of_200_runs_reads_a_bounded_number_of_rows(store: EventStore) -> None:
    assert isinstance(store, SqlStore)
    runs = [await turn(store, "long", f"answer {n}") for n in range(200)]
    await Projector(store, [THREAD_MESSAGES], batch=1000).catch_up()
    last = await turn(store, "long", "latest")  # topped up from the log
    new_run_id = await new_run(store, "long")

    before = (store.read_statements, store.rows_read)
    _, conversation = await thread_conversation(store, "long")  # what GetThreadState reads
    statements, rows = store.read_statements - before[0], store.rows_read - before[1]
    assert len(conversation) == 202
    # thread_runs, checkpoint, projection rows, log top-up: 4 statements; rows:
    # 202 runs + 200 projected messages + 1 checkpoint + the unprojected run's events.
    assert statements == 4
    assert rows <= 202 + 200 + 1 + 2 * 7

    before = (store.read_statements, store.rows_read)
    history = await thread_history(store, "long", new_run_id)  # what a new turn reads
    assert store.read_statements - before[0] == 4
    assert store.rows_read - before[1] <= 202 + 200 + 1 + 2 * 7
    assert history[-1].content == "latest" and len(history) == 2 * 201
    assert runs[0] != last


async def test_postgres_one_projector_at_a_time(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database(f"proj_{uuid.uuid4().hex[:8]}")
    store = make_store(url)
    await store.open()
    try:
        await turn(store, "t1", "one")
        other = await psycopg.AsyncConnection.connect(url)  # another replica, mid-step
        async with other, other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(hashtextextended('thread_messages', 1))")
            assert await store.project(THREAD_MESSAGES, 100) is None
        step = await store.project(THREAD_MESSAGES, 100)
        assert step is not None and step.to_position == await store.log_head() and step.applied == 1
    finally:
        await store.close()
