"""The WorkerStore conformance suite, run on every adapter (SQLite, PostgreSQL): a worker is
a stream with dense seqs and a summary row folded in the same transaction; decisions run
inside the transaction; lists filter and page by keyset; updates of one worker serialize.
Also the use cases over each store with an injected clock (heartbeat states)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from oa_runtime.app import workers as app
from oa_runtime.app.workers import ControlRequest, Workers
from oa_runtime.core.errors import InvalidArgument
from oa_runtime.core.workers import (
    WORKER_EVENT,
    WORKER_STARTED,
    PriorRequest,
    WorkerDecision,
    WorkerNotFound,
    WorkerSpec,
    WorkerState,
    WorkerStateConflict,
    WorkerStatus,
    decide_create,
    decide_report,
)
from oa_runtime.ports import EventStore, WorkerDecider, WorkerStore
from oa_runtime.store.workers import open_worker_store


@pytest.fixture
def workers(store: EventStore) -> WorkerStore:
    return open_worker_store(store)


def create(worker_id: str, owner: str = "42", workspace: str = "ws") -> WorkerSpec:
    return WorkerSpec(worker_id, owner, workspace)


async def new_worker(workers: WorkerStore, worker_id: str, owner: str = "42", workspace: str = "ws") -> None:
    spec = create(worker_id, owner, workspace)
    await workers.update_worker(worker_id, lambda state, _: decide_create(state, spec))


def report(event_type: str) -> WorkerDecider:
    def decide(state: WorkerState | None, _: PriorRequest | None) -> WorkerDecision:
        assert state is not None
        return decide_report(state, event_type, {"n": 1})

    return decide


async def test_a_worker_is_a_stream_and_its_summary_is_the_fold(workers: WorkerStore) -> None:
    assert await workers.get_worker("w1") is None
    created = await workers.update_worker("w1", lambda s, _: decide_create(s, create("w1")))
    assert [e.seq for e in created.events] == [1]
    assert created.state.status == WorkerStatus.STARTING
    started = await workers.update_worker("w1", report(WORKER_STARTED))
    assert started.state.latest_seq == 2 and started.state.status == WorkerStatus.RUNNING
    stored = await workers.get_worker("w1")
    assert stored == started.state
    events = await workers.read_worker_events("w1", 0)
    assert [(e.seq, e.type) for e in events] == [(1, "worker.created"), (2, WORKER_STARTED)]
    assert [e.event_id for e in events] == [created.events[0].event_id, started.events[0].event_id]
    assert events[1].occurred_at == stored.last_heartbeat_at
    assert await workers.read_worker_events("w1", 1, limit=5) == events[1:]
    assert await workers.read_worker_events("w1", 2) == []
    replay = await workers.update_worker("w1", lambda s, _: decide_create(s, create("w1")))
    assert replay.events == [] and replay.decision.replay and replay.state == stored


async def test_a_worker_s_events_are_a_stream_of_the_global_log(
    store: EventStore, workers: WorkerStore
) -> None:
    head = await store.log_head()
    created = await workers.update_worker("w1", lambda s, _: decide_create(s, create("w1")))
    started = await workers.update_worker("w1", report(WORKER_STARTED))
    positions = [created.events[0].position, started.events[0].position]
    assert positions == [head + 1, head + 2]
    assert await store.log_head() == head + 2
    logged = await store.read_log(head)
    assert [(e.stream_kind, e.run_id, e.seq, e.position, e.type) for e in logged] == [
        ("worker", "w1", 1, head + 1, "worker.created"),
        ("worker", "w1", 2, head + 2, WORKER_STARTED),
    ]
    assert [e.position for e in await workers.read_worker_events("w1", 0)] == positions
    assert await store.read_events("w1", 0) == []  # not a run's stream


async def test_a_refused_decision_writes_nothing(workers: WorkerStore) -> None:
    await new_worker(workers, "w1")

    def refuse(state: WorkerState | None, _: PriorRequest | None) -> WorkerDecision:
        assert state is not None
        raise WorkerStateConflict("w1", state.status, "test")

    with pytest.raises(WorkerStateConflict):
        await workers.update_worker("w1", refuse)
    with pytest.raises(WorkerNotFound):  # no events for an unknown worker
        await workers.update_worker("nope", lambda s, _: WorkerDecision())
    assert [e.seq for e in await workers.read_worker_events("w1", 0)] == [1]
    assert await workers.get_worker("nope") is None


async def test_control_requests_are_remembered_by_id(workers: WorkerStore) -> None:
    await new_worker(workers, "w1")
    seen: list[PriorRequest | None] = []

    def decide(request_id: str) -> WorkerDecider:
        def decision(state: WorkerState | None, prior: PriorRequest | None) -> WorkerDecision:
            seen.append(prior)
            if prior is not None:
                return WorkerDecision(replayed_seq=prior.seq)
            assert state is not None
            return WorkerDecision(decide_report(state, WORKER_EVENT, {}).events, request=(request_id, "fp"))

        return decision

    first = await workers.update_worker("w1", decide("r1"), request_id="r1")
    again = await workers.update_worker("w1", decide("r1"), request_id="r1")
    other = await workers.update_worker("w1", decide("r2"), request_id="r2")
    assert seen == [None, PriorRequest("fp", 2), None]
    assert first.events[0].seq == 2 and again.events == [] and other.events[0].seq == 3


async def test_updates_of_one_worker_serialize(workers: WorkerStore) -> None:
    await new_worker(workers, "w1")
    await asyncio.gather(*(workers.update_worker("w1", report(WORKER_EVENT)) for _ in range(20)))
    events = await workers.read_worker_events("w1", 0)
    assert [e.seq for e in events] == list(range(1, 22))
    state = await workers.get_worker("w1")
    assert state is not None and state.latest_seq == 21
    # Concurrent creates of one new worker: one creates, the others replay.
    results = await asyncio.gather(
        *(workers.update_worker("w2", lambda s, _: decide_create(s, create("w2"))) for _ in range(5))
    )
    assert sum(1 for r in results if r.events) == 1
    assert [e.seq for e in await workers.read_worker_events("w2", 0)] == [1]


async def test_list_filters_and_pages_newest_first(workers: WorkerStore) -> None:
    for i in range(7):
        await new_worker(workers, f"w{i}", owner="1" if i < 5 else "2", workspace="a" if i % 2 else "b")
    await workers.update_worker("w1", report(WORKER_STARTED))

    async def ids(
        owner: str | None = None, status: WorkerStatus | None = None, workspace_ref: str | None = None
    ) -> list[str]:
        found = await workers.list_workers(
            owner=owner, status=status, workspace_ref=workspace_ref, limit=100, before=None
        )
        return [w.worker_id for w in found]

    assert await ids() == [f"w{i}" for i in range(6, -1, -1)]
    assert await ids(owner="1") == ["w4", "w3", "w2", "w1", "w0"]
    assert await ids(owner="1", workspace_ref="a") == ["w3", "w1"]
    assert await ids(status=WorkerStatus.RUNNING) == ["w1"]
    assert await ids(owner="2", status=WorkerStatus.STARTING) == ["w6", "w5"]
    pages: list[str] = []
    before = None
    while True:
        page = await workers.list_workers(owner=None, status=None, workspace_ref=None, limit=3, before=before)
        pages += [w.worker_id for w in page]
        if len(page) < 3:
            break
        before = (page[-1].created_at.isoformat(), page[-1].worker_id)
    assert pages == await ids()


async def test_use_cases_compute_heartbeats_on_an_injected_clock(workers: WorkerStore) -> None:
    now = [datetime.now(UTC)]
    service = Workers(workers, stale_after_ms=1_000, clock=lambda: now[0])
    created = await app.create_worker(service, WorkerSpec("w1", "42", "ws"))
    assert (created.view.heartbeat.state.value, created.replay) == ("missing", False)
    await app.report_event(service, "w1", WORKER_STARTED, None)
    beat = (await app.get_worker(service, "w1")).state.last_heartbeat_at
    assert beat is not None
    now[0] = beat + timedelta(milliseconds=1_000)
    fresh = await app.get_worker(service, "w1")
    assert (fresh.heartbeat.state.value, fresh.heartbeat.age_ms) == ("fresh", 1_000)
    now[0] = beat + timedelta(milliseconds=1_001)
    listed, _ = await app.list_workers(
        service, owner="42", status="", workspace_ref="", limit=0, page_token=""
    )
    assert [(v.state.worker_id, v.heartbeat.state.value) for v in listed] == [("w1", "stale")]
    control = await app.control_worker(service, "w1", ControlRequest("r1", "turn/start", []))
    assert control.seq == 3
    await app.report_event(service, "w1", "worker.heartbeat", {})
    assert (await app.get_worker(service, "w1")).heartbeat.state.value == "fresh"
    stopped = await app.stop_worker(service, "w1", "done")
    await app.report_event(service, "w1", "worker.stopped", [])
    assert stopped.view.state.status == WorkerStatus.STOPPING
    now[0] += timedelta(days=1)
    assert (await app.get_worker(service, "w1")).heartbeat.state.value == "stopped"
    with pytest.raises(InvalidArgument):
        await app.report_event(service, "w1", "worker.heartbeat", "not an object")
