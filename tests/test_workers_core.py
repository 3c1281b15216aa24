"""The Codex worker core, pure: the status machine cell by cell, the fold, the decisions
and the heartbeat on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oa_runtime.core.workers import (
    REPORTED_TYPES,
    TRANSITIONS,
    WORKER_CREATED,
    WORKER_ERROR,
    WORKER_STARTED,
    WORKER_STOPPED,
    HeartbeatState,
    IllegalWorkerEvent,
    PriorRequest,
    WorkerAlreadyExists,
    WorkerDecision,
    WorkerEvent,
    WorkerRequestConflict,
    WorkerSpec,
    WorkerState,
    WorkerStateConflict,
    WorkerStatus,
    apply,
    decide_create,
    decide_report,
    decide_request,
    decide_stop,
    heartbeat,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
S = WorkerStatus


def commit(state: WorkerState | None, decision: WorkerDecision, at: datetime = T0) -> WorkerState:
    """Folds a decision's events as a store would (next seqs, time `at`)."""
    seq = state.latest_seq if state is not None else 0
    for new in decision.events:
        seq += 1
        state = apply(state, WorkerEvent("w1", seq, new.event_id, new.type, at, new.payload))
    assert state is not None
    return state


def worker(status: WorkerStatus) -> WorkerState:
    """A worker brought to `status` through the machine's arrows."""
    state = commit(None, decide_create(None, WorkerSpec("w1", "42", "workspace://a", "home", "desktop")))
    if status in (S.RUNNING, S.STOPPED):
        state = commit(state, decide_report(state, WORKER_STARTED, {}))
    if status == S.STOPPING:
        state = commit(state, decide_stop(state, "done"))
    if status == S.STOPPED:
        state = commit(state, decide_report(state, WORKER_STOPPED, {}))
    if status == S.FAILED:
        state = commit(state, decide_report(state, WORKER_ERROR, {"message": "boom"}))
    assert state.status == status
    return state


def test_the_machine_has_exactly_the_issue_s_arrows() -> None:
    assert {
        S.STARTING: {S.RUNNING, S.STOPPING, S.FAILED},
        S.RUNNING: {S.STOPPING, S.STOPPED, S.FAILED},
        S.STOPPING: {S.STOPPED, S.FAILED},
        S.STOPPED: set(),
        S.FAILED: set(),
    } == TRANSITIONS


MOVES = {WORKER_STARTED: S.RUNNING, WORKER_STOPPED: S.STOPPED, WORKER_ERROR: S.FAILED}


@pytest.mark.parametrize("status", list(WorkerStatus))
@pytest.mark.parametrize("event_type", sorted(REPORTED_TYPES))
def test_each_reported_event_from_each_status(status: WorkerStatus, event_type: str) -> None:
    state = worker(status)
    target = MOVES.get(event_type, status)
    legal = status.is_active and (target == status or target in TRANSITIONS[status])
    if not legal:
        with pytest.raises(WorkerStateConflict) as err:
            decide_report(state, event_type, {})
        assert err.value.code == "ABORTED"  # HTTP 409 through Envoy
        assert err.value.metadata["status"] == status.value
        return
    after = commit(state, decide_report(state, event_type, {}), T0 + timedelta(seconds=5))
    assert after.status == target
    assert after.last_heartbeat_at == T0 + timedelta(seconds=5)  # every reported event refreshes it
    assert after.latest_seq == state.latest_seq + 1


@pytest.mark.parametrize("status", list(WorkerStatus))
def test_stop_from_each_status(status: WorkerStatus) -> None:
    state = worker(status)
    if status == S.FAILED:
        with pytest.raises(WorkerStateConflict):
            decide_stop(state, "")
    elif status in (S.STOPPING, S.STOPPED):
        assert decide_stop(state, "").replay
    else:
        assert commit(state, decide_stop(state, "bye")).status == S.STOPPING


