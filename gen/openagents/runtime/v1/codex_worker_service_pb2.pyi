import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CodexWorker(_message.Message):
    __slots__ = ("worker_id", "user_id", "status", "workspace_ref", "codex_home_ref", "adapter", "metadata", "latest_seq", "created_at", "updated_at", "heartbeat_state", "heartbeat_age_ms", "heartbeat_stale_after_ms", "last_heartbeat_at", "stopped_at", "stop_reason", "last_error", "reattach_count")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_REF_FIELD_NUMBER: _ClassVar[int]
    CODEX_HOME_REF_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LATEST_SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_STATE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_STALE_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    REATTACH_COUNT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    user_id: int
    status: str
    workspace_ref: str
    codex_home_ref: str
    adapter: str
    metadata: _struct_pb2.Struct
    latest_seq: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    heartbeat_state: str
    heartbeat_age_ms: int
    heartbeat_stale_after_ms: int
    last_heartbeat_at: _timestamp_pb2.Timestamp
    stopped_at: _timestamp_pb2.Timestamp
    stop_reason: str
    last_error: str
    reattach_count: int
    def __init__(self, worker_id: _Optional[str] = ..., user_id: _Optional[int] = ..., status: _Optional[str] = ..., workspace_ref: _Optional[str] = ..., codex_home_ref: _Optional[str] = ..., adapter: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., latest_seq: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_state: _Optional[str] = ..., heartbeat_age_ms: _Optional[int] = ..., heartbeat_stale_after_ms: _Optional[int] = ..., last_heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stopped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stop_reason: _Optional[str] = ..., last_error: _Optional[str] = ..., reattach_count: _Optional[int] = ...) -> None: ...

class CodexWorkerEvent(_message.Message):
    __slots__ = ("worker_id", "seq", "event_id", "event_type", "payload", "occurred_at")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    seq: int
    event_id: str
    event_type: str
    payload: _struct_pb2.Struct
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, worker_id: _Optional[str] = ..., seq: _Optional[int] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCodexWorkerRequest(_message.Message):
    __slots__ = ("worker_id", "workspace_ref", "codex_home_ref", "adapter", "metadata", "user_id")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_REF_FIELD_NUMBER: _ClassVar[int]
    CODEX_HOME_REF_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    workspace_ref: str
    codex_home_ref: str
    adapter: str
    metadata: _struct_pb2.Value
    user_id: int
    def __init__(self, worker_id: _Optional[str] = ..., workspace_ref: _Optional[str] = ..., codex_home_ref: _Optional[str] = ..., adapter: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., user_id: _Optional[int] = ...) -> None: ...

class CreateCodexWorkerResponse(_message.Message):
    __slots__ = ("worker_id", "status", "idempotent_replay", "worker")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    status: str
    idempotent_replay: bool
    worker: CodexWorker
    def __init__(self, worker_id: _Optional[str] = ..., status: _Optional[str] = ..., idempotent_replay: _Optional[bool] = ..., worker: _Optional[_Union[CodexWorker, _Mapping]] = ...) -> None: ...

class ListCodexWorkersRequest(_message.Message):
    __slots__ = ("status", "workspace_ref", "limit", "page_token", "user_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_REF_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    workspace_ref: str
    limit: int
    page_token: str
    user_id: int
    def __init__(self, status: _Optional[str] = ..., workspace_ref: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., user_id: _Optional[int] = ...) -> None: ...

class ListCodexWorkersResponse(_message.Message):
    __slots__ = ("workers", "next_page_token")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[CodexWorker]
    next_page_token: str
    def __init__(self, workers: _Optional[_Iterable[_Union[CodexWorker, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCodexWorkerSnapshotRequest(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class GetCodexWorkerSnapshotResponse(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: CodexWorker
    def __init__(self, worker: _Optional[_Union[CodexWorker, _Mapping]] = ...) -> None: ...

class CodexWorkerControlRequest(_message.Message):
    __slots__ = ("request_id", "method", "params", "request_version", "sent_at", "source", "session_id", "thread_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    method: str
    params: _struct_pb2.Value
    request_version: str
    sent_at: str
    source: str
    session_id: str
    thread_id: str
    def __init__(self, request_id: _Optional[str] = ..., method: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., request_version: _Optional[str] = ..., sent_at: _Optional[str] = ..., source: _Optional[str] = ..., session_id: _Optional[str] = ..., thread_id: _Optional[str] = ...) -> None: ...

class ControlCodexWorkerRequest(_message.Message):
    __slots__ = ("worker_id", "request")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    request: CodexWorkerControlRequest
    def __init__(self, worker_id: _Optional[str] = ..., request: _Optional[_Union[CodexWorkerControlRequest, _Mapping]] = ...) -> None: ...

class ControlCodexWorkerResponse(_message.Message):
    __slots__ = ("worker_id", "request_id", "method", "seq", "idempotent_replay", "status")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    request_id: str
    method: str
    seq: int
    idempotent_replay: bool
    status: str
    def __init__(self, worker_id: _Optional[str] = ..., request_id: _Optional[str] = ..., method: _Optional[str] = ..., seq: _Optional[int] = ..., idempotent_replay: _Optional[bool] = ..., status: _Optional[str] = ...) -> None: ...

class StopCodexWorkerRequest(_message.Message):
    __slots__ = ("worker_id", "reason")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    reason: str
    def __init__(self, worker_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class StopCodexWorkerResponse(_message.Message):
    __slots__ = ("worker_id", "status", "idempotent_replay", "worker")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    status: str
    idempotent_replay: bool
    worker: CodexWorker
    def __init__(self, worker_id: _Optional[str] = ..., status: _Optional[str] = ..., idempotent_replay: _Optional[bool] = ..., worker: _Optional[_Union[CodexWorker, _Mapping]] = ...) -> None: ...

class CodexWorkerEventInput(_message.Message):
    __slots__ = ("event_type", "payload")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    payload: _struct_pb2.Value
    def __init__(self, event_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class IngestCodexWorkerEventRequest(_message.Message):
    __slots__ = ("worker_id", "event")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    event: CodexWorkerEventInput
    def __init__(self, worker_id: _Optional[str] = ..., event: _Optional[_Union[CodexWorkerEventInput, _Mapping]] = ...) -> None: ...

class IngestCodexWorkerEventResponse(_message.Message):
    __slots__ = ("worker_id", "seq", "event_type", "status")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    seq: int
    event_type: str
    status: str
    def __init__(self, worker_id: _Optional[str] = ..., seq: _Optional[int] = ..., event_type: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class StreamCodexWorkerSseRequest(_message.Message):
    __slots__ = ("worker_id", "cursor", "tail_ms")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TAIL_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    cursor: int
    tail_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., cursor: _Optional[int] = ..., tail_ms: _Optional[int] = ...) -> None: ...

class StreamCodexWorkerSseResponse(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: _httpbody_pb2.HttpBody
    def __init__(self, body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class StreamCodexWorkerEventsRequest(_message.Message):
    __slots__ = ("worker_id", "after_seq", "tail_ms")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    TAIL_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    after_seq: int
    tail_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., tail_ms: _Optional[int] = ...) -> None: ...

class StreamCodexWorkerEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: CodexWorkerEvent
    def __init__(self, event: _Optional[_Union[CodexWorkerEvent, _Mapping]] = ...) -> None: ...
