from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from openagents.runtime.v1 import run_pb2 as _run_pb2
from openagents.runtime.v1 import run_event_pb2 as _run_event_pb2
from openagents.runtime.v1 import tool_task_pb2 as _tool_task_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ThreadInputPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THREAD_INPUT_POLICY_UNSPECIFIED: _ClassVar[ThreadInputPolicy]
    THREAD_INPUT_POLICY_ENQUEUE: _ClassVar[ThreadInputPolicy]
    THREAD_INPUT_POLICY_INTERRUPT: _ClassVar[ThreadInputPolicy]
    THREAD_INPUT_POLICY_REJECT: _ClassVar[ThreadInputPolicy]
    THREAD_INPUT_POLICY_ROLLBACK: _ClassVar[ThreadInputPolicy]

class OverloadPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERLOAD_POLICY_UNSPECIFIED: _ClassVar[OverloadPolicy]
    OVERLOAD_POLICY_QUEUE: _ClassVar[OverloadPolicy]
    OVERLOAD_POLICY_REJECT: _ClassVar[OverloadPolicy]
THREAD_INPUT_POLICY_UNSPECIFIED: ThreadInputPolicy
THREAD_INPUT_POLICY_ENQUEUE: ThreadInputPolicy
THREAD_INPUT_POLICY_INTERRUPT: ThreadInputPolicy
THREAD_INPUT_POLICY_REJECT: ThreadInputPolicy
THREAD_INPUT_POLICY_ROLLBACK: ThreadInputPolicy
OVERLOAD_POLICY_UNSPECIFIED: OverloadPolicy
OVERLOAD_POLICY_QUEUE: OverloadPolicy
OVERLOAD_POLICY_REJECT: OverloadPolicy

class StartRunRequest(_message.Message):
    __slots__ = ("run_id", "thread_id", "user_id", "autopilot_id", "authenticated_session", "prompt", "messages", "context_frames", "tool_policy", "model", "thread_input_policy", "overload_policy")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTOPILOT_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATED_SESSION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    TOOL_POLICY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    THREAD_INPUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    OVERLOAD_POLICY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    thread_id: str
    user_id: int
    autopilot_id: str
    authenticated_session: bool
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[_run_pb2.Message]
    context_frames: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    tool_policy: _run_pb2.ToolPolicy
    model: str
    thread_input_policy: ThreadInputPolicy
    overload_policy: OverloadPolicy
    def __init__(self, run_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., user_id: _Optional[int] = ..., autopilot_id: _Optional[str] = ..., authenticated_session: _Optional[bool] = ..., prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_run_pb2.Message, _Mapping]]] = ..., context_frames: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., tool_policy: _Optional[_Union[_run_pb2.ToolPolicy, _Mapping]] = ..., model: _Optional[str] = ..., thread_input_policy: _Optional[_Union[ThreadInputPolicy, str]] = ..., overload_policy: _Optional[_Union[OverloadPolicy, str]] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run_id", "status", "run", "created")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: str
    run: _run_pb2.Run
    created: bool
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[str] = ..., run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "thread_id", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    thread_id: str
    state: _run_pb2.RunState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., thread_id: _Optional[str] = ..., state: _Optional[_Union[_run_pb2.RunState, str]] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_run_pb2.Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[_run_pb2.Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id", "reason")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    reason: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run", "cancel_recorded")
    RUN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_RECORDED_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    cancel_recorded: bool
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., cancel_recorded: _Optional[bool] = ...) -> None: ...

class StreamRunEventsRequest(_message.Message):
    __slots__ = ("run_id", "after_seq", "batched")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    BATCHED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    batched: bool
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., batched: _Optional[bool] = ...) -> None: ...

class StreamRunEventsResponse(_message.Message):
    __slots__ = ("event", "events")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    event: _run_event_pb2.RunEvent
    events: _containers.RepeatedCompositeFieldContainer[_run_event_pb2.RunEvent]
    def __init__(self, event: _Optional[_Union[_run_event_pb2.RunEvent, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_run_event_pb2.RunEvent, _Mapping]]] = ...) -> None: ...

class StreamRunSseRequest(_message.Message):
    __slots__ = ("run_id", "cursor")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    cursor: int
    def __init__(self, run_id: _Optional[str] = ..., cursor: _Optional[int] = ...) -> None: ...

class StreamRunSseResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class AppendedEvent(_message.Message):
    __slots__ = ("kind", "data")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    data: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AppendRunEventsRequest(_message.Message):
    __slots__ = ("run_id", "idempotency_key", "expected_previous_seq", "events")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PREVIOUS_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    idempotency_key: str
    expected_previous_seq: int
    events: _containers.RepeatedCompositeFieldContainer[AppendedEvent]
    def __init__(self, run_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., expected_previous_seq: _Optional[int] = ..., events: _Optional[_Iterable[_Union[AppendedEvent, _Mapping]]] = ...) -> None: ...

class AppendRunEventsResponse(_message.Message):
    __slots__ = ("seqs", "replayed")
    SEQS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    seqs: _containers.RepeatedScalarFieldContainer[int]
    replayed: bool
    def __init__(self, seqs: _Optional[_Iterable[int]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class GetThreadStateRequest(_message.Message):
    __slots__ = ("thread_id",)
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    thread_id: str
    def __init__(self, thread_id: _Optional[str] = ...) -> None: ...

class GetThreadStateResponse(_message.Message):
    __slots__ = ("thread_id", "messages", "runs", "active_run_id")
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    thread_id: str
    messages: _containers.RepeatedCompositeFieldContainer[_run_pb2.Message]
    runs: _containers.RepeatedCompositeFieldContainer[_run_pb2.Run]
    active_run_id: str
    def __init__(self, thread_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_run_pb2.Message, _Mapping]]] = ..., runs: _Optional[_Iterable[_Union[_run_pb2.Run, _Mapping]]] = ..., active_run_id: _Optional[str] = ...) -> None: ...

class ListToolTasksRequest(_message.Message):
    __slots__ = ("run_id", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListToolTasksResponse(_message.Message):
    __slots__ = ("tool_tasks", "next_page_token")
    TOOL_TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tool_tasks: _containers.RepeatedCompositeFieldContainer[_tool_task_pb2.ToolTask]
    next_page_token: str
    def __init__(self, tool_tasks: _Optional[_Iterable[_Union[_tool_task_pb2.ToolTask, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetToolTaskRequest(_message.Message):
    __slots__ = ("run_id", "tool_call_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    tool_call_id: str
    def __init__(self, run_id: _Optional[str] = ..., tool_call_id: _Optional[str] = ...) -> None: ...

class GetToolTaskResponse(_message.Message):
    __slots__ = ("tool_task",)
    TOOL_TASK_FIELD_NUMBER: _ClassVar[int]
    tool_task: _tool_task_pb2.ToolTask
    def __init__(self, tool_task: _Optional[_Union[_tool_task_pb2.ToolTask, _Mapping]] = ...) -> None: ...

class DecideApprovalRequest(_message.Message):
    __slots__ = ("run_id", "approval_id", "approved", "reason")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    approval_id: str
    approved: bool
    reason: str
    def __init__(self, run_id: _Optional[str] = ..., approval_id: _Optional[str] = ..., approved: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideApprovalResponse(_message.Message):
    __slots__ = ("run", "tool_task", "recorded")
    RUN_FIELD_NUMBER: _ClassVar[int]
    TOOL_TASK_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    tool_task: _tool_task_pb2.ToolTask
    recorded: bool
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., tool_task: _Optional[_Union[_tool_task_pb2.ToolTask, _Mapping]] = ..., recorded: _Optional[bool] = ...) -> None: ...

class AnswerQuestionRequest(_message.Message):
    __slots__ = ("run_id", "question_id", "answer")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    question_id: str
    answer: str
    def __init__(self, run_id: _Optional[str] = ..., question_id: _Optional[str] = ..., answer: _Optional[str] = ...) -> None: ...

class AnswerQuestionResponse(_message.Message):
    __slots__ = ("run", "tool_task", "recorded")
    RUN_FIELD_NUMBER: _ClassVar[int]
    TOOL_TASK_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    tool_task: _tool_task_pb2.ToolTask
    recorded: bool
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., tool_task: _Optional[_Union[_tool_task_pb2.ToolTask, _Mapping]] = ..., recorded: _Optional[bool] = ...) -> None: ...
