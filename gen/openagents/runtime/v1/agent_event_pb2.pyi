import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openagents.runtime.v1 import agent_pb2 as _agent_pb2
from openagents.runtime.v1 import run_event_pb2 as _run_event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InputPolicyOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_POLICY_OUTCOME_UNSPECIFIED: _ClassVar[InputPolicyOutcome]
    INPUT_POLICY_OUTCOME_QUEUED: _ClassVar[InputPolicyOutcome]
    INPUT_POLICY_OUTCOME_REJECTED: _ClassVar[InputPolicyOutcome]
    INPUT_POLICY_OUTCOME_CANCEL_REQUESTED: _ClassVar[InputPolicyOutcome]
    INPUT_POLICY_OUTCOME_ALREADY_CANCELING: _ClassVar[InputPolicyOutcome]

class SupervisionAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUPERVISION_ACTION_UNSPECIFIED: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_RESTART: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_ACCEPT_FAILURE: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_PAUSE: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_FAIL: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_CANCEL_TURN: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_WARN_LOOP: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_RESTART_CHILD: _ClassVar[SupervisionAction]
    SUPERVISION_ACTION_ESCALATE: _ClassVar[SupervisionAction]

class TimerSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIMER_SOURCE_UNSPECIFIED: _ClassVar[TimerSource]
    TIMER_SOURCE_SCHEDULE: _ClassVar[TimerSource]
    TIMER_SOURCE_TIMER: _ClassVar[TimerSource]
INPUT_POLICY_OUTCOME_UNSPECIFIED: InputPolicyOutcome
INPUT_POLICY_OUTCOME_QUEUED: InputPolicyOutcome
INPUT_POLICY_OUTCOME_REJECTED: InputPolicyOutcome
INPUT_POLICY_OUTCOME_CANCEL_REQUESTED: InputPolicyOutcome
INPUT_POLICY_OUTCOME_ALREADY_CANCELING: InputPolicyOutcome
SUPERVISION_ACTION_UNSPECIFIED: SupervisionAction
SUPERVISION_ACTION_RESTART: SupervisionAction
SUPERVISION_ACTION_ACCEPT_FAILURE: SupervisionAction
SUPERVISION_ACTION_PAUSE: SupervisionAction
SUPERVISION_ACTION_FAIL: SupervisionAction
SUPERVISION_ACTION_CANCEL_TURN: SupervisionAction
SUPERVISION_ACTION_WARN_LOOP: SupervisionAction
SUPERVISION_ACTION_RESTART_CHILD: SupervisionAction
SUPERVISION_ACTION_ESCALATE: SupervisionAction
TIMER_SOURCE_UNSPECIFIED: TimerSource
TIMER_SOURCE_SCHEDULE: TimerSource
TIMER_SOURCE_TIMER: TimerSource

class AgentEvent(_message.Message):
    __slots__ = ("agent_id", "seq", "event_id", "type", "occurred_at", "agent_created", "frame_received", "input_policy_applied", "turn_started", "turn_finished", "sleep_requested", "slept", "woken", "paused", "resumed", "failed", "escalated", "supervision_decision", "timer_set", "timer_canceled", "timer_fired", "firings_skipped", "reported", "subrun_started", "subrun_finished", "subruns_checked", "turn_waiting", "turn_moved")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    AGENT_CREATED_FIELD_NUMBER: _ClassVar[int]
    FRAME_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    INPUT_POLICY_APPLIED_FIELD_NUMBER: _ClassVar[int]
    TURN_STARTED_FIELD_NUMBER: _ClassVar[int]
    TURN_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SLEEP_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    SLEPT_FIELD_NUMBER: _ClassVar[int]
    WOKEN_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    SUPERVISION_DECISION_FIELD_NUMBER: _ClassVar[int]
    TIMER_SET_FIELD_NUMBER: _ClassVar[int]
    TIMER_CANCELED_FIELD_NUMBER: _ClassVar[int]
    TIMER_FIRED_FIELD_NUMBER: _ClassVar[int]
    FIRINGS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REPORTED_FIELD_NUMBER: _ClassVar[int]
    SUBRUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    SUBRUN_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SUBRUNS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    TURN_WAITING_FIELD_NUMBER: _ClassVar[int]
    TURN_MOVED_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    seq: int
    event_id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    agent_created: AgentCreated
    frame_received: AgentFrameReceived
    input_policy_applied: AgentInputPolicyApplied
    turn_started: AgentTurnStarted
    turn_finished: AgentTurnFinished
    sleep_requested: AgentSleepRequested
    slept: AgentSlept
    woken: AgentWoken
    paused: AgentPaused
    resumed: AgentResumed
    failed: AgentFailed
    escalated: AgentEscalated
    supervision_decision: AgentSupervisionDecision
    timer_set: AgentTimerSet
    timer_canceled: AgentTimerCanceled
    timer_fired: AgentTimerFired
    firings_skipped: AgentFiringsSkipped
    reported: AgentReported
    subrun_started: AgentSubrunStarted
    subrun_finished: AgentSubrunFinished
    subruns_checked: AgentSubrunsChecked
    turn_waiting: AgentTurnWaiting
    turn_moved: AgentTurnMoved
    def __init__(self, agent_id: _Optional[str] = ..., seq: _Optional[int] = ..., event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_created: _Optional[_Union[AgentCreated, _Mapping]] = ..., frame_received: _Optional[_Union[AgentFrameReceived, _Mapping]] = ..., input_policy_applied: _Optional[_Union[AgentInputPolicyApplied, _Mapping]] = ..., turn_started: _Optional[_Union[AgentTurnStarted, _Mapping]] = ..., turn_finished: _Optional[_Union[AgentTurnFinished, _Mapping]] = ..., sleep_requested: _Optional[_Union[AgentSleepRequested, _Mapping]] = ..., slept: _Optional[_Union[AgentSlept, _Mapping]] = ..., woken: _Optional[_Union[AgentWoken, _Mapping]] = ..., paused: _Optional[_Union[AgentPaused, _Mapping]] = ..., resumed: _Optional[_Union[AgentResumed, _Mapping]] = ..., failed: _Optional[_Union[AgentFailed, _Mapping]] = ..., escalated: _Optional[_Union[AgentEscalated, _Mapping]] = ..., supervision_decision: _Optional[_Union[AgentSupervisionDecision, _Mapping]] = ..., timer_set: _Optional[_Union[AgentTimerSet, _Mapping]] = ..., timer_canceled: _Optional[_Union[AgentTimerCanceled, _Mapping]] = ..., timer_fired: _Optional[_Union[AgentTimerFired, _Mapping]] = ..., firings_skipped: _Optional[_Union[AgentFiringsSkipped, _Mapping]] = ..., reported: _Optional[_Union[AgentReported, _Mapping]] = ..., subrun_started: _Optional[_Union[AgentSubrunStarted, _Mapping]] = ..., subrun_finished: _Optional[_Union[AgentSubrunFinished, _Mapping]] = ..., subruns_checked: _Optional[_Union[AgentSubrunsChecked, _Mapping]] = ..., turn_waiting: _Optional[_Union[AgentTurnWaiting, _Mapping]] = ..., turn_moved: _Optional[_Union[AgentTurnMoved, _Mapping]] = ...) -> None: ...

