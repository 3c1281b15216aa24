"""RunQueries conformance: the run rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from oa_runtime.core import events as ev
from oa_runtime.core.run_state import RunStatus
from oa_runtime.ports import AppendRequest, EventStore

from .helpers import append, finish, new_run


async def test_list_runs_pages_newest_first_and_filters(store: EventStore) -> None:
    ids = [await new_run(store, thread_id="thread-x") for _ in range(5)]
    other = await new_run(store, thread_id="thread-y")
    await finish(store, ids[1])

    listed: list[str] = []
    before: tuple[str, str] | None = None
    while page := await store.list_runs(thread_id="thread-x", status=None, limit=2, before=before):
        listed += [r.run_id for r in page]
        before = (page[-1].created_at.isoformat(), page[-1].run_id)
    assert listed == [r.run_id for r in reversed(await store.thread_runs("thread-x"))]
    assert sorted(listed) == sorted(ids)

    everything = await store.list_runs(thread_id=None, status=None, limit=100, before=None)
    assert {r.run_id for r in everything} == {*ids, other}
    succeeded = await store.list_runs(thread_id=None, status=RunStatus.SUCCEEDED, limit=100, before=None)
    assert [r.run_id for r in succeeded] == [ids[1]]
    queued_y = await store.list_runs(thread_id="thread-y", status=RunStatus.QUEUED, limit=100, before=None)
    assert [r.run_id for r in queued_y] == [other]


async def test_thread_runs_are_oldest_first(store: EventStore) -> None:
    ids = [await new_run(store, thread_id="thread-z") for _ in range(3)]
    await new_run(store, thread_id="thread-other")

    runs = await store.thread_runs("thread-z")
    assert [r.run_id for r in runs] == ids
    assert [r.created_at for r in runs] == sorted(r.created_at for r in runs)
    assert await store.thread_runs("no-such-thread") == []


async def test_last_seqs_answers_for_the_runs_that_exist(store: EventStore) -> None:
    first, second = await new_run(store), await new_run(store)
    await append(store, AppendRequest(first, [ev.run_started("x", 1)]))
    assert await store.last_seqs([first, second, "missing"]) == {first: 2, second: 1}
    assert await store.last_seqs([]) == {}
