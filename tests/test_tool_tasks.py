"""The pure parts of tool tasks: the state machine, the run state's waits, receipts,
the policy, the registry loader and the scripted /tools directive."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oa_runtime.auth.token import Keyring
from oa_runtime.config import Settings
from oa_runtime.core import events as ev
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.frames import map_events
from oa_runtime.core.messages import ChatMessage
from oa_runtime.core.records import ToolPolicy
from oa_runtime.core.run_state import RunState, RunStatus, apply
from oa_runtime.core.tool_tasks import TaskState, fold_receipts, params_sha256, transition
from oa_runtime.models.scripted import ScriptedProvider
from oa_runtime.ports import ModelRequest, ToolCallChunk
from oa_runtime.tools.builtin import BUILTIN_TOOLS
from oa_runtime.tools.loader import load_registry
from oa_runtime.tools.policy import denial

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = TaskState


# ----- the state machine -----


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.REQUESTED, S.QUEUED),
        (S.REQUESTED, S.FAILED),
        (S.QUEUED, S.RUNNING),
        (S.QUEUED, S.CANCELED),
        (S.RUNNING, S.STREAMING_OUTPUT),
        (S.RUNNING, S.TIMED_OUT),
        (S.STREAMING_OUTPUT, S.STREAMING_OUTPUT),
        (S.STREAMING_OUTPUT, S.SUCCEEDED),
    ],
)
def test_legal_transitions(current: TaskState, new: TaskState) -> None:
    transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.REQUESTED, S.RUNNING),  # a task runs only once it exists
        (S.REQUESTED, S.SUCCEEDED),
        (S.QUEUED, S.SUCCEEDED),
        (S.QUEUED, S.STREAMING_OUTPUT),
        (S.SUCCEEDED, S.RUNNING),
        (S.FAILED, S.SUCCEEDED),
        (S.CANCELED, S.QUEUED),
        (S.TIMED_OUT, S.TIMED_OUT),
    ],
)
def test_illegal_transitions_are_rejected(current: TaskState, new: TaskState) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, new)


def test_a_retry_must_start_a_later_attempt() -> None:
    transition(S.RUNNING, S.RUNNING, attempt=2, current_attempt=1)
    with pytest.raises(IllegalTransition):
        transition(S.RUNNING, S.RUNNING, attempt=1, current_attempt=1)


# ----- the run state -----


def _fold(specs: Sequence[ev.NewEvent]) -> RunState:
    state = RunState()
    for event in specs:
        state = apply(state, event)
    return state


def _started() -> list[ev.NewEvent]:
    return [
        ev.run_accepted("t", "scripted", "m"),
        ev.run_started("x", 1),
        ev.step_started(1),
        ev.tool_call_requested("c1", "guarded", "{}"),
        ev.step_finished(1, ev.STEP_TOOL_CALLS),
    ]


def test_an_open_approval_makes_the_run_wait_until_decided() -> None:
    expiry = (T0 + timedelta(minutes=5)).isoformat()
    state = _fold([*_started(), ev.tool_task("c1", "guarded", "queued")])
    state = apply(state, ev.approval_requested("a1", "c1", "guarded", "{}", expiry))
    assert state.status == RunStatus.WAITING and not state.status.is_terminal
    assert state.wake_at == (T0 + timedelta(minutes=5)).timestamp()
    # A new start (a restart) finds the run still waiting.
    assert apply(state, ev.run_started("y", 2)).status == RunStatus.WAITING
    with pytest.raises(IllegalTransition):
        apply(state, ev.approval_decided("other", "c1", approved=True))
    decided = apply(state, ev.approval_decided("a1", "c1", approved=True))
    assert decided.status == RunStatus.RUNNING and decided.wake_at is None
    decision = decided.decision_of("c1")
    assert decision is not None and decision.approved
    with pytest.raises(IllegalTransition):  # decided once
        apply(decided, ev.approval_decided("a1", "c1", approved=False))
    # The state survives its JSON snapshot (checkpoints, the runs row).
    assert RunState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_a_cancel_wins_over_waiting() -> None:
    state = _fold(
        [
            *_started(),
            ev.tool_task("c1", "guarded", "queued"),
            ev.approval_requested("a1", "c1", "guarded", "{}"),
        ]
    )
    assert apply(state, ev.cancel_requested("stop")).status == RunStatus.CANCELING


def test_results_must_follow_the_task_machine() -> None:
    base = _fold(_started())
    queued = apply(base, ev.tool_task("c1", "guarded", "queued"))
    with pytest.raises(IllegalTransition):
        apply(queued, ev.tool_result("c1", "guarded", output_json="{}", receipt={"state": "succeeded"}))
    with pytest.raises(IllegalTransition):
        apply(base, ev.tool_progress("c1", "{}"))  # no task runs yet
    with pytest.raises(IllegalTransition):
        apply(base, ev.tool_task("c9", "x", "queued"))  # no such call
    running = apply(queued, ev.tool_task("c1", "guarded", "running", attempt=1))
    done = apply(running, ev.tool_result("c1", "guarded", output_json="{}", receipt={"state": "succeeded"}))
    assert done.pending_tool_calls == () and done.tool_tasks == ()
    with pytest.raises(IllegalTransition):  # one result per call
        apply(done, ev.tool_result("c1", "guarded", output_json="{}", receipt={"state": "succeeded"}))
    # Logs written before tool tasks existed carry no state and stay readable.
    assert apply(base, ev.tool_result("c1", "guarded", output_json="{}")).pending_tool_calls == ()


def test_old_snapshots_without_tool_fields_load() -> None:
    snapshot = _fold(_started()).to_json()
    for key in ("tool_tasks", "waits", "decisions"):
        del snapshot[key]
    assert RunState.from_json(snapshot).pending_tool_calls[0].id == "c1"


# ----- receipts -----


def _events(specs: Sequence[ev.NewEvent]) -> list[ev.Event]:
    return [
        ev.Event("r1", seq, e.event_id, e.type, T0 + timedelta(milliseconds=10 * seq), e.payload)
        for seq, e in enumerate(specs, start=1)
    ]


def test_receipts_are_a_fold_of_the_log() -> None:
    output = json.dumps({"b": 1, "a": "é"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    log = _events(
        [
            *_started(),
            ev.tool_task("c1", "guarded", "queued", tool_version="3", params_sha256=params_sha256("{}")),
            ev.approval_requested("a1", "c1", "guarded", "{}"),
            ev.approval_decided("a1", "c1", approved=True, reason="fine"),
            ev.tool_task("c1", "guarded", "running", attempt=1),
            ev.tool_progress("c1", '{"pct":50}'),
            ev.tool_task("c1", "guarded", "running", attempt=2),
            ev.tool_result(
                "c1",
                "guarded",
                output_json=output,
                receipt={
                    "state": "succeeded",
                    "attempt": 2,
                    "output_sha256": hashlib.sha256(output.encode()).hexdigest(),
                },
            ),
        ]
    )
    (r,) = fold_receipts("r1", log)
    assert (r.state, r.tool_version, r.attempts, r.progress_events) == (S.SUCCEEDED, "3", 2, 1)
    assert r.params_sha256 == hashlib.sha256(b"{}").hexdigest()
    assert r.output_sha256 == hashlib.sha256(output.encode()).hexdigest()
    assert (r.approval, r.approval_reason, r.approval_id) == ("approved", "fine", "a1")
    assert r.started_at == log[8].occurred_at and r.finished_at == log[11].occurred_at
    assert r.latency_ms == 30 and r.request_seq == 4 and r.finish_seq == 12


def test_a_canceled_run_closes_its_open_receipts() -> None:
    log = _events(
        [
            *_started(),
            ev.tool_task("c1", "guarded", "queued"),
            ev.cancel_requested(""),
            ev.run_finished("canceled", "canceled"),
        ]
    )
    (r,) = fold_receipts("r1", log)
    assert (r.state, r.error_class) == (S.CANCELED, "canceled")


def test_params_hash_is_of_canonical_json() -> None:
    assert params_sha256('{"b": 1, "a": [1, 2]}') == params_sha256('{"a":[1,2],"b":1}')
    assert params_sha256("") == params_sha256("{}")
    assert params_sha256("{not json") == hashlib.sha256(b"{not json").hexdigest()


# ----- frames -----


def test_approval_and_denial_frames() -> None:
    log = _events(
        [
            *_started(),
            ev.tool_task("c1", "guarded", "queued"),
            ev.approval_requested("a1", "c1", "guarded", "{}"),
            ev.approval_requested("a2", "unknown-call", "guarded", "{}"),  # never a frame the client rejects
            ev.approval_decided("a1", "c1", approved=False),
            ev.tool_result(
                "c1",
                "guarded",
                error_text="no",
                receipt={"state": "failed", "error_class": "approval_denied"},
            ),
        ]
    )
    chunks = [f.chunk for f in map_events(log) if f.chunk]
    assert {"type": "tool-approval-request", "approvalId": "a1", "toolCallId": "c1"} in chunks
    assert {"type": "tool-output-denied", "toolCallId": "c1"} in chunks
    assert not any(c.get("approvalId") == "a2" for c in chunks)
    assert not any(c["type"] == "tool-output-error" for c in chunks)


# ----- policy, registry -----


def test_policy_deny_wins_and_guests_get_only_guest_safe_tools() -> None:
    echo, sleep = BUILTIN_TOOLS.get("echo"), BUILTIN_TOOLS.get("sleep")
    assert denial(ToolPolicy(allow=("echo",), deny=("echo",)), "echo", echo) is not None
    assert denial(ToolPolicy(allow=("math",)), "echo", echo) is not None
    assert denial(ToolPolicy(), "echo", echo) is None
    assert denial(ToolPolicy(guest_mode=True), "echo", echo) is None
    assert denial(ToolPolicy(guest_mode=True), "sleep", sleep) is not None
    offered = {s.name for s in BUILTIN_TOOLS.specs(ToolPolicy(deny=("fail",), guest_mode=True))}
    assert offered == {"echo", "clock", "math", "ask_user", "artifact_read"}


def test_the_loader_applies_config_and_defaults() -> None:
    config = {
        "python": ["tests.support.tool_kit:TOOLS"],
        "remote": [{"name": "hosted", "url": "http://127.0.0.1:1/t", "idempotent": True}],
        "tools": {"echo": {"requires_approval": True, "timeout_s": 2}},
    }
    settings = Settings(tools_config=json.dumps(config), tool_timeout_s=9, approval_timeout_s=60)
    registry = load_registry(BUILTIN_TOOLS, settings, Keyring({"default": b"k"}))
    echo, hosted, stall = registry.get("echo"), registry.get("hosted"), registry.get("stall")
    assert (
        echo is not None and echo.requires_approval and echo.timeout_s == 2 and echo.approval_timeout_s == 60
    )
    assert hosted is not None and hosted.idempotent and hosted.timeout_s == 9
    assert stall is not None and stall.timeout_s == 0.3
    with pytest.raises(ValueError, match="unknown tools"):
        load_registry(
            BUILTIN_TOOLS, Settings(tools_config='{"tools": {"nope": {}}}'), Keyring({"default": b"k"})
        )
    with pytest.raises(ValueError, match="cannot override"):
        load_registry(
            BUILTIN_TOOLS, Settings(tools_config='{"tools": {"echo": {"fn": 1}}}'), Keyring({"default": b"k"})
        )


# ----- the scripted model's /tools directive -----


async def test_scripted_tools_directive_makes_parallel_calls_and_resumes_after_them() -> None:
    prompt = '/tools [{"name": "a", "input": {"x": 1}}, {"name": "b"}]\n/tool c {}\n/say end'
    provider = ScriptedProvider()

    async def step(messages: list[ChatMessage], n: int) -> list[Any]:
        return [c async for c in provider.stream(ModelRequest("r", "scripted", n, tuple(messages)))]

    user = ChatMessage("user", prompt)
    first = await step([user], 1)
    calls = [c.call for c in first if isinstance(c, ToolCallChunk)]
    assert [(c.id, c.name, json.loads(c.input_json)) for c in calls] == [
        ("call_1_0_0", "a", {"x": 1}),
        ("call_1_0_1", "b", {}),
    ]
    answered = [
        user,
        ChatMessage("tool", "{}", tool_call_id="x"),
        ChatMessage("tool", "{}", tool_call_id="y"),
    ]
    second = await step(answered, 2)
    assert [c.call.name for c in second if isinstance(c, ToolCallChunk)] == ["c"]


def test_a_question_of_a_tool_call_is_a_data_part() -> None:
    log = _events(
        [
            *_started(),
            ev.tool_task("c1", "guarded", "queued"),
            ev.question_asked("q1", "c1", "Tea?"),
            ev.question_asked("q2", "", "not from a tool call"),
        ]
    )
    chunks = [f.chunk for f in map_events(log) if f.chunk]
    questions = [c for c in chunks if c["type"] == "data-question"]
    assert questions == [
        {
            "type": "data-question",
            "id": "q1",
            "data": {"questionId": "q1", "toolCallId": "c1", "text": "Tea?"},
        }
    ]
