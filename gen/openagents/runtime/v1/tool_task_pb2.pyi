import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ToolTaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_TASK_STATE_UNSPECIFIED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_REQUESTED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_QUEUED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_RUNNING: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_STREAMING_OUTPUT: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_SUCCEEDED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_FAILED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_CANCELED: _ClassVar[ToolTaskState]
    TOOL_TASK_STATE_TIMED_OUT: _ClassVar[ToolTaskState]

class ApprovalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_STATE_UNSPECIFIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_REQUESTED: _ClassVar[ApprovalState]
    APPROVAL_STATE_APPROVED: _ClassVar[ApprovalState]
    APPROVAL_STATE_DENIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_TIMED_OUT: _ClassVar[ApprovalState]
TOOL_TASK_STATE_UNSPECIFIED: ToolTaskState
TOOL_TASK_STATE_REQUESTED: ToolTaskState
TOOL_TASK_STATE_QUEUED: ToolTaskState
TOOL_TASK_STATE_RUNNING: ToolTaskState
TOOL_TASK_STATE_STREAMING_OUTPUT: ToolTaskState
TOOL_TASK_STATE_SUCCEEDED: ToolTaskState
TOOL_TASK_STATE_FAILED: ToolTaskState
TOOL_TASK_STATE_CANCELED: ToolTaskState
TOOL_TASK_STATE_TIMED_OUT: ToolTaskState
APPROVAL_STATE_UNSPECIFIED: ApprovalState
APPROVAL_STATE_REQUESTED: ApprovalState
APPROVAL_STATE_APPROVED: ApprovalState
APPROVAL_STATE_DENIED: ApprovalState
APPROVAL_STATE_TIMED_OUT: ApprovalState

class ToolTask(_message.Message):
    __slots__ = ("run_id", "tool_call_id", "tool_name", "tool_version", "state", "input_json", "params_sha256", "output_json", "output_sha256", "error_text", "error_class", "attempts", "progress_events", "step", "request_time", "start_time", "finish_time", "latency_ms", "request_seq", "finish_seq", "approval_id", "approval_state", "approval_reason", "question_id", "question", "answer", "replayed")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    PARAMS_SHA256_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ERROR_TEXT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_EVENTS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FINISH_SEQ_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_STATE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REASON_FIELD_NUMBER: _ClassVar[int]
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    tool_call_id: str
    tool_name: str
    tool_version: str
    state: ToolTaskState
    input_json: str
    params_sha256: str
    output_json: str
    output_sha256: str
    error_text: str
    error_class: str
    attempts: int
    progress_events: int
    step: int
    request_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    latency_ms: int
    request_seq: int
    finish_seq: int
    approval_id: str
    approval_state: ApprovalState
    approval_reason: str
    question_id: str
    question: str
    answer: str
    replayed: bool
    def __init__(self, run_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_version: _Optional[str] = ..., state: _Optional[_Union[ToolTaskState, str]] = ..., input_json: _Optional[str] = ..., params_sha256: _Optional[str] = ..., output_json: _Optional[str] = ..., output_sha256: _Optional[str] = ..., error_text: _Optional[str] = ..., error_class: _Optional[str] = ..., attempts: _Optional[int] = ..., progress_events: _Optional[int] = ..., step: _Optional[int] = ..., request_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[int] = ..., request_seq: _Optional[int] = ..., finish_seq: _Optional[int] = ..., approval_id: _Optional[str] = ..., approval_state: _Optional[_Union[ApprovalState, str]] = ..., approval_reason: _Optional[str] = ..., question_id: _Optional[str] = ..., question: _Optional[str] = ..., answer: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...
