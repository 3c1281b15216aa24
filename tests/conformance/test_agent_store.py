"""The AgentStore conformance suite, run on every adapter (SQLite, PostgreSQL): an agent is a
stream with dense seqs and a row folded in the same transaction; its frames are indexed
unique per agent; `wake_at` says when it needs an executor; leases are claimed only when due,
fence updates, and are released only when nothing arrived since the holder last looked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.agents import events as aev
from oa_runtime.core.agents.errors import AgentNotFound
from oa_runtime.core.agents.inputs import FrameIn, accept_frames
from oa_runtime.core.agents.record import AgentRecord
from oa_runtime.core.agents.spec import AgentSpec
from oa_runtime.core.agents.state import AgentStatus
from oa_runtime.core.errors import FencedOff, IllegalTransition, InvalidArgument, NotThreadOwner
from oa_runtime.core.events import NewEvent
from oa_runtime.core.records import StartRequest
from oa_runtime.ports import AgentDecider, AgentStore, EventStore
from oa_runtime.store.agents import open_agent_store

from .helpers import fingerprint

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def agents(store: EventStore) -> AgentStore:
    return open_agent_store(store)


def creating(agent_id: str, thread_id: str = "t1") -> AgentDecider:
    spec = AgentSpec(agent_id, thread_id, user_id=42)

    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [] if record else [aev.agent_created(spec.to_json(), T0)]

    return decide


def framing(*frames: FrameIn, seen: dict[str, str] | None = None) -> AgentDecider:
    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        assert record is not None
        if seen is not None:
            seen.update(known)
        fresh = [f for f in frames if f.frame_id not in known]
        return accept_frames(record.state, fresh, T0).events if fresh else []

    return decide


async def test_an_agent_is_a_stream_and_its_row_is_the_fold(agents: AgentStore) -> None:
    assert await agents.get_agent("a1") is None
    created = await agents.update_agent("a1", creating("a1"), now=T0)
    assert [e.seq for e in created.events] == [1] and created.events[0].stream_kind == "agent"
    assert created.events[0].position > 0
    assert created.record is not None and created.record.state.status == AgentStatus.SLEEPING
    assert created.record.wake_at is None  # nothing to do: only a frame or WakeAgent wakes it
    again = await agents.update_agent("a1", creating("a1"), now=T0)
    assert again.events == [] and again.record == created.record

    update = await agents.update_agent(
        "a1", framing(FrameIn("f1", "user_prompt", "hi")), now=T0, frame_ids=["f1"]
    )
    assert [e.seq for e in update.events] == [2]
    record = await agents.get_agent("a1")
    assert record is not None and record.state.last_seq == 2
    assert [f.frame_id for f in record.state.pending] == ["f1"]
    assert record.wake_at == T0  # pending frames: it needs an executor now
    assert record.created_at == T0 and record.fingerprint == created.record.fingerprint
    events = await agents.read_agent_events("a1", 0)
    assert [(e.seq, e.type) for e in events] == [(1, aev.AGENT_CREATED), (2, aev.FRAME_RECEIVED)]
    assert [e.seq for e in await agents.read_agent_events("a1", 1)] == [2]


async def test_the_frame_index_answers_known_frames_after_the_fold_forgot_them(agents: AgentStore) -> None:
    await agents.update_agent("a1", creating("a1"), now=T0)
    await agents.update_agent("a1", framing(FrameIn("f1", "signal", "x")), now=T0, frame_ids=["f1"])
    seen: dict[str, str] = {}
    repeat = await agents.update_agent(
        "a1",
        framing(FrameIn("f1", "signal", "x"), FrameIn("f2", "signal", "y"), seen=seen),
        now=T0,
        frame_ids=["f1", "f2"],
    )
    assert seen == {"f1": FrameIn("f1", "signal", "x").digest}
    assert [e.payload["frame_id"] for e in repeat.events] == ["f2"]


async def test_an_update_that_fails_writes_nothing(agents: AgentStore) -> None:
    def frame_of_unknown(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.frame_received("f1", "signal", text="x", received_at=T0)]

    with pytest.raises(AgentNotFound):
        await agents.update_agent("nobody", frame_of_unknown, now=T0)
    assert await agents.get_agent("nobody") is None
    await agents.update_agent("a1", creating("a1"), now=T0)

    def refuses(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        raise InvalidArgument("frames", "no")

    with pytest.raises(InvalidArgument):
        await agents.update_agent("a1", refuses, now=T0)

    def illegal(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.slept("idle", T0, None)]  # a sleeping agent cannot sleep

    with pytest.raises(IllegalTransition):
        await agents.update_agent("a1", illegal, now=T0)
    assert [e.seq for e in await agents.read_agent_events("a1", 0)] == [1]


async def test_leases_are_claimed_when_due_fence_updates_and_release_only_when_seen(
    agents: AgentStore,
) -> None:
    await agents.update_agent("asleep", creating("asleep"), now=T0)
    await agents.update_agent("busy", creating("busy"), now=T0)
    assert await agents.claim_agents("r1", 10, now=T0) == []  # sleeping agents cost no claim
    await agents.update_agent("busy", framing(FrameIn("f1", "signal", "x")), now=T0)
    [lease] = await agents.claim_agents("r1", 10, now=T0 + timedelta(seconds=1))
    assert lease.agent_id == "busy"
    assert await agents.claim_agents("r2", 10, now=T0 + timedelta(seconds=1)) == []  # held
    assert await agents.renew_agent_leases("r1", [lease], 10) == {"busy"}
    assert await agents.renew_agent_leases("r2", [lease], 10) == set()

    def wake(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.woken(aev.WAKE_FRAME, T0)]

    awake = await agents.update_agent("busy", wake, now=T0, fence=lease)
    assert awake.record is not None and awake.record.state.status == AgentStatus.AWAKE
    # A frame lands after the holder last looked (seq 3): the release is refused.
    await agents.update_agent("busy", framing(FrameIn("f2", "signal", "y")), now=T0)
    assert not await agents.release_agent("r1", lease, 3)
    assert await agents.release_agent("r1", lease, 4)
    [again] = await agents.claim_agents("r1", 10, now=T0 + timedelta(seconds=2))
    assert await agents.release_agent("r1", again, None)  # unconditionally
    lease = again
    [taken] = await agents.claim_agents("r2", 10, now=T0 + timedelta(seconds=2))
    assert taken.token == lease.token + 1
    with pytest.raises(FencedOff):
        await agents.update_agent("busy", wake, now=T0, fence=lease)
    assert await agents.agent_seqs(["busy", "asleep", "none"]) == {"busy": 4, "asleep": 1}


async def test_an_expired_lease_is_taken_over(agents: AgentStore) -> None:
    await agents.update_agent("a1", creating("a1"), now=T0)
    await agents.update_agent("a1", framing(FrameIn("f1", "signal", "x")), now=T0)
    [lease] = await agents.claim_agents("r1", 0.05, now=T0)
    await asyncio.sleep(0.1)
    [taken] = await agents.claim_agents("r2", 10, now=T0, agent_ids=["a1"])
    assert taken.token == lease.token + 1
    assert await agents.claim_agents("r3", 10, now=T0, agent_ids=["a1"], exclude=["a1"]) == []


async def test_lists_filter_by_state_and_thread_and_page_newest_first(agents: AgentStore) -> None:
    for i in range(5):
        await agents.update_agent(f"a{i}", creating(f"a{i}", "t1" if i % 2 else "t2"), now=T0)
    await agents.update_agent("a3", framing(FrameIn("f", "signal", "x")), now=T0)
    first = await agents.list_agents(status=None, thread_id=None, limit=3, before=None)
    assert [r.state.agent_id for r in first] == ["a4", "a3", "a2"]
    last = first[-1]
    rest = await agents.list_agents(
        status=None, thread_id=None, limit=3, before=(last.created_at.isoformat(), last.state.agent_id)
    )
    assert [r.state.agent_id for r in rest] == ["a1", "a0"]
    on_t1 = await agents.list_agents(status=AgentStatus.SLEEPING, thread_id="t1", limit=10, before=None)
    assert [r.state.agent_id for r in on_t1] == ["a3", "a1"]
    assert await agents.list_agents(status=AgentStatus.RUNNING, thread_id=None, limit=10, before=None) == []


async def test_concurrent_frames_to_one_agent_serialize_with_dense_seqs(
    agents: AgentStore, store: EventStore
) -> None:
    await agents.update_agent("a1", creating("a1"), now=T0)
    await asyncio.gather(
        *(
            agents.update_agent("a1", framing(FrameIn(f"f{i}", "signal", "x")), now=T0, frame_ids=[f"f{i}"])
            for i in range(10)
        )
    )
    events = await agents.read_agent_events("a1", 0)
    assert [e.seq for e in events] == list(range(1, 12))
    record = await agents.get_agent("a1")
    assert record is not None and len(record.state.pending) == 10


async def test_an_update_can_take_the_lease_of_an_agent_it_makes_due(agents: AgentStore) -> None:
    await agents.update_agent("a1", creating("a1"), now=T0)
    claim = ("r1", 10.0)
    frame = framing(FrameIn("f1", "signal", "x"))
    update = await agents.update_agent("a1", frame, now=T0, claim=claim)
    assert update.lease is not None and update.lease.agent_id == "a1"
    assert await agents.claim_agents("r2", 10, now=T0) == []  # held by r1 already
    # Held (and not expired): a later update takes nothing; the holder goes on.
    again = await agents.update_agent("a1", framing(FrameIn("f2", "signal", "y")), now=T0, claim=("r2", 10.0))
    assert again.lease is None
    assert await agents.release_agent("r1", update.lease, None)
    # Nothing due (a new sleeping agent): nothing taken.
    await agents.update_agent("a2", creating("a2"), now=T0)

    def sleep_request(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.sleep_requested("test")]

    quiet = await agents.update_agent("a2", sleep_request, now=T0, claim=claim)
    assert quiet.lease is None


async def test_a_new_agent_owns_its_thread_like_a_run_does(store: EventStore, agents: AgentStore) -> None:
    """An agent's thread is its user's: another user's agent or run on it is refused, and an
    agent on another user's thread is not written (NOT_THREAD_OWNER, in the create's transaction)."""
    await agents.update_agent("a-own", creating("a-own", "t-own"), now=T0)  # user 42
    theirs = AgentSpec("a-theirs", "t-own", user_id=43)

    def create_theirs(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.agent_created(theirs.to_json(), T0)]

    with pytest.raises(NotThreadOwner):
        await agents.update_agent("a-theirs", create_theirs, now=T0)
    assert await agents.get_agent("a-theirs") is None
    request = StartRequest(run_id="r-theirs", thread_id="t-own", user_id="43", prompt="hi", model="scripted")
    accepted = ev.run_accepted("t-own", "scripted", "msg-r-theirs")
    with pytest.raises(NotThreadOwner):
        await store.create_run(request, fingerprint(request), accepted)
    mine = StartRequest(run_id="r-mine", thread_id="t-own", user_id="42", prompt="hi", model="scripted")
    created = await store.create_run(mine, fingerprint(mine), ev.run_accepted("t-own", "scripted", "m"))
    assert created.created


async def test_a_claim_by_another_replica_mid_update_cannot_share_the_lease(
    store_url: str, agents: AgentStore
) -> None:
    """While an update decides, the agent's row is locked (PostgreSQL): another replica's claim,
    committed in that moment, skips it, instead of both ending up with the same lease token."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: no claim can commit inside an update")
    await agents.update_agent("a1", creating("a1"), now=T0)
    await agents.update_agent("a1", framing(FrameIn("f1", "signal", "x")), now=T0)  # due
    peer_claims: list[tuple[str, int]] = []

    def frame_while_a_peer_claims(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        assert record is not None
        with psycopg.connect(store_url, autocommit=True) as peer:  # blocks this loop: a replica's claim
            rows = peer.execute(
                "UPDATE agents SET lease_owner = 'peer', lease_token = lease_token + 1,"
                " lease_expires_at = now() + interval '1 minute' WHERE agent_id IN (SELECT agent_id"
                " FROM agents WHERE agent_id = 'a1' AND lease_owner IS NULL FOR UPDATE SKIP LOCKED)"
                " RETURNING agent_id, lease_token"
            ).fetchall()
        peer_claims.extend((str(a), int(t)) for a, t in rows)
        return accept_frames(record.state, [FrameIn("f2", "signal", "y")], T0).events

    update = await agents.update_agent("a1", frame_while_a_peer_claims, now=T0, claim=("r1", 10.0))
    assert peer_claims == []  # the row was locked: the peer skipped it
    assert update.lease is not None and update.lease.token == 1
