"""Protobuf ⇄ core conversion, in one place. Nothing past this module sees a proto type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2, tool_task_pb2

from ..core import events as ev
from ..core.admission import OverloadPolicy, ThreadInputPolicy
from ..core.errors import InvalidArgument
from ..core.records import RunRecord, StartRequest, ToolPolicy
from ..core.run_state import RunStatus
from ..core.tool_tasks import Receipt, TaskState

_STATE = {
    RunStatus.QUEUED: run_pb2.RUN_STATE_QUEUED,
    RunStatus.RUNNING: run_pb2.RUN_STATE_RUNNING,
    RunStatus.CANCELING: run_pb2.RUN_STATE_CANCELING,
    RunStatus.SUCCEEDED: run_pb2.RUN_STATE_SUCCEEDED,
    RunStatus.FAILED: run_pb2.RUN_STATE_FAILED,
    RunStatus.CANCELED: run_pb2.RUN_STATE_CANCELED,
    RunStatus.WAITING: run_pb2.RUN_STATE_WAITING,
}
_STEP_REASON = {
    ev.STEP_STOP: run_event_pb2.STEP_FINISH_REASON_STOP,
    ev.STEP_TOOL_CALLS: run_event_pb2.STEP_FINISH_REASON_TOOL_CALLS,
    ev.STEP_LENGTH: run_event_pb2.STEP_FINISH_REASON_LENGTH,
    ev.STEP_ERROR: run_event_pb2.STEP_FINISH_REASON_ERROR,
    ev.STEP_INTERRUPTED: run_event_pb2.STEP_FINISH_REASON_INTERRUPTED,
}
_OUTCOME = {
    ev.OUTCOME_SUCCEEDED: run_event_pb2.RUN_OUTCOME_SUCCEEDED,
    ev.OUTCOME_FAILED: run_event_pb2.RUN_OUTCOME_FAILED,
    ev.OUTCOME_CANCELED: run_event_pb2.RUN_OUTCOME_CANCELED,
}
# Event type → the RunEvent oneof field that carries its payload.
_PAYLOAD_FIELD = {
    ev.RUN_ACCEPTED: "run_accepted",
    ev.RUN_STARTED: "run_started",
    ev.STEP_STARTED: "step_started",
    ev.STEP_FINISHED: "step_finished",
    ev.MESSAGE_DELTA: "message_delta",
    ev.MESSAGE_COMPLETED: "message_completed",
    ev.TOOL_CALL_REQUESTED: "tool_call_requested",
    ev.TOOL_PROGRESS: "tool_call_progress",
    ev.TOOL_RESULT: "tool_call_result",
    ev.QUESTION_ASKED: "question_asked",
    ev.QUESTION_ANSWERED: "question_answered",
    ev.CANCEL_REQUESTED: "cancel_requested",
    ev.RUN_FINISHED: "run_finished",
    ev.CHECKPOINT: "checkpoint",
    ev.EXTERNAL: "external",
    ev.TOOL_TASK: "tool_task",
    ev.APPROVAL_REQUESTED: "approval_requested",
    ev.APPROVAL_DECIDED: "approval_decided",
    ev.RUN_QUEUED: "run_queued",
}
_THREAD_POLICY = {
    run_service_pb2.THREAD_INPUT_POLICY_UNSPECIFIED: ThreadInputPolicy.ENQUEUE,
    run_service_pb2.THREAD_INPUT_POLICY_ENQUEUE: ThreadInputPolicy.ENQUEUE,
    run_service_pb2.THREAD_INPUT_POLICY_INTERRUPT: ThreadInputPolicy.INTERRUPT,
    run_service_pb2.THREAD_INPUT_POLICY_REJECT: ThreadInputPolicy.REJECT,
    run_service_pb2.THREAD_INPUT_POLICY_ROLLBACK: ThreadInputPolicy.ROLLBACK,
}
_OVERLOAD_POLICY = {
    run_service_pb2.OVERLOAD_POLICY_UNSPECIFIED: None,
    run_service_pb2.OVERLOAD_POLICY_QUEUE: OverloadPolicy.QUEUE,
    run_service_pb2.OVERLOAD_POLICY_REJECT: OverloadPolicy.REJECT,
}


def thread_policy_from_proto(value: int) -> ThreadInputPolicy:
    if value not in _THREAD_POLICY:
        raise InvalidArgument("thread_input_policy", "is not a known policy")
    return _THREAD_POLICY[value]


def overload_policy_from_proto(value: int) -> OverloadPolicy | None:
    if value not in _OVERLOAD_POLICY:
        raise InvalidArgument("overload_policy", "is not a known policy")
    return _OVERLOAD_POLICY[value]


_TASK_STATE = {
    TaskState.REQUESTED: tool_task_pb2.TOOL_TASK_STATE_REQUESTED,
    TaskState.QUEUED: tool_task_pb2.TOOL_TASK_STATE_QUEUED,
    TaskState.RUNNING: tool_task_pb2.TOOL_TASK_STATE_RUNNING,
    TaskState.STREAMING_OUTPUT: tool_task_pb2.TOOL_TASK_STATE_STREAMING_OUTPUT,
    TaskState.SUCCEEDED: tool_task_pb2.TOOL_TASK_STATE_SUCCEEDED,
    TaskState.FAILED: tool_task_pb2.TOOL_TASK_STATE_FAILED,
    TaskState.CANCELED: tool_task_pb2.TOOL_TASK_STATE_CANCELED,
    TaskState.TIMED_OUT: tool_task_pb2.TOOL_TASK_STATE_TIMED_OUT,
}
_APPROVAL_STATE = {
    "": tool_task_pb2.APPROVAL_STATE_UNSPECIFIED,
    "requested": tool_task_pb2.APPROVAL_STATE_REQUESTED,
    "approved": tool_task_pb2.APPROVAL_STATE_APPROVED,
    "denied": tool_task_pb2.APPROVAL_STATE_DENIED,
    "timed_out": tool_task_pb2.APPROVAL_STATE_TIMED_OUT,
}


def status_from_proto(state: int) -> RunStatus | None:
    for status, value in _STATE.items():
        if value == state:
            return status
    return None


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _struct_to_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(value)
    return result


def start_request_from_proto(req: run_service_pb2.StartRunRequest) -> StartRequest:
    messages = tuple(
        {
            k: v
            for k, v in {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "parts": [_struct_to_dict(p) for p in m.parts],
                "tool_call_id": m.tool_call_id,
                "tool_calls": [_struct_to_dict(c) for c in m.tool_calls],
            }.items()
            if v
        }
        for m in req.messages
    )
    policy = req.tool_policy
    return StartRequest(
        run_id=req.run_id,
        thread_id=req.thread_id,
        # The core keeps user ids in their one canonical form, decimal text ("" for none).
        user_id=str(req.user_id) if req.user_id else "",
        autopilot_id=req.autopilot_id,
        authenticated_session=req.authenticated_session,
        prompt=req.prompt,
        messages=messages,
        context_frames=tuple(_struct_to_dict(f) for f in req.context_frames),
        tool_policy=ToolPolicy(tuple(policy.allow), tuple(policy.deny), policy.guest_mode),
        model=req.model,
    )


def run_to_proto(record: RunRecord) -> run_pb2.Run:
    r = record.request
    out = run_pb2.Run(
        run_id=r.run_id,
        thread_id=r.thread_id,
        user_id=user_id_to_proto(r.user_id),
        autopilot_id=r.autopilot_id,
        state=_STATE[record.status],
        model=r.model,
        create_time=_timestamp(record.created_at),
        update_time=_timestamp(record.updated_at),
        last_seq=record.last_seq,
        step_count=record.step_count,
        finish_reason=record.finish_reason,
        error_message=record.error_message,
        tool_policy=run_pb2.ToolPolicy(
            allow=list(r.tool_policy.allow),
            deny=list(r.tool_policy.deny),
            guest_mode=r.tool_policy.guest_mode,
        ),
        authenticated_session=r.authenticated_session,
    )
    if record.wake_at is not None:
        out.wake_time.CopyFrom(_timestamp_of_epoch(record.wake_at))
    return out


def user_id_to_proto(user_id: str) -> int:
    """The canonical decimal user id as the int64 field; 0 for none (or a record from before
    user ids were integers)."""
    return int(user_id) if user_id.isascii() and user_id.isdigit() else 0


def _timestamp_of_epoch(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def message_to_proto(role: str, content: str, message_id: str = "") -> run_pb2.Message:
    return run_pb2.Message(id=message_id, role=role, content=content)


def _scalar_fields(field: str) -> frozenset[str]:
    """The payload message's fields a payload value can be assigned to directly."""
    message = run_event_pb2.RunEvent.DESCRIPTOR.fields_by_name[field].message_type
    return frozenset(f.name for f in message.fields if f.message_type is None and not f.is_repeated)


