"""An agent as the supervisor of its children, in the pure core (core/agents/children.py and
the fold): one_for_one restarts counted over a window, then escalation (at once, or after the
running turn); a report decided before answers the same decision; sub-runs in the state, their
durable check time, the pause/failure outbox; and checkpoints keep all of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.checkpoint import state_from_json, state_to_json
from oa_runtime.core.agents.children import (
    ChildFailure,
    decide_child_failure,
    decided_action,
    subrun_frame_id,
    subrun_id,
    subrun_run_id,
)
from oa_runtime.core.agents.decide import claim_at
from oa_runtime.core.agents.inputs import FrameIn
from oa_runtime.core.agents.spec import AgentSpec, SupervisionPolicy
from oa_runtime.core.agents.state import SUBRUN_CHECK_FIRST, AgentStatus

from tests.test_agents_lifecycle import T0, Sim, make_spec, prompt


def parent(max_child_restarts: int = 2) -> Sim:
    policy = SupervisionPolicy(
        max_child_restarts=max_child_restarts, child_restart_window=timedelta(seconds=60)
    )
    return Sim(make_spec(supervision=policy))


def failure(sim: Sim, sub_id: str, attempt: int) -> ChildFailure:
    run_id = subrun_run_id(sim.state.agent_id, sub_id, attempt)
    frame = FrameIn(subrun_frame_id(sub_id), ev.FRAME_TOOL_RESULT, "", {"outcome": "failed"})
    finished = ev.subrun_finished(sub_id, run_id, ev.TURN_FAILED, frame.frame_id, "boom")
    return ChildFailure(
        sub_id,
        run_id,
        run_id,
        "run_failed",
        "boom",
        frame,
        next_run_id=subrun_run_id(sim.state.agent_id, sub_id, attempt + 1),
        attempt=attempt,
        extra=(finished,),
    )


def status(sim: Sim) -> AgentStatus | None:
    return sim.state.status  # (read through a call: mypy keeps no narrowing across appends)


def start_subrun(sim: Sim, sub_id: str) -> None:
    run_id = subrun_run_id(sim.state.agent_id, sub_id, 1)
    sim.append(
        [
            ev.subrun_started(
                sub_id, run_id, f"t.sub.{sub_id}", text="do", instructions="", tool_call_id="c", at=sim.now
            )
        ]
    )


def test_sub_run_ids_come_from_the_tool_call() -> None:
    assert subrun_id("a:turn:1", "call-1") == subrun_id("a:turn:1", "call-1")
    assert subrun_id("a:turn:1", "call-1") != subrun_id("a:turn:2", "call-1")  # a restarted turn
    assert subrun_run_id("a", "x", 3) == "a:sub:x:3"


def test_a_sub_run_is_restarted_alone_until_the_intensity_then_the_parent_pauses() -> None:
    sim = parent(max_child_restarts=2)
    start_subrun(sim, "x")
    start_subrun(sim, "y")
    assert sim.state.subrun_check_at == T0 + SUBRUN_CHECK_FIRST
    for attempt in (1, 2):
        events = decide_child_failure(sim.state, failure(sim, "x", attempt), sim.now)
        assert [e.payload["action"] for e in events] == [ev.ACT_RESTART_CHILD]
        sim.append(events)
        sim.advance(seconds=1)
    x = next(s for s in sim.state.subruns if s.sub_id == "x")
    assert (x.attempt, x.run_id) == (3, subrun_run_id("agent-1", "x", 3))
    assert len(sim.state.child_restarts) == 2 and status(sim) == AgentStatus.SLEEPING
    events = decide_child_failure(sim.state, failure(sim, "x", 3), sim.now)
    assert [e.type for e in events] == [
        ev.SUPERVISION_DECISION,
        ev.SUBRUN_FINISHED,
        ev.FRAME_RECEIVED,
        ev.PAUSED,
    ]
    sim.append(events)
    assert status(sim) == AgentStatus.PAUSED and sim.state.pause is not None
    assert sim.state.pause.reason == ev.PAUSE_CHILD_ESCALATED
    assert [s.sub_id for s in sim.state.subruns] == ["y"]  # the other child is untouched
    assert sim.state.stop_due and claim_at(sim.state, sim.now) == sim.now  # its effects are due


def test_restarts_outside_the_window_do_not_count() -> None:
    sim = parent(max_child_restarts=1)
    start_subrun(sim, "x")
    sim.append(decide_child_failure(sim.state, failure(sim, "x", 1), sim.now))
    sim.advance(seconds=61)
    events = decide_child_failure(sim.state, failure(sim, "x", 2), sim.now)
    assert [e.payload["action"] for e in events] == [ev.ACT_RESTART_CHILD]


def test_a_report_decided_before_answers_the_same_decision() -> None:
    sim = parent(max_child_restarts=0)
    report = ChildFailure(
        "agent-1.c", "child:agent-1.c:paused:9", "", "loop_detected", "d", FrameIn("r", "system", "x")
    )
    sim.append(decide_child_failure(sim.state, report, sim.now))
    assert decide_child_failure(sim.state, report, sim.now) == []  # the retry after a crash
    assert decided_action(sim.state, report.report_id) == ev.ACT_ESCALATE


def test_escalation_during_a_turn_pauses_once_the_turn_ends() -> None:
    sim = parent(max_child_restarts=0)
    sim.send(prompt("f1"))
    sim.decide()
    start_subrun(sim, "x")
    sim.append(decide_child_failure(sim.state, failure(sim, "x", 1), sim.now))
    assert status(sim) == AgentStatus.RUNNING and sim.state.escalation is not None
    sim.finish()
    sim.decide()
    assert status(sim) == AgentStatus.PAUSED and sim.state.pause is not None
    assert sim.state.pause.reason == ev.PAUSE_CHILD_ESCALATED and sim.state.escalation is None


def test_a_failed_child_records_its_report_and_may_be_restarted_by_its_parent() -> None:
    sim = Sim(replace(make_spec(), parent_agent_id="boss"))
    sim.append([ev.failed(ev.FAIL_RECOVERY_EXHAUSTED, "boom", sim.now)])
    due = sim.state.stop_due
    assert due.startswith("child:agent-1:failed:") and claim_at(sim.state, sim.now) == sim.now
    sim.append([ev.reported(due, ev.ACT_RESTART_CHILD), ev.resumed(ev.RESUME_BY_PARENT, sim.now)])
    assert sim.state.status == AgentStatus.AWAKE and not sim.state.stop_due and not sim.state.failure_reason


def test_checkpoints_keep_the_tree() -> None:
    sim = parent()
    start_subrun(sim, "x")
    sim.append(decide_child_failure(sim.state, failure(sim, "x", 1), sim.now))
    sim.send(prompt("f1"))
    sim.decide()
    sim.append([ev.turn_waiting(sim.state.turn.run_id if sim.state.turn else "", sim.now, sim.now)])
    assert state_from_json(state_to_json(sim.state)) == sim.state
    plain = Sim(AgentSpec("a", "t"))
    assert "subruns" not in state_to_json(plain.state)  # rows of other agents do not grow
