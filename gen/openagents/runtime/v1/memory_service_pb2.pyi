import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemoryLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_LEVEL_UNSPECIFIED: _ClassVar[MemoryLevel]
    MEMORY_LEVEL_L1: _ClassVar[MemoryLevel]
    MEMORY_LEVEL_L2: _ClassVar[MemoryLevel]
    MEMORY_LEVEL_L3: _ClassVar[MemoryLevel]

class CompactionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPACTION_REASON_UNSPECIFIED: _ClassVar[CompactionReason]
    COMPACTION_REASON_WINDOW_CLOSED: _ClassVar[CompactionReason]
    COMPACTION_REASON_OVER_BUDGET: _ClassVar[CompactionReason]
    COMPACTION_REASON_FORCED: _ClassVar[CompactionReason]

class MemoryQueryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_QUERY_STATE_UNSPECIFIED: _ClassVar[MemoryQueryState]
    MEMORY_QUERY_STATE_PENDING: _ClassVar[MemoryQueryState]
    MEMORY_QUERY_STATE_MAPPING: _ClassVar[MemoryQueryState]
    MEMORY_QUERY_STATE_REDUCING: _ClassVar[MemoryQueryState]
    MEMORY_QUERY_STATE_DONE: _ClassVar[MemoryQueryState]
    MEMORY_QUERY_STATE_FAILED: _ClassVar[MemoryQueryState]
MEMORY_LEVEL_UNSPECIFIED: MemoryLevel
MEMORY_LEVEL_L1: MemoryLevel
MEMORY_LEVEL_L2: MemoryLevel
MEMORY_LEVEL_L3: MemoryLevel
COMPACTION_REASON_UNSPECIFIED: CompactionReason
COMPACTION_REASON_WINDOW_CLOSED: CompactionReason
COMPACTION_REASON_OVER_BUDGET: CompactionReason
COMPACTION_REASON_FORCED: CompactionReason
MEMORY_QUERY_STATE_UNSPECIFIED: MemoryQueryState
MEMORY_QUERY_STATE_PENDING: MemoryQueryState
MEMORY_QUERY_STATE_MAPPING: MemoryQueryState
MEMORY_QUERY_STATE_REDUCING: MemoryQueryState
MEMORY_QUERY_STATE_DONE: MemoryQueryState
MEMORY_QUERY_STATE_FAILED: MemoryQueryState

class SeqRange(_message.Message):
    __slots__ = ("first_seq", "last_seq")
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    first_seq: int
    last_seq: int
    def __init__(self, first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ...) -> None: ...

class MemoryChunk(_message.Message):
    __slots__ = ("chunk_id", "stream_kind", "stream_id", "level", "window_start_time", "window_end_time", "seq_range", "input_chunk_ids", "summary", "summary_sha256", "summary_tokens", "token_counter", "model", "provider", "prompt_tokens", "completion_tokens", "latency_ms", "create_time", "usage_counted_by")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_KIND_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    SEQ_RANGE_FIELD_NUMBER: _ClassVar[int]
    INPUT_CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_COUNTED_BY_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    stream_kind: str
    stream_id: str
    level: MemoryLevel
    window_start_time: _timestamp_pb2.Timestamp
    window_end_time: _timestamp_pb2.Timestamp
    seq_range: SeqRange
    input_chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    summary_sha256: str
    summary_tokens: int
    token_counter: str
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    create_time: _timestamp_pb2.Timestamp
    usage_counted_by: str
    def __init__(self, chunk_id: _Optional[str] = ..., stream_kind: _Optional[str] = ..., stream_id: _Optional[str] = ..., level: _Optional[_Union[MemoryLevel, str]] = ..., window_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seq_range: _Optional[_Union[SeqRange, _Mapping]] = ..., input_chunk_ids: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., summary_sha256: _Optional[str] = ..., summary_tokens: _Optional[int] = ..., token_counter: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., latency_ms: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage_counted_by: _Optional[str] = ...) -> None: ...

