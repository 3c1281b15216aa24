"""Agents as supervisors over gRPC, on SQLite and PostgreSQL (issue 13 item 6 and two engine
limits): a turn starts a sub-run (a run on its own thread) through `delegate` mode "run" and
its result comes back as exactly one tool_result frame; pausing the parent cancels its running
sub-runs; a failing child (sub-run or child agent) is restarted alone (one_for_one) until the
restart intensity is exceeded, then the parent pauses (escalation); a child's report reaches
its parent exactly once across a crash between the two; a turn waiting for a human holds no
lease and goes on after the answer; an agent task's unexpected exceptions have a budget."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from google.protobuf import duration_pb2
from oa_runtime import server as server_module
from oa_runtime.app.agent_tree import AgentTurns
from oa_runtime.core.agents.state import AgentState
from oa_runtime.core.records import RunRecord
from openagents.runtime.v1 import agent_event_pb2, agent_pb2, run_event_pb2, run_pb2, run_service_pb2

from tests.e2e.agent_helpers import create, events_until, get, prompt, slept_after_turns, submit, types
from tests.e2e.test_agents_schedules import Clock
from tests.e2e.tool_helpers import get_run, tool_tasks, wait_state
from tests.support.runtime import RuntimeHandle, running_runtime

Events = list[agent_event_pb2.AgentEvent]
FAST_BACKOFF = {
    "backoff_initial": duration_pb2.Duration(nanos=20_000_000),
    "backoff_max": duration_pb2.Duration(nanos=40_000_000),
}


def sub_run(text: str, then: str = "/say delegated") -> str:
    return f"/tool delegate {json.dumps({'mode': 'run', 'text': text})}\n{then}"


def child_agent(child: str, text: str) -> str:
    return f"/tool delegate {json.dumps({'child': child, 'text': text})}\n/say delegated"


def tool_results(events: Events) -> list[agent_event_pb2.AgentFrameReceived]:
    return [
        e.frame_received
        for e in events
        if e.type == "agent.frame_received" and e.frame_received.kind == agent_pb2.FRAME_KIND_TOOL_RESULT
    ]


def decisions(events: Events) -> list[agent_event_pb2.AgentSupervisionDecision]:
    return [e.supervision_decision for e in events if e.type == "agent.supervision_decision"]


def has(event_type: str, count: int = 1) -> Callable[[Events], bool]:
    return lambda es: types(es).count(event_type) >= count


def paused_with(reason: str) -> Callable[[Events], bool]:
    return lambda es: any(e.type == "agent.paused" and e.paused.reason == reason for e in es)


async def lease_owner(rt: RuntimeHandle, agent_id: str) -> str | None:
    """The agent row's lease holder, read from the database itself."""
    sql = "SELECT lease_owner FROM agents WHERE agent_id = "
    if rt.database_url.startswith("sqlite"):
        with sqlite3.connect(rt.database_url.removeprefix("sqlite:///")) as db:
            row = db.execute(sql + "?", (agent_id,)).fetchone()
    else:
        async with await psycopg.AsyncConnection.connect(rt.database_url) as conn:
            row = await (await conn.execute(sql + "%s", (agent_id,))).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


async def no_lease(rt: RuntimeHandle, agent_id: str, timeout_s: float = 10) -> None:
    """Until the agent's lease is given up (a release is a row update, with no event to await)."""
    async with asyncio.timeout(timeout_s):
        while await lease_owner(rt, agent_id) is not None:  # noqa: ASYNC110 (a row, no event)
            await asyncio.sleep(0.02)


async def test_a_sub_run_answers_with_one_tool_result_frame(runtime: RuntimeHandle) -> None:
    await create(runtime, "s1")
    await submit(runtime, "s1", prompt("f1", sub_run("/say from the sub-run")))
    events = await events_until(runtime, "s1", slept_after_turns(2))
    (started,) = [e.subrun_started for e in events if e.type == "agent.subrun_started"]
    sub_id = started.sub_id
    assert started.run_id == f"s1:sub:{sub_id}:1" and started.thread_id == f"thread-s1.sub.{sub_id}"
    (frame,) = tool_results(events)
    assert frame.frame_id == f"subrun:{sub_id}" and frame.text == "from the sub-run"
    assert frame.data["outcome"] == "succeeded" and frame.data["run_id"] == started.run_id
    assert types(events).count("agent.subrun_finished") == 1
    assert [list(e.turn_started.frame_ids) for e in events if e.type == "agent.turn_started"] == [
        ["f1"],
        [f"subrun:{sub_id}"],
    ]
    run = await get_run(runtime, started.run_id)
    assert run.thread_id == started.thread_id and run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert not (await get(runtime, "s1")).sub_runs


