"""A memory-enabled thread's history for a turn: assembled within a token budget, plan recorded.

Instead of every earlier message of the thread, a run on a thread with memory gets: the memory
instructions, the summaries newest first level by level, and the newest raw events of the
thread's earlier runs (from the newest L1 chunk's first event on, so the newest event is always
there and the summaries join it without a gap), never over `budget_tokens`
(core/memory/context.py). The plan (chunk ids, raw seq range, token counts) is recorded as
`memory.context_planned` on the thread's memory stream before the model is called, so the
turn's context can be audited and rebuilt exactly (`render_plan` over the log and the chunks).
"""

from __future__ import annotations

import hashlib

from ..core.canonical import canonical_json
from ..core.events import Event
from ..core.memory.chunks import Level
from ..core.memory.context import ContextPlan, ContextPolicy, assemble_context
from ..core.memory.records import CHUNK_STREAM, CONTEXT_PLANNED, ThreadEvent, thread_stream
from ..core.memory.tokens import TokenCounter
from ..core.messages import ChatMessage
from ..ports import MemoryStore
from ..tools.memory import numbered

MEMORY_INSTRUCTIONS = (
    "This thread has long-term memory. Below are summaries of its earlier activity (oldest "
    "first, each with its chunk id in brackets) and its most recent events verbatim. Call the "
    "memory_expand tool with a chunk id to see what a summary stands for."
)
_MAX_CHUNKS = 100_000


class MemoryContexts:
    def __init__(self, store: MemoryStore, counter: TokenCounter, budget_tokens: int) -> None:
        self.store = store
        self.counter = counter
        self.policy = ContextPolicy(budget_tokens)

    async def history(self, thread_id: str, run_id: str) -> list[ChatMessage] | None:
        """The thread's history as memory for a turn of `run_id`; None when the thread keeps
        no memory (the caller uses the plain thread history)."""
        stream = thread_stream(thread_id)
        if stream not in await self.store.memory_streams():
            return None
        events = await self.recent_events(thread_id, run_id)
        chunks = [s.chunk for s in await self.store.list_chunks(stream, limit=_MAX_CHUNKS)]
        assembled = assemble_context(
            MEMORY_INSTRUCTIONS, [e.raw for e in events], chunks, self.counter, self.policy
        )
        await self.record(thread_id, run_id, assembled.plan)
        return [ChatMessage(role=m.role, content=m.text) for m in assembled.messages]

    async def recent_events(self, thread_id: str, run_id: str) -> list[ThreadEvent]:
        """The thread's events of runs before this one, from the newest L1 chunk's first on."""
        stream = thread_stream(thread_id)
        newest = await self.store.newest_chunk(stream, Level.L1)
        after, first_seq = 0, 1
        if newest is not None and newest.positions is not None and newest.chunk.seq_range is not None:
            after, first_seq = newest.positions[0] - 1, newest.chunk.seq_range.first
        events: list[Event] = []
        while True:
            page = await self.store.thread_events(thread_id, after, 1000)
            for event in page:
                if event.run_id == run_id:  # this run's own messages are its transcript
                    return await numbered(self.store, stream, events, first_seq)
                events.append(event)
            if len(page) < 1000:
                return await numbered(self.store, stream, events, first_seq)
            after = page[-1].position

    async def record(self, thread_id: str, run_id: str, plan: ContextPlan) -> None:
        payload = {"run_id": run_id, "plan": plan.to_json()}
        digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]
        # The same plan for the same run (a resumed run) is recorded once.
        await self.store.append_memory_event(
            CHUNK_STREAM, thread_id, f"ev_ctx{digest}", CONTEXT_PLANNED, payload
        )
