import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openagents.runtime.v1 import tool_task_pb2 as _tool_task_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StepFinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_FINISH_REASON_UNSPECIFIED: _ClassVar[StepFinishReason]
    STEP_FINISH_REASON_STOP: _ClassVar[StepFinishReason]
    STEP_FINISH_REASON_TOOL_CALLS: _ClassVar[StepFinishReason]
    STEP_FINISH_REASON_LENGTH: _ClassVar[StepFinishReason]
    STEP_FINISH_REASON_ERROR: _ClassVar[StepFinishReason]
    STEP_FINISH_REASON_INTERRUPTED: _ClassVar[StepFinishReason]

class RunOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_OUTCOME_UNSPECIFIED: _ClassVar[RunOutcome]
    RUN_OUTCOME_SUCCEEDED: _ClassVar[RunOutcome]
    RUN_OUTCOME_FAILED: _ClassVar[RunOutcome]
    RUN_OUTCOME_CANCELED: _ClassVar[RunOutcome]
STEP_FINISH_REASON_UNSPECIFIED: StepFinishReason
STEP_FINISH_REASON_STOP: StepFinishReason
STEP_FINISH_REASON_TOOL_CALLS: StepFinishReason
STEP_FINISH_REASON_LENGTH: StepFinishReason
STEP_FINISH_REASON_ERROR: StepFinishReason
STEP_FINISH_REASON_INTERRUPTED: StepFinishReason
RUN_OUTCOME_UNSPECIFIED: RunOutcome
RUN_OUTCOME_SUCCEEDED: RunOutcome
RUN_OUTCOME_FAILED: RunOutcome
RUN_OUTCOME_CANCELED: RunOutcome

class RunEvent(_message.Message):
    __slots__ = ("run_id", "seq", "event_id", "type", "occurred_at", "run_started", "step_started", "step_finished", "message_delta", "message_completed", "tool_call_requested", "tool_call_progress", "tool_call_result", "question_asked", "question_answered", "cancel_requested", "run_finished", "checkpoint", "external", "run_accepted", "tool_task", "approval_requested", "approval_decided", "run_queued")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    STEP_STARTED_FIELD_NUMBER: _ClassVar[int]
    STEP_FINISHED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_DELTA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_RESULT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_ASKED_FIELD_NUMBER: _ClassVar[int]
    QUESTION_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    RUN_FINISHED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    RUN_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TOOL_TASK_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_DECIDED_FIELD_NUMBER: _ClassVar[int]
    RUN_QUEUED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    seq: int
    event_id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    run_started: RunStarted
    step_started: StepStarted
    step_finished: StepFinished
    message_delta: MessageDelta
    message_completed: MessageCompleted
    tool_call_requested: ToolCallRequested
    tool_call_progress: ToolCallProgress
    tool_call_result: ToolCallResult
    question_asked: QuestionAsked
    question_answered: QuestionAnswered
    cancel_requested: CancelRequested
    run_finished: RunFinished
    checkpoint: Checkpoint
    external: ExternalEvent
    run_accepted: RunAccepted
    tool_task: ToolTaskTransition
    approval_requested: ApprovalRequested
    approval_decided: ApprovalDecided
    run_queued: RunQueued
    def __init__(self, run_id: _Optional[str] = ..., seq: _Optional[int] = ..., event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run_started: _Optional[_Union[RunStarted, _Mapping]] = ..., step_started: _Optional[_Union[StepStarted, _Mapping]] = ..., step_finished: _Optional[_Union[StepFinished, _Mapping]] = ..., message_delta: _Optional[_Union[MessageDelta, _Mapping]] = ..., message_completed: _Optional[_Union[MessageCompleted, _Mapping]] = ..., tool_call_requested: _Optional[_Union[ToolCallRequested, _Mapping]] = ..., tool_call_progress: _Optional[_Union[ToolCallProgress, _Mapping]] = ..., tool_call_result: _Optional[_Union[ToolCallResult, _Mapping]] = ..., question_asked: _Optional[_Union[QuestionAsked, _Mapping]] = ..., question_answered: _Optional[_Union[QuestionAnswered, _Mapping]] = ..., cancel_requested: _Optional[_Union[CancelRequested, _Mapping]] = ..., run_finished: _Optional[_Union[RunFinished, _Mapping]] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., external: _Optional[_Union[ExternalEvent, _Mapping]] = ..., run_accepted: _Optional[_Union[RunAccepted, _Mapping]] = ..., tool_task: _Optional[_Union[ToolTaskTransition, _Mapping]] = ..., approval_requested: _Optional[_Union[ApprovalRequested, _Mapping]] = ..., approval_decided: _Optional[_Union[ApprovalDecided, _Mapping]] = ..., run_queued: _Optional[_Union[RunQueued, _Mapping]] = ...) -> None: ...