async def test_pausing_the_parent_cancels_its_running_sub_runs(runtime: RuntimeHandle) -> None:
    policy = agent_pb2.SupervisionPolicy(circuit_breaker=agent_pb2.CircuitBreaker(failures=1))
    await create(runtime, "s2", supervision_policy=policy)
    await submit(runtime, "s2", prompt("f1", sub_run("/sleep 30000\n/say too late", "/say waiting")))
    first = await events_until(runtime, "s2", slept_after_turns(1))
    (started,) = [e.subrun_started for e in first if e.type == "agent.subrun_started"]
    visible = await get(runtime, "s2")  # the operator sees the tree
    assert [(s.sub_run_id, s.run_id, s.attempt) for s in visible.sub_runs] == [
        (started.sub_id, started.run_id, 1)
    ]
    # The parent's next turn fails and its circuit opens: the pause reaches the sub-run.
    await submit(runtime, "s2", prompt("f2", "/fail boom"))
    events = await events_until(runtime, "s2", lambda es: bool(tool_results(es)), after_seq=first[-1].seq)
    assert paused_with("circuit_open")(events)
    (frame,) = tool_results(events)
    assert frame.frame_id == f"subrun:{started.sub_id}" and frame.data["outcome"] == "canceled"
    assert (await get_run(runtime, started.run_id)).state == run_pb2.RUN_STATE_CANCELED
    assert not (await get(runtime, "s2")).sub_runs


async def test_a_failing_sub_run_is_restarted_alone_then_escalates(runtime: RuntimeHandle) -> None:
    policy = agent_pb2.SupervisionPolicy(max_child_restarts=2)
    await create(runtime, "s3", supervision_policy=policy)
    await submit(runtime, "s3", prompt("f1", sub_run("/fail broken")))
    events = await events_until(
        runtime, "s3", lambda es: bool(tool_results(es)) and paused_with("child_escalated")(es)
    )
    (started,) = [e.subrun_started for e in events if e.type == "agent.subrun_started"]
    on_child = [d for d in decisions(events) if d.child_id == started.sub_id]
    actions = [(d.action, d.run_id, d.attempt) for d in on_child]
    restart, escalate = (
        agent_event_pb2.SUPERVISION_ACTION_RESTART_CHILD,
        agent_event_pb2.SUPERVISION_ACTION_ESCALATE,
    )
    base = f"s3:sub:{started.sub_id}"
    assert actions == [(restart, f"{base}:2", 2), (restart, f"{base}:3", 3), (escalate, f"{base}:3", 0)]
    (frame,) = tool_results(events)  # one frame for the sub-run, its final failure
    assert frame.data["outcome"] == "failed" and frame.data["attempt"] == 3
    agent = await get(runtime, "s3")
    assert agent.state == agent_pb2.AGENT_STATE_PAUSED and agent.pause.reason == "child_escalated"
    assert "2 restarts" in agent.pause.detail and agent.child_restart_count == 2
    for attempt in (1, 2, 3):
        assert (await get_run(runtime, f"{base}:{attempt}")).state == run_pb2.RUN_STATE_FAILED


