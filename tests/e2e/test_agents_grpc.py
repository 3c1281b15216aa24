"""Long-lived agents over gRPC on loopback, on SQLite and PostgreSQL: the lifecycle (create,
frame, turn as a run on the agent's thread, sleep, wake by frame and by request), idempotent
creation and frames, every input policy, paging, and token binding by `agent_id`."""

from __future__ import annotations

import grpc
import pytest
from openagents.runtime.v1 import agent_event_pb2, agent_pb2, run_event_pb2, run_service_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb

from tests.e2e.agent_helpers import (
    OWNER,
    create,
    events_until,
    get,
    prompt,
    slept_after_turns,
    stub,
    submit,
    types,
)
from tests.e2e.helpers import error_info, events, start
from tests.support.runtime import RuntimeHandle


async def run_text(rt: RuntimeHandle, run_id: str) -> str:
    return "".join(e.message_delta.delta for e in await events(rt, run_id) if e.type == "message.delta")


async def test_a_frame_wakes_the_agent_and_its_turn_is_a_run_on_its_thread(runtime: RuntimeHandle) -> None:
    created = await create(runtime, "a1", instructions="Be brief.")
    assert created.created and created.agent.state == agent_pb2.AGENT_STATE_SLEEPING
    assert not (await create(runtime, "a1", instructions="Be brief.")).created
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await create(runtime, "a1", instructions="Be verbose.")
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(conflict.value).reason == "AGENT_ALREADY_EXISTS"

    answer = await submit(runtime, "a1", prompt("f1", "/say hello there"))
    assert list(answer.accepted_frame_ids) == ["f1"] and not answer.duplicate_frame_ids
    seen = await events_until(runtime, "a1", slept_after_turns(1))
    assert types(seen)[:6] == [
        "agent.created",
        "agent.frame_received",
        "agent.woken",
        "agent.turn_started",
        "agent.turn_finished",
        "agent.slept",
    ]
    started = seen[3].turn_started
    assert started.run_id == "a1:turn:1" and list(started.frame_ids) == ["f1"]
    assert seen[4].turn_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert await run_text(runtime, "a1:turn:1") == "hello there"
    run = (
        await runtime.stub.GetRun(run_service_pb2.GetRunRequest(run_id="a1:turn:1"), metadata=runtime.md())
    ).run
    assert run.thread_id == "thread-a1" and run.user_id == OWNER

    agent = await get(runtime, "a1")
    assert agent.state == agent_pb2.AGENT_STATE_SLEEPING
    assert agent.turn_count == 1 and agent.pending_frame_count == 0 and agent.last_seq == len(seen)

    # The same frame again is a duplicate (no turn); the same id with another body a conflict.
    again = await submit(runtime, "a1", prompt("f1", "/say hello there"))
    assert list(again.duplicate_frame_ids) == ["f1"] and not again.accepted_frame_ids
    with pytest.raises(grpc.aio.AioRpcError) as frame_conflict:
        await submit(runtime, "a1", prompt("f1", "/say something else"))
    assert frame_conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(frame_conflict.value).reason == "FRAME_CONFLICT"
    assert (await get(runtime, "a1")).last_seq == agent.last_seq

    # A second frame: a second turn, which sees the first turn in its thread's history.
    await submit(runtime, "a1", prompt("f2", "/say again"))
    later = await events_until(runtime, "a1", slept_after_turns(1), after_seq=agent.last_seq)
    assert [e.turn_started.run_id for e in later if e.type == "agent.turn_started"] == ["a1:turn:2"]
    assert await run_text(runtime, "a1:turn:2") == "again"


