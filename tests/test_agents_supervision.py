"""Supervision (core/agents/supervision.py, loops.py): backoff, restart intensity, escalation,
deadlines, the circuit breaker and loop detection, each decision an event with its reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.checkpoint import state_from_json, state_to_json
from oa_runtime.core.agents.decide import Release, RunTurn
from oa_runtime.core.agents.inputs import FrameIn, request_wake
from oa_runtime.core.agents.loops import NO_PROGRESS, PING_PONG, REPEATED_CALL, CallDigest, detect_loop
from oa_runtime.core.agents.spec import LoopThresholds, SupervisionPolicy
from oa_runtime.core.agents.state import AgentStatus, BreakerState
from oa_runtime.core.agents.supervision import backoff, jitter_fraction

from tests.test_agents_lifecycle import Sim, call, make_spec, prompt


def decisions(sim: Sim, since: int = 0) -> list[tuple[str, str]]:
    return [
        (e.payload["action"], e.payload["reason"])
        for e in sim.log[since:]
        if e.type == ev.SUPERVISION_DECISION
    ]


def run_until_turn(sim: Sim) -> RunTurn:
    """Decide, moving the clock over backoffs, until a turn runs."""
    for _ in range(5):
        effect = sim.decide().effect
        if isinstance(effect, RunTurn):
            return effect
        wake = effect.until if not isinstance(effect, Release) else effect.wake_at
        assert wake is not None, effect
        sim.now = max(sim.now, wake)
    raise AssertionError("no turn started")


# ----- backoff -----

POLICIES = st.floats(0, 1).flatmap(
    lambda jitter: st.builds(
        SupervisionPolicy,
        backoff_initial=st.integers(1, 5000).map(lambda ms: timedelta(milliseconds=ms)),
        backoff_max=st.integers(5000, 3_600_000).map(lambda ms: timedelta(milliseconds=ms)),
        backoff_jitter=st.just(jitter),
        backoff_multiplier=st.floats(1 + jitter, 4),  # what validate_spec asks
    )
)


@settings(max_examples=300)
@given(POLICIES, st.text(min_size=1, max_size=20))
def test_backoff_is_monotone_bounded_and_deterministic(policy: SupervisionPolicy, agent_id: str) -> None:
    delays = [backoff(policy, agent_id, n) for n in range(1, 60)]
    assert delays == sorted(delays)
    assert all(policy.backoff_initial <= d <= policy.backoff_max for d in delays)
    assert delays == [backoff(policy, agent_id, n) for n in range(1, 60)]
    if policy.backoff_multiplier >= 1.5:
        assert delays[-1] == policy.backoff_max


def test_backoff_grows_exponentially_and_jitter_spreads_agents() -> None:
    policy = SupervisionPolicy(backoff_jitter=0)
    assert [backoff(policy, "a", n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 8, 16]
    jittered = SupervisionPolicy()
    spread = {backoff(jittered, f"agent-{i}", 1) for i in range(50)}
    assert len(spread) > 40 and all(timedelta(seconds=1) <= d <= timedelta(seconds=1.2) for d in spread)
    assert 0 <= jitter_fraction("a", 1) < 1 and jitter_fraction("a", 1) != jitter_fraction("a", 2)


# ----- restarts, escalation, deadlines -----


def test_transient_failure_restarts_the_same_frames_then_pauses_at_the_intensity() -> None:
    sim = Sim(make_spec(models=("small",)))
    sim.send(prompt("f1"))
    sim.turn(outcome=ev.TURN_FAILED, reason="model_error")
    sim.send(prompt("f2"))
    for attempt in (2, 3, 4):
        effect = run_until_turn(sim)
        assert effect.turn.attempt == attempt and [f.frame_id for f in effect.turn.frames] == ["f1"]
        sim.finish(ev.TURN_FAILED, "model_error")
    decision = sim.decide()
    assert decisions(sim)[-1] == (ev.ACT_PAUSE, ev.PAUSE_RESTART_INTENSITY)
    assert [e.type for e in decision.events][-1] == ev.PAUSED
    assert decision.effect == Release(None)
    assert sim.state.pause is not None and "3 restarts" in sim.state.pause.detail
    assert [d for d in decisions(sim) if d[0] == ev.ACT_RESTART] == [(ev.ACT_RESTART, "model_error")] * 3
    sim.append(request_wake(sim.state, sim.now))  # a human resumes: the frames run again at once
    effect = run_until_turn(sim)
    assert effect.turn.attempt == 5 and [f.frame_id for f in effect.turn.frames] == ["f1"]
    sim.finish()
    assert [f.frame_id for f in run_until_turn(sim).turn.frames] == ["f2"]


def test_a_failure_that_is_not_transient_is_accepted_and_the_agent_moves_on() -> None:
    sim = Sim()
    sim.send(prompt("f1"), prompt("f2"))
    sim.turn(outcome=ev.TURN_FAILED, reason="step_limit")
    sim.send(prompt("f3"))
    effect = run_until_turn(sim)
    assert decisions(sim) == [(ev.ACT_ACCEPT_FAILURE, "step_limit")]
    assert effect.turn.attempt == 1 and [f.frame_id for f in effect.turn.frames] == ["f3"]


def test_escalation_to_the_next_model_then_back_after_a_good_turn() -> None:
    sim = Sim(make_spec(models=("small", "medium", "large")))
    sim.send(prompt("f1"))
    sim.turn(outcome=ev.TURN_FAILED, reason="model_error")
    assert run_until_turn(sim).turn.model == "small"
    sim.finish(ev.TURN_FAILED, "model_error")
    effect = run_until_turn(sim)
    escalation = [e.payload for e in sim.log if e.type == ev.ESCALATED]
    assert escalation == [{"from_model": "small", "to_model": "medium", "model_index": 1, "failed_turns": 2}]
    assert effect.turn.model == "medium"
    sim.finish()
    sim.send(prompt("f2"))
    assert run_until_turn(sim).turn.model == "small"


def test_the_deadline_cancels_the_turn_and_counts_as_a_failure() -> None:
    sim = Sim()
    sim.send(prompt("f1"))
    effect = run_until_turn(sim)
    sim.now = effect.until
    decision = sim.decide()
    assert decisions(sim) == [(ev.ACT_CANCEL_TURN, ev.CANCEL_DEADLINE)]
    assert isinstance(decision.effect, RunTurn) and decision.effect.cancel_reason == ev.CANCEL_DEADLINE
    assert decision.effect.until == sim.now + timedelta(seconds=10)  # not the past deadline: no spin
    assert sim.decide().events == ()  # asked once
    sim.finish(ev.TURN_CANCELED, "canceled")
    assert sim.state.last_failure_reason == ev.CANCEL_DEADLINE
    assert run_until_turn(sim).turn.attempt == 2
    assert decisions(sim)[-1] == (ev.ACT_RESTART, ev.CANCEL_DEADLINE)


# ----- circuit breaker -----


def breaker_spec() -> Any:
    policy = SupervisionPolicy(breaker_failures=3, breaker_cooldown=timedelta(minutes=1), breaker_max_trips=2)
    return make_spec(models=("small",), supervision=policy)


def fail_turn(sim: Sim, n: int) -> None:
    sim.send(prompt(f"p{n}-{sim.state.frames_received}"))
    run_until_turn(sim)
    sim.finish(ev.TURN_FAILED, "step_limit")


def test_circuit_opens_after_failures_half_opens_after_the_cool_down_and_closes_on_success() -> None:
    sim = Sim(breaker_spec())
    for n in range(3):
        fail_turn(sim, n)
    decision = sim.decide()
    assert decisions(sim)[-1] == (ev.ACT_PAUSE, ev.PAUSE_CIRCUIT_OPEN)
    assert sim.state.status == AgentStatus.PAUSED
    assert decision.state.breaker.state == BreakerState.OPEN
    assert decision.effect == Release(sim.now + timedelta(minutes=1))
    assert state_from_json(state_to_json(sim.state)) == sim.state  # a paused state checkpoints
    sim.advance(seconds=30)
    assert sim.decide().effect == Release(sim.now + timedelta(seconds=30))  # still cooling down
    sim.advance(seconds=30)
    sim.send(prompt("trial"))
    decision = sim.decide()
    assert [e.type for e in decision.events][:1] == [ev.RESUMED]
    assert decision.events[0].payload["by"] == ev.RESUME_HALF_OPEN
    assert decision.state.breaker.state == BreakerState.HALF_OPEN and isinstance(decision.effect, RunTurn)
    sim.finish()
    assert sim.state.breaker.state == BreakerState.CLOSED and sim.state.breaker.trips == 0


def test_a_failed_trial_reopens_with_a_longer_cool_down_and_then_the_agent_fails() -> None:
    sim = Sim(breaker_spec())
    for n in range(3):
        fail_turn(sim, n)
    sim.decide()
    sim.advance(minutes=1)
    fail_turn(sim, 10)  # the trial turn fails
    decision = sim.decide()
    assert decision.effect == Release(sim.now + timedelta(minutes=2))  # cool-down doubled
    sim.advance(minutes=2)
    fail_turn(sim, 11)
    sim.decide()
    assert sim.state.status == AgentStatus.FAILED
    assert sim.state.failure_reason == ev.FAIL_CIRCUIT_EXHAUSTED
    assert decisions(sim)[-1] == (ev.ACT_FAIL, ev.FAIL_CIRCUIT_EXHAUSTED)


# ----- loops -----


def test_loop_detector_examples() -> None:
    limits = LoopThresholds(repeated_call=3, ping_pong_cycles=2, no_progress=3, window=10)

    def calls(*spec: tuple[str, str, str]) -> list[CallDigest]:
        return [CallDigest(1, tool, args, out) for tool, args, out in spec]

    same = ("search", "q=1", "r1")
    assert detect_loop(calls(same, same), limits) is None
    found = detect_loop(calls(("other", "x", "y"), same, same, same), limits)
    assert found is not None and found.kind == REPEATED_CALL and found.count == 3
    a, b = ("open", "door", "o1"), ("close", "door", "c1")
    found = detect_loop(calls(a, b, a, b), limits)
    assert found is not None and found.kind == PING_PONG and "open and close 2 times" in found.detail
    assert detect_loop(calls(a, b, a), limits) is None
    polls = calls(("status", "t=1", "pending"), ("status", "t=2", "pending"), ("status", "t=3", "pending"))
    found = detect_loop(polls, limits)
    assert found is not None and found.kind == NO_PROGRESS
    progressing = calls(("status", "t=1", "10%"), ("status", "t=2", "50%"), ("status", "t=3", "90%"))
    assert detect_loop(progressing, limits) is None
    assert detect_loop([], limits) is None


def looping_sim() -> Sim:
    return Sim(make_spec(supervision=SupervisionPolicy(loops=LoopThresholds(repeated_call=3, window=8))))


def self_wake(sim: Sim, n: int) -> None:
    """The agent's own timer wakes it: loop history carries over between such turns."""
    sim.append([ev.timer_set(f"again{n}", sim.now)])


