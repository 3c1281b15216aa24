"""`memory_expand`: the built-in tool a model calls to zoom into a summary it sees in its context.

The context shows each summary with its chunk id (`[L2 2026-11-30T10:00Z mc2_…] …`); the tool
walks down from that chunk (L3 → L2 → L1) and, with `raw`, reads the raw events an L1 chunk
stands for from the log. A run sees only its own thread's memory. The walk is the one the
ExpandMemoryChunk API uses (`expand_stored`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.events import RUN_ACCEPTED, Event
from ..core.memory.chunks import Chunk, StreamRef
from ..core.memory.expand import Expansion, expand_chunk
from ..core.memory.raw import render_event
from ..core.memory.records import ThreadEvent, number_events, thread_stream
from ..ports import MemoryStore, ToolSpec
from .registry import Tool, ToolContext, ToolFailed

MAX_RAW_EVENTS = 200


async def expand_stored(store: MemoryStore, start: Chunk, max_depth: int, max_items: int) -> Expansion:
    """`expand_chunk` over the store: one read per level reached (the children of a level)."""
    known: dict[str, Chunk] = {start.chunk_id: start}
    frontier = [start]
    for _ in range(max_depth):
        wanted = [i for c in frontier for i in c.input_ids if i not in known]
        found = await store.get_chunks(wanted)
        known.update((i, s.chunk) for i, s in found.items())
        frontier = [s.chunk for s in found.values()]
    expansion = expand_chunk(start.chunk_id, known.get, max_depth=max_depth, max_items=max_items)
    assert expansion is not None  # the start is known
    return expansion


async def numbered(
    store: MemoryStore, stream: StreamRef, events: Sequence[Event], first_seq: int
) -> list[ThreadEvent]:
    """The events as memory sees them, numbered from `first_seq`, each run's prompt shown."""
    prompts = await store.run_prompts([e.run_id for e in events if e.type == RUN_ACCEPTED])
    return number_events(stream, events, first_seq, prompts)


def memory_expand_tool(store: MemoryStore) -> Tool:
    async def run(args: dict[str, Any], ctx: ToolContext) -> Any:
        chunk_id = str(args["chunk_id"])
        stored = (await store.get_chunks([chunk_id])).get(chunk_id)
        if stored is None or stored.chunk.stream != thread_stream(ctx.thread_id):
            raise ToolFailed(f"no memory chunk {chunk_id} in this thread")
        expansion = await expand_stored(
            store, stored.chunk, int(args.get("max_depth", 1)), int(args.get("max_items", 20))
        )
        out: dict[str, Any] = {
            "chunks": [
                {
                    "chunk_id": n.chunk.chunk_id,
                    "level": n.chunk.level.name,
                    "depth": n.depth,
                    "window_start": n.chunk.window.start.isoformat(),
                    "summary": n.chunk.summary,
                }
                for n in expansion.nodes
            ],
            "missing": list(expansion.missing),
            "truncated": expansion.truncated,
        }
        if args.get("raw") and stored.positions is not None and stored.chunk.seq_range is not None:
            first, last = stored.positions
            events = await store.thread_events_between(ctx.thread_id, first, last, MAX_RAW_EVENTS)
            shown = await numbered(store, stored.chunk.stream, events, stored.chunk.seq_range.first)
            out["raw_events"] = [render_event(e.raw) for e in shown]
        return out

    schema = {
        "type": "object",
        "properties": {
            "chunk_id": {"type": "string", "pattern": "^mc[123]_[0-9a-f]{32}$"},
            "max_depth": {"type": "integer", "minimum": 0, "maximum": 3},
            "max_items": {"type": "integer", "minimum": 1, "maximum": 100},
            "raw": {"type": "boolean"},
        },
        "required": ["chunk_id"],
    }
    description = (
        "Shows what a memory summary stands for: the summaries one level down (max_depth levels), "
        "and with raw=true on an L1 chunk its raw events. chunk_id is the id in brackets."
    )
    return Tool(ToolSpec("memory_expand", description, schema), run, idempotent=True)