async def test_a_paused_child_agent_is_restarted_then_escalates(runtime: RuntimeHandle) -> None:
    # Children inherit the parent's policy: a child pauses after one restart of its own.
    policy = agent_pb2.SupervisionPolicy(max_restarts=1, max_child_restarts=1, **FAST_BACKOFF)
    await create(runtime, "p4", supervision_policy=policy)
    await submit(runtime, "p4", prompt("f1", child_agent("worker", "/fail broken")))
    parent = await events_until(runtime, "p4", paused_with("child_escalated"))
    on_child = [(d.action, d.reason) for d in decisions(parent) if d.child_id == "p4.worker"]
    assert on_child == [
        (agent_event_pb2.SUPERVISION_ACTION_RESTART_CHILD, "restart_intensity"),
        (agent_event_pb2.SUPERVISION_ACTION_ESCALATE, "restart_intensity"),
    ]
    system = [
        e.frame_received
        for e in parent
        if e.type == "agent.frame_received" and e.frame_received.kind == agent_pb2.FRAME_KIND_SYSTEM
    ]
    assert len(system) == 1 and "p4.worker paused (restart_intensity)" in system[0].text
    child = await events_until(runtime, "p4.worker", has("agent.reported", 2))
    reports = [e.reported for e in child if e.type == "agent.reported"]
    assert [r.action for r in reports] == ["restart_child", "escalate"]
    assert [e.resumed.by for e in child if e.type == "agent.resumed"] == ["parent"]
    assert (await get(runtime, "p4.worker")).state == agent_pb2.AGENT_STATE_PAUSED
    assert (await get(runtime, "p4")).pause.reason == "child_escalated"


