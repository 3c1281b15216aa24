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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..core.canonical import canonical_json
from ..core.events import Event
from ..core.memory.chunks import Level
from ..core.memory.context import AssembledContext, ContextPlan, ContextPolicy
from ..core.memory.raw import render_event
from ..core.memory.records import CHUNK_STREAM, CONTEXT_PLANNED, StoredChunk, ThreadEvent, thread_stream
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
class TurnMemoryPolicy:
    """What a turn's own memory policy asks for (an agent's `MemoryPolicy`): a budget that can
    lower the model's, never raise it (0: none), and the hot window of raw events (None: all the
    raw share holds)."""

    budget_tokens: int = 0
    hot_window: timedelta | None = None


NO_TURN_POLICY = TurnMemoryPolicy()


class MemoryContexts:
    def __init__(
        self,
        store: MemoryStore,
        counter: TokenCounter,
        budget_tokens: int,
        *,
        model_budgets: Mapping[str, int] | None = None,
        hot_budget_tokens: int | None = None,
        on_hot_window_full: Callable[[], None] | None = None,
        run_policy: Callable[[str], Awaitable[TurnMemoryPolicy]] | None = None,
    ) -> None:
        self.store = store
        self.counter = counter
        self.budget_tokens = budget_tokens
        # A model's own budget (deployment config); other models get `budget_tokens`.
        self.model_budgets = dict(model_budgets or {})
        self.run_policy = run_policy
        # When a turn finds more raw tokens than this not yet in an L1 chunk, compaction is
        # woken at once (the compaction scheduler's wake) instead of at its next tick.
        self.hot_budget_tokens = hot_budget_tokens
        self.on_hot_window_full = on_hot_window_full

    async def history(self, thread_id: str, run_id: str, model: str = "") -> list[ChatMessage] | None:
        """The thread's history as memory for a turn of `run_id` on `model` (its name as the run
        asked for it, "" for the default), its plan recorded first; None when the thread keeps
        no memory (the caller uses the plain thread history)."""
        assembled = await self.assemble(thread_id, run_id, model)
        if assembled is None:
            return None
        await self.record(thread_id, run_id, assembled.plan)
        return [ChatMessage(role=m.role, content=m.text) for m in assembled.messages]

    async def assemble(self, thread_id: str, run_id: str, model: str = "") -> AssembledContext | None:
        """Reads only what the plan can use, in one read (MemoryStore.read_turn_context): the raw
        tail from the newest L1 chunk on, then each level's newest chunks a page at a time until
        the level is full (`plan_context`)."""
        policy = await self.policy(run_id, model)
        read = await self.store.read_turn_context(
            thread_id, run_id, MEMORY_INSTRUCTIONS, self.counter, policy
        )
        if read is None:
            return None
        self._check_hot_window([e for e in read.events if e.position > read.covered_position])
        if not read.marked:
            # A run mark past where this turn read from bounds the next turns' raw reads to the
            # runs created since (store/memory.py `mark_thread_runs`): about one per L1 window.
            await self.store.mark_thread_runs(thread_id, read.read_from)
        return read.assembled

    async def policy(self, run_id: str, model: str) -> ContextPolicy:
        """The model's budget (or the deployment's), lowered by the turn's own policy if lower."""
        budget = self.model_budgets.get(model, self.budget_tokens)
        own = NO_TURN_POLICY if self.run_policy is None else await self.run_policy(run_id)
        if 0 < own.budget_tokens < budget:
            budget = own.budget_tokens
        return ContextPolicy(budget, hot_window=own.hot_window)

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
        newest = await self.store.newest_chunk(thread_stream(thread_id), Level.L1)
        events, _ = await self._recent(thread_id, run_id, newest)
        return events

    async def _recent(
        self, thread_id: str, run_id: str, newest: StoredChunk | None
    ) -> tuple[list[ThreadEvent], int]:
        """`recent_events` and the log position of the last event an L1 chunk covers (0: none)."""
        stream = thread_stream(thread_id)
        after, first_seq, covered = 0, 1, 0
        if newest is not None and newest.positions is not None and newest.chunk.seq_range is not None:
            after, first_seq = newest.positions[0] - 1, newest.chunk.seq_range.first
            covered = newest.positions[1]
        events = await self._events_before(thread_id, run_id, after)
        return await numbered(self.store, stream, events, first_seq), covered

    async def _events_before(self, thread_id: str, run_id: str, after: int) -> list[Event]:
        """The thread's events after position `after` up to this run's first."""
        events: list[Event] = []
        while True:
            page = await self.store.thread_events(thread_id, after, 1000)
            for event in page:
                if event.run_id == run_id:  # this run's own messages are its transcript
                    return events
                events.append(event)
            if len(page) < 1000:
                return events
            after = page[-1].position

    async def record(self, thread_id: str, run_id: str, plan: ContextPlan) -> None:
        payload = {"run_id": run_id, "plan": plan.to_json()}
        digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]
        # The same plan for the same run (a resumed run) is recorded once.
        await self.store.append_memory_event(
            CHUNK_STREAM, thread_id, f"ev_ctx{digest}", CONTEXT_PLANNED, payload
        )
