"""SyncService: validates a Subscribe request, runs the use case (app/sync.py) and converts
its batches. Errors before the first message are DomainErrors mapped by the edge interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio
from google.protobuf import struct_pb2
from openagents.runtime.v1 import sync_service_pb2 as pb
from openagents.runtime.v1 import sync_service_pb2_grpc as pb_grpc

from ..app.sync import TopicBatch, TopicState, subscribe
from ..core.errors import InvalidArgument
from ..core.sync import AGENT_SUMMARY, RUN_SUMMARY, WORKER_SUMMARY, Cursor, SyncDocument
from ..core.validation import require_id
from ..engine.sync_projector import SyncFeed
from ..ports import SyncStore
from .convert import _timestamp

TOPIC_KINDS = {
    pb.SYNC_TOPIC_RUN_SUMMARIES: RUN_SUMMARY,
    pb.SYNC_TOPIC_CODEX_WORKER_SUMMARIES: WORKER_SUMMARY,
    pb.SYNC_TOPIC_AGENT_SUMMARIES: AGENT_SUMMARY,
}
MAX_IDS = 100
MAX_BATCH = 1000
DEFAULT_BATCH = 100


class SyncService(pb_grpc.SyncServiceServicer):  # type: ignore[misc]
    def __init__(self, store: SyncStore, feed: SyncFeed, *, poll_s: float) -> None:
        self._store = store
        self._feed = feed
        self._poll_s = poll_s

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SubscribeResponse]:
        topics = topics_from_proto(request)
        batch = batch_size(request.batch_size)
        async for update in subscribe(self._store, self._feed, topics, batch=batch, poll_s=self._poll_s):
            yield batch_to_proto(update)


def batch_size(value: int) -> int:
    if value == 0:
        return DEFAULT_BATCH
    if not 1 <= value <= MAX_BATCH:
        raise InvalidArgument("batch_size", f"must be 1-{MAX_BATCH} (0: {DEFAULT_BATCH})")
    return value


def topics_from_proto(request: pb.SubscribeRequest) -> list[TopicState]:
    if not request.topics:
        raise InvalidArgument("topics", "at least one topic is required")
    out: list[TopicState] = []
    for index, sub in enumerate(request.topics):
        name = f"topics[{index}]"
        kind = TOPIC_KINDS.get(sub.topic)
        if kind is None:
            raise InvalidArgument(
                f"{name}.topic",
                "must be SYNC_TOPIC_RUN_SUMMARIES, SYNC_TOPIC_CODEX_WORKER_SUMMARIES"
                " or SYNC_TOPIC_AGENT_SUMMARIES",
            )
        if any(t.kind == kind for t in out):
            raise InvalidArgument(f"{name}.topic", "each topic at most once")
        if len(sub.ids) > MAX_IDS:
            raise InvalidArgument(f"{name}.ids", f"at most {MAX_IDS}")
        ids = [require_id(f"{name}.ids", value) for value in sub.ids]
        topic = pb.SyncTopic.Name(sub.topic)
        out.append(TopicState(kind, topic, sorted(set(ids)), Cursor.decode(topic, sub.cursor)))
    return out


def batch_to_proto(update: TopicBatch) -> pb.SubscribeResponse:
    topic = next(t for t, kind in TOPIC_KINDS.items() if kind == update.topic.kind)
    return pb.SubscribeResponse(
        topic=topic,
        documents=[document_to_proto(doc) for doc in update.documents],
        watermark=update.watermark.encode() if update.watermark is not None else "",
        replay_complete=update.replay_complete,
        full_resync_required=update.full_resync_required,
    )


def document_to_proto(doc: SyncDocument) -> pb.SyncDocument:
    payload = struct_pb2.Struct()
    payload.update(dict(doc.payload))
    return pb.SyncDocument(
        id=doc.doc_id,
        kind=doc.kind,
        version=doc.version_text,
        envelope=pb.SyncEnvelope(
            source_ids=dict(doc.source_ids),
            seq_from=doc.seq_from,
            seq_to=doc.seq_to,
            projection_version=doc.projection_version,
            projected_at=_timestamp(doc.projected_at),
            payload_hash=doc.payload_hash,
            position=doc.position,
        ),
        payload=payload,
    )
