"""Lease conformance: both stores claim, renew, release and fence the same way.

An owner counts as alive while it listens (EventStore.listen holds its
liveness lock on PostgreSQL), as every replica does before it claims; so the
tests keep their owners listening. PostgreSQL-only parts (dead-owner detection)
use a second store instance on the same database (the `peer` fixture), which
stands for another replica. The change feed itself: test_change_feed.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.errors import FencedOff
from oa_runtime.core.leases import Lease
from oa_runtime.ports import AppendRequest, EventStore

from .conftest import make_store
from .helpers import Recorder, append, finish, listening, new_run, until_owner_gone

TTL = 30.0


@contextlib.asynccontextmanager
async def alive(store: EventStore, *owners: str) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for owner in owners:
            await stack.enter_async_context(listening(store, owner, Recorder()))
        yield


async def claim(
    store: EventStore, owner: str, run_id: str, ttl_s: float = TTL, reclaim: tuple[str, ...] = ()
) -> Lease | None:
    leases = await store.claim_runs(owner, ttl_s, run_ids=[run_id], exclude=(), limit=1, reclaim=reclaim)
    return leases[0] if leases else None


async def test_a_new_run_is_claimed_once_with_token_1(store: EventStore) -> None:
    async with alive(store, "a", "b"):
        run_id = await new_run(store)
        lease = await claim(store, "a", run_id)
        assert lease == Lease(run_id, token=1, recovery_attempts=0)
        assert await claim(store, "b", run_id) is None  # held and not expired
        assert await claim(store, "a", run_id) is None  # its own live lease is not taken again
        # ...unless the owner says its task for the run is gone (reclaim).
        assert await claim(store, "a", run_id, reclaim=(run_id,)) == Lease(run_id, 2, 1)


async def test_a_claim_returns_the_run_record_and_its_folded_state(store: EventStore) -> None:
    """A resume reads nothing more of the run row: the claim returns it (issue 17 goal 6)."""
    async with alive(store, "a", "b"):
        run_id = await new_run(store)
        first = await claim(store, "a", run_id, ttl_s=0.2)
        assert first is not None and first.record is not None and first.state is not None
        assert first.record == await store.get_run(run_id)
        await append(store, AppendRequest(run_id, [ev.run_started("a", 1)], fence=first.token))
        await asyncio.sleep(0.4)  # expired: b takes it over
        taken = await claim(store, "b", run_id)
        assert taken is not None and taken.record is not None
        assert taken.state == await store.run_state(run_id)
        assert (
            taken.state is not None
            and taken.state.attempt == 1
            and taken.record.last_seq == taken.state.last_seq
        )


async def test_appends_with_a_stale_token_are_fenced_off(store: EventStore) -> None:
    async with alive(store, "a", "b"):
        run_id = await new_run(store)
        first = await claim(store, "a", run_id, ttl_s=0.2)
        assert first is not None
        await append(store, AppendRequest(run_id, [ev.run_started("a", 1)], fence=first.token))
        await asyncio.sleep(0.4)
        second = await claim(store, "b", run_id)
        assert second is not None and second.token == first.token + 1
        assert second.recovery_attempts == 1  # taken from an owner that never released it

        with pytest.raises(FencedOff):
            await append(store, AppendRequest(run_id, [ev.step_started(1)], fence=first.token))
        assert [e.seq for e in await store.read_events(run_id, 0)] == [1, 2]  # nothing written
        result = await append(store, AppendRequest(run_id, [ev.run_started("b", 2)], fence=second.token))
        assert result.seqs == (3,)
        # Appends without a fence (clients, cancels) are not an executor's and pass.
        await append(store, AppendRequest(run_id, [ev.step_started(1)]))


async def test_renew_keeps_a_lease_and_reports_a_lost_one(store: EventStore) -> None:
    async with alive(store, "a", "b"):
        run_id = await new_run(store)
        lease = await claim(store, "a", run_id, ttl_s=0.3)
        assert lease is not None
        for _ in range(3):
            await asyncio.sleep(0.15)
            assert await store.renew_leases("a", [lease], 0.3) == {run_id: "queued"}
        assert await claim(store, "b", run_id) is None  # renewed, so never expired

        await asyncio.sleep(0.4)
        taken = await claim(store, "b", run_id)
        assert taken is not None
        assert await store.renew_leases("a", [lease], 0.3) == {}
        assert await store.renew_leases("b", [taken], 0.3) == {run_id: "queued"}


async def test_a_released_lease_is_claimed_at_once_without_counting_a_recovery(store: EventStore) -> None:
    async with alive(store, "a", "b"):
        run_id = await new_run(store)
        lease = await claim(store, "a", run_id)
        assert lease is not None
        await store.release_leases("a", [lease])
        taken = await claim(store, "b", run_id)
        assert taken == Lease(run_id, token=2, recovery_attempts=0)
        await store.release_leases("a", [lease])  # a stale release changes nothing
        assert await store.renew_leases("b", [taken], TTL) == {run_id: "queued"}


async def test_recovery_attempts_grow_per_takeover_and_reset_on_progress(store: EventStore) -> None:
    async with alive(store, "a", "b", "c", "d"):
        run_id = await new_run(store)
        attempts = []
        for owner in ("a", "b", "c"):
            lease = await claim(store, owner, run_id, ttl_s=0.05)
            assert lease is not None
            attempts.append(lease.recovery_attempts)
            await asyncio.sleep(0.1)
        assert attempts == [0, 1, 2]
        assert Lease(run_id, 9, 4).exhausted(3) and not Lease(run_id, 9, 3).exhausted(3)
        await store.save_checkpoint(run_id, 1, {"last_seq": 1})
        lease = await claim(store, "d", run_id)
        assert lease is not None and lease.recovery_attempts == 1  # reset to 0, then this takeover


async def test_the_claimer_takes_live_runs_oldest_first_and_skips_ended_and_excluded(
    store: EventStore,
) -> None:
    async with alive(store, "a", "b"):
        runs = [await new_run(store, run_id=f"run-{i}") for i in range(5)]
        await finish(store, runs[1])
        first = await store.claim_runs("a", TTL, run_ids=None, exclude=(), limit=2)
        assert [lease.run_id for lease in first] == [runs[0], runs[2]]
        rest = await store.claim_runs("a", TTL, run_ids=None, exclude=[runs[0], runs[2]], limit=10)
        assert [lease.run_id for lease in rest] == [runs[3], runs[4]]
        assert await store.claim_runs("b", TTL, run_ids=None, exclude=(), limit=10) == []


async def test_concurrent_claimers_never_share_a_run(store_url: str) -> None:
    stores = [make_store(store_url) for _ in range(1 if store_url.startswith("sqlite") else 3)]
    for s in stores:
        await s.open()
    try:
        runs = {await new_run(stores[0]) for _ in range(40)}
        owners = [(s, f"owner-{i}-{j}") for i, s in enumerate(stores) for j in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            for s, owner in owners:
                await stack.enter_async_context(alive(s, owner))
            results = await asyncio.gather(
                *(s.claim_runs(owner, TTL, run_ids=None, exclude=(), limit=7) for s, owner in owners)
            )
        claimed = [lease.run_id for batch in results for lease in batch]
        assert len(claimed) == len(set(claimed)) == min(40, 7 * len(owners))
        assert set(claimed) <= runs
    finally:
        for s in stores:
            await s.close()


# ----- PostgreSQL: change feed and liveness -----


async def test_a_dead_owners_leases_are_taken_at_once_a_live_owners_are_not(
    store: EventStore, peer: EventStore, store_url: str
) -> None:
    run_id = await new_run(store)
    async with listening(store, "replica-a", Recorder()):
        lease = await claim(store, "replica-a", run_id)
        assert lease is not None
        assert await claim(peer, "replica-b", run_id) is None  # alive: its lease stands
    # replica-a's listener connection is closed; its backend drops the liveness lock when it
    # exits, which a loaded machine may take a moment to get to (this was the flake): wait for
    # that event, then the claim must take the lease at once (TTL is 30 s).
    await until_owner_gone(store_url, "replica-a")
    taken = await claim(peer, "replica-b", run_id)
    assert taken is not None and taken.token == lease.token + 1 and taken.recovery_attempts == 1


async def test_the_creating_replica_gets_the_first_lease_in_the_same_transaction(store: EventStore) -> None:
    from .helpers import accepted, fingerprint, start_request

    async with alive(store, "creator", "peer"):
        request = start_request("run-leased")
        created = await store.create_run(
            request, fingerprint(request), accepted(), lease_owner="creator", lease_ttl_s=TTL
        )
        assert created.lease == Lease("run-leased", token=1, recovery_attempts=0)
        assert await store.claim_runs("peer", TTL, run_ids=None, exclude=(), limit=10) == []
        assert await store.renew_leases("creator", [created.lease], TTL) == {"run-leased": "queued"}
        again = await store.create_run(request, fingerprint(request), accepted(), lease_owner="peer")
        assert not again.created and again.lease is None


async def test_a_restarted_replica_takes_its_earlier_incarnations_leases_at_once(
    store: EventStore, peer: EventStore
) -> None:
    run_id = await new_run(store)
    async with listening(store, "replica-a", Recorder()):
        old = await claim(store, "replica-a@1", run_id)
        assert old is not None
        # A peer sees replica-a alive: the lease stands.
        async with listening(peer, "replica-b", Recorder()):
            assert await claim(peer, "replica-b@1", run_id) is None
    # replica-a restarts (new instance): it holds the identity lock, so @1 is dead.
    async with listening(store, "replica-a", Recorder()):
        taken = await claim(store, "replica-a@2", run_id)
        assert taken == Lease(run_id, old.token + 1, 1)
