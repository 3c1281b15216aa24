import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openagents.runtime.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_SLEEPING: _ClassVar[AgentState]
    AGENT_STATE_AWAKE: _ClassVar[AgentState]
    AGENT_STATE_RUNNING: _ClassVar[AgentState]
    AGENT_STATE_PAUSED: _ClassVar[AgentState]
    AGENT_STATE_FAILED: _ClassVar[AgentState]

class InputPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_POLICY_UNSPECIFIED: _ClassVar[InputPolicy]
    INPUT_POLICY_ENQUEUE: _ClassVar[InputPolicy]
    INPUT_POLICY_INTERRUPT: _ClassVar[InputPolicy]
    INPUT_POLICY_REJECT: _ClassVar[InputPolicy]
    INPUT_POLICY_ROLLBACK: _ClassVar[InputPolicy]

class FrameKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_KIND_UNSPECIFIED: _ClassVar[FrameKind]
    FRAME_KIND_USER_PROMPT: _ClassVar[FrameKind]
    FRAME_KIND_SIGNAL: _ClassVar[FrameKind]
    FRAME_KIND_CRON_TICK: _ClassVar[FrameKind]
    FRAME_KIND_TOOL_RESULT: _ClassVar[FrameKind]
    FRAME_KIND_SYSTEM: _ClassVar[FrameKind]
    FRAME_KIND_TIMER: _ClassVar[FrameKind]

class CatchUpPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATCH_UP_POLICY_UNSPECIFIED: _ClassVar[CatchUpPolicy]
    CATCH_UP_POLICY_SKIP: _ClassVar[CatchUpPolicy]
    CATCH_UP_POLICY_ONCE: _ClassVar[CatchUpPolicy]
    CATCH_UP_POLICY_ALL: _ClassVar[CatchUpPolicy]
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_SLEEPING: AgentState
AGENT_STATE_AWAKE: AgentState
AGENT_STATE_RUNNING: AgentState
AGENT_STATE_PAUSED: AgentState
AGENT_STATE_FAILED: AgentState
INPUT_POLICY_UNSPECIFIED: InputPolicy
INPUT_POLICY_ENQUEUE: InputPolicy
INPUT_POLICY_INTERRUPT: InputPolicy
INPUT_POLICY_REJECT: InputPolicy
INPUT_POLICY_ROLLBACK: InputPolicy
FRAME_KIND_UNSPECIFIED: FrameKind
FRAME_KIND_USER_PROMPT: FrameKind
FRAME_KIND_SIGNAL: FrameKind
FRAME_KIND_CRON_TICK: FrameKind
FRAME_KIND_TOOL_RESULT: FrameKind
FRAME_KIND_SYSTEM: FrameKind
FRAME_KIND_TIMER: FrameKind
CATCH_UP_POLICY_UNSPECIFIED: CatchUpPolicy
CATCH_UP_POLICY_SKIP: CatchUpPolicy
CATCH_UP_POLICY_ONCE: CatchUpPolicy
CATCH_UP_POLICY_ALL: CatchUpPolicy

