"""What the memory store keeps and the log records, pure: stored chunks, a thread's events as
memory sees them, and the events memory writes.

A thread's memory summarises the events of its runs (stream kind ``run``) in log-position
order; the **thread seq** of an event is its place in that order among the memory-visible
events (1, 2, …). Positions follow commit order, so the numbering never changes once given.
An L1 chunk records both its thread seqs and the positions of its first and last event, so
the next compaction reads only the log after the last position covered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import events as ev
from ..artifacts import Artifact, ArtifactRef, preview
from ..errors import InvalidArgument
from ..validation import require_id
from .chunks import Chunk, StreamRef
from .context import AssembledContext
from .raw import RawEvent

THREAD = "thread"
AGENT = "agent"  # a request by agent id names the agent's thread's memory (resolved by the app)
CHUNK_STREAM = "memory"  # chunk_written events: stream (memory, thread id)
QUERY_STREAM = "memory_query"  # a map/reduce question's progress: stream (memory_query, query id)
CHUNK_WRITTEN = "memory.chunk_written"
OWNER_MEMORY = "memory"  # artifact index owner kind of a summary: owner id = the thread id
# A summary is model prose, often with markdown lists/headings; stored as its UTF-8 bytes.
SUMMARY_MEDIA_TYPE = "text/markdown; charset=utf-8"
QUERY_STARTED = "memory.query_started"
QUERY_FAILED = "memory.query_failed"
CONTEXT_PLANNED = "memory.context_planned"

# Events that say nothing a summary needs: streamed text (the completed message has it),
# tool progress and checkpoints. Every other run event is memory-visible.
INVISIBLE_TYPES = frozenset({ev.MESSAGE_DELTA, ev.TOOL_PROGRESS, ev.CHECKPOINT})


_QUERY_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def is_valid_query_id(query_id: str) -> bool:
    """A map/reduce question's client id: 1-128 characters of [A-Za-z0-9._:-]."""
    return 1 <= len(query_id) <= 128 and set(query_id) <= _QUERY_ID_CHARS


def require_query_id(query_id: str) -> str:
    if not is_valid_query_id(query_id):
        raise InvalidArgument("query_id", "must be 1-128 characters of [A-Za-z0-9._:-]")
    return query_id


def thread_stream(thread_id: str) -> StreamRef:
    return StreamRef(THREAD, thread_id)


def requested_stream(agent_id: str, thread_id: str) -> StreamRef:
    """The stream a memory request names: exactly one of agent_id and thread_id. Memory is kept
    per thread; a request by agent answers (AGENT, agent id), which the app resolves to the
    agent's thread (an agent's turns are runs on its thread, so its memory is the thread's)."""
    if agent_id and thread_id:
        raise InvalidArgument("agent_id", "give agent_id or thread_id, not both")
    if agent_id:
        return StreamRef(AGENT, require_id("agent_id", agent_id))
    return thread_stream(require_id("thread_id", thread_id))


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as stored: plus, for L1, the log positions of its first and last event."""

    chunk: Chunk
    positions: tuple[int, int] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemoryQueryRecord:
    """A map/reduce question as accepted: its stream, body fingerprint and body (JSON)."""

    query_id: str
    stream: StreamRef
    fingerprint: str
    request: Mapping[str, Any]
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class ThreadEvent:
    """A memory-visible run event of a thread with its thread seq and log place."""

    raw: RawEvent
    run_id: str
    run_seq: int
    position: int


def number_events(
    stream: StreamRef, events: Sequence[ev.Event], first_seq: int, prompts: Mapping[str, str]
) -> list[ThreadEvent]:
    """Numbers a thread's run events (in position order) from `first_seq`, skipping invisible
    types. A run's `run.accepted` shows the run's prompt (`prompts` by run id): the prompt is
    in the run's request, not an event, and it is what a summary most needs."""
    numbered: list[ThreadEvent] = []
    seq = first_seq
    for event in events:
        if event.type in INVISIBLE_TYPES:
            continue
        payload: dict[str, Any] = {"run": event.run_id, **event.payload}
        if event.type == ev.RUN_ACCEPTED and prompts.get(event.run_id):
            payload["prompt"] = prompts[event.run_id]
        raw = RawEvent(stream, seq, event.occurred_at, event.type, payload)
        numbered.append(ThreadEvent(raw, event.run_id, event.seq, event.position))
        seq += 1
    return numbered


def summary_ref(chunk: Chunk) -> ArtifactRef:
    """The chunk's summary as an artifact: its UTF-8 bytes, addressed by `summary_sha256`."""
    size = len(chunk.summary.encode("utf-8"))
    return ArtifactRef(chunk.summary_sha256, size, SUMMARY_MEDIA_TYPE, f"{chunk.chunk_id}.md")


def summary_artifact(stored: StoredChunk, seq: int, agent_id: str = "") -> Artifact:
    """The index entry of a chunk's summary: owned by its thread's memory stream, at the seq
    of its `memory.chunk_written` event, produced by `memory:L<level>`."""
    chunk = stored.chunk
    return Artifact(
        ref=summary_ref(chunk),
        owner_kind=OWNER_MEMORY,
        owner_id=chunk.stream.id,
        seq=seq,
        run_id="",
        thread_id=chunk.stream.id,
        agent_id=agent_id,
        producer=f"memory:L{int(chunk.level)}",
        preview=preview(chunk.summary.encode("utf-8")),
        created_at=stored.created_at,
    )


def chunk_written_payload(stored: StoredChunk) -> dict[str, Any]:
    """The audit record of a chunk: everything but the summary text (its digest stands for it,
    and `artifact` says where to fetch it: FetchArtifact by the thread and that digest)."""
    chunk = stored.chunk
    return {
        "artifact": summary_ref(chunk).to_json(),
        "chunk_id": chunk.chunk_id,
        "level": int(chunk.level),
        "window": [chunk.window.start.isoformat(), chunk.window.end.isoformat()],
        "seq_range": None if chunk.seq_range is None else [chunk.seq_range.first, chunk.seq_range.last],
        "positions": None if stored.positions is None else list(stored.positions),
        "input_ids": list(chunk.input_ids),
        "summary_sha256": chunk.summary_sha256,
        "summary_tokens": chunk.summary_tokens,
        "token_counter": chunk.token_counter,
        "model": chunk.usage.model,
        "provider": chunk.usage.provider,
        "prompt_tokens": chunk.usage.prompt_tokens,
        "completion_tokens": chunk.usage.completion_tokens,
        "latency_ms": chunk.usage.latency_ms,
        "usage_counted_by": chunk.usage.counted_by,
    }


@dataclass(frozen=True, slots=True)
class TurnContext:
    """A turn's context as read in one go (MemoryStore.read_turn_context): the assembled context,
    the raw events it was planned over (from `read_from` on), the log position of the last event
    an L1 chunk covers (0: none), and whether a run mark lies past `read_from`."""

    assembled: AssembledContext
    events: list[ThreadEvent]
    read_from: int
    covered_position: int
    marked: bool
