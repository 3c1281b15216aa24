"""The pure parts of admission and thread input: the start plan, the fold of run.queued and
of a rollback cancel, and the settings."""

from __future__ import annotations

import pytest
from oa_runtime.config import Settings
from oa_runtime.core import events as ev
from oa_runtime.core.admission import (
    Overloaded,
    OverloadPolicy,
    StartPlan,
    ThreadBusy,
    ThreadInputPolicy,
    plan_start,
)
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.run_state import RunState, RunStatus, apply
from oa_runtime.engine.admission import Admission, AdmissionSettings


def test_an_idle_thread_starts_now_or_queues_for_a_slot() -> None:
    assert plan_start("t", None, ThreadInputPolicy.REJECT, has_slot=True) == StartPlan(executes=True)
    queued = plan_start("t", None, ThreadInputPolicy.ENQUEUE, has_slot=False)
    assert not queued.executes and queued.queued_for_capacity
    event = queued.queued_event(3)
    assert event is not None and (event.type, event.payload) == (
        ev.RUN_QUEUED,
        {"reason": "capacity", "position": 3},
    )


@pytest.mark.parametrize(
    "policy", [ThreadInputPolicy.ENQUEUE, ThreadInputPolicy.INTERRUPT, ThreadInputPolicy.ROLLBACK]
)
def test_a_busy_thread_waits_for_its_run_whatever_the_slots(policy: ThreadInputPolicy) -> None:
    plan = plan_start("t", "a", policy, has_slot=True)
    assert not plan.executes and plan.waiting_for_run_id == "a"
    assert plan.cancels == (policy is not ThreadInputPolicy.ENQUEUE)
    event = plan.queued_event(0)
    assert event is not None and event.payload == {
        "reason": "thread",
        "thread_policy": policy.value,
        "waiting_for_run_id": "a",
    }


def test_reject_names_the_running_run() -> None:
    with pytest.raises(ThreadBusy) as caught:
        plan_start("t", "a", ThreadInputPolicy.REJECT, has_slot=True)
    assert caught.value.metadata == {"thread_id": "t", "run_id": "a"}
    assert (caught.value.code, caught.value.reason) == ("ABORTED", "THREAD_BUSY")


def test_run_queued_is_legal_only_while_queued_and_changes_nothing() -> None:
    accepted = apply(RunState(), ev.run_accepted("t", "m", "msg"))
    queued = apply(accepted, ev.run_queued(ev.QUEUED_FOR_CAPACITY, position=1))
    assert (queued.status, queued.last_seq) == (RunStatus.QUEUED, 2)
    running = apply(queued, ev.run_started("x", 1))
    with pytest.raises(IllegalTransition):
        apply(running, ev.run_queued(ev.QUEUED_FOR_CAPACITY, position=1))


def test_a_rollback_cancel_is_kept_in_the_state_and_its_json() -> None:
    state = apply(RunState(), ev.run_accepted("t", "m", "msg"))
    plain = apply(state, ev.cancel_requested("stop"))
    assert not plain.rolled_back and "rolled_back" not in plain.to_json()
    rolled = apply(state, ev.cancel_requested("x", by_run_id="b", rollback=True))
    assert rolled.rolled_back and RunState.from_json(rolled.to_json()) == rolled


def test_settings_read_the_admission_variables() -> None:
    settings = Settings.from_env(
        {
            "RUNTIME_MAX_RUNNING_RUNS": "8",
            "RUNTIME_MAX_OPEN_STREAMS": "0",
            "RUNTIME_OVERLOAD_POLICY": "REJECT",
        }
    )
    assert (settings.max_running_runs, settings.max_open_streams, settings.overload_policy) == (
        8,
        0,
        "reject",
    )
    with pytest.raises(ValueError, match="RUNTIME_OVERLOAD_POLICY"):
        Settings.from_env({"RUNTIME_OVERLOAD_POLICY": "drop"})
    # retry-after is delay-seconds (RFC 9110: digits only): a negative one is no header value.
    with pytest.raises(ValueError, match="RUNTIME_RETRY_AFTER_S"):
        Settings.from_env({"RUNTIME_RETRY_AFTER_S": "-1"})


def test_the_awake_agents_limit_defaults_from_the_running_runs() -> None:
    assert Settings.from_env({}).awake_agents_limit == 64
    assert Settings.from_env({"RUNTIME_MAX_RUNNING_RUNS": "4"}).awake_agents_limit == 4
    assert Settings.from_env({"RUNTIME_MAX_RUNNING_RUNS": "0"}).awake_agents_limit == 64
    assert Settings.from_env({"RUNTIME_MAX_AWAKE_AGENTS": "0"}).awake_agents_limit == 0  # no limit
    assert Settings.from_env({"RUNTIME_MAX_AWAKE_AGENTS": "3"}).awake_agents_limit == 3
    with pytest.raises(ValueError, match="RUNTIME_MAX_AWAKE_AGENTS"):
        Settings.from_env({"RUNTIME_MAX_AWAKE_AGENTS": "-1"})


def test_slots_are_reserved_in_memory_and_refused_by_policy() -> None:
    executing = [0]
    admission = Admission(AdmissionSettings(1, 1, OverloadPolicy.QUEUE, 2), lambda: executing[0])
    assert admission.reserve(None)
    assert not admission.reserve(None)  # the reservation counts: queue
    with pytest.raises(Overloaded) as caught:
        admission.reserve(OverloadPolicy.REJECT)
    assert caught.value.retry_after_s == 2 and caught.value.metadata["limit"] == "max_running_runs"
    admission.unreserve()
    executing[0] = 1  # the reservation became the run's task
    assert admission.free_slots() == 0
    with admission.stream_slot(), pytest.raises(Overloaded), admission.stream_slot():
        pass
    with admission.stream_slot():  # the slot came back
        pass


def test_a_free_slot_goes_to_the_queued_runs_before_a_new_one() -> None:
    executing = [1]
    woken: list[bool] = []
    admission = Admission(AdmissionSettings(1, 0, OverloadPolicy.QUEUE, 1), lambda: executing[0])
    admission.wake_claimer = lambda: woken.append(True)
    assert not admission.reserve(None)  # full: the run queues
    admission.queued_for_slot()
    assert woken == []  # no slot to claim into yet
    executing[0] = 0  # the running run ended; the claimer has not taken the queued one yet
    admission.run_ended("r1")
    assert woken == [True]
    assert not admission.reserve(OverloadPolicy.REJECT)  # a new run queues behind, not ahead
    admission.queued_for_slot()
    assert woken == [True, True]  # and the claimer is asked to fill the free slot
    admission.claimed(1, 1, None)  # it took the oldest; more may wait
    executing[0] = 1
    admission.claimed(0, 0, 0)  # at capacity, nothing queued any more
    executing[0] = 0
    assert admission.reserve(None)  # an empty queue: a new run starts at once
