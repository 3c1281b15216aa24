"""A turn as a run (core/agents/turns.py): the StartRun request a turn makes is built from the
agent's state and its frames' events alone (so building it again after a crash is the same
request), the run id names its agent, and the tool calls loop detection sees. Also: the timer
tool is offered to agents' turns only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oa_runtime.core.agents import events as aev
from oa_runtime.core.agents.decide import RunTurn, decide
from oa_runtime.core.agents.inputs import FrameIn, accept_frames
from oa_runtime.core.agents.spec import AgentSpec
from oa_runtime.core.agents.state import AgentState, apply
from oa_runtime.core.agents.turns import agent_of_run, frame_body, turn_prompt, turn_request, turn_tool_calls
from oa_runtime.core.events import Event, NewEvent, tool_call_requested, tool_result
from oa_runtime.core.records import ToolPolicy
from oa_runtime.core.validation import fingerprint, sha256_hex
from oa_runtime.tools.builtin import BUILTIN_TOOLS, DELEGATE_TOOL, TIMER_TOOL, agent_tools

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def placed(events: list[NewEvent], first_seq: int) -> list[Event]:
    return [
        Event("a1", first_seq + i, e.event_id, e.type, T0, e.payload, 0, "agent")
        for i, e in enumerate(events)
    ]


def running_agent() -> tuple[AgentState, list[Event]]:
    spec = AgentSpec("a1", "t1", user_id=42, instructions="Be brief.", tool_policy=ToolPolicy(deny=("fail",)))
    log = placed([aev.agent_created(spec.to_json(), T0)], 1)
    state = apply(AgentState(), log[0])
    frames = [FrameIn("f1", "user_prompt", "/say hi"), FrameIn("f2", "signal", "", {"price": 3})]
    log += placed(list(accept_frames(state, frames, T0).events), 2)
    for event in log[1:]:
        state = apply(state, event)
    decision = decide(state, T0)
    assert isinstance(decision.effect, RunTurn)
    return decision.state, log


def test_a_turn_request_is_built_from_the_state_and_the_frames_alone() -> None:
    state, log = running_agent()
    turn = state.turn
    assert turn is not None and turn.run_id == "a1:turn:1"
    bodies = [frame_body(log[f.seq - 1]) for f in turn.frames]
    request = turn_request(state, turn, bodies)
    assert request.run_id == "a1:turn:1" and request.thread_id == "t1" and request.user_id == "42"
    assert request.prompt == '/say hi\n\n[signal] {"price":3}'
    assert request.tool_policy == ToolPolicy(deny=("fail",))
    kinds = [c["type"] for c in request.context_frames]
    assert kinds == ["agent_instructions", "agent_turn", "agent_frame", "agent_frame"]
    again = turn_request(state, turn, [frame_body(log[f.seq - 1]) for f in turn.frames])
    assert fingerprint(again) == fingerprint(request)  # StartRun again is the same run


def test_timer_frames_are_labelled_in_the_prompt() -> None:
    fired = placed([aev.timer_fired("timer", "remind", T0, "timer:remind:7", late=False, text="check")], 9)
    body = frame_body(fired[0])
    assert body["kind"] == "timer" and body["frame_id"] == "timer:remind:7"
    assert turn_prompt([body]).startswith("[timer] check ")


def test_run_ids_name_their_agent() -> None:
    assert agent_of_run("a:b:turn:12") == ("a:b", 12)
    assert agent_of_run("plain-run") is None
    assert agent_of_run("x:turn:") is None


def test_tool_calls_pair_requests_with_results_in_order() -> None:
    events = placed(
        [
            tool_call_requested("c1", "echo", '{"a":1}'),
            tool_call_requested("c2", "math", '{"e":"1+1"}'),
            tool_result("c2", "math", output_json='{"result":2}'),
            tool_result("c1", "echo", error_text="boom"),
        ],
        1,
    )
    assert turn_tool_calls(events) == (
        {
            "tool_name": "math",
            "input_sha256": sha256_hex('{"e":"1+1"}'),
            "output_sha256": sha256_hex('{"result":2}'),
        },
        {"tool_name": "echo", "input_sha256": sha256_hex('{"a":1}'), "output_sha256": sha256_hex("boom")},
    )


class _NoTimers:
    async def set_timer(
        self, run_id: str, timer_id: str, *, fire_at: datetime | None, after: timedelta | None, text: str
    ) -> datetime:
        raise AssertionError("not called")

    async def cancel_timer(self, run_id: str, timer_id: str) -> bool:
        raise AssertionError("not called")

    async def delegate(
        self, run_id: str, tool_call_id: str, child: str, text: str, instructions: str, mode: str = ""
    ) -> dict[str, str]:
        raise AssertionError("not called")


def test_agent_tools_are_offered_to_agent_turns_only() -> None:
    tools = BUILTIN_TOOLS.with_tools(agent_tools(_NoTimers()))
    for name in (TIMER_TOOL, DELEGATE_TOOL):
        assert name in [s.name for s in tools.specs(ToolPolicy(), agent_turn=True)]
        assert name not in [s.name for s in tools.specs(ToolPolicy())]
