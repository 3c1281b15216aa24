"""Context assembly within a token budget, as a recordable plan that replays exactly.

Order of filling (docs/MEMORY.md "Budget"): the instructions (mandatory), then the newest raw
events newest-first up to `raw_share` of what is left (the newest event always, if it fits at
all), then summaries newest-first level by level: L1 up to half of what is left, L2 up to half of
the rest, L3 the remainder. Each level stops at its first chunk that does not fit, so what is shown
is contiguous in time; a coarser level resumes where the finer one stopped (a chunk is taken when
its window starts before the oldest instant the finer parts show: the seam may overlap, never gap).

Every part costs its counted tokens plus `MESSAGE_OVERHEAD_TOKENS`; a message header is a part.
The sum never exceeds the budget. When the instructions and the newest event do not fit together,
the newest event is cut to fit and ends with `TRUNCATION_MARKER`; if not even the marker fits, no
raw event is shown and the plan says so (`newest_omitted`). Instructions over the budget alone are
a configuration error (`InvalidArgument`).

Assembly is sans-I/O (`plan_context`): it asks for chunks a page at a time, newest first per
level (`ChunkPage`), and stops asking once a level is full, so a caller holding the chunks in a
database reads only what the plan can use (engine/memory_context.py), and `assemble_context`
answers the same pages from a `ChunkIndex` in memory: both give the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import InvalidArgument
from .chunks import Chunk, Level, SeqRange
from .raw import RawEvent, render_event
from .tokens import MESSAGE_OVERHEAD_TOKENS, TokenCounter

MEMORY_HEADER = "Memory: summaries of earlier activity, oldest first (memory_expand <id> shows more):"
RAW_HEADER = "Recent events, oldest first:"
TRUNCATION_MARKER = " …[truncated: memory_expand seq {seq}]"


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """`hot_window`: raw events older than this before the newest one are left to the summaries
    once an L1 chunk covers them (`RawWindow.covered_seq`); None: as many as the raw share holds."""

    budget_tokens: int
    raw_share: float = 0.5
    hot_window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.budget_tokens < 1 or not 0.0 < self.raw_share <= 1.0:
            raise ValueError("budget_tokens >= 1 and raw_share in (0, 1]")
        if self.hot_window is not None and self.hot_window <= timedelta(0):
            raise ValueError("hot_window > 0")


@dataclass(frozen=True, slots=True)
class ChunkPage:
    """A read assembly needs next: chunks of `level`, newest window first, at most `limit`, whose
    window starts before `starts_before` (None: any) and, when `seq_below` is set, whose thread
    seqs start below it (or who have none). A shorter answer means there are no more."""

    level: Level
    starts_before: datetime | None
    seq_below: int | None
    limit: int

    def admits(self, chunk: Chunk) -> bool:
        if self.starts_before is not None and chunk.window.start >= self.starts_before:
            return False
        seqs = chunk.seq_range
        return self.seq_below is None or seqs is None or seqs.first < self.seq_below


# Tokens of the level's cap per row a page asks for: a chunk line of a real summary costs 100-400
# tokens, so one page usually holds every chunk the level can take without reading many more.
_TOKENS_PER_PAGE_ROW = 128
_MAX_PAGE = 256


@dataclass(frozen=True, slots=True)
class PlannedChunk:
    chunk_id: str
    level: Level
    tokens: int


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """What one turn's context holds: recorded as an event, replayed by `render_plan`.

    `chunks` are oldest first as rendered; `raw_truncated_chars` is the kept prefix length of the
    newest event's line when it had to be cut."""

    budget_tokens: int
    counter: str
    instructions_tokens: int
    raw: SeqRange | None
    raw_tokens: int
    raw_truncated_chars: int | None
    newest_omitted: bool
    chunks: tuple[PlannedChunk, ...]
    memory_header_tokens: int
    total_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_tokens": self.budget_tokens,
            "counter": self.counter,
            "instructions_tokens": self.instructions_tokens,
            "raw": None if self.raw is None else [self.raw.first, self.raw.last],
            "raw_tokens": self.raw_tokens,
            "raw_truncated_chars": self.raw_truncated_chars,
            "newest_omitted": self.newest_omitted,
            "chunks": [[c.chunk_id, int(c.level), c.tokens] for c in self.chunks],
            "memory_header_tokens": self.memory_header_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ContextPlan:
        raw = d["raw"]
        return cls(
            budget_tokens=d["budget_tokens"],
            counter=d["counter"],
            instructions_tokens=d["instructions_tokens"],
            raw=None if raw is None else SeqRange(raw[0], raw[1]),
            raw_tokens=d["raw_tokens"],
            raw_truncated_chars=d["raw_truncated_chars"],
            newest_omitted=d["newest_omitted"],
            chunks=tuple(PlannedChunk(i, Level(lv), t) for i, lv, t in d["chunks"]),
            memory_header_tokens=d["memory_header_tokens"],
            total_tokens=d["total_tokens"],
        )


