"""MemoryService (memory RPCs only): converts requests to core types, calls the use cases
(`app/memory_api.py`) and converts the answers. Errors are DomainErrors, mapped to statuses by
the edge interceptor. ListArtifacts and FetchArtifact belong to the artifacts work and are not
served here (grpc answers UNIMPLEMENTED for them).

A request names exactly one of `agent_id` and `thread_id`. Memory is kept per thread; an
agent's memory is its thread's (the app resolves the agent through the AgentStore port)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc.aio
from google.protobuf import timestamp_pb2
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from ..app.memory_api import MemoryApp, QueryView
from ..core.errors import InvalidArgument
from ..core.memory.chunks import Level, StreamRef, Window
from ..core.memory.expand import Expansion
from ..core.memory.planning import CompactionPlan
from ..core.memory.records import StoredChunk, requested_stream, require_query_id
from ..core.validation import require_id
from .convert import _timestamp

_QUERY_STATES = {
    "pending": pb.MEMORY_QUERY_STATE_PENDING,
    "mapping": pb.MEMORY_QUERY_STATE_MAPPING,
    "reducing": pb.MEMORY_QUERY_STATE_REDUCING,
    "done": pb.MEMORY_QUERY_STATE_DONE,
    "failed": pb.MEMORY_QUERY_STATE_FAILED,
}
_REASONS = {
    "window_closed": pb.COMPACTION_REASON_WINDOW_CLOSED,
    "over_budget": pb.COMPACTION_REASON_OVER_BUDGET,
    "forced": pb.COMPACTION_REASON_FORCED,
}


async def memory_stream(memory: MemoryApp, request: Any) -> StreamRef:
    return await memory.resolve(requested_stream(request.agent_id, request.thread_id))


def _level(value: int, field: str) -> Level | None:
    if value == pb.MEMORY_LEVEL_UNSPECIFIED:
        return None
    if value not in (1, 2, 3):
        raise InvalidArgument(field, "must be MEMORY_LEVEL_L1, _L2 or _L3")
    return Level(value)


def _instant(request: Any, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(request, field)
    return stamp.ToDatetime(tzinfo=UTC)


def chunk_to_proto(stored: StoredChunk) -> pb.MemoryChunk:
    c = stored.chunk
    message = pb.MemoryChunk(
        chunk_id=c.chunk_id,
        stream_kind=c.stream.kind,
        stream_id=c.stream.id,
        level=int(c.level),
        window_start_time=_timestamp(c.window.start),
        window_end_time=_timestamp(c.window.end),
        input_chunk_ids=list(c.input_ids),
        summary=c.summary,
        summary_sha256=c.summary_sha256,
        summary_tokens=c.summary_tokens,
        token_counter=c.token_counter,
        model=c.usage.model,
        provider=c.usage.provider,
        prompt_tokens=c.usage.prompt_tokens,
        completion_tokens=c.usage.completion_tokens,
        latency_ms=c.usage.latency_ms,
        create_time=_timestamp(stored.created_at),
        usage_counted_by=c.usage.counted_by,
    )
    if c.seq_range is not None:
        message.seq_range.CopyFrom(pb.SeqRange(first_seq=c.seq_range.first, last_seq=c.seq_range.last))
    return message


def expansion_to_proto(expansion: Expansion, created: dict[str, StoredChunk]) -> pb.ExpandMemoryChunkResponse:
    nodes = [
        pb.ExpandedChunk(
            chunk=chunk_to_proto(created.get(n.chunk.chunk_id) or StoredChunk(n.chunk, None, _EPOCH)),
            depth=n.depth,
            parent_chunk_id=n.parent_id or "",
        )
        for n in expansion.nodes
    ]
    return pb.ExpandMemoryChunkResponse(
        chunks=nodes,
        raw_ranges=[pb.SeqRange(first_seq=r.first, last_seq=r.last) for r in expansion.raw_ranges],
        missing_chunk_ids=list(expansion.missing),
        truncated=expansion.truncated,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def plan_to_proto(plan: CompactionPlan) -> pb.CompactMemoryNowResponse:
    planned = [
        pb.PlannedChunk(
            chunk_id=p.chunk_id,
            level=int(Level.L1),
            window_start_time=_timestamp(p.window.start),
            window_end_time=_timestamp(p.window.end),
            reason=_REASONS[p.reason.value],
        )
        for p in plan.l1
    ]
    planned += [
        pb.PlannedChunk(
            chunk_id=p.chunk_id,
            level=int(p.level),
            window_start_time=_timestamp(p.window.start),
            window_end_time=_timestamp(p.window.end),
            reason=pb.COMPACTION_REASON_WINDOW_CLOSED,
        )
        for p in plan.rollups
    ]
    return pb.CompactMemoryNowResponse(planned=planned)


def query_to_proto(view: QueryView) -> pb.MemoryQuery:
    start, end = view.record.request["window"]
    return pb.MemoryQuery(
        query_id=view.record.query_id,
        question=view.record.request["question"],
        window_start_time=_timestamp(datetime.fromtimestamp(start / 1000, UTC)),
        window_end_time=_timestamp(datetime.fromtimestamp(end / 1000, UTC)),
        state=_QUERY_STATES[view.state],
        map_count=view.map_count,
        maps_done=view.maps_done,
        answer=view.answer,
        used_chunk_ids=list(view.used_chunk_ids),
        error_message=view.error,
    )


class MemoryService(pb_grpc.MemoryServiceServicer):  # type: ignore[misc]
    def __init__(self, memory: MemoryApp) -> None:
        self.m = memory

    async def ListMemoryChunks(
        self, request: pb.ListMemoryChunksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemoryChunksResponse:
        stream = await memory_stream(self.m, request)
        level = _level(request.level, "level")
        start, end = _instant(request, "window_start_time"), _instant(request, "window_end_time")
        chunks, token = await self.m.list_chunks(
            stream, level, start, end, request.page_size, request.page_token
        )
        return pb.ListMemoryChunksResponse(chunks=[chunk_to_proto(c) for c in chunks], next_page_token=token)

    async def GetMemoryChunk(
        self, request: pb.GetMemoryChunkRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemoryChunkResponse:
        stored = await self.m.get_chunk(require_id("chunk_id", request.chunk_id))
        return pb.GetMemoryChunkResponse(chunk=chunk_to_proto(stored))

    async def ExpandMemoryChunk(
        self, request: pb.ExpandMemoryChunkRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExpandMemoryChunkResponse:
        chunk_id = require_id("chunk_id", request.chunk_id)
        depth = request.max_depth if request.HasField("max_depth") else 3
        expansion = await self.m.expand(chunk_id, depth, request.max_items)
        stored = await self.m.store.get_chunks([n.chunk.chunk_id for n in expansion.nodes])
        return expansion_to_proto(expansion, stored)

    async def CompactMemoryNow(
        self, request: pb.CompactMemoryNowRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompactMemoryNowResponse:
        return plan_to_proto(await self.m.compact_now(await memory_stream(self.m, request)))

    async def StartMemoryQuery(
        self, request: pb.StartMemoryQueryRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartMemoryQueryResponse:
        query_id = require_query_id(request.query_id)
        stream = await memory_stream(self.m, request)
        start, end = _instant(request, "window_start_time"), _instant(request, "window_end_time")
        if start is None or end is None:
            raise InvalidArgument("window_start_time" if start is None else "window_end_time", "is required")
        if end <= start:
            raise InvalidArgument("window_end_time", "must be after window_start_time")
        view, created = await self.m.start_query(
            query_id, stream, request.question, Window(start, end), request.max_parallel
        )
        return pb.StartMemoryQueryResponse(query=query_to_proto(view), created=created)

    async def GetMemoryQuery(
        self, request: pb.GetMemoryQueryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemoryQueryResponse:
        query_id = require_query_id(request.query_id)
        return pb.GetMemoryQueryResponse(query=query_to_proto(await self.m.get_query(query_id)))
