"""The memory chunk: one model-written summary of a stream's history over one time window.

Levels: L1 summarises the raw events of a 10-minute window, L2 the L1 chunks of an hour, L3 the
L2 chunks of a day. Windows are half-open ``[start, end)`` and aligned in UTC (a day is
00:00-24:00 UTC), so every replica computes the same windows for the same instant.

A chunk id is a function of (stream, level, window start) alone: writing the same roll-up twice
(a retried job, two replicas racing) names the same chunk, so the store keeps one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from .tokens import TokenCounter


class Level(IntEnum):
    """The tier of a chunk; a higher level covers a longer window and summarises the level below."""

    L1 = 1
    L2 = 2
    L3 = 3


LEVEL_SPAN: dict[Level, timedelta] = {
    Level.L1: timedelta(minutes=10),
    Level.L2: timedelta(hours=1),
    Level.L3: timedelta(days=1),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class StreamRef:
    """A stream of the event log: a kind (`agent`, `run`, …) and an id within that kind."""

    kind: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A half-open UTC time window ``[start, end)``."""

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def within(self, other: Window) -> bool:
        return other.start <= self.start and self.end <= other.end


def require_utc(instant: datetime) -> datetime:
    """Windows are computed in UTC; a naive datetime is a programming error, not a local time."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: memory needs aware (UTC) instants")
    return instant.astimezone(UTC)


def window_of(level: Level, instant: datetime) -> Window:
    """The window of `level` that contains `instant` (UTC-aligned)."""
    span = LEVEL_SPAN[level]
    offset = require_utc(instant) - _EPOCH
    start = _EPOCH + (offset // span) * span
    return Window(start, start + span)


def parent_window(level: Level, window: Window) -> Window:
    """The window of the next level up (L1 → its hour, L2 → its day) that contains `window`."""
    return window_of(Level(level + 1), window.start)


@dataclass(frozen=True, slots=True, order=True)
class SeqRange:
    """An inclusive range of a stream's seqs, ``first..last``."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first < 1 or self.last < self.first:
            raise ValueError(f"bad seq range {self.first}..{self.last}")

    def __len__(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Who wrote a summary and what it cost: recorded on every chunk for audit."""

    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    # Who counted the tokens: "provider" (its own usage report) or the TokenCounter's name
    # (the provider reported none). "" on chunks written before this was recorded.
    counted_by: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A written summary. L1 covers `seq_range`; L2/L3 cover `input_ids` (chunks one level down).

    `summary_tokens` is the summary's size as `token_counter` counted it when it was written, so
    context assembly does not re-tokenize 30 days of summaries on every turn.
    """

    chunk_id: str
    stream: StreamRef
    level: Level
    window: Window
    seq_range: SeqRange | None
    input_ids: tuple[str, ...]
    summary: str
    summary_sha256: str
    summary_tokens: int
    token_counter: str
    usage: ModelUsage

    def __post_init__(self) -> None:
        if (self.level == Level.L1) != (self.seq_range is not None):
            raise ValueError("an L1 chunk has a seq range and only an L1 chunk has one")
        if self.level != Level.L1 and not self.input_ids:
            raise ValueError(f"an {self.level.name} chunk needs its input chunk ids")
        if self.summary_sha256 != summary_sha256(self.summary):
            raise ValueError(f"chunk {self.chunk_id}: summary_sha256 does not match the summary")


def new_chunk(
    stream: StreamRef,
    level: Level,
    window: Window,
    summary: str,
    usage: ModelUsage,
    counter: TokenCounter,
    *,
    seq_range: SeqRange | None = None,
    input_ids: tuple[str, ...] = (),
) -> Chunk:
    """The chunk a compaction writes: its id, digest and token count follow from its content."""
    return Chunk(
        chunk_id=chunk_id(stream, level, window),
        stream=stream,
        level=level,
        window=window,
        seq_range=seq_range,
        input_ids=input_ids,
        summary=summary,
        summary_sha256=summary_sha256(summary),
        summary_tokens=counter.count(summary),
        token_counter=counter.name,
        usage=usage,
    )


def chunk_id(stream: StreamRef, level: Level, window: Window) -> str:
    """The deterministic id of the chunk of `stream` at `level` for `window`.

    ``mc<level>_<32 hex>``: a SHA-256 over the stream kind, id, level and window start (the end
    follows from the level). Fits the runtime's id alphabet whatever the stream id holds.
    """
    key = "\x00".join((stream.kind, stream.id, str(int(level)), window.start.isoformat()))
    return f"mc{int(level)}_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def summary_sha256(summary: str) -> str:
    return hashlib.sha256(summary.encode("utf-8")).hexdigest()


def to_epoch_ms(instant: datetime) -> int:
    return (require_utc(instant) - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)
