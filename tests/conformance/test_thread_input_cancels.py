"""Thread input interrupt and rollback: create_run writes the earlier runs' cancel requests
in the new run's transaction. The crash window is the store alone: nothing runs after
create_run returns (no stop, no publish), as if the process died right after the commit;
the earlier run's log and row must still carry the cancel, and a retried StartRun must
neither write a second one nor fail. Both backends."""

from __future__ import annotations

from functools import partial

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.admission import ThreadInputPolicy, plan_start
from oa_runtime.core.records import CreateResult
from oa_runtime.core.run_state import RunStatus
from oa_runtime.ports import EventStore

from .helpers import accepted, fingerprint, new_run, start_request


async def _start(store: EventStore, run_id: str, policy: ThreadInputPolicy) -> CreateResult:
    request = start_request(run_id, "thread-x")
    return await store.create_run(
        request,
        fingerprint(request),
        accepted("thread-x"),
        lease_owner="replica-a",
        plan_start=partial(plan_start, "thread-x", policy=policy, has_slot=True),
    )


async def _cancels(store: EventStore, run_id: str) -> list[ev.Event]:
    return [e for e in await store.read_events(run_id, 0) if e.type == ev.CANCEL_REQUESTED]


@pytest.mark.parametrize("policy", [ThreadInputPolicy.INTERRUPT, ThreadInputPolicy.ROLLBACK])
async def test_the_cancel_is_durable_with_the_new_run_and_a_retry_adds_none(
    store: EventStore, policy: ThreadInputPolicy
) -> None:
    earlier = await new_run(store, "thread-x", "earlier")
    result = await _start(store, "later", policy)
    # "Crash" here: nothing after create_run's commit has run.
    [cancel] = await _cancels(store, earlier)
    assert cancel.payload["by_run_id"] == "later"
    assert bool(cancel.payload.get("rollback")) is (policy is ThreadInputPolicy.ROLLBACK)
    assert result.cancels == (cancel,)  # as stored, so publishing it equals a replay
    state = await store.run_state(earlier)
    assert state is not None and state.cancel_requested
    record = await store.get_run(earlier)
    assert record is not None and record.status is RunStatus.CANCELING
    assert result.plan is not None and result.plan.waiting_for_run_id == earlier

    retried = await _start(store, "later", policy)
    assert not retried.created and retried.cancels == ()
    assert await _cancels(store, earlier) == [cancel]


async def test_enqueue_cancels_nothing_and_an_ended_or_canceling_run_gets_no_second_cancel(
    store: EventStore,
) -> None:
    first = await new_run(store, "thread-x", "first")
    assert (await _start(store, "queued", ThreadInputPolicy.ENQUEUE)).cancels == ()
    assert await _cancels(store, first) == []
    interrupted = await _start(store, "interrupter", ThreadInputPolicy.INTERRUPT)
    # Both unfinished earlier runs (the running one and the one queued behind it), once each.
    assert sorted(e.run_id for e in interrupted.cancels) == ["first", "queued"]
    again = await _start(store, "again", ThreadInputPolicy.INTERRUPT)
    assert [e.run_id for e in again.cancels] == ["interrupter"]
    assert len(await _cancels(store, first)) == 1