async def test_wake_and_sleep_requests(runtime: RuntimeHandle) -> None:
    await create(runtime, "a2")
    woke = await stub(runtime).WakeAgent(
        pb.WakeAgentRequest(agent_id="a2"), metadata=runtime.md(agent_id="a2")
    )
    assert woke.recorded
    seen = await events_until(runtime, "a2", lambda es: "agent.slept" in types(es))
    assert types(seen) == ["agent.created", "agent.woken", "agent.slept"]
    assert seen[2].slept.reason == "idle"

    # Asleep on request: a running turn finishes first, then the agent sleeps.
    await submit(runtime, "a2", prompt("f1", "/sleep 600\n/say done"))
    await events_until(runtime, "a2", lambda es: "agent.turn_started" in types(es), after_seq=3)
    slept = await stub(runtime).SleepAgent(
        pb.SleepAgentRequest(agent_id="a2"), metadata=runtime.md(agent_id="a2")
    )
    assert slept.recorded and slept.agent.state == agent_pb2.AGENT_STATE_RUNNING
    after = await events_until(runtime, "a2", lambda es: "agent.slept" in types(es), after_seq=3)
    assert types(after)[-3:] == ["agent.sleep_requested", "agent.turn_finished", "agent.slept"]
    assert after[-1].slept.reason == "requested"
    assert await run_text(runtime, "a2:turn:1") == "done"
    # A frame wakes even an agent put to sleep on request.
    await submit(runtime, "a2", prompt("f2", "/say up"))
    await events_until(runtime, "a2", slept_after_turns(1), after_seq=after[-1].seq)
    assert (await get(runtime, "a2")).turn_count == 2


async def test_reject_refuses_input_while_a_turn_runs(runtime: RuntimeHandle) -> None:
    await create(runtime, "r1", input_policy=agent_pb2.INPUT_POLICY_REJECT)
    await submit(runtime, "r1", prompt("f1", "/sleep 800\n/say first"))
    await events_until(runtime, "r1", lambda es: "agent.turn_started" in types(es))
    with pytest.raises(grpc.aio.AioRpcError) as busy:
        await submit(runtime, "r1", prompt("f2", "/say second"))
    assert busy.value.code() == grpc.StatusCode.ABORTED
    info = error_info(busy.value)
    assert info.reason == "AGENT_BUSY" and info.metadata["run_id"] == "r1:turn:1"
    seen = await events_until(runtime, "r1", slept_after_turns(1))
    applied = [e.input_policy_applied for e in seen if e.type == "agent.input_policy_applied"]
    assert [(a.policy, a.outcome) for a in applied] == [
        (agent_pb2.INPUT_POLICY_REJECT, agent_event_pb2.INPUT_POLICY_OUTCOME_REJECTED)
    ]
    assert "f2" not in [e.frame_received.frame_id for e in seen]


async def test_enqueue_waits_for_the_next_turn(runtime: RuntimeHandle) -> None:
    await create(runtime, "q1")
    await submit(runtime, "q1", prompt("f1", "/sleep 500\n/say first"))
    await events_until(runtime, "q1", lambda es: "agent.turn_started" in types(es))
    queued = await submit(runtime, "q1", prompt("f2", "/say second"))
    assert (
        queued.policy_outcome == agent_event_pb2.INPUT_POLICY_OUTCOME_QUEUED
        and queued.running_run_id == "q1:turn:1"
    )
    seen = await events_until(runtime, "q1", slept_after_turns(2))
    turns = [list(e.turn_started.frame_ids) for e in seen if e.type == "agent.turn_started"]
    assert turns == [["f1"], ["f2"]]
    assert await run_text(runtime, "q1:turn:1") == "first"
    assert await run_text(runtime, "q1:turn:2") == "second"


@pytest.mark.parametrize("policy", [agent_pb2.INPUT_POLICY_INTERRUPT, agent_pb2.INPUT_POLICY_ROLLBACK])
async def test_interrupt_and_rollback_cancel_the_running_turn(runtime: RuntimeHandle, policy: int) -> None:
    agent_id = f"i{policy}"
    await create(runtime, agent_id, input_policy=policy)
    await submit(runtime, agent_id, prompt("f1", "/say partial\n/sleep 1500\n/say end"))
    await events_until(runtime, agent_id, lambda es: "agent.turn_started" in types(es))
    answer = await submit(runtime, agent_id, prompt("f2", "/say next"))
    assert answer.policy_outcome == agent_event_pb2.INPUT_POLICY_OUTCOME_CANCEL_REQUESTED
    seen = await events_until(runtime, agent_id, slept_after_turns(2))
    finished = [e.turn_finished for e in seen if e.type == "agent.turn_finished"]
    assert finished[0].outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    turns = [list(e.turn_started.frame_ids) for e in seen if e.type == "agent.turn_started"]
    history = await runtime.stub.GetThreadState(
        run_service_pb2.GetThreadStateRequest(thread_id=f"thread-{agent_id}"), metadata=runtime.md()
    )
    runs_in_history = [r.run_id for r in history.runs]
    if policy == agent_pb2.INPUT_POLICY_ROLLBACK:
        # The canceled turn is dropped from the thread; its frame runs again, first.
        assert finished[0].rolled_back and turns == [["f1"], ["f1", "f2"]]
        assert f"{agent_id}:turn:1" not in runs_in_history
    else:
        assert not finished[0].rolled_back and turns == [["f1"], ["f2"]]
        assert f"{agent_id}:turn:1" in runs_in_history
    assert f"{agent_id}:turn:2" in runs_in_history


