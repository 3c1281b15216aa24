"""The projector's round (`project_together`) on both backends: several projections in one
transaction, one read of the log, one checkpoint statement.

It ends where steps taken one projection at a time end (rows and checkpoints), whatever the
projections' starting checkpoints; a projection of another version takes its own step (a
rebuild); a projection another replica is stepping is left alone (None) while the others move.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from oa_runtime.core.artifacts import ARTIFACT_INDEX
from oa_runtime.core.projections import THREAD_MESSAGES, Projection, ProjectionStep, ThreadMessages
from oa_runtime.core.read_models import LARAVEL_READ_MODELS
from oa_runtime.ports import EventStore
from oa_runtime.store.base import SqlStore

from tests.support.postgres import PostgresServer

from .conftest import make_store
from .test_projections import texts, turn
from .test_read_models import NextReadModels, assert_equal_to_fold, read_model_counts, start_runs

ALL: list[Projection[Any]] = [THREAD_MESSAGES, LARAVEL_READ_MODELS, ARTIFACT_INDEX]


async def rounds(store: SqlStore, projections: list[Projection[Any]], limit: int) -> list[ProjectionStep]:
    """Rounds until none stopped at its limit; every step taken."""
    taken: list[ProjectionStep] = []
    while True:
        steps = await store.project_together(projections, limit)
        assert all(step is not None for step in steps)
        taken += [step for step in steps if step is not None]
        if not any(step is not None and step.more for step in steps):
            return taken


async def rows(store: SqlStore, threads: list[str], run_ids: list[str]) -> tuple[object, ...]:
    snapshot = await store.read_model_snapshot(run_ids, threads=True)
    messages = [texts(await store.thread_messages(t)) for t in threads]
    return messages, dict(snapshot.stored), dict(snapshot.stored_threads)


async def test_rounds_end_where_steps_one_at_a_time_end(store: EventStore) -> None:
    assert isinstance(store, SqlStore)
    threads = [f"round-{uuid.uuid4().hex[:6]}-{n}" for n in range(3)]
    run_ids = [await turn(store, threads[n % 3], f"m{n}") for n in range(4)]
    await store.project(THREAD_MESSAGES, 9)  # ahead of the read models, which have no checkpoint
    taken = await rounds(store, ALL, 5)
    run_ids += [await turn(store, threads[n % 3], f"late {n}") for n in range(3)]
    taken += await rounds(store, ALL, 5)
    head = await store.log_head()
    assert {p.name: await store.projection_position(p.name) for p in ALL} == {p.name: head for p in ALL}
    assert all(step.to_position >= step.from_position for step in taken)
    together = await rows(store, threads, run_ids)

    for projection in ALL:  # the same log, one projection at a time from zero
        await store.reset_projection(projection.name)
        while (step := await store.project(projection, 1000)) is not None and step.more:
            pass
    assert await rows(store, threads, run_ids) == together
    assert texts(await store.thread_messages(threads[0]))  # something was projected at all


async def test_a_projection_of_another_version_takes_its_own_step(store: EventStore) -> None:
    assert isinstance(store, SqlStore)
    thread = f"round-{uuid.uuid4().hex[:6]}"
    await turn(store, thread, "one")
    await rounds(store, ALL, 1000)

    class Renamed(ThreadMessages):
        version = 2

    [renamed, read_models] = await store.project_together([Renamed(), LARAVEL_READ_MODELS], 1000)
    assert renamed is not None and renamed.from_position == 0 and renamed.applied == 1  # rebuilt
    assert read_models is not None and read_models.applied == 0  # nothing new for it
    assert renamed.to_position == read_models.to_position == await store.log_head()


async def test_postgres_a_round_leaves_a_held_projection_alone(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database(f"round_{uuid.uuid4().hex[:8]}")
    store = make_store(url)
    await store.open()
    try:
        assert isinstance(store, SqlStore)
        await turn(store, "t1", "one")
        other = await psycopg.AsyncConnection.connect(url)  # another replica, mid-step
        async with other, other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(hashtextextended('thread_messages', 1))")
            held, moved = await store.project_together([THREAD_MESSAGES, LARAVEL_READ_MODELS], 100)
            assert held is None and moved is not None and moved.to_position == await store.log_head()
            assert await store.projection_position(THREAD_MESSAGES.name) == 0
        [step] = await store.project_together([THREAD_MESSAGES], 100)
        assert step is not None and step.applied == 1 and step.to_position == await store.log_head()
    finally:
        await store.close()


async def test_a_read_model_version_bump_in_rounds_builds_aside_and_swaps(store: EventStore) -> None:
    assert isinstance(store, SqlStore)
    run_ids = await start_runs(store, 3, "thread-round-aside")
    await rounds(store, ALL, 1000)
    serving = await read_model_counts(store)
    bumped = NextReadModels()
    projections: list[Projection[Any]] = [THREAD_MESSAGES, bumped]

    [_, first] = await store.project_together(projections, 5)  # the build starts aside
    assert first is not None and first.more
    assert await read_model_counts(store) == serving
    await rounds(store, projections, 5)
    snapshot = await store.read_model_snapshot(run_ids, threads=False)
    assert snapshot.checkpoint.version == bumped.version  # swapped in at the head
    await assert_equal_to_fold(store, run_ids)