class AgentCreated(_message.Message):
    __slots__ = ("spec", "created_at")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    spec: _agent_pb2.Agent
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, spec: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentFrameReceived(_message.Message):
    __slots__ = ("frame_id", "kind", "text", "data", "occurred_at", "received_at", "digest")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    kind: _agent_pb2.FrameKind
    text: str
    data: _struct_pb2.Struct
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    digest: str
    def __init__(self, frame_id: _Optional[str] = ..., kind: _Optional[_Union[_agent_pb2.FrameKind, str]] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., digest: _Optional[str] = ...) -> None: ...

class AgentInputPolicyApplied(_message.Message):
    __slots__ = ("policy", "frame_ids", "run_id", "outcome")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    FRAME_IDS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    policy: _agent_pb2.InputPolicy
    frame_ids: _containers.RepeatedScalarFieldContainer[str]
    run_id: str
    outcome: InputPolicyOutcome
    def __init__(self, policy: _Optional[_Union[_agent_pb2.InputPolicy, str]] = ..., frame_ids: _Optional[_Iterable[str]] = ..., run_id: _Optional[str] = ..., outcome: _Optional[_Union[InputPolicyOutcome, str]] = ...) -> None: ...

class AgentTurnStarted(_message.Message):
    __slots__ = ("turn", "run_id", "frame_ids", "model", "attempt", "started_at", "deadline", "loop_warning", "retry_of_run_id")
    TURN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_IDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    LOOP_WARNING_FIELD_NUMBER: _ClassVar[int]
    RETRY_OF_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    turn: int
    run_id: str
    frame_ids: _containers.RepeatedScalarFieldContainer[str]
    model: str
    attempt: int
    started_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    loop_warning: str
    retry_of_run_id: str
    def __init__(self, turn: _Optional[int] = ..., run_id: _Optional[str] = ..., frame_ids: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., attempt: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., loop_warning: _Optional[str] = ..., retry_of_run_id: _Optional[str] = ...) -> None: ...

class ToolCallDigest(_message.Message):
    __slots__ = ("tool_name", "input_sha256", "output_sha256")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    input_sha256: str
    output_sha256: str
    def __init__(self, tool_name: _Optional[str] = ..., input_sha256: _Optional[str] = ..., output_sha256: _Optional[str] = ...) -> None: ...

class AgentTurnFinished(_message.Message):
    __slots__ = ("run_id", "outcome", "reason", "error_message", "finished_at", "tool_calls", "rolled_back")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    outcome: _run_event_pb2.RunOutcome
    reason: str
    error_message: str
    finished_at: _timestamp_pb2.Timestamp
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCallDigest]
    rolled_back: bool
    def __init__(self, run_id: _Optional[str] = ..., outcome: _Optional[_Union[_run_event_pb2.RunOutcome, str]] = ..., reason: _Optional[str] = ..., error_message: _Optional[str] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCallDigest, _Mapping]]] = ..., rolled_back: _Optional[bool] = ...) -> None: ...

