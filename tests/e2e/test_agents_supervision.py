"""Agent supervision wired end to end over gRPC, on SQLite and PostgreSQL: a failing turn is
restarted with backoff and escalated along the model ladder, then the agent pauses when the
restart intensity is spent; a turn past its deadline is canceled; a looping agent is warned in
its next turn's context, then paused; a turn whose run cannot start is a failed turn. Every
decision is an event, and a paused agent says why in GetAgent."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2
from openagents.runtime.v1 import agent_event_pb2, agent_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb

from tests.e2e.agent_helpers import create, events_until, get, prompt, stub, submit, types
from tests.e2e.helpers import error_info
from tests.support.runtime import RuntimeHandle

FAST_BACKOFF = agent_pb2.SupervisionPolicy(
    backoff_initial=duration_pb2.Duration(nanos=50_000_000),
    backoff_max=duration_pb2.Duration(nanos=100_000_000),
    max_restarts=2,
    escalate_after_failures=2,
)


def paused(events: list[agent_event_pb2.AgentEvent]) -> bool:
    return "agent.paused" in types(events)


def decisions(events: list[agent_event_pb2.AgentEvent]) -> list[tuple[int, str]]:
    return [
        (e.supervision_decision.action, e.supervision_decision.reason)
        for e in events
        if e.type == "agent.supervision_decision"
    ]


async def test_failing_turns_restart_escalate_then_pause(runtime: RuntimeHandle) -> None:
    await create(
        runtime, "s1", model="scripted", escalation_models=["scripted"], supervision_policy=FAST_BACKOFF
    )
    await submit(runtime, "s1", prompt("f1", "/fail provider down"))
    seen = await events_until(runtime, "s1", paused)
    turns = [e.turn_started for e in seen if e.type == "agent.turn_started"]
    assert [(t.attempt, list(t.frame_ids)) for t in turns] == [(1, ["f1"]), (2, ["f1"]), (3, ["f1"])]
    assert [t.retry_of_run_id for t in turns[1:]] == ["s1:turn:1", "s1:turn:2"]
    restarts = [e.supervision_decision for e in seen if e.type == "agent.supervision_decision"]
    assert [d.action for d in restarts][:2] == [agent_event_pb2.SUPERVISION_ACTION_RESTART] * 2
    assert all(d.reason == "model_error" and d.delay_ms > 0 for d in restarts[:2])
    escalated = [e.escalated for e in seen if e.type == "agent.escalated"]
    assert escalated and escalated[0].model_index == 1 and escalated[0].failed_turns == 2
    pause = next(e.paused for e in seen if e.type == "agent.paused")
    assert pause.reason == "restart_intensity"
    agent = await get(runtime, "s1")
    assert agent.state == agent_pb2.AGENT_STATE_PAUSED
    assert agent.pause.reason == "restart_intensity" and agent.pause.detail


async def test_a_turn_past_its_deadline_is_canceled(runtime: RuntimeHandle) -> None:
    policy = agent_pb2.SupervisionPolicy()
    policy.CopyFrom(FAST_BACKOFF)
    policy.turn_deadline.CopyFrom(duration_pb2.Duration(seconds=1))
    policy.max_restarts = 1
    await create(runtime, "d1", supervision_policy=policy)
    await submit(runtime, "d1", prompt("f1", "/sleep 20000\n/say late"))
    seen = await events_until(runtime, "d1", paused)
    assert (agent_event_pb2.SUPERVISION_ACTION_CANCEL_TURN, "deadline_exceeded") in decisions(seen)
    finished = [e.turn_finished for e in seen if e.type == "agent.turn_finished"]
    assert finished[0].outcome == 3 and finished[0].run_id == "d1:turn:1"  # RUN_OUTCOME_CANCELED
    assert (agent_event_pb2.SUPERVISION_ACTION_RESTART, "deadline_exceeded") in decisions(seen)
    assert (await get(runtime, "d1")).pause.reason == "restart_intensity"


async def test_a_looping_agent_is_warned_then_paused(runtime: RuntimeHandle) -> None:
    policy = agent_pb2.SupervisionPolicy(loop_detection=agent_pb2.LoopDetection(repeated_call=2, window=8))
    await create(runtime, "l1", supervision_policy=policy)
    loop = '/tool echo {"again": true}\n/tool echo {"again": true}\n/say done'
    await submit(runtime, "l1", prompt("f1", loop))
    first = await events_until(
        runtime,
        "l1",
        lambda es: (
            (agent_event_pb2.SUPERVISION_ACTION_WARN_LOOP, "repeated_call") in decisions(es)
            and "agent.slept" in types(es)[-1:]
        ),
    )
    # A system frame is the agent's own business: the loop history goes on, and so does the loop.
    system = agent_pb2.Frame(frame_id="f2", kind=agent_pb2.FRAME_KIND_SYSTEM, text=loop)
    await submit(runtime, "l1", system)
    second = await events_until(runtime, "l1", paused, after_seq=first[-1].seq)
    started = next(e.turn_started for e in second if e.type == "agent.turn_started")
    assert "loop" in started.loop_warning.lower()
    pause = next(e.paused for e in second if e.type == "agent.paused")
    assert pause.reason == "loop_detected"
    agent = await get(runtime, "l1")
    assert agent.state == agent_pb2.AGENT_STATE_PAUSED and agent.pause.reason == "loop_detected"
    # Frames still arrive while paused; a human looks and resumes it (WakeAgent).
    queued = await submit(runtime, "l1", prompt("f3", "/say fine"))
    assert queued.agent.state == agent_pb2.AGENT_STATE_PAUSED
    woke = await stub(runtime).WakeAgent(pb.WakeAgentRequest(agent_id="l1"), metadata=runtime.md())
    assert woke.recorded
    resumed = await events_until(
        runtime, "l1", lambda es: "agent.slept" in types(es), after_seq=agent.last_seq
    )
    # (agent.reported: the pause's effects -- children, sub-runs, parent -- were carried out)
    assert [t for t in types(resumed) if t != "agent.reported"][:2] == [
        "agent.frame_received",
        "agent.resumed",
    ]
    turn = next(e.turn_started for e in resumed if e.type == "agent.turn_started")
    assert list(turn.frame_ids)[-1] == "f3"


async def test_a_turn_whose_run_cannot_start_is_a_failed_turn(runtime: RuntimeHandle) -> None:
    await create(runtime, "u1", model="no-such-model")
    await submit(runtime, "u1", prompt("f1", "/say hi"))
    seen = await events_until(runtime, "u1", lambda es: "agent.slept" in types(es)[3:])
    finished = next(e.turn_finished for e in seen if e.type == "agent.turn_finished")
    assert finished.outcome == 2 and finished.reason == "start_unknown_model"  # RUN_OUTCOME_FAILED
    assert (agent_event_pb2.SUPERVISION_ACTION_ACCEPT_FAILURE, "start_unknown_model") in decisions(seen)


async def test_the_circuit_breaker_opens_half_opens_and_finally_fails_the_agent(
    runtime: RuntimeHandle,
) -> None:
    ms = 1_000_000  # nanoseconds
    policy = agent_pb2.SupervisionPolicy(
        backoff_initial=duration_pb2.Duration(nanos=10 * ms),
        backoff_max=duration_pb2.Duration(nanos=20 * ms),
        max_restarts=50,
        escalate_after_failures=50,
        circuit_breaker=agent_pb2.CircuitBreaker(
            failures=2,
            cooldown=duration_pb2.Duration(nanos=200 * ms),
            cooldown_max=duration_pb2.Duration(nanos=400 * ms),
            max_trips=2,
        ),
    )
    await create(runtime, "cb1", supervision_policy=policy)
    await submit(runtime, "cb1", prompt("f1", "/fail provider down"))
    seen = await events_until(runtime, "cb1", lambda es: "agent.failed" in types(es))
    kinds = types(seen)
    assert kinds.count("agent.paused") >= 1 and "agent.resumed" in kinds
    assert all(
        e.paused.reason == "circuit_open" and e.paused.HasField("until")
        for e in seen
        if e.type == "agent.paused"
    )
    assert next(e.resumed.by for e in seen if e.type == "agent.resumed") == "circuit_half_open"
    assert seen[-1].failed.reason == "circuit_exhausted"
    agent = await get(runtime, "cb1")
    assert agent.state == agent_pb2.AGENT_STATE_FAILED and agent.failure_reason == "circuit_exhausted"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await submit(runtime, "cb1", prompt("f2", "/say hi"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value).reason == "AGENT_FAILED"