async def test_list_pages_and_filters_by_state(runtime: RuntimeHandle) -> None:
    for i in range(3):
        await create(runtime, f"l{i}")
    md = runtime.md()
    first = await stub(runtime).ListAgents(pb.ListAgentsRequest(page_size=2), metadata=md)
    assert [a.agent_id for a in first.agents] == ["l2", "l1"] and first.next_page_token
    rest = await stub(runtime).ListAgents(
        pb.ListAgentsRequest(page_size=2, page_token=first.next_page_token), metadata=runtime.md()
    )
    assert [a.agent_id for a in rest.agents] == ["l0"] and not rest.next_page_token
    running = await stub(runtime).ListAgents(
        pb.ListAgentsRequest(state=agent_pb2.AGENT_STATE_RUNNING), metadata=runtime.md()
    )
    assert list(running.agents) == []
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub(runtime).ListAgents(pb.ListAgentsRequest(page_size=501), metadata=runtime.md())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_tokens_bind_to_the_agent(runtime: RuntimeHandle) -> None:
    await create(runtime, "b1")
    await create(runtime, "b2")
    request = pb.GetAgentRequest(agent_id="b1")
    assert (await stub(runtime).GetAgent(request, metadata=runtime.md(agent_id="b1"))).agent.agent_id == "b1"
    assert (await stub(runtime).GetAgent(request, metadata=runtime.md(user_id=OWNER))).agent.agent_id == "b1"
    for claims in ({"agent_id": "b2"}, {"user_id": 7}, {"run_id": "b1:turn:1"}):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub(runtime).GetAgent(request, metadata=runtime.md(**claims))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub(runtime).GetAgent(pb.GetAgentRequest(agent_id="nobody"), metadata=runtime.md())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(missing.value).reason == "AGENT_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub(runtime).GetAgent(pb.GetAgentRequest(agent_id="bad id"), metadata=runtime.md())
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_thread_with_only_agents_is_closed_to_other_users(
    runtime: RuntimeHandle,
) -> None:
    """A thread with an agent and no run yet is the agent's user's: another user's token can
    neither list its agents nor create an agent on it (NOT_THREAD_OWNER)."""
    await create(runtime, "lonely")
    mine = pb.ListAgentsRequest(thread_id="thread-lonely")
    listed = await stub(runtime).ListAgents(mine, metadata=runtime.md(user_id=OWNER))
    assert [a.agent_id for a in listed.agents] == ["lonely"]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub(runtime).ListAgents(mine, metadata=runtime.md(user_id=7))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    theirs = pb.CreateAgentRequest(agent_id="squatter", thread_id="thread-lonely", user_id=7)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(runtime).CreateAgent(theirs, metadata=runtime.md(user_id=7))
    assert error_info(refused.value).reason == "NOT_THREAD_OWNER"


async def test_a_client_cannot_start_a_run_under_an_agents_turn_id(runtime: RuntimeHandle) -> None:
    """The timer and delegate tools act for the agent a turn's run id names: StartRun refuses
    those ids, so no user's run can act for another user's agent or squat its next turn."""
    await create(runtime, "guarded")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await start(runtime, "guarded:turn:1", "/tool timer {}", thread_id="t-squat")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused.value).metadata["field"] == "run_id"