@dataclass(frozen=True, slots=True)
class ContextMessage:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class AssembledContext:
    plan: ContextPlan
    messages: tuple[ContextMessage, ...]


def chunk_line(chunk: Chunk) -> str:
    summary = " ".join(chunk.summary.split())
    return f"[{chunk.level.name} {chunk.window.start:%Y-%m-%dT%H:%M}Z {chunk.chunk_id}] {summary}"


class _Meter:
    """Counts parts against what is left of the budget."""

    def __init__(self, counter: TokenCounter, budget: int) -> None:
        self.counter = counter
        self.left = budget

    def cost(self, text: str) -> int:
        return self.counter.count(text) + MESSAGE_OVERHEAD_TOKENS


class ChunkIndex:
    """A stream's chunks by level, newest first, with each chunk's line cost memoised.

    Built once and kept by the caller (the memory projection's cache of an agent), so a turn
    neither sorts 30 days of chunks nor re-tokenizes their lines; assembly then costs what it
    includes. Costs are for one counter: `assemble_context` refuses an index of another."""

    def __init__(self, chunks: Iterable[Chunk], counter: TokenCounter) -> None:
        self.counter_name = counter.name
        self._counter = counter
        ordered = sorted(chunks, key=lambda c: c.window.start, reverse=True)
        self.newest_first: dict[Level, list[Chunk]] = {level: [] for level in Level}
        for chunk in ordered:
            self.newest_first[chunk.level].append(chunk)
        self._costs: dict[str, int] = {}

    def line_cost(self, chunk: Chunk) -> int:
        cost = self._costs.get(chunk.chunk_id)
        if cost is None:
            cost = self._costs[chunk.chunk_id] = line_cost(chunk, self._counter)
        return cost

    def page(self, page: ChunkPage) -> list[Chunk]:
        """The chunks `page` asks for, as a store answers it."""
        out: list[Chunk] = []
        for chunk in self.newest_first[page.level]:
            if len(out) == page.limit:
                break
            if page.admits(chunk):
                out.append(chunk)
        return out


def line_cost(chunk: Chunk, counter: TokenCounter) -> int:
    """What the chunk's line costs in a context counted by `counter`."""
    line = chunk_line(chunk)
    if chunk.token_counter != counter.name:
        return counter.count(line) + MESSAGE_OVERHEAD_TOKENS
    prefix = line[: len(line) - len(" ".join(chunk.summary.split()))]
    # Reuses the summary's count recorded at write time; counting prefix and summary apart
    # can only add tokens, plus one for the piece boundary between them.
    return chunk.summary_tokens + counter.count(prefix) + 1 + MESSAGE_OVERHEAD_TOKENS


def _truncate(meter: _Meter, line: str, seq: int) -> int | None:
    """The longest prefix of `line` that, with the marker, fits what is left (binary search)."""
    marker = TRUNCATION_MARKER.format(seq=seq)
    if meter.cost(marker) > meter.left:
        return None
    lo, hi = 0, len(line)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if meter.cost(line[:mid] + marker) <= meter.left:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(slots=True)
class _Raw:
    first: int | None = None
    last: int | None = None
    tokens: int = 0
    truncated: int | None = None
    omitted: bool = False
    oldest_at: datetime | None = None
    lines: dict[int, str] = field(default_factory=dict)  # rendered, by seq (rendered once)


