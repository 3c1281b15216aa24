"""Frames arriving while a turn runs, under each input policy (core/agents/inputs.py), and
idempotent frames."""

from __future__ import annotations

import pytest
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.decide import RunTurn
from oa_runtime.core.agents.errors import AgentBusy, FrameConflict
from oa_runtime.core.agents.inputs import FrameIn, accept_frames, refuse_if_busy, validate_frames
from oa_runtime.core.agents.spec import InputPolicy
from oa_runtime.core.agents.state import AgentStatus
from oa_runtime.core.errors import InvalidArgument

from tests.test_agents_lifecycle import Sim, make_spec, prompt


def running(policy: InputPolicy) -> Sim:
    sim = Sim(make_spec(input_policy=policy))
    sim.send(prompt("f1"))
    assert isinstance(sim.decide().effect, RunTurn)
    return sim


def next_turn_frames(sim: Sim) -> list[str]:
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn)
    return [f.frame_id for f in effect.turn.frames]


def test_a_repeated_frame_is_a_duplicate_and_another_body_a_conflict() -> None:
    sim = Sim()
    assert sim.send(prompt("f1"), prompt("f1")).accepted == ("f1",)  # twice in one batch
    outcome = sim.send(prompt("f1"), prompt("f2"))
    assert outcome.accepted == ("f2",) and outcome.duplicates == ("f1",)
    assert [e.payload["frame_id"] for e in outcome.events] == ["f2"]
    with pytest.raises(FrameConflict) as caught:
        accept_frames(sim.state, [prompt("f1", "another text")], sim.now)
    assert caught.value.metadata["frame_id"] == "f1"
    with pytest.raises(FrameConflict):
        accept_frames(sim.state, [FrameIn("f3", ev.FRAME_SIGNAL), FrameIn("f3", ev.FRAME_SYSTEM)], sim.now)


def test_without_a_running_turn_no_policy_applies() -> None:
    sim = Sim(make_spec(input_policy=InputPolicy.REJECT))
    outcome = sim.send(prompt("f1"))
    assert outcome.policy == "" and sim.types(1) == [ev.FRAME_RECEIVED]


def test_enqueue_waits_for_the_next_turn() -> None:
    sim = running(InputPolicy.ENQUEUE)
    outcome = sim.send(prompt("f2"))
    assert (outcome.policy, outcome.outcome) == ("enqueue", ev.OUTCOME_QUEUED)
    assert sim.log[-1].payload == {
        "policy": "enqueue",
        "frame_ids": ["f2"],
        "run_id": "agent-1:turn:1",
        "outcome": ev.OUTCOME_QUEUED,
    }
    sim.finish()
    assert next_turn_frames(sim) == ["f2"]


def test_interrupt_cancels_the_turn_and_the_next_takes_everything_pending() -> None:
    sim = running(InputPolicy.INTERRUPT)
    assert sim.send(prompt("f2")).outcome == ev.OUTCOME_CANCEL_REQUESTED
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn) and effect.cancel_reason == ev.CANCEL_INTERRUPTED
    assert sim.send(prompt("f3")).outcome == ev.OUTCOME_ALREADY_CANCELING
    sim.finish(ev.TURN_CANCELED, "canceled")
    assert sim.log[-1].payload["rolled_back"] is False
    assert next_turn_frames(sim) == ["f2", "f3"]  # f1 was consumed by the interrupted turn
    assert sim.state.consecutive_failures == 0  # an interrupt is not a failure


def test_reject_refuses_the_batch_with_the_running_run_id() -> None:
    sim = running(InputPolicy.REJECT)
    outcome = sim.send(prompt("f2"), FrameIn("r1", ev.FRAME_TOOL_RESULT))
    assert outcome.accepted == () and outcome.rejected_by_run == "agent-1:turn:1"
    assert sim.types(-1) == [ev.INPUT_POLICY_APPLIED]
    assert sim.log[-1].payload["outcome"] == ev.OUTCOME_REJECTED
    assert sim.state.pending == ()
    with pytest.raises(AgentBusy) as caught:
        refuse_if_busy(outcome, "agent-1")
    assert caught.value.metadata == {"agent_id": "agent-1", "run_id": "agent-1:turn:1"}
    sim.finish()
    assert sim.send(prompt("f2")).accepted == ("f2",)  # not remembered: welcome once idle


def test_runtime_frames_are_never_rejected() -> None:
    sim = running(InputPolicy.REJECT)
    outcome = sim.send(
        FrameIn("r1", ev.FRAME_TOOL_RESULT, data={"ok": True}), FrameIn("c1", ev.FRAME_CRON_TICK)
    )
    assert outcome.accepted == ("r1", "c1") and outcome.outcome == ev.OUTCOME_QUEUED


def test_rollback_discards_the_turn_and_its_frames_go_again_first() -> None:
    sim = running(InputPolicy.ROLLBACK)
    assert sim.send(prompt("f2")).outcome == ev.OUTCOME_CANCEL_REQUESTED
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn) and effect.cancel_reason == ev.CANCEL_ROLLBACK
    sim.finish(ev.TURN_CANCELED, "canceled")
    assert sim.log[-1].payload["rolled_back"] is True
    assert [f.frame_id for f in sim.state.pending] == ["f1", "f2"]
    assert next_turn_frames(sim) == ["f1", "f2"]


def test_rollback_loses_the_race_to_a_turn_that_already_ended() -> None:
    sim = running(InputPolicy.ROLLBACK)
    sim.send(prompt("f2"))
    sim.finish(ev.TURN_SUCCEEDED)  # the run finished before the cancel reached it
    assert sim.log[-1].payload["rolled_back"] is False
    assert next_turn_frames(sim) == ["f2"]


def test_frames_reach_a_paused_agent_and_wait() -> None:
    sim = Sim()
    sim.append([ev.paused(ev.PAUSE_RESTART_INTENSITY, "", sim.now)])
    assert sim.send(prompt("f1")).accepted == ("f1",)
    assert sim.state.status == AgentStatus.PAUSED and len(sim.state.pending) == 1


@pytest.mark.parametrize(
    ("frames", "field"),
    [
        ([], "frames"),
        ([prompt(f"f{i}") for i in range(101)], "frames"),
        ([prompt("bad id")], "frames[0].frame_id"),
        ([prompt("ok"), prompt("cron:tick:20261129T120000Z")], "frames[1].frame_id"),
        ([FrameIn("f1", ev.FRAME_TIMER, "x")], "frames[0].kind"),
        ([FrameIn("f1", "telepathy", "x")], "frames[0].kind"),
        ([FrameIn("f1", ev.FRAME_SIGNAL)], "frames[0].text"),
        ([prompt("f1", "x" * (256 * 1024))], "frames[0]"),
        ([prompt(f"f{i}", "x" * (200 * 1024)) for i in range(6)], "frames"),
    ],
)
def test_bad_frames_are_refused_naming_the_field(frames: list[FrameIn], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_frames(frames)
    assert caught.value.field == field


def test_good_frames_pass() -> None:
    validate_frames([prompt("f1"), FrameIn("s1", ev.FRAME_SIGNAL, data={"price": 3})])
