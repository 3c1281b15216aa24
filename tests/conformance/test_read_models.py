"""The Laravel read models on both backends: the async projection ends equal to a
fresh fold of the log, an event applied twice changes nothing, and `reproject`
finds planted drift with the right reason and repairs it by replay."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oa_runtime.app.reproject import DriftSampler, catch_up, reproject
from oa_runtime.core import events as ev
from oa_runtime.core.read_models import (
    EVENT_COUNT_MISMATCH,
    LARAVEL_READ_MODELS,
    MESSAGE_COUNT_MISMATCH,
    PROJECTION_VERSION_CHANGED,
    SUMMARY_HASH_MISMATCH,
    WATERMARK_BEHIND,
    LaravelReadModels,
    expected_threads,
)
from oa_runtime.observability.metrics import REGISTRY
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.base import SqlStore
from oa_runtime.store.dialect import Dialect
from oa_runtime.store.read_models import LaravelReadModelsSink, table
from oa_runtime.store.sql import Done, Flow, command, done, query

from .helpers import append, new_run


def script(run_id: str, steps: int, finish: str | None) -> list[ev.NewEvent]:
    """A legal run after run.accepted: `steps` steps of a message each, then maybe a finish."""
    events = [ev.run_started("executor-1", 1)]
    for step in range(1, steps + 1):
        message_id = f"{run_id}-m{step}"
        events += [
            ev.step_started(step),
            ev.message_delta(message_id, "hel"),
            ev.message_completed(message_id, f"hello {step}"),
            ev.step_finished(step, ev.STEP_STOP),
        ]
    if finish is not None:
        events.append(ev.run_finished(finish, "stop"))
    return events


def sql_store(store: EventStore) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


async def execute(store: EventStore, sql: str, params: Sequence[Any] = ()) -> None:
    """Runs one statement against the read models (a planted corruption)."""
    s = sql_store(store)
    d = s.dialect

    def flow() -> Flow[Done[None]]:
        yield command(
            d.sql(sql.format(**{n: table(d, n) for n in ("runs", "messages", "run_events", "threads")})),
            params,
        )
        return done(None)

    await s._write(flow)


async def start_runs(store: EventStore, count: int, thread_id: str, steps: int = 2) -> list[str]:
    run_ids = [await new_run(store, thread_id=thread_id) for _ in range(count)]
    for run_id in run_ids:
        await append(store, AppendRequest(run_id, script(run_id, steps, ev.OUTCOME_SUCCEEDED)))
    return run_ids


async def assert_equal_to_fold(store: EventStore, run_ids: Sequence[str]) -> None:
    snapshot = await sql_store(store).read_model_snapshot(run_ids, threads=True)
    folded = snapshot.folded()
    assert dict(snapshot.stored) == folded
    assert dict(snapshot.stored_threads) == expected_threads(folded)


# ----- the projection equals a fresh fold -----


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[tuple[int, str | None]], list[int], list[int]]:
    """Runs (steps, finish), the order their events are appended in (run indexes,
    several per append_many batch), and projector step sizes taken between batches."""
    runs = draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from([None, ev.OUTCOME_SUCCEEDED, ev.OUTCOME_FAILED])),
            min_size=1,
            max_size=5,
        )
    )
    total = sum(1 + 4 * steps + (finish is not None) for steps, finish in runs)
    order = draw(
        st.permutations(
            [i for i, (steps, finish) in enumerate(runs) for _ in range(1 + 4 * steps + (finish is not None))]
        )
    )
    batches = draw(st.lists(st.integers(0, 7), min_size=total, max_size=total))
    return runs, order, batches


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=interleavings())
async def test_projected_read_models_equal_a_fresh_fold(
    store: EventStore, plan: tuple[list[tuple[int, str | None]], list[int], list[int]]
) -> None:
    runs, order, steps = plan
    thread_ids = [f"thread-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    run_ids = [await new_run(store, thread_id=thread_ids[i % 2]) for i in range(len(runs))]
    pending = [script(run_id, n, finish) for run_id, (n, finish) in zip(run_ids, runs, strict=True)]
    batch: list[AppendRequest] = []
    for index, step in zip(order, steps, strict=True):
        batch.append(AppendRequest(run_ids[index], [pending[index].pop(0)]))
        if step < 3:  # close the batch here, sometimes with a projector step of `step` events
            for result in await store.append_many(batch):
                assert not isinstance(result, Exception), result
            batch = []
            if step:
                await store.project(LARAVEL_READ_MODELS, step)
    for result in await store.append_many(batch):
        assert not isinstance(result, Exception), result
    await catch_up(sql_store(store), batch=3)
    await assert_equal_to_fold(store, run_ids)
    report = await reproject(sql_store(store))
    assert report.found == []


async def test_an_event_applied_twice_changes_nothing(store: EventStore) -> None:
    run_ids = await start_runs(store, 2, "thread-twice")
    await catch_up(sql_store(store))
    s = sql_store(store)
    before = await s.read_model_snapshot(run_ids, threads=True)
    log = [e for e in await store.read_log(0, 1000) if e.run_id in run_ids]
    sink = LaravelReadModelsSink()
    d: Dialect = s.dialect

    def again(events: Sequence[ev.Event]) -> Flow[Done[None]]:
        yield from sink.write(d, [c for e in events for c in LARAVEL_READ_MODELS.apply(e)])
        return done(None)

    await s._write(lambda: again(log))  # the whole log once more
    await s._write(lambda: again(log[:3]))  # an older step once more
    after = await s.read_model_snapshot(run_ids, threads=True)
    assert after.stored == before.stored
    assert after.stored_threads == before.stored_threads


# ----- drift found and repaired -----


async def test_corrupted_rows_are_found_with_their_reason_and_repaired(store: EventStore) -> None:
    a, b, c, d = await start_runs(store, 4, "thread-corrupt")
    await catch_up(sql_store(store))
    await execute(store, "DELETE FROM {messages} WHERE run_id = ? AND seq = 5", (a,))
    await execute(store, "UPDATE {runs} SET status = 'running' WHERE run_id = ?", (b,))
    await execute(store, "DELETE FROM {run_events} WHERE run_id = ? AND seq > 6", (c,))
    await execute(store, "UPDATE {threads} SET run_count = 9 WHERE thread_id = 'thread-corrupt'")

    found = await reproject(sql_store(store), thread_id="thread-corrupt")
    assert {(x.id, x.reason) for x in found.found} == {
        (a, MESSAGE_COUNT_MISMATCH),
        (b, SUMMARY_HASH_MISMATCH),
        (c, EVENT_COUNT_MISMATCH),
        ("thread-corrupt", SUMMARY_HASH_MISMATCH),
    }
    assert not found.ok

    single = await reproject(sql_store(store), run_id=d)
    assert single.found == [] and single.ok

    repaired = await reproject(sql_store(store), thread_id="thread-corrupt", reconcile=True)
    assert repaired.ok and repaired.remaining == []
    assert (await reproject(sql_store(store), thread_id="thread-corrupt")).found == []
    await assert_equal_to_fold(store, [a, b, c, d])


async def test_found_drift_equals_planted_drift(store: EventStore) -> None:
    rng = random.Random(1515)
    run_ids: list[str] = []
    for t in range(6):
        run_ids += await start_runs(store, 3, f"thread-seeded-{t}", steps=rng.randint(1, 3))
    await catch_up(sql_store(store))
    plants = {
        MESSAGE_COUNT_MISMATCH: "DELETE FROM {messages} WHERE run_id = ? AND seq = 5",
        EVENT_COUNT_MISMATCH: "DELETE FROM {run_events} WHERE run_id = ? AND seq = 2",
        SUMMARY_HASH_MISMATCH: "UPDATE {runs} SET status = 'failed' WHERE run_id = ?",
    }
    # One run of each thread at most, so each thread's row stays true to its runs' rows.
    victims = rng.sample([run_ids[3 * t + rng.randrange(3)] for t in range(6)], 5)
    planted = set()
    for run_id in victims:
        reason = rng.choice(sorted(plants))
        await execute(store, plants[reason], (run_id,))
        planted.add((run_id, reason))

    report = await reproject(sql_store(store))
    assert {(x.id, x.reason) for x in report.found if x.scope == "run"} == planted
    repaired = await reproject(sql_store(store), reconcile=True)
    assert repaired.ok
    await assert_equal_to_fold(store, run_ids)


async def test_a_lagging_projection_is_watermark_behind_until_replayed(store: EventStore) -> None:
    [run_id] = await start_runs(store, 1, "thread-lag", steps=1)
    await catch_up(sql_store(store))
    other = await new_run(store, thread_id="thread-lag")
    await append(store, AppendRequest(other, script(other, 1, None)))
    report = await reproject(sql_store(store), thread_id="thread-lag")
    assert [(x.id, x.reason) for x in report.found] == [(other, WATERMARK_BEHIND)]
    assert (await reproject(sql_store(store), thread_id="thread-lag", reconcile=True)).ok
    await assert_equal_to_fold(store, [run_id, other])


async def test_a_version_bump_is_found_and_rebuilds(store: EventStore) -> None:
    run_ids = await start_runs(store, 2, "thread-version")
    await catch_up(sql_store(store))
    s = sql_store(store)
    d = s.dialect

    def old_version() -> Flow[Done[None]]:
        yield command(
            d.sql("UPDATE projection_checkpoints SET version = 0 WHERE name = ?"), (LARAVEL_READ_MODELS.name,)
        )
        return done(None)

    await s._write(old_version)
    await execute(store, "DELETE FROM {messages}")
    report = await reproject(s)
    assert [(x.scope, x.reason) for x in report.found] == [("projection", PROJECTION_VERSION_CHANGED)]
    assert (await reproject(s, reconcile=True)).ok
    await assert_equal_to_fold(store, run_ids)


class NextReadModels(LaravelReadModels):
    """The same projection under a bumped version (what a release that changes apply ships)."""

    version = LARAVEL_READ_MODELS.version + 1


async def read_model_counts(store: EventStore) -> tuple[int, int, int, int]:
    s = sql_store(store)
    d = s.dialect

    def flow() -> Flow[tuple[int, int, int, int]]:
        counts = []
        for name in ("threads", "runs", "messages", "run_events"):
            [(n,)] = yield query(f"SELECT count(*) FROM {table(d, name)}")
            counts.append(int(n))
        return (counts[0], counts[1], counts[2], counts[3])

    return await s._read(flow())


async def test_a_version_bump_rebuilds_aside_while_the_old_rows_serve(store: EventStore) -> None:
    run_ids = await start_runs(store, 4, "thread-aside")
    await catch_up(sql_store(store))
    serving = await read_model_counts(store)
    bumped = NextReadModels()

    first = await store.project(bumped, 5)
    assert first is not None and first.to_position < await store.log_head()
    assert await read_model_counts(store) == serving  # the old rows serve, whole, during the build
    snapshot = await sql_store(store).read_model_snapshot(run_ids, threads=True)
    assert snapshot.checkpoint.version == LARAVEL_READ_MODELS.version
    late = await start_runs(store, 1, "thread-aside")  # appended while the build runs

    steps = 1
    while (
        await sql_store(store).read_model_snapshot(run_ids, threads=False)
    ).checkpoint.version != bumped.version:
        assert await read_model_counts(store) == serving
        assert await store.project(bumped, 5) is not None
        steps += 1
    assert steps > 2
    await assert_equal_to_fold(store, run_ids + late)  # swapped in: the new version's rows, complete
    more = await start_runs(store, 1, "thread-aside")
    while (step := await store.project(bumped, 5)) is not None and step.applied:
        pass  # and it goes on incrementally from its checkpoint, in the serving tables
    await assert_equal_to_fold(store, run_ids + late + more)


async def test_the_periodic_sample_sets_the_drift_gauge(store: EventStore) -> None:
    a, b = await start_runs(store, 2, "thread-sampled")
    await catch_up(sql_store(store))
    sampler = DriftSampler(sql_store(store), sample=1000)
    assert await sampler.check_once() == []
    assert REGISTRY.get_sample_value("oa_runtime_read_model_drift", {"reason": SUMMARY_HASH_MISMATCH}) == 0
    await execute(store, "UPDATE {runs} SET status = 'failed' WHERE run_id = ?", (b,))
    late = await new_run(store, thread_id="thread-sampled")  # not projected yet: lag, not drift
    found = await sampler.check_once()
    assert [(d.id, d.reason) for d in found] == [(b, SUMMARY_HASH_MISMATCH)]
    assert REGISTRY.get_sample_value("oa_runtime_read_model_drift", {"reason": SUMMARY_HASH_MISMATCH}) == 1
    assert REGISTRY.get_sample_value("oa_runtime_read_model_drift", {"reason": EVENT_COUNT_MISMATCH}) == 0
    assert (await reproject(sql_store(store), reconcile=True)).ok
    assert await sampler.check_once() == []
    await assert_equal_to_fold(store, [a, b, late])


async def test_a_rewrite_waits_for_the_projectors_lock(store: EventStore, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: no projector runs beside a rewrite")
    [run_id] = await start_runs(store, 1, "thread-locked", steps=1)
    await catch_up(sql_store(store))
    models = [
        m
        for m in (await sql_store(store).read_model_snapshot([run_id], threads=False)).folded().values()
        if m
    ]
    async with await psycopg.AsyncConnection.connect(store_url) as projector:
        async with projector.transaction():
            await projector.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (LARAVEL_READ_MODELS.name,)
            )
            assert await sql_store(store).replace_read_models([run_id], models) is False
        assert await sql_store(store).replace_read_models([run_id], models) is True
    await assert_equal_to_fold(store, [run_id])