class RunAccepted(_message.Message):
    __slots__ = ("thread_id", "model", "message_id")
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    thread_id: str
    model: str
    message_id: str
    def __init__(self, thread_id: _Optional[str] = ..., model: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class RunQueued(_message.Message):
    __slots__ = ("reason", "position", "thread_policy", "waiting_for_run_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    THREAD_POLICY_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    position: int
    thread_policy: str
    waiting_for_run_id: str
    def __init__(self, reason: _Optional[str] = ..., position: _Optional[int] = ..., thread_policy: _Optional[str] = ..., waiting_for_run_id: _Optional[str] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("executor_id", "attempt")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    attempt: int
    def __init__(self, executor_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class StepStarted(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: int
    def __init__(self, step: _Optional[int] = ...) -> None: ...

class StepFinished(_message.Message):
    __slots__ = ("step", "reason")
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    step: int
    reason: StepFinishReason
    def __init__(self, step: _Optional[int] = ..., reason: _Optional[_Union[StepFinishReason, str]] = ...) -> None: ...

class MessageDelta(_message.Message):
    __slots__ = ("message_id", "delta")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    delta: str
    def __init__(self, message_id: _Optional[str] = ..., delta: _Optional[str] = ...) -> None: ...

class MessageCompleted(_message.Message):
    __slots__ = ("message_id", "role", "text")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    role: str
    text: str
    def __init__(self, message_id: _Optional[str] = ..., role: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ToolCallRequested(_message.Message):
    __slots__ = ("tool_call_id", "tool_name", "input_json")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    tool_name: str
    input_json: str
    def __init__(self, tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., input_json: _Optional[str] = ...) -> None: ...

class ToolCallProgress(_message.Message):
    __slots__ = ("tool_call_id", "output_json")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    output_json: str
    def __init__(self, tool_call_id: _Optional[str] = ..., output_json: _Optional[str] = ...) -> None: ...

class ToolCallResult(_message.Message):
    __slots__ = ("tool_call_id", "tool_name", "output_json", "error_text", "is_error", "state", "error_class", "attempt", "tool_version", "params_sha256", "output_sha256", "replayed", "artifact")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TOOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    tool_name: str
    output_json: str
    error_text: str
    is_error: bool
    state: _tool_task_pb2.ToolTaskState
    error_class: str
    attempt: int
    tool_version: str
    params_sha256: str
    output_sha256: str
    replayed: bool
    artifact: ArtifactRef
    def __init__(self, tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., output_json: _Optional[str] = ..., error_text: _Optional[str] = ..., is_error: _Optional[bool] = ..., state: _Optional[_Union[_tool_task_pb2.ToolTaskState, str]] = ..., error_class: _Optional[str] = ..., attempt: _Optional[int] = ..., tool_version: _Optional[str] = ..., params_sha256: _Optional[str] = ..., output_sha256: _Optional[str] = ..., replayed: _Optional[bool] = ..., artifact: _Optional[_Union[ArtifactRef, _Mapping]] = ...) -> None: ...

class ArtifactRef(_message.Message):
    __slots__ = ("sha256", "size_bytes", "media_type", "name")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    media_type: str
    name: str
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ToolTaskTransition(_message.Message):
    __slots__ = ("tool_call_id", "tool_name", "state", "attempt", "tool_version", "params_sha256")
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TOOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_SHA256_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    tool_name: str
    state: _tool_task_pb2.ToolTaskState
    attempt: int
    tool_version: str
    params_sha256: str
    def __init__(self, tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., state: _Optional[_Union[_tool_task_pb2.ToolTaskState, str]] = ..., attempt: _Optional[int] = ..., tool_version: _Optional[str] = ..., params_sha256: _Optional[str] = ...) -> None: ...

class ApprovalRequested(_message.Message):
    __slots__ = ("approval_id", "tool_call_id", "tool_name", "input_json", "expire_time")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    tool_call_id: str
    tool_name: str
    input_json: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, approval_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., input_json: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApprovalDecided(_message.Message):
    __slots__ = ("approval_id", "tool_call_id", "approved", "reason", "timed_out")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    tool_call_id: str
    approved: bool
    reason: str
    timed_out: bool
    def __init__(self, approval_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., approved: _Optional[bool] = ..., reason: _Optional[str] = ..., timed_out: _Optional[bool] = ...) -> None: ...

class QuestionAsked(_message.Message):
    __slots__ = ("question_id", "text", "tool_call_id", "expire_time")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    text: str
    tool_call_id: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, question_id: _Optional[str] = ..., text: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QuestionAnswered(_message.Message):
    __slots__ = ("question_id", "answer", "tool_call_id")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    answer: str
    tool_call_id: str
    def __init__(self, question_id: _Optional[str] = ..., answer: _Optional[str] = ..., tool_call_id: _Optional[str] = ...) -> None: ...

class CancelRequested(_message.Message):
    __slots__ = ("reason", "by_run_id", "rollback")
    REASON_FIELD_NUMBER: _ClassVar[int]
    BY_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    reason: str
    by_run_id: str
    rollback: bool
    def __init__(self, reason: _Optional[str] = ..., by_run_id: _Optional[str] = ..., rollback: _Optional[bool] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("outcome", "reason", "error_message")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    outcome: RunOutcome
    reason: str
    error_message: str
    def __init__(self, outcome: _Optional[_Union[RunOutcome, str]] = ..., reason: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("covers_seq",)
    COVERS_SEQ_FIELD_NUMBER: _ClassVar[int]
    covers_seq: int
    def __init__(self, covers_seq: _Optional[int] = ...) -> None: ...

class ExternalEvent(_message.Message):
    __slots__ = ("kind", "data")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    data: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