class Agent(_message.Message):
    __slots__ = ("agent_id", "thread_id", "user_id", "model", "escalation_models", "instructions", "tool_policy", "schedules", "input_policy", "supervision_policy", "memory_policy", "state", "create_time", "update_time", "last_seq", "pending_frame_count", "turn_count", "current_run_id", "current_model", "pause", "failure_reason", "error_message", "wake_time", "timers", "parent_agent_id", "sub_runs", "child_restart_count")
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
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PENDING_FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    TURN_COUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_MODEL_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WAKE_TIME_FIELD_NUMBER: _ClassVar[int]
    TIMERS_FIELD_NUMBER: _ClassVar[int]
    PARENT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUB_RUNS_FIELD_NUMBER: _ClassVar[int]
    CHILD_RESTART_COUNT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    thread_id: str
    user_id: int
    model: str
    escalation_models: _containers.RepeatedScalarFieldContainer[str]
    instructions: str
    tool_policy: _run_pb2.ToolPolicy
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    input_policy: InputPolicy
    supervision_policy: SupervisionPolicy
    memory_policy: MemoryPolicy
    state: AgentState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    last_seq: int
    pending_frame_count: int
    turn_count: int
    current_run_id: str
    current_model: str
    pause: AgentPause
    failure_reason: str
    error_message: str
    wake_time: _timestamp_pb2.Timestamp
    timers: _containers.RepeatedCompositeFieldContainer[AgentTimer]
    parent_agent_id: str
    sub_runs: _containers.RepeatedCompositeFieldContainer[AgentSubRun]
    child_restart_count: int
    def __init__(self, agent_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., user_id: _Optional[int] = ..., model: _Optional[str] = ..., escalation_models: _Optional[_Iterable[str]] = ..., instructions: _Optional[str] = ..., tool_policy: _Optional[_Union[_run_pb2.ToolPolicy, _Mapping]] = ..., schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ..., input_policy: _Optional[_Union[InputPolicy, str]] = ..., supervision_policy: _Optional[_Union[SupervisionPolicy, _Mapping]] = ..., memory_policy: _Optional[_Union[MemoryPolicy, _Mapping]] = ..., state: _Optional[_Union[AgentState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seq: _Optional[int] = ..., pending_frame_count: _Optional[int] = ..., turn_count: _Optional[int] = ..., current_run_id: _Optional[str] = ..., current_model: _Optional[str] = ..., pause: _Optional[_Union[AgentPause, _Mapping]] = ..., failure_reason: _Optional[str] = ..., error_message: _Optional[str] = ..., wake_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timers: _Optional[_Iterable[_Union[AgentTimer, _Mapping]]] = ..., parent_agent_id: _Optional[str] = ..., sub_runs: _Optional[_Iterable[_Union[AgentSubRun, _Mapping]]] = ..., child_restart_count: _Optional[int] = ...) -> None: ...

class AgentSubRun(_message.Message):
    __slots__ = ("sub_run_id", "run_id", "thread_id", "attempt")
    SUB_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    sub_run_id: str
    run_id: str
    thread_id: str
    attempt: int
    def __init__(self, sub_run_id: _Optional[str] = ..., run_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("frame_id", "kind", "text", "data", "occurred_at")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    frame_id: str
    kind: FrameKind
    text: str
    data: _struct_pb2.Struct
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, frame_id: _Optional[str] = ..., kind: _Optional[_Union[FrameKind, str]] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("schedule_id", "cron", "time_zone", "catch_up", "max_catch_up", "misfire_grace", "text")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    MAX_CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_GRACE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    cron: str
    time_zone: str
    catch_up: CatchUpPolicy
    max_catch_up: int
    misfire_grace: _duration_pb2.Duration
    text: str
    def __init__(self, schedule_id: _Optional[str] = ..., cron: _Optional[str] = ..., time_zone: _Optional[str] = ..., catch_up: _Optional[_Union[CatchUpPolicy, str]] = ..., max_catch_up: _Optional[int] = ..., misfire_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class AgentTimer(_message.Message):
    __slots__ = ("timer_id", "fire_at", "text")
    TIMER_ID_FIELD_NUMBER: _ClassVar[int]
    FIRE_AT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    timer_id: str
    fire_at: _timestamp_pb2.Timestamp
    text: str
    def __init__(self, timer_id: _Optional[str] = ..., fire_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class SupervisionPolicy(_message.Message):
    __slots__ = ("turn_deadline", "max_restarts", "restart_window", "backoff_initial", "backoff_max", "backoff_multiplier", "backoff_jitter", "escalate_after_failures", "loop_detection", "circuit_breaker", "max_child_restarts", "child_restart_window")
    TURN_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    MAX_RESTARTS_FIELD_NUMBER: _ClassVar[int]
    RESTART_WINDOW_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_INITIAL_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MAX_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_JITTER_FIELD_NUMBER: _ClassVar[int]
    ESCALATE_AFTER_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LOOP_DETECTION_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    MAX_CHILD_RESTARTS_FIELD_NUMBER: _ClassVar[int]
    CHILD_RESTART_WINDOW_FIELD_NUMBER: _ClassVar[int]
    turn_deadline: _duration_pb2.Duration
    max_restarts: int
    restart_window: _duration_pb2.Duration
    backoff_initial: _duration_pb2.Duration
    backoff_max: _duration_pb2.Duration
    backoff_multiplier: float
    backoff_jitter: float
    escalate_after_failures: int
    loop_detection: LoopDetection
    circuit_breaker: CircuitBreaker
    max_child_restarts: int
    child_restart_window: _duration_pb2.Duration
    def __init__(self, turn_deadline: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_restarts: _Optional[int] = ..., restart_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_initial: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_max: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_multiplier: _Optional[float] = ..., backoff_jitter: _Optional[float] = ..., escalate_after_failures: _Optional[int] = ..., loop_detection: _Optional[_Union[LoopDetection, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., max_child_restarts: _Optional[int] = ..., child_restart_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class LoopDetection(_message.Message):
    __slots__ = ("repeated_call", "ping_pong_cycles", "no_progress", "window")
    REPEATED_CALL_FIELD_NUMBER: _ClassVar[int]
    PING_PONG_CYCLES_FIELD_NUMBER: _ClassVar[int]
    NO_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    repeated_call: int
    ping_pong_cycles: int
    no_progress: int
    window: int
    def __init__(self, repeated_call: _Optional[int] = ..., ping_pong_cycles: _Optional[int] = ..., no_progress: _Optional[int] = ..., window: _Optional[int] = ...) -> None: ...

class CircuitBreaker(_message.Message):
    __slots__ = ("failures", "window", "cooldown", "cooldown_max", "max_trips")
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_MAX_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIPS_FIELD_NUMBER: _ClassVar[int]
    failures: int
    window: _duration_pb2.Duration
    cooldown: _duration_pb2.Duration
    cooldown_max: _duration_pb2.Duration
    max_trips: int
    def __init__(self, failures: _Optional[int] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cooldown_max: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_trips: _Optional[int] = ...) -> None: ...

class MemoryPolicy(_message.Message):
    __slots__ = ("context_token_budget", "hot_window", "enabled")
    CONTEXT_TOKEN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    HOT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    context_token_budget: int
    hot_window: _duration_pb2.Duration
    enabled: bool
    def __init__(self, context_token_budget: _Optional[int] = ..., hot_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class AgentPause(_message.Message):
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
