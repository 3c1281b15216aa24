"""ChangeFeed conformance: what a replica hears of the others' changes, and the
liveness lock it holds while listening. PostgreSQL delivers other replicas'
appends, cancels and releases (a second store instance stands for a peer);
SQLite is single-node: listening only says it is ready and waits.
"""

from __future__ import annotations

import asyncio

import pytest
from oa_runtime.core import events as ev
from oa_runtime.ports import AppendRequest, EventStore

from .helpers import Recorder, append, listening, new_run, until
from .test_leases import claim


async def test_listening_says_ready_and_stops_when_cancelled(store: EventStore) -> None:
    async with listening(store, "replica-a", Recorder()) as task:
        for _ in range(3):
            await asyncio.sleep(0)  # let it run: it keeps listening
        assert not task.done()
    assert task.cancelled()


async def test_peers_hear_appends_cancels_and_releases_but_not_their_own(
    store: EventStore, peer: EventStore
) -> None:
    mine, theirs = Recorder(), Recorder()
    async with listening(store, "replica-a", mine), listening(peer, "replica-b", theirs):
        run_id = await new_run(store)
        await append(store, AppendRequest(run_id, [ev.run_started("a", 1), ev.step_started(1)]))
        await until(lambda: (run_id, 3) in theirs.appended, theirs)
        await store.request_cancel(run_id, ev.cancel_requested("test"))
        await until(lambda: run_id in theirs.cancels, theirs)
        lease = await claim(store, "replica-a", run_id)
        assert lease is not None
        await store.release_leases("replica-a", [lease])
        await until(lambda: theirs.runnable >= 1, theirs)
    assert mine.appended == []  # the writer's own replica publishes locally instead


async def test_two_live_processes_cannot_share_an_executor_id(store: EventStore, peer: EventStore) -> None:
    from oa_runtime.store.postgres_leases import OwnerInUse

    async with listening(store, "same-id", Recorder()):
        ready = asyncio.Event()
        with pytest.raises(OwnerInUse):
            await asyncio.wait_for(peer.listen("same-id", Recorder(), ready.set), 30)
        assert not ready.is_set()
