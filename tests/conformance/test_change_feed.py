"""ChangeFeed conformance: what a replica hears of the others' changes, and the
liveness lock it holds while listening. PostgreSQL delivers other replicas'
appends, cancels and releases (a second store instance stands for a peer);
SQLite is single-node: listening only says it is ready and waits.
"""

from __future__ import annotations

import asyncio

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.agents.inputs import FrameIn
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.agents import open_agent_store

from .helpers import Recorder, append, listening, new_run, until
from .test_agent_store import T0, creating, framing
from .test_leases import claim


class AgentRecorder(Recorder):
    """Also hears of agents' streams (as engine/agent_wake.py does)."""

    def __init__(self) -> None:
        super().__init__()
        self.agents: list[tuple[str, int, bool]] = []

    def on_agent_appended(self, agent_id: str, seq: int, due: bool) -> None:
        self.agents.append((agent_id, seq, due))
        self.changed.set()


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


async def test_peers_hear_agent_updates_at_commit_with_whether_to_claim(
    store: EventStore, peer: EventStore
) -> None:
    agents = open_agent_store(store)
    mine, theirs = AgentRecorder(), AgentRecorder()
    async with listening(store, "replica-a", mine), listening(peer, "replica-b", theirs):
        await agents.update_agent("a1", creating("a1"), now=T0)  # asleep: nothing to claim
        await until(lambda: ("a1", 1, False) in theirs.agents, theirs)
        # A frame whose transaction took the lease: the writer executes it, peers only read.
        taken = await agents.update_agent(
            "a1", framing(FrameIn("f1", "signal", "x")), now=T0, claim=("r1", 10)
        )
        assert taken.lease is not None
        await until(lambda: ("a1", 2, False) in theirs.agents, theirs)
        # Held by r1 (live lease): a frame from elsewhere is news for the holder, not a claim.
        await agents.update_agent("a1", framing(FrameIn("f2", "signal", "y")), now=T0, claim=("r2", 10))
        await until(lambda: ("a1", 3, False) in theirs.agents, theirs)
        assert await agents.release_agent("r1", taken.lease, None)
        # Due, nobody holds it, and this write took no lease: a peer should claim it now.
        await agents.update_agent("a1", framing(FrameIn("f3", "signal", "z")), now=T0)
        await until(lambda: ("a1", 4, True) in theirs.agents, theirs)
        # An update that fails notifies nobody.
        with pytest.raises(RuntimeError):
            await agents.update_agent("a1", _failing, now=T0)
        await agents.update_agent("a2", creating("a2"), now=T0)
        await until(lambda: ("a2", 1, False) in theirs.agents, theirs)
    assert [a for a, _, _ in theirs.agents] == ["a1"] * 4 + ["a2"]
    assert mine.agents == []  # the writer's replica pokes its own agents directly


def _failing(record: object, known: object) -> list[ev.NewEvent]:
    raise RuntimeError("decided nothing")
