"""The agent contract (agent*.proto) and the pure core agree, so the edge's conversion stays
mechanical: every agent event type has its payload in AgentEvent's oneof, every payload key the
core writes is a field of that message, and each proto enum is the core's words upper-cased."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.descriptor import EnumDescriptor
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents.spec import AgentSpec, CatchUp, InputPolicy
from oa_runtime.core.agents.state import AgentStatus
from oa_runtime.core.errors import DomainError
from oa_runtime.core.events import NewEvent
from openagents.runtime.v1 import agent_event_pb2, agent_pb2, error_reason_pb2

from tests.test_agents_lifecycle import make_spec

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SAMPLES: list[NewEvent] = [
    ev.agent_created(make_spec().to_json(), NOW),
    ev.frame_received("f1", ev.FRAME_USER_PROMPT, text="hi", received_at=NOW),
    ev.input_policy_applied("enqueue", ["f1"], "a:turn:1", ev.OUTCOME_QUEUED),
    ev.turn_started(1, "a:turn:1", ["f1"], model="m", attempt=1, started_at=NOW, deadline=NOW),
    ev.turn_finished(
        "a:turn:1", ev.TURN_SUCCEEDED, finished_at=NOW, tool_calls=[ev.tool_call_digest("t", "i", "o")]
    ),
    ev.sleep_requested("ops"),
    ev.slept(ev.SLEEP_IDLE, NOW, NOW),
    ev.woken(ev.WAKE_FRAME, NOW),
    ev.paused(ev.PAUSE_CIRCUIT_OPEN, "why", NOW, NOW),
    ev.resumed(ev.RESUME_REQUESTED, NOW),
    ev.failed(ev.FAIL_INTERNAL, "boom", NOW),
    ev.escalated("a", "b", 1, 2),
    ev.supervision_decision(ev.ACT_RESTART, "model_error", run_id="r", at=NOW, not_before=NOW),
    ev.timer_set("t", NOW, text="x", run_id="r"),
    ev.timer_canceled("t"),
    ev.timer_fired(ev.SOURCE_TIMER, "t", NOW, "timer:t:2", late=False),
    ev.firings_skipped("s", NOW, 3),
    ev.supervision_decision(
        ev.ACT_RESTART_CHILD,
        "run_failed",
        run_id="a:sub:x:2",
        at=NOW,
        attempt=2,
        child_id="x",
        report_id="r1",
    ),
    ev.reported("child:a.c:paused:9", ev.ACT_ESCALATE),
    ev.subrun_started("x", "a:sub:x:1", "t.sub.x", text="do", instructions="", tool_call_id="call-1", at=NOW),
    ev.subrun_finished("x", "a:sub:x:1", ev.TURN_SUCCEEDED, "subrun:x"),
    ev.subruns_checked(NOW, NOW),
    ev.turn_waiting("a:turn:1", NOW, NOW),
    ev.turn_moved("a:turn:1", NOW),
]


def _oneof_field(event_type: str) -> str:
    name = event_type.removeprefix("agent.")
    return "agent_created" if name == "created" else name


def test_every_agent_event_type_has_a_payload_and_a_sample() -> None:
    oneof = agent_event_pb2.AgentEvent.DESCRIPTOR.oneofs_by_name["payload"]
    assert {_oneof_field(t) for t in ev.AGENT_EVENT_TYPES} == {f.name for f in oneof.fields}
    assert {e.type for e in SAMPLES} == ev.AGENT_EVENT_TYPES


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)
def test_payload_keys_are_fields_of_the_payload_message(event: NewEvent) -> None:
    field = agent_event_pb2.AgentEvent.DESCRIPTOR.fields_by_name[_oneof_field(event.type)]
    assert set(event.payload) <= set(field.message_type.fields_by_name)


def _words(enum: EnumDescriptor, prefix: str) -> set[str]:
    return {v.name.removeprefix(prefix).lower() for v in enum.values if not v.name.endswith("_UNSPECIFIED")}


def test_enums_are_the_cores_words() -> None:
    assert _words(agent_pb2.AgentState.DESCRIPTOR, "AGENT_STATE_") == {s.value for s in AgentStatus}
    assert _words(agent_pb2.InputPolicy.DESCRIPTOR, "INPUT_POLICY_") == {p.value for p in InputPolicy}
    assert _words(agent_pb2.CatchUpPolicy.DESCRIPTOR, "CATCH_UP_POLICY_") == {c.value for c in CatchUp}
    assert _words(agent_pb2.FrameKind.DESCRIPTOR, "FRAME_KIND_") == ev.FRAME_KINDS
    actions = {
        ev.ACT_RESTART,
        ev.ACT_ACCEPT_FAILURE,
        ev.ACT_PAUSE,
        ev.ACT_FAIL,
        ev.ACT_CANCEL_TURN,
        ev.ACT_WARN_LOOP,
        ev.ACT_RESTART_CHILD,
        ev.ACT_ESCALATE,
    }
    assert _words(agent_event_pb2.SupervisionAction.DESCRIPTOR, "SUPERVISION_ACTION_") == actions
    outcomes = {
        ev.OUTCOME_QUEUED,
        ev.OUTCOME_REJECTED,
        ev.OUTCOME_CANCEL_REQUESTED,
        ev.OUTCOME_ALREADY_CANCELING,
    }
    assert _words(agent_event_pb2.InputPolicyOutcome.DESCRIPTOR, "INPUT_POLICY_OUTCOME_") == outcomes
    assert _words(agent_event_pb2.TimerSource.DESCRIPTOR, "TIMER_SOURCE_") == {
        ev.SOURCE_SCHEDULE,
        ev.SOURCE_TIMER,
    }


def test_agent_error_reasons_are_documented() -> None:
    from oa_runtime.core.agents import errors

    reasons = {v.name.removeprefix("ERROR_REASON_") for v in error_reason_pb2.ErrorReason.DESCRIPTOR.values}
    classes: list[type[DomainError]] = [
        errors.AgentNotFound,
        errors.AgentAlreadyExists,
        errors.AgentBusy,
        errors.AgentFailed,
        errors.FrameConflict,
    ]
    assert {c.reason for c in classes} <= reasons


def test_definition_fields_have_a_home_in_the_agent_message() -> None:
    """The spec's fields, under the proto's names (models = model + escalation_models)."""
    renamed = {"models": "model", "supervision": "supervision_policy", "memory": "memory_policy"}
    fields = set(agent_pb2.Agent.DESCRIPTOR.fields_by_name)
    assert {renamed.get(k, k) for k in AgentSpec("a", "t").to_json()} <= fields