class AgentSleepRequested(_message.Message):
    __slots__ = ("by",)
    BY_FIELD_NUMBER: _ClassVar[int]
    by: str
    def __init__(self, by: _Optional[str] = ...) -> None: ...

class AgentSlept(_message.Message):
    __slots__ = ("reason", "at", "wake_at")
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    WAKE_AT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    at: _timestamp_pb2.Timestamp
    wake_at: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wake_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentWoken(_message.Message):
    __slots__ = ("reason", "at")
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentPaused(_message.Message):
    __slots__ = ("reason", "detail", "at", "until")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    detail: str
    at: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., detail: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentResumed(_message.Message):
    __slots__ = ("by", "at")
    BY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    by: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, by: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentFailed(_message.Message):
    __slots__ = ("reason", "error_message", "at")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    error_message: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, reason: _Optional[str] = ..., error_message: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentEscalated(_message.Message):
    __slots__ = ("from_model", "to_model", "model_index", "failed_turns")
    FROM_MODEL_FIELD_NUMBER: _ClassVar[int]
    TO_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_INDEX_FIELD_NUMBER: _ClassVar[int]
    FAILED_TURNS_FIELD_NUMBER: _ClassVar[int]
    from_model: str
    to_model: str
    model_index: int
    failed_turns: int
    def __init__(self, from_model: _Optional[str] = ..., to_model: _Optional[str] = ..., model_index: _Optional[int] = ..., failed_turns: _Optional[int] = ...) -> None: ...

class AgentSupervisionDecision(_message.Message):
    __slots__ = ("action", "reason", "run_id", "at", "detail", "attempt", "delay_ms", "not_before", "child_id", "report_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CHILD_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    action: SupervisionAction
    reason: str
    run_id: str
    at: _timestamp_pb2.Timestamp
    detail: str
    attempt: int
    delay_ms: int
    not_before: _timestamp_pb2.Timestamp
    child_id: str
    report_id: str
    def __init__(self, action: _Optional[_Union[SupervisionAction, str]] = ..., reason: _Optional[str] = ..., run_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ..., attempt: _Optional[int] = ..., delay_ms: _Optional[int] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., child_id: _Optional[str] = ..., report_id: _Optional[str] = ...) -> None: ...

class AgentTimerSet(_message.Message):
    __slots__ = ("timer_id", "fire_at", "text", "run_id")
    TIMER_ID_FIELD_NUMBER: _ClassVar[int]
    FIRE_AT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    timer_id: str
    fire_at: _timestamp_pb2.Timestamp
    text: str
    run_id: str
    def __init__(self, timer_id: _Optional[str] = ..., fire_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class AgentTimerCanceled(_message.Message):
    __slots__ = ("timer_id",)
    TIMER_ID_FIELD_NUMBER: _ClassVar[int]
    timer_id: str
    def __init__(self, timer_id: _Optional[str] = ...) -> None: ...

class AgentTimerFired(_message.Message):
    __slots__ = ("source", "source_id", "instant", "frame_id", "late", "text")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANT_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    source: TimerSource
    source_id: str
    instant: _timestamp_pb2.Timestamp
    frame_id: str
    late: bool
    text: str
    def __init__(self, source: _Optional[_Union[TimerSource, str]] = ..., source_id: _Optional[str] = ..., instant: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frame_id: _Optional[str] = ..., late: _Optional[bool] = ..., text: _Optional[str] = ...) -> None: ...

class AgentFiringsSkipped(_message.Message):
    __slots__ = ("schedule_id", "through", "count")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    THROUGH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    through: _timestamp_pb2.Timestamp
    count: int
    def __init__(self, schedule_id: _Optional[str] = ..., through: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...

class AgentReported(_message.Message):
    __slots__ = ("report_id", "action")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    action: str
    def __init__(self, report_id: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class AgentSubrunStarted(_message.Message):
    __slots__ = ("sub_id", "run_id", "thread_id", "text", "instructions", "tool_call_id", "at")
    SUB_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    sub_id: str
    run_id: str
    thread_id: str
    text: str
    instructions: str
    tool_call_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, sub_id: _Optional[str] = ..., run_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., text: _Optional[str] = ..., instructions: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentSubrunFinished(_message.Message):
    __slots__ = ("sub_id", "run_id", "outcome", "frame_id", "error_message")
    SUB_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    sub_id: str
    run_id: str
    outcome: str
    frame_id: str
    error_message: str
    def __init__(self, sub_id: _Optional[str] = ..., run_id: _Optional[str] = ..., outcome: _Optional[str] = ..., frame_id: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class AgentSubrunsChecked(_message.Message):
    __slots__ = ("at", "next_check_at")
    AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_CHECK_AT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    next_check_at: _timestamp_pb2.Timestamp
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_check_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentTurnWaiting(_message.Message):
    __slots__ = ("run_id", "at", "recheck_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    RECHECK_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    at: _timestamp_pb2.Timestamp
    recheck_at: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recheck_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentTurnMoved(_message.Message):
    __slots__ = ("run_id", "at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
