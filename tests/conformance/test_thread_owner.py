"""A thread keeps the user of its first run: create_run refuses another user's run on it
(NOT_THREAD_OWNER) in its own transaction, so StartRun reads nothing to authorize it and two
first runs of one thread by two users cannot both be created. Both backends."""

from __future__ import annotations

import asyncio

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.errors import NotThreadOwner
from oa_runtime.core.records import CreateResult, StartRequest
from oa_runtime.ports import EventStore

from .helpers import fingerprint


def _create(store: EventStore, run_id: str, thread_id: str, user_id: str) -> asyncio.Future[CreateResult]:
    request = StartRequest(run_id=run_id, thread_id=thread_id, user_id=user_id, prompt="hi", model="scripted")
    accepted = ev.run_accepted(thread_id, "scripted", f"msg-{run_id}")
    return asyncio.ensure_future(store.create_run(request, fingerprint(request), accepted))


async def test_another_users_run_on_a_thread_is_refused_and_not_written(store: EventStore) -> None:
    assert (await _create(store, "mine-1", "thread-o", "7")).created
    with pytest.raises(NotThreadOwner) as refused:
        await _create(store, "theirs", "thread-o", "8")
    assert refused.value.metadata["thread_id"] == "thread-o"
    assert await store.get_run("theirs") is None
    with pytest.raises(NotThreadOwner):  # no user is not the owner either
        await _create(store, "nobody", "thread-o", "")
    assert (await _create(store, "mine-2", "thread-o", "7")).created


async def test_two_users_starting_one_new_thread_at_once_one_wins(store: EventStore) -> None:
    outcomes = await asyncio.gather(
        _create(store, "race-7", "thread-race", "7"),
        _create(store, "race-8", "thread-race", "8"),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["CreateResult", "NotThreadOwner"]
    winner = next(o for o in outcomes if isinstance(o, CreateResult))
    runs = await store.list_runs(thread_id="thread-race", status=None, limit=10, before=None)
    assert [r.run_id for r in runs] == [winner.record.run_id]