def _select_raw(meter: _Meter, events: Sequence[RawEvent], policy: ContextPolicy, covered_seq: int) -> _Raw:
    newest_first = sorted(events, key=lambda e: e.seq, reverse=True)
    if not newest_first:
        return _Raw()
    header = meter.cost(RAW_HEADER)
    cap = int(meter.left * policy.raw_share)
    newest = newest_first[0]
    line = render_event(newest)
    full = header + meter.cost(line)
    if full > meter.left:
        return _select_truncated(meter, header, line, newest)
    meter.left -= full
    raw = _Raw(newest.seq, newest.seq, full, None, False, newest.occurred_at)
    hot_from = None if policy.hot_window is None else newest.occurred_at - policy.hot_window
    raw.lines[newest.seq] = line
    for expected, event in enumerate(newest_first[1:], start=1):
        if hot_from is not None and event.occurred_at < hot_from and event.seq <= covered_seq:
            break  # older than the hot window and summarised: the summaries show it
        line = render_event(event)
        cost = meter.cost(line)
        if event.seq != newest.seq - expected or raw.tokens + cost > cap or cost > meter.left:
            break
        meter.left -= cost
        raw.first, raw.tokens, raw.oldest_at = event.seq, raw.tokens + cost, event.occurred_at
        raw.lines[event.seq] = line
    return raw


def _select_truncated(meter: _Meter, header: int, line: str, newest: RawEvent) -> _Raw:
    if header > meter.left:
        return _Raw(omitted=True)
    meter.left -= header
    kept = _truncate(meter, line, newest.seq)
    if kept is None:
        meter.left += header
        return _Raw(omitted=True)
    cost = meter.cost(line[:kept] + TRUNCATION_MARKER.format(seq=newest.seq))
    meter.left -= cost
    return _Raw(newest.seq, newest.seq, header + cost, kept, False, newest.occurred_at)