@pytest.mark.parametrize("status", list(WorkerStatus))
def test_requests_from_each_status(status: WorkerStatus) -> None:
    state = worker(status)
    if status in (S.STARTING, S.RUNNING):
        decision = decide_request(state, "r1", {"request_id": "r1", "method": "turn/start"}, None)
        assert decision.request is not None and decision.request[0] == "r1"
        assert commit(state, decision).status == status
    else:
        with pytest.raises(WorkerStateConflict):
            decide_request(state, "r1", {"request_id": "r1"}, None)


def test_a_request_id_replays_the_same_request_and_refuses_another() -> None:
    state = worker(S.RUNNING)
    doc: dict[str, Any] = {"request_id": "r1", "method": "turn/start", "params": {}}
    decision = decide_request(state, "r1", doc, None)
    assert decision.request is not None
    prior = PriorRequest(decision.request[1], 3)
    replay = decide_request(state, "r1", dict(doc), prior)
    assert replay.replay and replay.replayed_seq == 3
    with pytest.raises(WorkerRequestConflict):
        decide_request(state, "r1", {**doc, "method": "turn/interrupt"}, prior)


@pytest.mark.parametrize("status", list(WorkerStatus))
def test_create_replays_an_active_worker_and_reattaches_an_ended_one(status: WorkerStatus) -> None:
    state = worker(status)
    same = WorkerSpec("w1", "42", "workspace://a")
    if status.is_active:
        assert decide_create(state, same).replay
        with pytest.raises(WorkerAlreadyExists):
            decide_create(state, WorkerSpec("w1", "42", metadata={"x": 1}))
    else:
        after = commit(state, decide_create(state, same))
        assert after.status == S.STARTING
        assert after.reattach_count == 1
        assert after.stopped_at is None and after.last_heartbeat_at is None
    for changed in (
        WorkerSpec("w1", "43"),
        WorkerSpec("w1", "42", workspace_ref="workspace://b"),
        WorkerSpec("w1", "42", codex_home_ref="other"),
        WorkerSpec("w1", "42", adapter="cli"),
    ):
        with pytest.raises(WorkerAlreadyExists):
            decide_create(state, changed)


def test_the_fold_refuses_what_the_machine_forbids() -> None:
    state = worker(S.STOPPED)
    with pytest.raises(IllegalWorkerEvent):
        apply(state, WorkerEvent("w1", state.latest_seq + 1, "e", WORKER_STARTED, T0, {}))
    with pytest.raises(IllegalWorkerEvent):
        apply(None, WorkerEvent("w1", 1, "e", WORKER_STARTED, T0, {}))
    running = worker(S.RUNNING)
    with pytest.raises(IllegalWorkerEvent):  # a gap in the seqs
        apply(running, WorkerEvent("w1", running.latest_seq + 2, "e", WORKER_CREATED, T0, {}))


def test_state_survives_its_json_row() -> None:
    state = worker(S.FAILED)
    assert WorkerState.from_json(state.to_json()) == state


def test_heartbeat_states_on_an_injected_clock() -> None:
    starting = worker(S.STARTING)
    assert heartbeat(starting, T0 + timedelta(hours=1)) == heartbeat(starting, T0)
    assert heartbeat(starting, T0).state == HeartbeatState.MISSING
    assert heartbeat(starting, T0).age_ms is None
    beat_at = T0 + timedelta(seconds=10)
    running = commit(starting, decide_report(starting, WORKER_STARTED, {}), beat_at)
    fresh = heartbeat(running, beat_at + timedelta(milliseconds=120_000))
    assert (fresh.state, fresh.age_ms, fresh.stale_after_ms) == (HeartbeatState.FRESH, 120_000, 120_000)
    stale = heartbeat(running, beat_at + timedelta(milliseconds=120_001))
    assert (stale.state, stale.age_ms) == (HeartbeatState.STALE, 120_001)
    short = heartbeat(running, beat_at + timedelta(seconds=2), stale_after_ms=1_000)
    assert (short.state, short.stale_after_ms) == (HeartbeatState.STALE, 1_000)
    stopped = commit(running, decide_report(running, WORKER_STOPPED, {}), beat_at)
    assert heartbeat(stopped, beat_at + timedelta(days=1)).state == HeartbeatState.STOPPED
    failed = worker(S.FAILED)
    assert heartbeat(failed, T0).state == HeartbeatState.FAILED
