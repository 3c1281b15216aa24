"""Child agents over gRPC, on SQLite and PostgreSQL: a turn delegates to a child agent through
the built-in `delegate` tool; the child works in its own turns on its own thread and its answer
comes back to the parent as a tool_result frame that wakes it; putting the parent to sleep
reaches the child; a child paused by supervision is reported to its parent (without restarts,
it escalates at once)."""

from __future__ import annotations

from google.protobuf import duration_pb2
from openagents.runtime.v1 import agent_event_pb2, agent_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb

from tests.e2e.agent_helpers import create, events_until, get, prompt, slept_after_turns, stub, submit, types
from tests.support.runtime import RuntimeHandle


def delegating(child: str, text: str) -> str:
    return f'/tool delegate {{"child": "{child}", "text": "{text}"}}\n/say delegated'


def frames_of_turns(events: list[agent_event_pb2.AgentEvent]) -> list[list[str]]:
    return [list(e.turn_started.frame_ids) for e in events if e.type == "agent.turn_started"]


async def test_a_child_answers_its_parent_with_a_tool_result_frame(runtime: RuntimeHandle) -> None:
    await create(runtime, "p1")
    await submit(runtime, "p1", prompt("f1", delegating("helper", "/say from the child")))
    parent = await events_until(runtime, "p1", slept_after_turns(2))
    assert frames_of_turns(parent) == [["f1"], ["child:p1.helper:turn:1"]]
    answer = next(
        e.frame_received
        for e in parent
        if e.type == "agent.frame_received" and e.frame_received.frame_id != "f1"
    )
    assert answer.kind == agent_pb2.FRAME_KIND_TOOL_RESULT and answer.text == "from the child"
    assert answer.data["child_agent_id"] == "p1.helper" and answer.data["outcome"] == "succeeded"

    child = await get(runtime, "p1.helper")
    assert child.parent_agent_id == "p1" and child.thread_id == "thread-p1.helper" and child.user_id == 42
    assert child.turn_count == 1
    listed = await stub(runtime).ListAgents(pb.ListAgentsRequest(parent_agent_id="p1"), metadata=runtime.md())
    assert [a.agent_id for a in listed.agents] == ["p1.helper"]

    # Putting the parent to sleep reaches its child.
    await stub(runtime).SleepAgent(pb.SleepAgentRequest(agent_id="p1"), metadata=runtime.md())
    child_events = await events_until(runtime, "p1.helper", lambda es: "agent.sleep_requested" in types(es))
    assert child_events[-1].sleep_requested.by == "parent p1"


async def test_a_paused_child_is_reported_to_its_parent(runtime: RuntimeHandle) -> None:
    policy = agent_pb2.SupervisionPolicy(
        backoff_initial=duration_pb2.Duration(nanos=20_000_000),
        backoff_max=duration_pb2.Duration(nanos=40_000_000),
        max_restarts=1,
        max_child_restarts=0,  # no one_for_one restart: the first pause escalates (test_agents_tree.py)
    )
    await create(runtime, "p2", supervision_policy=policy)
    await submit(runtime, "p2", prompt("f1", delegating("worker", "/fail broken")))
    parent = await events_until(
        runtime,
        "p2",
        lambda es: any(
            e.type == "agent.frame_received" and e.frame_received.kind == agent_pb2.FRAME_KIND_SYSTEM
            for e in es
        ),
    )
    results = [e.frame_received for e in parent if e.type == "agent.frame_received"]
    failed = [f for f in results if f.kind == agent_pb2.FRAME_KIND_TOOL_RESULT]
    assert failed and all(f.data["outcome"] == "failed" for f in failed)  # each failed child turn
    paused = next(f for f in results if f.kind == agent_pb2.FRAME_KIND_SYSTEM)
    assert "p2.worker paused (restart_intensity)" in paused.text
    assert (await get(runtime, "p2.worker")).state == agent_pb2.AGENT_STATE_PAUSED