@dataclass(slots=True)
class _Summaries:
    """Chunks chosen so far and the oldest instant (and seq) the context already shows."""

    boundary_seq: int | None
    boundary_time: datetime | None
    header: int
    header_paid: bool = False

    def page(self, level: Level, cursor: datetime | None, cap: int) -> ChunkPage:
        """The next page of `level` older than `cursor` (the last chunk seen) the context can use."""
        seq_rule = level == Level.L1 and self.boundary_seq is not None
        before = cursor if seq_rule or self.boundary_time is None else self.boundary_time
        if cursor is not None and before is not None:
            before = min(cursor, before)
        limit = max(1, min(_MAX_PAGE, cap // _TOKENS_PER_PAGE_ROW + 1))
        return ChunkPage(level, before, self.boundary_seq if seq_rule else None, limit)

    def eligible(self, chunk: Chunk) -> bool:
        if chunk.level == Level.L1 and chunk.seq_range is not None and self.boundary_seq is not None:
            return chunk.seq_range.first < self.boundary_seq
        return self.boundary_time is None or chunk.window.start < self.boundary_time

    def fill(
        self,
        meter: _Meter,
        level: Level,
        cap: int,
        cost_of: Callable[[Chunk], int],
        chosen: list[tuple[Chunk, int]],
    ) -> Generator[ChunkPage, Sequence[Chunk], None]:
        """Takes `level`'s chunks newest first while they fit, asking for them page by page."""
        spent = 0
        oldest: datetime | None = None
        cursor: datetime | None = None
        full = False
        while not full:
            page = self.page(level, cursor, cap)
            got = yield page
            for chunk in got:
                cursor = chunk.window.start
                if not self.eligible(chunk):
                    continue
                cost = cost_of(chunk) + (0 if self.header_paid else self.header)
                if spent + cost > cap or cost > meter.left:
                    full = True
                    break
                meter.left -= cost
                spent += cost
                self.header_paid = True
                chosen.append((chunk, cost - (0 if len(chosen) else self.header)))
                oldest = chunk.window.start
            full = full or len(got) < page.limit
        if oldest is not None:
            self.boundary_time = oldest
            self.boundary_seq = None


ContextSteps = Generator[ChunkPage, Sequence[Chunk], AssembledContext]


def plan_context(
    instructions: str,
    recent_events: Sequence[RawEvent],
    counter: TokenCounter,
    policy: ContextPolicy,
    *,
    covered_seq: int = 0,
    cost_of: Callable[[Chunk], int] | None = None,
) -> ContextSteps:
    """The context of one turn, sans I/O: yields the `ChunkPage`s it needs (send back the chunks
    read) and returns the assembled context. `recent_events`: the stream's newest events (a
    seq-contiguous tail ending at the head); `covered_seq`: the last thread seq an L1 chunk covers
    (0: none); `cost_of`: a chunk line's cost, memoised by a `ChunkIndex` (default: counted)."""
    line_cost_of = cost_of or (lambda chunk: line_cost(chunk, counter))
    meter = _Meter(counter, policy.budget_tokens)
    instructions_tokens = meter.cost(instructions)
    if instructions_tokens > policy.budget_tokens:
        problem = f"{policy.budget_tokens} is below the instructions' {instructions_tokens} tokens"
        raise InvalidArgument("context_budget_tokens", problem)
    meter.left -= instructions_tokens
    raw = _select_raw(meter, recent_events, policy, covered_seq)
    summaries = _Summaries(raw.first, raw.oldest_at, meter.cost(MEMORY_HEADER))
    chosen: list[tuple[Chunk, int]] = []
    for level in Level:
        cap = meter.left if level == Level.L3 else meter.left // 2
        yield from summaries.fill(meter, level, cap, line_cost_of, chosen)
    plan = ContextPlan(
        budget_tokens=policy.budget_tokens,
        counter=counter.name,
        instructions_tokens=instructions_tokens,
        raw=None if raw.first is None or raw.last is None else SeqRange(raw.first, raw.last),
        raw_tokens=raw.tokens,
        raw_truncated_chars=raw.truncated,
        newest_omitted=raw.omitted,
        chunks=tuple(PlannedChunk(c.chunk_id, c.level, cost) for c, cost in _render_order(chosen)),
        memory_header_tokens=summaries.header if chosen else 0,
        total_tokens=policy.budget_tokens - meter.left,
    )
    by_seq = {e.seq: e for e in recent_events}
    chunks_by_id = {c.chunk_id: c for c, _ in chosen}
    return AssembledContext(plan, render_plan(plan, instructions, by_seq, chunks_by_id, rendered=raw.lines))


def assemble_context(
    instructions: str,
    recent_events: Sequence[RawEvent],
    chunks: Sequence[Chunk] | ChunkIndex,
    counter: TokenCounter,
    policy: ContextPolicy,
    *,
    covered_seq: int = 0,
) -> AssembledContext:
    """`plan_context` answered from chunks in memory (in any order, or their index)."""
    index = chunks if isinstance(chunks, ChunkIndex) else ChunkIndex(chunks, counter)
    if index.counter_name != counter.name:
        raise ValueError(f"the chunk index counts with {index.counter_name}, not {counter.name}")
    steps = plan_context(
        instructions, recent_events, counter, policy, covered_seq=covered_seq, cost_of=index.line_cost
    )
    try:
        page = next(steps)
        while True:
            page = steps.send(index.page(page))
    except StopIteration as finished:
        result: AssembledContext = finished.value
        return result


def _render_order(chosen: list[tuple[Chunk, int]]) -> list[tuple[Chunk, int]]:
    """Oldest first: coarser levels are older (they start where finer ones stopped)."""
    return sorted(chosen, key=lambda pair: (-pair[0].level, pair[0].window.start))


def render_plan(
    plan: ContextPlan,
    instructions: str,
    events: Mapping[int, RawEvent],
    chunks: Mapping[str, Chunk],
    *,
    rendered: Mapping[int, str] | None = None,
) -> tuple[ContextMessage, ...]:
    """The messages a plan stands for: the same plan over the same sources gives the same bytes.
    `rendered`: events' lines already rendered (by seq), which assembly passes to save a second
    rendering; a replay renders them all from `events`."""
    known = rendered or {}
    messages = [ContextMessage("system", instructions)]
    if plan.chunks:
        try:
            lines = [chunk_line(chunks[p.chunk_id]) for p in plan.chunks]
        except KeyError as missing:
            raise ValueError(f"cannot replay the plan: chunk {missing} is gone") from None
        messages.append(ContextMessage("system", "\n".join([MEMORY_HEADER, *lines])))
    if plan.raw is not None:
        try:
            seqs = range(plan.raw.first, plan.raw.last + 1)
            lines = [known[s] if s in known else render_event(events[s]) for s in seqs]
        except KeyError as missing:
            raise ValueError(f"cannot replay the plan: event seq {missing} is gone") from None
        if plan.raw_truncated_chars is not None:
            lines[-1] = lines[-1][: plan.raw_truncated_chars] + TRUNCATION_MARKER.format(seq=plan.raw.last)
        messages.append(ContextMessage("user", "\n".join([RAW_HEADER, *lines])))
    return tuple(messages)