def test_a_loop_is_warned_in_context_then_pauses_the_agent() -> None:
    sim = looping_sim()
    sim.send(prompt("f1"))
    sim.turn(calls=[call("fetch", "a")] * 2)
    self_wake(sim, 1)
    sim.turn(calls=[call("fetch", "a")])  # the third identical call
    self_wake(sim, 2)
    effect = run_until_turn(sim)
    assert decisions(sim) == [(ev.ACT_WARN_LOOP, REPEATED_CALL)]
    assert "stuck in a loop" in effect.turn.loop_warning and "fetch" in effect.turn.loop_warning
    assert state_from_json(state_to_json(sim.state)) == sim.state  # so does a warned one
    sim.finish(calls=[call("fetch", "a")])
    decision = sim.decide()
    assert decisions(sim)[-1] == (ev.ACT_PAUSE, ev.PAUSE_LOOP_DETECTED)
    assert decision.effect == Release(None)
    assert sim.state.pause is not None and sim.state.pause.reason == ev.PAUSE_LOOP_DETECTED
    assert "after a warning" in sim.state.pause.detail


def test_breaking_out_of_the_loop_spends_the_warning() -> None:
    sim = looping_sim()
    sim.send(prompt("f1"))
    sim.turn(calls=[call("fetch", "a")] * 3)
    self_wake(sim, 1)
    effect = run_until_turn(sim)
    assert effect.turn.loop_warning
    sim.finish(calls=[call("think", "b")])
    assert sim.state.loop_warning is None
    sim.decide()
    assert decisions(sim) == [(ev.ACT_WARN_LOOP, REPEATED_CALL)]


def test_outside_input_starts_loop_detection_afresh() -> None:
    """A cron-driven poll whose answer rarely changes is the operator's cadence, not a loop."""
    sim = looping_sim()
    for n in range(6):
        sim.send(FrameIn(f"tick{n}", ev.FRAME_CRON_TICK))
        sim.turn(calls=[call("inbox", "{}", "empty")] * 2)
    sim.decide()
    assert decisions(sim) == []


def test_resuming_starts_afresh() -> None:
    sim = looping_sim()
    sim.send(prompt("f1"))
    sim.turn(calls=[call("fetch", "a")] * 3)
    self_wake(sim, 1)
    run_until_turn(sim)
    sim.finish(calls=[call("fetch", "a")])
    sim.decide()
    assert sim.state.status == AgentStatus.PAUSED
    sim.append(request_wake(sim.state, sim.now))
    assert sim.state.calls == () and sim.state.loop_warning is None
