"""Memory compaction: the workloads that write a thread's chunks (docs/MEMORY.md).

`Compactor.compact(stream)` runs the three jobs of one stream in order, each a pass of the pure
planner (core/memory/planning.py) over what is stored:

* `compact_l1`: the 10-minute windows that closed (or, with the hot window over its token
  budget, that ended), each summarised by the model from its raw events;
* `rollup_l2`: the hours whose L1 chunks are all written;
* `rollup_l3`: the days whose L2 chunks are all written.

Exactly once across replicas: a stream's compaction is a job with one holder at a time
(MemoryStore.claim_job, expiring so a dead holder's job is taken over), and every chunk is
written insert-if-absent by its deterministic id with its `memory.chunk_written` event (and its
summary stored and indexed as an artifact of the thread: store/memory.py) in the same
transaction. Resumable: a pass plans from the stored chunks, so after a crash the next
pass skips every chunk already written and redoes at most the one in flight (one model call).
The clock is injected; `MemoryScheduler` ticks every memory-enabled stream in the server's
TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..core.memory.chunks import Chunk, Level, ModelUsage, SeqRange, StreamRef, new_chunk, to_epoch_ms
from ..core.memory.planning import (
    ChunkRef,
    CompactionPlan,
    CompactionPolicy,
    EventMark,
    PlannedL1,
    PlannedRollup,
    plan_compaction,
)
from ..core.memory.prompt import SummaryPrompt, l1_prompt, rollup_prompt
from ..core.memory.raw import render_event
from ..core.memory.records import StoredChunk, ThreadEvent
from ..core.memory.tokens import TokenCounter
from ..core.messages import ChatMessage
from ..models.registry import ModelRegistry
from ..ports import FinishChunk, MemoryStore, ModelError, ModelRequest, TextChunk, TokenUsage
from ..tools.memory import numbered as numbered_events

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_PAGE = 1000
PROVIDER_COUNT = "provider"  # ModelUsage.counted_by when the provider reported its own usage


def utc_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CompactionSettings:
    model: str = ""
    policy: CompactionPolicy = field(default_factory=CompactionPolicy)
    # A holder renews after every chunk it writes; a dead holder's job is free after this.
    job_ttl: timedelta = timedelta(seconds=30)


async def summarise(
    models: ModelRegistry, model: str, prompt: SummaryPrompt, key: str, counter: TokenCounter
) -> tuple[str, ModelUsage]:
    """One model call through the ModelProvider port; its text and usage: the provider's own
    token counts when its FinishChunk reports them, else counted with `counter` (the usage
    says which: `counted_by`)."""
    provider = models.resolve(model)
    messages = (ChatMessage("system", prompt.system), ChatMessage("user", prompt.user))
    began = time.perf_counter()
    parts: list[str] = []
    reported: TokenUsage | None = None
    request = ModelRequest(run_id=key, model=model or models.default_model, step=1, messages=messages)
    async with contextlib.aclosing(provider.stream(request)) as stream:
        async for piece in stream:
            if isinstance(piece, TextChunk):
                parts.append(piece.text)
            elif isinstance(piece, FinishChunk) and piece.usage is not None:
                reported = piece.usage
    text = "".join(parts).strip()
    if not text:
        raise ModelError(f"{key}: the model wrote an empty summary", retryable=True)
    latency = int((time.perf_counter() - began) * 1000)
    if reported is not None:
        usage = ModelUsage(
            request.model,
            provider.name,
            reported.prompt_tokens,
            reported.completion_tokens,
            latency,
            PROVIDER_COUNT,
        )
    else:
        prompt_tokens = counter.count(prompt.system) + counter.count(prompt.user)
        usage = ModelUsage(
            request.model, provider.name, prompt_tokens, counter.count(text), latency, counter.name
        )
    return text, usage


class JobLost(Exception):
    """Another replica took the job over (this one was too slow to renew): stop writing."""


class Compactor:
    def __init__(
        self,
        store: MemoryStore,
        models: ModelRegistry,
        counter: TokenCounter,
        owner: str,
        settings: CompactionSettings = CompactionSettings(),
        clock: Clock = utc_clock,
    ) -> None:
        self.store = store
        self.models = models
        self.counter = counter
        self.owner = owner
        self.settings = settings
        self.clock = clock

    async def compact(self, stream: StreamRef, *, force: bool = False) -> list[str] | None:
        """Writes every chunk due now; the ids written (None: another replica holds the job)."""
        if not await self._hold(stream):
            return None
        try:
            written: list[str] = []
            while True:  # an L1 pass can make an hour due, an L2 pass a day
                plan, events = await self.plan(stream, force=force)
                if not plan.l1 and not plan.rollups:
                    return written
                written += await self.compact_l1(stream, plan.l1, events)
                written += await self.rollup(stream, [p for p in plan.rollups if p.level == Level.L2])
                written += await self.rollup(stream, [p for p in plan.rollups if p.level == Level.L3])
        finally:
            await self.store.release_job(f"compact:{stream}", self.owner)

    async def _hold(self, stream: StreamRef) -> bool:
        """Takes or renews the stream's compaction job; False when another replica holds it."""
        ttl = int(self.settings.job_ttl.total_seconds() * 1000)
        now = to_epoch_ms(self.clock())
        return await self.store.claim_job(f"compact:{stream}", self.owner, now, ttl) is not None

    async def plan(
        self, stream: StreamRef, *, force: bool = False
    ) -> tuple[CompactionPlan, list[ThreadEvent]]:
        """What is due now, from the stored chunks and the uncovered events."""
        last = await self.store.newest_chunk(stream, Level.L1)
        events = await self.uncovered_events(stream, last)
        # Roll-ups are written oldest window first, L2s before L3s: every day before the newest
        # L3 is rolled up, so older chunks cannot be inputs of anything due.
        newest_day = await self.store.newest_chunk(stream, Level.L3)
        since = None if newest_day is None else newest_day.chunk.window.start
        refs = [_ref(s.chunk) for s in await self.recent_chunks(stream, since)]
        marks = [
            EventMark(e.raw.seq, e.raw.occurred_at, self.counter.count(render_event(e.raw))) for e in events
        ]
        return plan_compaction(stream, marks, refs, self.clock(), self.settings.policy, force=force), events

    async def uncovered_events(self, stream: StreamRef, last: StoredChunk | None) -> list[ThreadEvent]:
        """The thread's memory-visible events after the last L1 chunk, numbered on from it."""
        position = 0 if last is None or last.positions is None else last.positions[1]
        seq = 1 if last is None or last.chunk.seq_range is None else last.chunk.seq_range.last + 1
        numbered: list[ThreadEvent] = []
        while True:
            page = await self.store.thread_events(stream.id, position, _PAGE)
            numbered += await numbered_events(self.store, stream, page, seq + len(numbered))
            if len(page) < _PAGE:
                return numbered
            position = page[-1].position

    async def recent_chunks(self, stream: StreamRef, since: datetime | None) -> list[StoredChunk]:
        ends_after = None if since is None else to_epoch_ms(since)
        chunks: list[StoredChunk] = []
        after = None
        while True:
            page = await self.store.list_chunks(stream, ends_after_ms=ends_after, after=after, limit=_PAGE)
            chunks += page
            if len(page) < _PAGE:
                return chunks
            last = page[-1].chunk
            after = (to_epoch_ms(last.window.start), -int(last.level), last.chunk_id)

    async def compact_l1(
        self, stream: StreamRef, planned: Sequence[PlannedL1], events: Sequence[ThreadEvent]
    ) -> list[str]:
        """The `compact_l1` job: one L1 chunk per planned window, from its raw events."""
        by_seq = {e.raw.seq: e for e in events}
        written = []
        for p in planned:
            window_events = [by_seq[s] for s in range(p.seq_range.first, p.seq_range.last + 1)]
            prompt = l1_prompt(stream, p.window, [e.raw for e in window_events])
            text, usage = await summarise(self.models, self.settings.model, prompt, p.chunk_id, self.counter)
            chunk = new_chunk(stream, Level.L1, p.window, text, usage, self.counter, seq_range=p.seq_range)
            positions = (window_events[0].position, window_events[-1].position)
            if await self.store.write_chunk(StoredChunk(chunk, positions, self.clock())):
                written.append(chunk.chunk_id)
            if not await self._hold(stream):
                raise JobLost(f"compact:{stream}")
        return written

    async def rollup(self, stream: StreamRef, planned: Sequence[PlannedRollup]) -> list[str]:
        """The `rollup_l2` / `rollup_l3` jobs: one chunk per planned hour or day, from its children."""
        written = []
        for p in planned:
            children = await self.store.get_chunks(p.input_ids)
            ordered = [children[i].chunk for i in p.input_ids if i in children]
            prompt = rollup_prompt(p.level, stream, p.window, ordered)
            text, usage = await summarise(self.models, self.settings.model, prompt, p.chunk_id, self.counter)
            ids = tuple(c.chunk_id for c in ordered)
            chunk = new_chunk(stream, p.level, p.window, text, usage, self.counter, input_ids=ids)
            if await self.store.write_chunk(StoredChunk(chunk, None, self.clock())):
                written.append(chunk.chunk_id)
            if not await self._hold(stream):
                raise JobLost(f"compact:{stream}")
        return written


def _ref(chunk: Chunk) -> ChunkRef:
    seqs: SeqRange | None = chunk.seq_range
    return ChunkRef(chunk.chunk_id, chunk.level, chunk.window, seqs)


class MemoryScheduler:
    """Compacts every memory-enabled stream every `tick_s` (in the server's TaskGroup)."""

    def __init__(self, compactor: Compactor, tick_s: float) -> None:
        self.compactor = compactor
        self.tick_s = tick_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def tick(self) -> int:
        """One round over the enabled streams; how many chunks it wrote."""
        written = 0
        for stream in await self.compactor.store.memory_streams():
            try:
                written += len(await self.compactor.compact(stream) or ())
            except (ModelError, JobLost) as exc:
                log.warning("memory compaction stopped", extra={"stream": str(stream), "error": str(exc)})
        return written

    async def run(self) -> None:
        """Until cancelled; a failed round (database away) is logged and retried next tick."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("memory compaction round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await self._wake.wait()
