"""EventLog conformance, the global log: every event has a position in commit order.

A catch-up reader (an async projection) follows `read_log` by position and must
never skip an event that commits late with a lower position. SQLite has one
writer; PostgreSQL takes the `log_head` counter row as each event-writing
transaction's last lock (store/dialect.py): the tests below hold one writer's
transaction open and show a second writer cannot commit around it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
from oa_runtime.core import events as ev
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import flows
from oa_runtime.store.dialect import PostgresDialect
from oa_runtime.store.postgres import run_async

from tests.support.postgres import PostgresServer

from .conftest import make_store
from .helpers import append, new_run


async def test_positions_are_dense_and_follow_appends(store: EventStore) -> None:
    first = await new_run(store)
    second = await new_run(store)
    await append(store, AppendRequest(first, [ev.run_started("x", 1), ev.step_started(1)]))
    results = await store.append_many(
        [
            AppendRequest(second, [ev.run_started("x", 1)]),
            AppendRequest(first, [ev.message_delta("m", "hi")]),
        ]
    )

    log = await store.read_log(0)
    assert [e.position for e in log] == list(range(1, 7))
    assert [(e.run_id, e.seq) for e in log] == [
        (first, 1),
        (second, 1),
        (first, 2),
        (first, 3),
        (second, 2),
        (first, 4),
    ]
    assert await store.log_head() == 6
    # What an append returns carries the positions a read finds.
    published = [e for r in results if not isinstance(r, Exception) for e in r.events]
    assert published == log[4:]
    assert all(e.stream_kind == ev.STREAM_RUN for e in log)
    assert await store.read_log(3, limit=1) == log[3:4]


async def test_a_cancel_and_a_create_take_positions_too(store: EventStore) -> None:
    await store.request_cancel("early", ev.cancel_requested("user"))  # pending: no event yet
    assert await store.log_head() == 0
    run_id = await new_run(store, run_id="early")
    assert [(e.type, e.position) for e in await store.read_log(0)] == [
        (ev.RUN_ACCEPTED, 1),
        (ev.CANCEL_REQUESTED, 2),
    ]
    assert [e.position for e in await store.read_events(run_id, 0)] == [1, 2]


async def test_many_writers_and_a_follower_see_every_position_once(store_url: str) -> None:
    """Two store instances (two replicas on PostgreSQL) append concurrently while a
    follower reads by position; it must end with every event exactly once."""
    stores = [make_store(store_url)]
    if not store_url.startswith("sqlite"):
        stores.append(make_store(store_url))
    for s in stores:
        await s.open()
    try:
        runs = [await new_run(stores[0]) for _ in range(6)]
        done = asyncio.Event()
        seen: list[int] = []

        async def follow() -> None:
            position = 0
            while True:
                finished = done.is_set()
                for event in await stores[0].read_log(position, 50):
                    seen.append(event.position)
                    position = event.position
                if finished:
                    return
                await asyncio.sleep(0)

        async def write(index: int) -> None:
            s = stores[index % len(stores)]
            for n in range(15):
                await append(s, AppendRequest(runs[index], [ev.message_delta("m", f"{n}")]))

        follower = asyncio.create_task(follow())
        await asyncio.gather(*(write(i) for i in range(len(runs))))
        done.set()
        await follower
        head = await stores[0].log_head()
        assert seen == list(range(1, head + 1))
        assert head == 6 + 6 * 15
    finally:
        for s in stores:
            await s.close()


async def test_postgres_a_late_commit_never_lands_below_a_seen_position(
    postgres_server: PostgresServer,
) -> None:
    """Writer A inserts events and holds its transaction open; writer B appends
    meanwhile. B cannot commit before A (it waits for the counter row), so a
    follower that saw nothing while A was open then sees A's positions below B's."""
    url = postgres_server.create_database(f"gap_{uuid.uuid4().hex[:8]}")
    store = make_store(url)
    await store.open()
    try:
        run_a, run_b = await new_run(store), await new_run(store)
        head = await store.log_head()
        raw = await psycopg.AsyncConnection.connect(url)
        try:
            async with raw.transaction():
                request = AppendRequest(run_a, [ev.message_delta("m", "a")])
                await run_async(
                    raw, flows.append_batch(PostgresDialect(), [request], datetime.now(UTC), "test"), []
                )
                b = asyncio.create_task(append(store, AppendRequest(run_b, [ev.message_delta("m", "b")])))
                await asyncio.sleep(0.5)
                assert not b.done()  # B waits for A's commit
                assert await store.read_log(head) == []  # neither is visible yet
            result_b = await asyncio.wait_for(b, 10)
        finally:
            await raw.close()
        log = await store.read_log(head)
        assert [(e.run_id, e.position) for e in log] == [(run_a, head + 1), (run_b, head + 2)]
        assert result_b.events[0].position == head + 2
    finally:
        await store.close()
