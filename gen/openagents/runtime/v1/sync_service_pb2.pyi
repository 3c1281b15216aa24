import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncTopic(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_TOPIC_UNSPECIFIED: _ClassVar[SyncTopic]
    SYNC_TOPIC_RUN_SUMMARIES: _ClassVar[SyncTopic]
    SYNC_TOPIC_CODEX_WORKER_SUMMARIES: _ClassVar[SyncTopic]
    SYNC_TOPIC_AGENT_SUMMARIES: _ClassVar[SyncTopic]
SYNC_TOPIC_UNSPECIFIED: SyncTopic
SYNC_TOPIC_RUN_SUMMARIES: SyncTopic
SYNC_TOPIC_CODEX_WORKER_SUMMARIES: SyncTopic
SYNC_TOPIC_AGENT_SUMMARIES: SyncTopic

class SubscribeRequest(_message.Message):
    __slots__ = ("topics", "batch_size")
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    topics: _containers.RepeatedCompositeFieldContainer[TopicSubscription]
    batch_size: int
    def __init__(self, topics: _Optional[_Iterable[_Union[TopicSubscription, _Mapping]]] = ..., batch_size: _Optional[int] = ...) -> None: ...

class TopicSubscription(_message.Message):
    __slots__ = ("topic", "cursor", "ids")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    topic: SyncTopic
    cursor: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, topic: _Optional[_Union[SyncTopic, str]] = ..., cursor: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("topic", "documents", "watermark", "replay_complete", "full_resync_required")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    REPLAY_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    FULL_RESYNC_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    topic: SyncTopic
    documents: _containers.RepeatedCompositeFieldContainer[SyncDocument]
    watermark: str
    replay_complete: bool
    full_resync_required: bool
    def __init__(self, topic: _Optional[_Union[SyncTopic, str]] = ..., documents: _Optional[_Iterable[_Union[SyncDocument, _Mapping]]] = ..., watermark: _Optional[str] = ..., replay_complete: _Optional[bool] = ..., full_resync_required: _Optional[bool] = ...) -> None: ...

class SyncDocument(_message.Message):
    __slots__ = ("id", "kind", "version", "envelope", "payload")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    version: str
    envelope: SyncEnvelope
    payload: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., version: _Optional[str] = ..., envelope: _Optional[_Union[SyncEnvelope, _Mapping]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SyncEnvelope(_message.Message):
    __slots__ = ("source_ids", "seq_from", "seq_to", "projection_version", "projected_at", "payload_hash", "position")
    class SourceIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FROM_FIELD_NUMBER: _ClassVar[int]
    SEQ_TO_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_HASH_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    source_ids: _containers.ScalarMap[str, str]
    seq_from: int
    seq_to: int
    projection_version: int
    projected_at: _timestamp_pb2.Timestamp
    payload_hash: str
    position: int
    def __init__(self, source_ids: _Optional[_Mapping[str, str]] = ..., seq_from: _Optional[int] = ..., seq_to: _Optional[int] = ..., projection_version: _Optional[int] = ..., projected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payload_hash: _Optional[str] = ..., position: _Optional[int] = ...) -> None: ...