# Event type → the payload fields set by plain assignment, for payload messages of scalars
# only: much cheaper than json_format (a replay converts every event of a run).
_SCALAR_PAYLOAD = {
    t: fields
    for t, field in _PAYLOAD_FIELD.items()
    if len(fields := _scalar_fields(field))
    == len(run_event_pb2.RunEvent.DESCRIPTOR.fields_by_name[field].message_type.fields)
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def event_to_proto(event: ev.Event, *, fast: bool = True) -> run_event_pb2.RunEvent:
    """The proto of an event. `fast=False` converts through json_format and
    Timestamp.FromDatetime only: the reference the fast path is tested against."""
    out = run_event_pb2.RunEvent(run_id=event.run_id, seq=event.seq, event_id=event.event_id, type=event.type)
    if fast:
        moment = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
        since = moment - _EPOCH  # Timestamp.FromDatetime's arithmetic, without its cost
        out.occurred_at.seconds = since.days * 86_400 + since.seconds
        out.occurred_at.nanos = since.microseconds * 1000
    else:
        out.occurred_at.FromDatetime(event.occurred_at)
    field = _PAYLOAD_FIELD.get(event.type)
    if field is None:
        return out
    payload = dict(event.payload)
    if event.type == ev.STEP_FINISHED:
        payload["reason"] = _STEP_REASON.get(payload.get("reason", ""), 0)
    elif event.type == ev.RUN_FINISHED:
        payload["outcome"] = _OUTCOME.get(payload.get("outcome", ""), 0)
    elif event.type in (ev.TOOL_TASK, ev.TOOL_RESULT) and "state" in payload:
        payload["state"] = _TASK_STATE.get(TaskState(payload["state"]), 0)
    target = getattr(out, field)
    scalars = _SCALAR_PAYLOAD.get(event.type) if fast else None
    if scalars is not None and _assign(target, payload, scalars):
        target.SetInParent()
        return out
    target.Clear()
    if event.type == ev.EXTERNAL:
        target.kind = payload.get("kind", "")
        target.data.update(payload.get("data") or {})
    else:
        json_format.ParseDict(payload, target, ignore_unknown_fields=True)
    target.SetInParent()
    return out


def _assign(target: Any, payload: dict[str, Any], scalars: frozenset[str]) -> bool:
    """Sets the payload's known fields; False (caller falls back to json_format) when a
    value does not have the field's type, which json_format may still convert."""
    try:
        for key, value in payload.items():
            if key in scalars:
                setattr(target, key, value)
    except (TypeError, ValueError):
        return False
    return True


def events_to_proto(events: Sequence[ev.Event]) -> list[run_event_pb2.RunEvent]:
    return [event_to_proto(event) for event in events]


def appended_events_from_proto(
    req: run_service_pb2.AppendRunEventsRequest,
) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, _struct_to_dict(e.data)) for e in req.events]


