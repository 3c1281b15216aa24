"""Timeline map/reduce: ask one question across a time range, one model call per chunk, then reduce.

Planning picks the fewest chunks that tile the range: whole days by their L3 chunk, the remaining
whole hours by L2, the rest by L1 (any chunk overlapping the range that no coarser chosen chunk
covers). Maps run in batches of at most `max_parallel`, oldest first. The durable bookkeeping is a
fold over the query's events (`map_done`, `reduce_done`): after a crash the next batch is computed
from the fold, so a finished map is never redone; the reduce input lists each map's answer with
the chunk id it came from, in time order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .chunks import Chunk, Level, Window, parent_window

MAP_DONE = "memory.map_done"
REDUCE_DONE = "memory.reduce_done"


@dataclass(frozen=True, slots=True)
class MapTask:
    map_id: str
    chunk_id: str
    level: Level
    window: Window


@dataclass(frozen=True, slots=True)
class MapReducePlan:
    query_id: str
    question: str
    window: Window
    maps: tuple[MapTask, ...]
    max_parallel: int


def _covered_by(chunk: Chunk, chosen: set[tuple[Level, Window]]) -> bool:
    level, window = chunk.level, chunk.window
    while level < Level.L3:
        window = parent_window(level, window)
        level = Level(level + 1)
        if (level, window) in chosen:
            return True
    return False


def plan_map_reduce(
    query_id: str, question: str, window: Window, chunks: Iterable[Chunk], *, max_parallel: int = 4
) -> MapReducePlan:
    """L3 chunks wholly inside `window`, then L2, then L1 overlapping it, none covered twice."""
    if max_parallel < 1:
        raise ValueError("max_parallel >= 1")
    written = list(chunks)
    chosen: set[tuple[Level, Window]] = set()
    picked: list[Chunk] = []
    for level in (Level.L3, Level.L2, Level.L1):
        for chunk in sorted((c for c in written if c.level == level), key=lambda c: c.window):
            inside = chunk.window.within(window)
            overlaps = chunk.window.start < window.end and window.start < chunk.window.end
            if (inside or (level == Level.L1 and overlaps)) and not _covered_by(chunk, chosen):
                chosen.add((level, chunk.window))
                picked.append(chunk)
    picked.sort(key=lambda c: (c.window.start, -c.level))
    maps = tuple(MapTask(map_id(query_id, c.chunk_id), c.chunk_id, c.level, c.window) for c in picked)
    return MapReducePlan(query_id, question, window, maps, max_parallel)


def map_id(query_id: str, chunk_id: str) -> str:
    return "mm_" + hashlib.sha256(f"{query_id}\x00{chunk_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class MapReduceState:
    """The fold of a query's events: answers of finished maps by map id, and the final answer."""

    answers: Mapping[str, str] = field(default_factory=dict)
    answer: str | None = None


def apply(state: MapReduceState, event_type: str, payload: Mapping[str, Any]) -> MapReduceState:
    """Fold one event. A repeated `map_done` (a retried write) keeps the first answer."""
    if event_type == MAP_DONE and payload["map_id"] not in state.answers:
        return MapReduceState({**state.answers, payload["map_id"]: payload["answer"]}, state.answer)
    if event_type == REDUCE_DONE and state.answer is None:
        return MapReduceState(state.answers, payload["answer"])
    return state


def fold(events: Iterable[tuple[str, Mapping[str, Any]]]) -> MapReduceState:
    state = MapReduceState()
    for event_type, payload in events:
        state = apply(state, event_type, payload)
    return state


def next_batch(plan: MapReducePlan, state: MapReduceState) -> tuple[MapTask, ...]:
    """The next maps to run (at most `max_parallel`, oldest first); empty when all are done."""
    pending = [m for m in plan.maps if m.map_id not in state.answers]
    return tuple(pending[: plan.max_parallel])


@dataclass(frozen=True, slots=True)
class ReduceInput:
    question: str
    answers: tuple[tuple[str, str], ...]  # (chunk id, that map's answer), oldest first


def reduce_input(plan: MapReducePlan, state: MapReduceState) -> ReduceInput | None:
    """What the reduce call gets, once every map is done (None before)."""
    if any(m.map_id not in state.answers for m in plan.maps):
        return None
    return ReduceInput(plan.question, tuple((m.chunk_id, state.answers[m.map_id]) for m in plan.maps))


QUERY_HEADER = "memory-query"


def map_prompt(question: str, chunk: Chunk) -> str:
    """The first line is a parseable header (`memory-query map <chunk id>`), like the summary
    prompts', so the scripted provider can answer it deterministically."""
    return (
        f"{QUERY_HEADER} map {chunk.chunk_id}\n"
        f"Question: {question}\nAnswer only from this {chunk.level.name} summary of "
        f"{chunk.window.start.isoformat()}..{chunk.window.end.isoformat()} ({chunk.chunk_id}); "
        f"say 'nothing relevant' if it has nothing.\n\n{chunk.summary}"
    )


def reduce_prompt(data: ReduceInput) -> str:
    parts: Sequence[str] = [f"[{chunk_id}] {answer}" for chunk_id, answer in data.answers]
    return (
        f"{QUERY_HEADER} reduce {len(parts)}\n"
        f"Question: {data.question}\nCombine these partial answers, oldest first, into one answer; "
        "cite the chunk ids you used in brackets.\n\n" + "\n".join(parts)
    )


def is_query_prompt(user: str) -> bool:
    return user.startswith(QUERY_HEADER + " map ") or user.startswith(QUERY_HEADER + " reduce ")


def scripted_answer(user: str) -> str:
    """The scripted provider's answer to a map or reduce prompt: a pure function of it. A map
    answers with the chunk id and a digest of the summary it read; a reduce cites every
    bracketed chunk id of its partial answers, in order."""
    first, _, body = user.partition("\n")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
    _, kind, arg = first.split(" ", 2)
    if kind == "map":
        return f"from [{arg}]: summary digest {digest}"
    cited = [line[1 : line.index("]")] for line in body.split("\n") if line.startswith("[")]
    return f"{arg} partial answers; used " + " ".join(f"[{c}]" for c in cited)
