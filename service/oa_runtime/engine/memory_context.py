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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..core.canonical import canonical_json
from ..core.events import Event
from ..core.memory.chunks import Chunk, Level
from ..core.memory.context import (
    AssembledContext,
    ChunkIndex,
    ContextPlan,
    ContextPolicy,
    assemble_context,
)
from ..core.memory.raw import render_event
from ..core.memory.records import CHUNK_STREAM, CHUNK_WRITTEN, CONTEXT_PLANNED, ThreadEvent, thread_stream
from ..core.memory.tokens import TokenCounter
from ..core.messages import ChatMessage
from ..ports import MemoryStore
from ..tools.memory import numbered

MEMORY_INSTRUCTIONS = (
    "This thread has long-term memory. Below are summaries of its earlier activity (oldest "
    "first, each with its chunk id in brackets) and its most recent events verbatim. Call the "
    "memory_expand tool with a chunk id to see what a summary stands for."
)


@dataclass(frozen=True, slots=True)
class _Cached:
    seq: int  # the memory stream's last seq read
    chunks: dict[str, Chunk]
    index: ChunkIndex


class MemoryContexts:
    def __init__(
        self,
        store: MemoryStore,
        counter: TokenCounter,
        budget_tokens: int,
        *,
        hot_budget_tokens: int | None = None,
        on_hot_window_full: Callable[[], None] | None = None,
        run_budget: Callable[[str], Awaitable[int]] | None = None,
    ) -> None:
        self.store = store
        self.counter = counter
        self.policy = ContextPolicy(budget_tokens)
        # A run's own budget (an agent's memory policy; 0: none): it can lower the
        # deployment's budget, never raise it.
        self.run_budget = run_budget
        # When a turn finds more raw tokens than this not yet in an L1 chunk, compaction is
        # woken at once (the compaction scheduler's wake) instead of at its next tick.
        self.hot_budget_tokens = hot_budget_tokens
        self.on_hot_window_full = on_hot_window_full
        self._indexes: dict[str, _Cached] = {}

    async def history(self, thread_id: str, run_id: str) -> list[ChatMessage] | None:
        """The thread's history as memory for a turn of `run_id`, its plan recorded first; None
        when the thread keeps no memory (the caller uses the plain thread history)."""
        assembled = await self.assemble(thread_id, run_id)
        if assembled is None:
            return None
        await self.record(thread_id, run_id, assembled.plan)
        return [ChatMessage(role=m.role, content=m.text) for m in assembled.messages]

    async def assemble(self, thread_id: str, run_id: str) -> AssembledContext | None:
        if not await self.store.memory_enabled(thread_stream(thread_id)):
            return None
        events, covered = await self._recent(thread_id, run_id)
        self._check_hot_window([e for e in events if e.position > covered])
        index = await self.chunk_index(thread_id)
        policy = await self._policy(run_id)
        return assemble_context(MEMORY_INSTRUCTIONS, [e.raw for e in events], index, self.counter, policy)

    async def _policy(self, run_id: str) -> ContextPolicy:
        own = 0 if self.run_budget is None else await self.run_budget(run_id)
        if 0 < own < self.policy.budget_tokens:
            return ContextPolicy(own, self.policy.raw_share)
        return self.policy

    async def chunk_index(self, thread_id: str) -> ChunkIndex:
        """The thread's chunks as an index kept between turns: a turn reads only the memory
        stream's events since the last turn and, when chunks were written meanwhile (by any
        replica), those chunks, and rebuilds the index (costs memoised per chunk are lost then)."""
        cached = self._indexes.get(thread_id) or _Cached(0, {}, ChunkIndex((), self.counter))
        events = await self.store.memory_events(CHUNK_STREAM, thread_id, cached.seq)
        new_ids = [e.payload["chunk_id"] for e in events if e.type == CHUNK_WRITTEN]
        if new_ids:
            found = await self.store.get_chunks(new_ids)
            chunks = {**cached.chunks, **{i: s.chunk for i, s in found.items()}}
            cached = _Cached(cached.seq, chunks, ChunkIndex(chunks.values(), self.counter))
        if events:
            cached = _Cached(events[-1].seq, cached.chunks, cached.index)
        self._indexes[thread_id] = cached
        return cached.index

    def _check_hot_window(self, uncovered: list[ThreadEvent]) -> None:
        if self.hot_budget_tokens is None or self.on_hot_window_full is None:
            return
        tokens = 0
        for event in uncovered:
            tokens += self.counter.count(render_event(event.raw))
            if tokens > self.hot_budget_tokens:
                self.on_hot_window_full()
                return

    async def recent_events(self, thread_id: str, run_id: str) -> list[ThreadEvent]:
        """The thread's events of runs before this one, from the newest L1 chunk's first on."""
        events, _ = await self._recent(thread_id, run_id)
        return events

    async def _recent(self, thread_id: str, run_id: str) -> tuple[list[ThreadEvent], int]:
        """`recent_events` and the log position of the last event an L1 chunk covers (0: none)."""
        stream = thread_stream(thread_id)
        newest = await self.store.newest_chunk(stream, Level.L1)
        after, first_seq, covered = 0, 1, 0
        if newest is not None and newest.positions is not None and newest.chunk.seq_range is not None:
            after, first_seq = newest.positions[0] - 1, newest.chunk.seq_range.first
            covered = newest.positions[1]
        events: list[Event] = []
        while True:
            page = await self.store.thread_events(thread_id, after, 1000)
            for event in page:
                if event.run_id == run_id:  # this run's own messages are its transcript
                    return await numbered(self.store, stream, events, first_seq), covered
                events.append(event)
            if len(page) < 1000:
                return await numbered(self.store, stream, events, first_seq), covered
            after = page[-1].position

    async def record(self, thread_id: str, run_id: str, plan: ContextPlan) -> None:
        payload = {"run_id": run_id, "plan": plan.to_json()}
        digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]
        # The same plan for the same run (a resumed run) is recorded once.
        await self.store.append_memory_event(
            CHUNK_STREAM, thread_id, f"ev_ctx{digest}", CONTEXT_PLANNED, payload
        )
