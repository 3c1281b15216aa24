import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from openagents.runtime.v1 import agent_pb2 as _agent_pb2
from openagents.runtime.v1 import agent_event_pb2 as _agent_event_pb2
from openagents.runtime.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent_id", "thread_id", "user_id", "model", "escalation_models", "instructions", "tool_policy", "schedules", "input_policy", "supervision_policy", "memory_policy")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_MODELS_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_POLICY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    INPUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    SUPERVISION_POLICY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_POLICY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    thread_id: str
    user_id: int
    model: str
    escalation_models: _containers.RepeatedScalarFieldContainer[str]
    instructions: str
    tool_policy: _run_pb2.ToolPolicy
    schedules: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Schedule]
    input_policy: _agent_pb2.InputPolicy
    supervision_policy: _agent_pb2.SupervisionPolicy
    memory_policy: _agent_pb2.MemoryPolicy
    def __init__(self, agent_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., user_id: _Optional[int] = ..., model: _Optional[str] = ..., escalation_models: _Optional[_Iterable[str]] = ..., instructions: _Optional[str] = ..., tool_policy: _Optional[_Union[_run_pb2.ToolPolicy, _Mapping]] = ..., schedules: _Optional[_Iterable[_Union[_agent_pb2.Schedule, _Mapping]]] = ..., input_policy: _Optional[_Union[_agent_pb2.InputPolicy, str]] = ..., supervision_policy: _Optional[_Union[_agent_pb2.SupervisionPolicy, _Mapping]] = ..., memory_policy: _Optional[_Union[_agent_pb2.MemoryPolicy, _Mapping]] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent", "created")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    created: bool
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "thread_id", "parent_agent_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _agent_pb2.AgentState
    thread_id: str
    parent_agent_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_agent_pb2.AgentState, str]] = ..., thread_id: _Optional[str] = ..., parent_agent_id: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WakeAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class WakeAgentResponse(_message.Message):
    __slots__ = ("agent", "recorded")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    recorded: bool
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., recorded: _Optional[bool] = ...) -> None: ...

class SleepAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class SleepAgentResponse(_message.Message):
    __slots__ = ("agent", "recorded")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    recorded: bool
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., recorded: _Optional[bool] = ...) -> None: ...

class SubmitFramesRequest(_message.Message):
    __slots__ = ("agent_id", "frames")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    frames: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Frame]
    def __init__(self, agent_id: _Optional[str] = ..., frames: _Optional[_Iterable[_Union[_agent_pb2.Frame, _Mapping]]] = ...) -> None: ...

class SubmitFramesResponse(_message.Message):
    __slots__ = ("agent", "accepted_frame_ids", "duplicate_frame_ids", "applied_policy", "policy_outcome", "running_run_id")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FRAME_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FRAME_IDS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    accepted_frame_ids: _containers.RepeatedScalarFieldContainer[str]
    duplicate_frame_ids: _containers.RepeatedScalarFieldContainer[str]
    applied_policy: _agent_pb2.InputPolicy
    policy_outcome: _agent_event_pb2.InputPolicyOutcome
    running_run_id: str
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., accepted_frame_ids: _Optional[_Iterable[str]] = ..., duplicate_frame_ids: _Optional[_Iterable[str]] = ..., applied_policy: _Optional[_Union[_agent_pb2.InputPolicy, str]] = ..., policy_outcome: _Optional[_Union[_agent_event_pb2.InputPolicyOutcome, str]] = ..., running_run_id: _Optional[str] = ...) -> None: ...

class StreamAgentEventsRequest(_message.Message):
    __slots__ = ("agent_id", "after_seq", "heartbeat")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    after_seq: int
    heartbeat: _duration_pb2.Duration
    def __init__(self, agent_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., heartbeat: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StreamAgentEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _agent_event_pb2.AgentEvent
    def __init__(self, event: _Optional[_Union[_agent_event_pb2.AgentEvent, _Mapping]] = ...) -> None: ...

class StreamAgentSseRequest(_message.Message):
    __slots__ = ("agent_id", "cursor")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    cursor: str
    def __init__(self, agent_id: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class StreamAgentSseResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...
