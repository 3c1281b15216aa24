"""An agent's life driven through the pure core the way the engine will drive it: load the
state, `decide`, append the events, act on the effect. `Sim` stands in for the engine (it
appends by folding, and plays the turn's run by finishing it when told); the other
tests/test_agents_*.py files use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.decide import Decision, Hold, Release, RunTurn, decide
from oa_runtime.core.agents.inputs import FrameIn, FramesOutcome, accept_frames, request_sleep, request_wake
from oa_runtime.core.agents.spec import AgentSpec, ScheduleSpec, SupervisionPolicy
from oa_runtime.core.agents.state import AgentState, AgentStatus, apply, finish_turn
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.events import NewEvent

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def make_spec(**changes: Any) -> AgentSpec:
    return replace(AgentSpec("agent-1", "thread-1", 42, ("small", "large")), **changes)


def prompt(frame_id: str, text: str = "hello", kind: str = ev.FRAME_USER_PROMPT) -> FrameIn:
    return FrameIn(frame_id, kind, text)


def call(tool: str, args: str = "{}", output: str = "out") -> dict[str, str]:
    return ev.tool_call_digest(tool, f"in:{args}", f"out:{output}")


class Sim:
    """The engine's part, in memory: a log, a clock, and the state folded from the log."""

    def __init__(self, spec: AgentSpec | None = None, now: datetime = T0) -> None:
        self.now = now
        self.log: list[NewEvent] = []
        self.state = AgentState()
        self.append([ev.agent_created((spec or make_spec()).to_json(), now)])

    def append(self, events: Sequence[NewEvent]) -> None:
        for event in events:
            self.state = apply(self.state, event)
            self.log.append(event)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def send(self, *frames: FrameIn) -> FramesOutcome:
        outcome = accept_frames(self.state, frames, self.now)
        self.append(outcome.events)
        return outcome

    def decide(self) -> Decision:
        decision = decide(self.state, self.now)
        self.append(decision.events)
        assert decision.state == self.state
        return decision

    def finish(
        self, outcome: str = ev.TURN_SUCCEEDED, reason: str = "", calls: Sequence[dict[str, str]] = ()
    ) -> None:
        event = finish_turn(self.state, outcome, finished_at=self.now, reason=reason, tool_calls=tuple(calls))
        self.append([event])

    def turn(
        self, calls: Sequence[dict[str, str]] = (), outcome: str = ev.TURN_SUCCEEDED, reason: str = ""
    ) -> RunTurn:
        """Decide (a turn must start), then finish it."""
        effect = self.decide().effect
        assert isinstance(effect, RunTurn), effect
        self.finish(outcome, reason, calls)
        return effect

    def types(self, since: int = 0) -> list[str]:
        return [e.type for e in self.log[since:]]


def test_created_agent_sleeps_and_holds_nothing() -> None:
    sim = Sim()
    assert sim.state.status == AgentStatus.SLEEPING
    decision = sim.decide()
    assert decision.events == ()
    assert decision.effect == Release(None)


def test_frame_wakes_runs_a_turn_then_sleeps() -> None:
    sim = Sim()
    sim.send(prompt("f1"), prompt("f2"))
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.WOKEN, ev.TURN_STARTED]
    assert decision.events[0].payload["reason"] == ev.WAKE_FRAME
    effect = decision.effect
    assert isinstance(effect, RunTurn)
    assert effect.turn.run_id == "agent-1:turn:1"
    assert [f.frame_id for f in effect.turn.frames] == ["f1", "f2"]
    assert effect.turn.model == "small"
    assert effect.until == T0 + SupervisionPolicy().turn_deadline
    assert sim.state.pending == ()
    sim.advance(seconds=5)
    sim.finish()
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.SLEPT]
    assert decision.events[0].payload["reason"] == ev.SLEEP_IDLE
    assert decision.effect == Release(None)
    assert sim.state.status == AgentStatus.SLEEPING


def test_deciding_again_on_the_same_state_repeats_the_effect_not_the_events() -> None:
    """A crash after the append: the engine decides again and gets the same turn to run."""
    sim = Sim()
    sim.send(prompt("f1"))
    first = sim.decide()
    again = decide(sim.state, sim.now + timedelta(seconds=1))
    assert again.events == ()
    assert isinstance(first.effect, RunTurn) and isinstance(again.effect, RunTurn)
    assert again.effect.turn == first.effect.turn


def test_frames_arriving_during_a_turn_make_the_next_turn() -> None:
    sim = Sim()
    sim.send(prompt("f1"))
    sim.decide()
    outcome = sim.send(prompt("f2"), prompt("f3"))
    assert outcome.policy == "enqueue" and outcome.outcome == ev.OUTCOME_QUEUED
    sim.finish()
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn)
    assert effect.turn.number == 2
    assert [f.frame_id for f in effect.turn.frames] == ["f2", "f3"]


