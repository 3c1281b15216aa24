"""The agent fold (core/agents/state.py): what it refuses, and properties over random lives:
a frame is never accepted twice, and frames are consumed once each, in the order received."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.checkpoint import state_from_json, state_to_json
from oa_runtime.core.agents.spec import InputPolicy
from oa_runtime.core.agents.state import FRAME_ID_MEMORY, AgentState, AgentStatus, apply, turn_run_id
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.events import Event, NewEvent

from tests.test_agents_lifecycle import T0, Sim, make_spec, prompt


def raw_frame(frame_id: str, kind: str = ev.FRAME_USER_PROMPT) -> NewEvent:
    return ev.frame_received(frame_id, kind, text="same body", received_at=T0)


def started(sim: Sim, frame_ids: list[str], *, turn: int = 1, attempt: int = 1, run_id: str = "") -> NewEvent:
    return ev.turn_started(
        turn,
        run_id or turn_run_id("agent-1", turn),
        frame_ids,
        model="small",
        attempt=attempt,
        started_at=sim.now,
        deadline=sim.now + timedelta(minutes=1),
    )


def awake(*frame_ids: str) -> Sim:
    sim = Sim()
    sim.append([raw_frame(f) for f in frame_ids])
    sim.append([ev.woken(ev.WAKE_FRAME, sim.now)])
    return sim


def test_nothing_before_created_and_created_once() -> None:
    with pytest.raises(IllegalTransition, match=r"before agent\.created"):
        apply(AgentState(), raw_frame("f1"))
    sim = Sim()
    with pytest.raises(IllegalTransition, match="first event"):
        sim.append([ev.agent_created(make_spec().to_json(), T0)])


def test_unknown_event_type_and_frame_kind_are_refused() -> None:
    sim = Sim()
    with pytest.raises(IllegalTransition, match="unknown agent event"):
        sim.append([NewEvent("agent.teleported", {})])
    with pytest.raises(IllegalTransition, match="unknown frame kind"):
        sim.append([raw_frame("f1", kind="telepathy")])


def test_a_frame_id_is_accepted_once_pending_running_or_recently_consumed() -> None:
    sim = awake("f1", "f2")
    with pytest.raises(IllegalTransition, match="already received"):
        sim.append([raw_frame("f1")])  # pending
    sim.append([started(sim, ["f1"])])
    with pytest.raises(IllegalTransition, match="already received"):
        sim.append([raw_frame("f1")])  # in the running turn
    sim.finish()
    with pytest.raises(IllegalTransition, match="already received"):
        sim.append([raw_frame("f1")])  # consumed, still remembered
    assert sim.state.knows_frame("f1") is not None


def test_consumed_ids_are_remembered_up_to_the_memory() -> None:
    ids = [f"f{i}" for i in range(FRAME_ID_MEMORY + 5)]
    sim = awake(*ids)
    sim.append([started(sim, ids)])
    sim.finish()
    assert len(sim.state.recent_frames) == FRAME_ID_MEMORY
    assert sim.state.knows_frame(ids[0]) is None  # beyond it: the store's frame index guards
    assert sim.state.knows_frame(ids[-1]) is not None


@pytest.mark.parametrize(
    ("frame_ids", "problem"),
    [(["f2"], "prefix"), (["f1", "f3"], "prefix"), ([], "non-empty"), (["f9"], "prefix")],
)
def test_a_turn_consumes_a_non_empty_prefix_of_the_pending_frames(frame_ids: list[str], problem: str) -> None:
    sim = awake("f1", "f2", "f3")
    with pytest.raises(IllegalTransition, match=problem):
        sim.append([started(sim, frame_ids)])


def test_a_turn_must_be_the_next_one_and_the_agent_awake() -> None:
    sim = awake("f1")
    with pytest.raises(IllegalTransition, match="next turn"):
        sim.append([started(sim, ["f1"], turn=2)])
    with pytest.raises(IllegalTransition, match="next turn"):
        sim.append([started(sim, ["f1"], run_id="other-run")])
    asleep = Sim()
    asleep.append([raw_frame("f1")])
    with pytest.raises(IllegalTransition, match="only when awake"):
        asleep.append([started(asleep, ["f1"])])


def test_a_restart_must_rerun_the_failed_turns_frames() -> None:
    sim = awake("f1", "f2")
    sim.append([started(sim, ["f1"])])
    sim.finish(ev.TURN_FAILED, "model_error")
    with pytest.raises(IllegalTransition, match="restarted turn"):
        sim.append([started(sim, ["f2"], turn=2, attempt=2)])
    with pytest.raises(IllegalTransition, match="restarted turn"):
        sim.append([started(sim, ["f1"], turn=2, attempt=3)])
    sim.append([started(sim, ["f1"], turn=2, attempt=2)])
    assert [f.frame_id for f in sim.state.pending] == ["f2"]


def test_turn_finished_only_for_the_running_turn() -> None:
    sim = awake("f1")
    bad = ev.turn_finished("agent-1:turn:1", ev.TURN_SUCCEEDED, finished_at=T0)
    with pytest.raises(IllegalTransition, match="not running"):
        sim.append([bad])
    sim.append([started(sim, ["f1"])])
    with pytest.raises(IllegalTransition, match="not running"):
        sim.append([ev.turn_finished("agent-1:turn:7", ev.TURN_SUCCEEDED, finished_at=T0)])


@pytest.mark.parametrize(
    "event",
    [
        ev.slept(ev.SLEEP_IDLE, T0, None),
        ev.paused(ev.PAUSE_LOOP_DETECTED, "", T0),
        ev.resumed(ev.RESUME_REQUESTED, T0),
        ev.woken(ev.WAKE_FRAME, T0),
    ],
)
def test_status_changes_refused_while_a_turn_runs(event: NewEvent) -> None:
    sim = awake("f1")
    sim.append([started(sim, ["f1"])])
    with pytest.raises(IllegalTransition):
        sim.append([event])
    assert sim.state.status == AgentStatus.RUNNING


def test_timers_and_schedules_fire_an_instant_once() -> None:
    sim = Sim()
    at = T0 + timedelta(minutes=1)
    sim.append([ev.timer_set("t1", at)])
    fired = ev.timer_fired(ev.SOURCE_TIMER, "t1", at, "timer:t1:2", late=False)
    sim.append([fired])
    with pytest.raises(IllegalTransition, match="not set"):
        sim.append([fired])
    with pytest.raises(IllegalTransition, match="not set"):
        sim.append([ev.timer_canceled("t1")])
    with pytest.raises(IllegalTransition, match="no schedule"):
        sim.append([ev.timer_fired(ev.SOURCE_SCHEDULE, "nope", at, "cron:nope:x", late=False)])


def test_setting_a_timer_again_moves_it() -> None:
    sim = Sim()
    sim.append([ev.timer_set("t1", T0 + timedelta(minutes=1)), ev.timer_set("t1", T0 + timedelta(minutes=5))])
    assert [(t.timer_id, t.fire_at, t.set_seq) for t in sim.state.timers] == [
        ("t1", T0 + timedelta(minutes=5), 3)
    ]
    sim.append([ev.timer_canceled("t1")])
    assert sim.state.timers == ()


def test_fold_skips_events_it_already_has_and_uses_their_seq() -> None:
    from oa_runtime.core.agents.state import fold

    sim = Sim()
    sim.send(prompt("f1"))
    events = [Event("agent-1", i + 1, e.event_id, e.type, T0, e.payload) for i, e in enumerate(sim.log)]
    state = fold(events)
    assert state.pending == sim.state.pending and state.last_seq == 2
    assert fold(events, state) == state


# ----- properties over random lives -----

FRAME_IDS = st.sampled_from([f"f{i}" for i in range(12)])
KINDS = [ev.FRAME_USER_PROMPT, ev.FRAME_SIGNAL, ev.FRAME_TOOL_RESULT, ev.FRAME_SYSTEM]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.lists(FRAME_IDS, min_size=1, max_size=3)),
        st.tuples(st.just("raw"), FRAME_IDS),
        st.tuples(st.just("decide"), st.integers(0, 120)),
        st.tuples(
            st.just("finish"),
            st.sampled_from(
                [
                    (ev.TURN_SUCCEEDED, ""),
                    (ev.TURN_FAILED, "model_error"),
                    (ev.TURN_FAILED, "step_limit"),
                    (ev.TURN_CANCELED, "canceled"),
                ]
            ),
        ),
    ),
    max_size=40,
)


def _consumed_in_order(log: list[NewEvent]) -> tuple[list[str], list[str]]:
    """(ids received in order, ids consumed by first attempts that were not rolled back)."""
    received: list[str] = []
    consumed: list[list[str]] = []
    for e in log:
        p: Any = e.payload
        if e.type in (ev.FRAME_RECEIVED, ev.TIMER_FIRED):
            received.append(p["frame_id"])
        elif e.type == ev.TURN_STARTED:
            consumed.append(list(p["frame_ids"]) if p["attempt"] == 1 else [])
        elif e.type == ev.TURN_FINISHED and p["rolled_back"]:
            consumed[-1] = []  # its frames are pending again, first
    return received, [i for ids in consumed for i in ids]


@settings(max_examples=200, deadline=None)
@given(OPERATIONS, st.sampled_from([InputPolicy.ENQUEUE, InputPolicy.INTERRUPT, InputPolicy.ROLLBACK]))
def test_frames_are_accepted_once_and_consumed_once_in_order(
    operations: list[Any], policy: InputPolicy
) -> None:
    sim = Sim(make_spec(input_policy=policy))
    for op, arg in operations:
        if op == "send":
            # One body per id (another body would be a FrameConflict, tested in test_agents_inputs).
            sim.send(*[prompt(i, "same body", KINDS[int(i[1:]) % len(KINDS)]) for i in arg])
        elif op == "raw":
            known = sim.state.knows_frame(arg) is not None
            try:
                sim.append([raw_frame(arg, KINDS[int(arg[1:]) % len(KINDS)])])
                assert not known
            except IllegalTransition:
                assert known
        elif op == "decide":
            sim.advance(seconds=arg)
            sim.decide()
        elif sim.state.status == AgentStatus.RUNNING:
            sim.finish(*arg)
        assert state_from_json(json.loads(json.dumps(state_to_json(sim.state)))) == sim.state  # checkpoint
        pending = [f.frame_id for f in sim.state.pending]
        held = pending + [f.frame_id for f in (sim.state.turn.frames if sim.state.turn else ())]
        assert len(set(held)) == len(held)
    received, consumed = _consumed_in_order(sim.log)
    assert len(set(received)) == len(received)  # never accepted twice
    assert len(set(consumed)) == len(consumed)  # never consumed twice
    assert consumed == received[: len(consumed)]  # in order: always a prefix


def test_a_checkpoint_of_a_busy_agent_resumes_to_the_same_state() -> None:
    """Every optional part set: a running restarted turn, a warning, a timer, a schedule mark."""
    from oa_runtime.core.agents.spec import ScheduleSpec

    sim = Sim(make_spec(schedules=(ScheduleSpec("tick", "*/5 * * * *", "Europe/Berlin"),)))
    sim.append([ev.timer_set("t1", T0 + timedelta(hours=1), text="later")])
    sim.send(prompt("f1"))
    sim.decide()
    sim.finish(ev.TURN_FAILED, "model_error", [ev.tool_call_digest("fetch", "a", "b")])
    sim.advance(minutes=6)
    sim.decide()
    sim.now = sim.state.retry.not_before if sim.state.retry and sim.state.retry.not_before else sim.now
    sim.decide()
    assert sim.state.turn is not None and sim.state.turn.attempt == 2
    checkpoint = json.loads(json.dumps(state_to_json(sim.state)))
    assert state_from_json(checkpoint) == sim.state
    with pytest.raises(ValueError, match="version"):
        state_from_json({**checkpoint, "version": 99})