async def test_a_childs_report_reaches_its_parent_once_across_a_crash(
    runtime: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's executor dies after the parent took the report and before the child
    recorded it: the outbox repeats the report, and the parent decides once."""
    real = AgentTurns.agent_stopped
    crashes: list[str] = []

    async def crash_once(self: AgentTurns, state: AgentState) -> str:
        action = await real(self, state)
        if state.spec is not None and state.spec.parent_agent_id and not crashes:
            crashes.append(state.stop_due)
            raise RuntimeError("crash between the parent's frame and the child's record")
        return action

    monkeypatch.setattr(AgentTurns, "agent_stopped", crash_once)
    policy = agent_pb2.SupervisionPolicy(max_restarts=1, max_child_restarts=0, **FAST_BACKOFF)
    await create(runtime, "p5", supervision_policy=policy)
    await submit(runtime, "p5", prompt("f1", child_agent("worker", "/fail broken")))
    parent = await events_until(runtime, "p5", paused_with("child_escalated"))
    child = await events_until(runtime, "p5.worker", has("agent.reported"))
    assert crashes and [e.reported.report_id for e in child if e.type == "agent.reported"] == crashes
    assert [d.report_id for d in decisions(parent) if d.child_id] == crashes  # decided once
    assert [e.frame_received.frame_id for e in parent if e.type == "agent.frame_received"].count(
        crashes[0]
    ) == 1


async def test_a_lost_sub_run_watcher_is_recovered_and_reports_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sub-run ends and its watcher dies before telling the parent (a crash): the parent's
    durable sub-run check finds the end and delivers the one frame."""
    real = AgentTurns.subrun_ended
    parent_asleep, lost = asyncio.Event(), asyncio.Event()

    async def lose_first(self: AgentTurns, agent_id: str, sub_id: str, run: RunRecord) -> None:
        if not lost.is_set():
            await parent_asleep.wait()  # no task of the parent is left to notice the loss
            lost.set()
            raise RuntimeError("the replica died before the parent's frame")
        await real(self, agent_id, sub_id, run)

    monkeypatch.setattr(AgentTurns, "subrun_ended", lose_first)
    clock = Clock(datetime.now(UTC))
    async with running_runtime(database_url, env={"RUNTIME_CLAIM_INTERVAL_S": "0.1"}, clock=clock) as rt:
        await create(rt, "s6")
        await submit(rt, "s6", prompt("f1", sub_run("/say recovered")))
        first = await events_until(rt, "s6", slept_after_turns(1))
        (started,) = [e.subrun_started for e in first if e.type == "agent.subrun_started"]
        await wait_state(rt, started.run_id, run_pb2.RUN_STATE_SUCCEEDED)
        parent_asleep.set()
        await asyncio.wait_for(lost.wait(), 10)
        assert not tool_results(first) and len((await get(rt, "s6")).sub_runs) == 1
        clock.advance(timedelta(seconds=31))  # the sub-runs' check falls due
        events = await events_until(rt, "s6", slept_after_turns(2))
        (frame,) = tool_results(events)
        # (whether an `agent.subruns_checked` is recorded depends on which comes first: the
        # new watcher's report, or the check's append)
        assert frame.text == "recovered" and types(events).count("agent.subrun_finished") == 1


async def test_a_turn_waiting_for_an_answer_holds_no_lease(runtime: RuntimeHandle) -> None:
    await create(runtime, "w1")
    await submit(runtime, "w1", prompt("f1", '/tool ask_user {"question": "Which colour?"}\n/say thanks'))
    await events_until(runtime, "w1", has("agent.turn_waiting"))
    await no_lease(runtime, "w1")  # given up right after agent.turn_waiting
    agent = await get(runtime, "w1")
    assert agent.state == agent_pb2.AGENT_STATE_RUNNING
    (task,) = await tool_tasks(runtime, agent.current_run_id)
    await runtime.stub.AnswerQuestion(
        run_service_pb2.AnswerQuestionRequest(
            run_id=agent.current_run_id, question_id=task.question_id, answer="blue"
        ),
        metadata=runtime.md(),
    )
    events = await events_until(runtime, "w1", slept_after_turns(1), after_seq=agent.last_seq)
    assert types(events)[:2] == ["agent.turn_moved", "agent.turn_finished"]
    assert events[1].turn_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    await no_lease(runtime, "w1")


@pytest.fixture
async def fragile(database_url: str) -> AsyncIterator[RuntimeHandle]:
    async with running_runtime(database_url, env={"RUNTIME_AGENT_MAX_TASK_FAILURES": "2"}) as rt:
        yield rt


async def test_an_agent_task_that_keeps_raising_fails_the_agent(
    fragile: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    async def broken(self: AgentTurns, state: AgentState, run_id: str) -> Any:
        attempts.append(run_id)
        raise RuntimeError("boom in start_turn")

    monkeypatch.setattr(AgentTurns, "start_turn", broken)
    await create(fragile, "x1")
    await submit(fragile, "x1", prompt("f1", "/say never"))
    events = await events_until(fragile, "x1", has("agent.failed"))
    failed = next(e.failed for e in events if e.type == "agent.failed")
    assert (
        failed.reason == "executor_recovery_exhausted"
        and "RuntimeError: boom in start_turn" in failed.error_message
    )
    assert attempts == ["x1:turn:1", "x1:turn:1"]  # once, then once more after the backoff
    agent = await get(fragile, "x1")
    assert (
        agent.state == agent_pb2.AGENT_STATE_FAILED and agent.failure_reason == "executor_recovery_exhausted"
    )
    await no_lease(fragile, "x1")  # once its failure's outbox ran (agent.reported)


async def test_a_lost_wake_of_a_waiting_turn_is_covered_by_its_recheck(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service dies between the answer's commit and waking the agent (the hook is lost):
    the agent row's recheck time, written with agent.turn_waiting, brings it back."""

    async def lost(agents: object, run_id: str) -> None:
        return None

    monkeypatch.setattr(server_module, "turn_run_moved", lost)
    clock = Clock(datetime.now(UTC))
    async with running_runtime(database_url, env={"RUNTIME_CLAIM_INTERVAL_S": "0.1"}, clock=clock) as rt:
        await create(rt, "w2")
        await submit(rt, "w2", prompt("f1", '/tool ask_user {"question": "Which colour?"}\n/say thanks'))
        await events_until(rt, "w2", has("agent.turn_waiting"))
        await no_lease(rt, "w2")
        agent = await get(rt, "w2")
        (task,) = await tool_tasks(rt, agent.current_run_id)
        await rt.stub.AnswerQuestion(
            run_service_pb2.AnswerQuestionRequest(
                run_id=agent.current_run_id, question_id=task.question_id, answer="blue"
            ),
            metadata=rt.md(),
        )
        await wait_state(rt, agent.current_run_id, run_pb2.RUN_STATE_SUCCEEDED)
        assert (await get(rt, "w2")).state == agent_pb2.AGENT_STATE_RUNNING  # nobody told it
        clock.advance(timedelta(seconds=61))  # RUNTIME_AGENT_WAITING_RECHECK_S (60 s) passed
        events = await events_until(rt, "w2", slept_after_turns(1), after_seq=agent.last_seq)
        finished = next(e.turn_finished for e in events if e.type == "agent.turn_finished")
        assert finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