def tool_task_to_proto(r: Receipt) -> tool_task_pb2.ToolTask:
    out = tool_task_pb2.ToolTask(
        run_id=r.run_id,
        tool_call_id=r.tool_call_id,
        tool_name=r.tool_name,
        tool_version=r.tool_version,
        state=_TASK_STATE[r.state],
        input_json=r.input_json,
        params_sha256=r.params_sha256,
        output_json=r.output_json,
        output_sha256=r.output_sha256,
        error_text=r.error_text,
        error_class=r.error_class,
        attempts=r.attempts,
        progress_events=r.progress_events,
        step=r.step,
        request_time=_timestamp(r.requested_at),
        request_seq=r.request_seq,
        finish_seq=r.finish_seq,
        approval_id=r.approval_id,
        approval_state=_APPROVAL_STATE.get(r.approval, 0),
        approval_reason=r.approval_reason,
        question_id=r.question_id,
        question=r.question,
        answer=r.answer,
        replayed=r.replayed,
    )
    if r.started_at is not None:
        out.start_time.CopyFrom(_timestamp(r.started_at))
    if r.finished_at is not None:
        out.finish_time.CopyFrom(_timestamp(r.finished_at))
    if r.latency_ms is not None:
        out.latency_ms = r.latency_ms
    return out