def test_sleep_request_lets_the_turn_finish_and_later_frames_wait() -> None:
    sim = Sim()
    sim.send(prompt("f1"))
    sim.decide()
    sim.append(request_sleep(sim.state, "operator"))
    sim.send(prompt("f2"))  # arrives meanwhile: waits
    sim.finish()
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.SLEPT]
    assert decision.events[0].payload["reason"] == ev.SLEEP_REQUESTED_BY_CALLER
    assert sim.state.status == AgentStatus.SLEEPING and sim.state.hold
    assert sim.decide().effect == Release(None)  # f2 alone does not wake it
    assert [f.frame_id for f in sim.state.pending] == ["f2"]
    sim.send(prompt("f3"))  # a frame after it slept wakes it: the turn takes both
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn)
    assert [f.frame_id for f in effect.turn.frames] == ["f2", "f3"]


def test_wake_request_wakes_a_held_agent_with_pending_frames() -> None:
    sim = Sim()
    sim.send(prompt("f1"))
    sim.append(request_sleep(sim.state))  # asleep already: now held, f1 alone does not wake it
    assert request_sleep(sim.state) == []
    assert sim.decide() == Decision((), Release(None), sim.state)
    sim.append(request_wake(sim.state, sim.now))
    assert sim.state.status == AgentStatus.AWAKE
    assert isinstance(sim.decide().effect, RunTurn)
    assert request_wake(sim.state, sim.now) == []  # running: nothing to record


def test_sleep_request_on_an_awake_agent_sleeps_at_once() -> None:
    sim = Sim()
    sim.append(request_wake(sim.state, sim.now))
    sim.append(request_sleep(sim.state))
    assert request_sleep(sim.state) == []
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.SLEPT]


def test_timer_wakes_a_sleeping_agent_and_its_frame_starts_the_turn() -> None:
    sim = Sim()
    sim.append([ev.timer_set("remind", T0 + timedelta(minutes=30), text="check the oven")])
    assert sim.decide().effect == Release(T0 + timedelta(minutes=30))
    sim.advance(minutes=30)
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.TIMER_FIRED, ev.WOKEN, ev.TURN_STARTED]
    assert decision.events[1].payload["reason"] == ev.WAKE_TIMER
    effect = decision.effect
    assert isinstance(effect, RunTurn)
    assert effect.turn.frames[0].kind == ev.FRAME_TIMER
    assert effect.turn.frames[0].frame_id == "timer:remind:2"
    assert sim.state.timers == ()


def test_schedule_fires_while_a_turn_runs_and_the_turn_waits_only_until_it() -> None:
    sim = Sim(make_spec(schedules=(ScheduleSpec("tick", "*/5 * * * *"),)))
    sim.send(prompt("f1"))
    effect = sim.decide().effect
    assert isinstance(effect, RunTurn)
    assert effect.until == T0 + timedelta(minutes=5)  # before the deadline: decide again then
    sim.advance(minutes=5)
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.TIMER_FIRED]
    assert [f.kind for f in sim.state.pending] == [ev.FRAME_CRON_TICK]


def test_paused_agent_keeps_frames_and_a_human_resumes_it() -> None:
    sim = Sim()
    sim.append(request_wake(sim.state, sim.now))
    sim.append([ev.paused(ev.PAUSE_LOOP_DETECTED, "looping", sim.now)])
    sim.send(prompt("f1"))
    assert sim.decide().effect == Release(None)
    assert sim.state.pause is not None and sim.state.pause.reason == ev.PAUSE_LOOP_DETECTED
    sim.append(request_wake(sim.state, sim.now))
    assert sim.state.status == AgentStatus.AWAKE and sim.state.pause is None
    assert isinstance(sim.decide().effect, RunTurn)


def test_failed_agent_refuses_everything() -> None:
    sim = Sim()
    sim.append([ev.failed(ev.FAIL_INTERNAL, "boom", sim.now)])
    assert sim.decide().effect == Release(None)
    with pytest.raises(IllegalTransition):
        sim.append([ev.woken(ev.WAKE_REQUESTED, sim.now)])
    from oa_runtime.core.agents.errors import AgentFailed

    with pytest.raises(AgentFailed):
        sim.send(prompt("f1"))
    with pytest.raises(AgentFailed):
        request_wake(sim.state, sim.now)


def test_short_backoff_holds_the_lease_long_one_sleeps() -> None:
    sim = Sim()
    sim.send(prompt("f1"))
    sim.turn(outcome=ev.TURN_FAILED, reason="model_error")
    decision = sim.decide()
    assert isinstance(decision.effect, Hold)  # the first restart waits about a second
    sim.now = decision.effect.until
    for _ in range(2):  # restarts 2 and 3 wait about 2 and 4 seconds
        effect = sim.decide().effect
        if not isinstance(effect, RunTurn):
            assert isinstance(effect, (Hold, Release))
            sim.now = effect.until if isinstance(effect, Hold) else effect.wake_at or sim.now
            effect = sim.decide().effect
        assert isinstance(effect, RunTurn)
        sim.finish(ev.TURN_FAILED, "model_error")
    decision = sim.decide()
    assert ev.SLEPT in [e.type for e in decision.events]
    assert isinstance(decision.effect, Release) and decision.effect.wake_at is not None
    assert decision.effect.wake_at - sim.now >= timedelta(seconds=4)
    sim.now = decision.effect.wake_at
    decision = sim.decide()
    assert [e.type for e in decision.events] == [ev.WOKEN, ev.TURN_STARTED]
    assert decision.events[0].payload["reason"] == ev.WAKE_RETRY
    assert decision.events[1].payload["attempt"] == 4