class ListMemoryChunksRequest(_message.Message):
    __slots__ = ("agent_id", "thread_id", "level", "window_start_time", "window_end_time", "page_size", "page_token")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    thread_id: str
    level: MemoryLevel
    window_start_time: _timestamp_pb2.Timestamp
    window_end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, agent_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., level: _Optional[_Union[MemoryLevel, str]] = ..., window_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMemoryChunksResponse(_message.Message):
    __slots__ = ("chunks", "next_page_token")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[MemoryChunk]
    next_page_token: str
    def __init__(self, chunks: _Optional[_Iterable[_Union[MemoryChunk, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetMemoryChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: _Optional[str] = ...) -> None: ...

class GetMemoryChunkResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: MemoryChunk
    def __init__(self, chunk: _Optional[_Union[MemoryChunk, _Mapping]] = ...) -> None: ...

class ExpandMemoryChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "max_depth", "max_items")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    max_depth: int
    max_items: int
    def __init__(self, chunk_id: _Optional[str] = ..., max_depth: _Optional[int] = ..., max_items: _Optional[int] = ...) -> None: ...

class ExpandedChunk(_message.Message):
    __slots__ = ("chunk", "depth", "parent_chunk_id")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    PARENT_CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk: MemoryChunk
    depth: int
    parent_chunk_id: str
    def __init__(self, chunk: _Optional[_Union[MemoryChunk, _Mapping]] = ..., depth: _Optional[int] = ..., parent_chunk_id: _Optional[str] = ...) -> None: ...

class ExpandMemoryChunkResponse(_message.Message):
    __slots__ = ("chunks", "raw_ranges", "missing_chunk_ids", "truncated")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    RAW_RANGES_FIELD_NUMBER: _ClassVar[int]
    MISSING_CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[ExpandedChunk]
    raw_ranges: _containers.RepeatedCompositeFieldContainer[SeqRange]
    missing_chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    def __init__(self, chunks: _Optional[_Iterable[_Union[ExpandedChunk, _Mapping]]] = ..., raw_ranges: _Optional[_Iterable[_Union[SeqRange, _Mapping]]] = ..., missing_chunk_ids: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CompactMemoryNowRequest(_message.Message):
    __slots__ = ("agent_id", "thread_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    thread_id: str
    def __init__(self, agent_id: _Optional[str] = ..., thread_id: _Optional[str] = ...) -> None: ...

class PlannedChunk(_message.Message):
    __slots__ = ("chunk_id", "level", "window_start_time", "window_end_time", "reason")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    level: MemoryLevel
    window_start_time: _timestamp_pb2.Timestamp
    window_end_time: _timestamp_pb2.Timestamp
    reason: CompactionReason
    def __init__(self, chunk_id: _Optional[str] = ..., level: _Optional[_Union[MemoryLevel, str]] = ..., window_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[_Union[CompactionReason, str]] = ...) -> None: ...

class CompactMemoryNowResponse(_message.Message):
    __slots__ = ("planned",)
    PLANNED_FIELD_NUMBER: _ClassVar[int]
    planned: _containers.RepeatedCompositeFieldContainer[PlannedChunk]
    def __init__(self, planned: _Optional[_Iterable[_Union[PlannedChunk, _Mapping]]] = ...) -> None: ...

class StartMemoryQueryRequest(_message.Message):
    __slots__ = ("query_id", "agent_id", "thread_id", "question", "window_start_time", "window_end_time", "max_parallel")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    THREAD_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLEL_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    agent_id: str
    thread_id: str
    question: str
    window_start_time: _timestamp_pb2.Timestamp
    window_end_time: _timestamp_pb2.Timestamp
    max_parallel: int
    def __init__(self, query_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., thread_id: _Optional[str] = ..., question: _Optional[str] = ..., window_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_parallel: _Optional[int] = ...) -> None: ...

class MemoryQuery(_message.Message):
    __slots__ = ("query_id", "question", "window_start_time", "window_end_time", "state", "map_count", "maps_done", "answer", "used_chunk_ids", "error_message")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MAP_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAPS_DONE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    USED_CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    question: str
    window_start_time: _timestamp_pb2.Timestamp
    window_end_time: _timestamp_pb2.Timestamp
    state: MemoryQueryState
    map_count: int
    maps_done: int
    answer: str
    used_chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    error_message: str
    def __init__(self, query_id: _Optional[str] = ..., question: _Optional[str] = ..., window_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[MemoryQueryState, str]] = ..., map_count: _Optional[int] = ..., maps_done: _Optional[int] = ..., answer: _Optional[str] = ..., used_chunk_ids: _Optional[_Iterable[str]] = ..., error_message: _Optional[str] = ...) -> None: ...

class StartMemoryQueryResponse(_message.Message):
    __slots__ = ("query", "created")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    query: MemoryQuery
    created: bool
    def __init__(self, query: _Optional[_Union[MemoryQuery, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetMemoryQueryRequest(_message.Message):
    __slots__ = ("query_id",)
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    def __init__(self, query_id: _Optional[str] = ...) -> None: ...

class GetMemoryQueryResponse(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: MemoryQuery
    def __init__(self, query: _Optional[_Union[MemoryQuery, _Mapping]] = ...) -> None: ...
