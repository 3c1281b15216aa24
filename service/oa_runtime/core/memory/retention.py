"""Retention: which raw events and chunks may be removed, and the cursor check it implies.

A stream has one retention class; the class gives an age per tier (raw events, L1, L2, L3); an
age of None keeps that tier forever. Defaults (docs/MEMORY.md "Retention"), all configurable:

| class          | raw      | L1       | L2       | L3      |
| hot            | 2 days   | 30 days  | 365 days | forever |
| durable        | 30 days  | 365 days | forever  | forever |
| compact_only   | 0        | forever  | forever  | forever |
| archive        | forever  | forever  | forever  | forever |

Raw events are removed only below the **retention floor**: the lowest seq that must be kept. Every
seq below it is covered by an L1 chunk whose window ended at least the raw age ago (an event
always occurred before the end of the L1 window that covers it, so the window end bounds its
age). A chunk is removed only when it is older than its tier's age *and* a written chunk of the
next level covers it, so some summary of every instant always remains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ..errors import StaleCursor
from .chunks import Chunk, Level, parent_window
from .planning import ChunkRef


class RetentionClass(StrEnum):
    HOT = "hot"
    DURABLE = "durable"
    COMPACT_ONLY = "compact_only"
    ARCHIVE = "archive"


Tier = str  # "raw" or a level name: "L1", "L2", "L3"
TIERS: tuple[Tier, ...] = ("raw", "L1", "L2", "L3")

_DAY = timedelta(days=1)
DEFAULT_AGES: dict[RetentionClass, dict[Tier, timedelta | None]] = {
    RetentionClass.HOT: {"raw": 2 * _DAY, "L1": 30 * _DAY, "L2": 365 * _DAY, "L3": None},
    RetentionClass.DURABLE: {"raw": 30 * _DAY, "L1": 365 * _DAY, "L2": None, "L3": None},
    RetentionClass.COMPACT_ONLY: {"raw": timedelta(0), "L1": None, "L2": None, "L3": None},
    RetentionClass.ARCHIVE: {"raw": None, "L1": None, "L2": None, "L3": None},
}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """A class plus per-tier overrides of its ages."""

    retention_class: RetentionClass = RetentionClass.DURABLE
    overrides: Mapping[Tier, timedelta | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - set(TIERS)
        if unknown:
            raise ValueError(f"unknown tiers {sorted(unknown)}; tiers are {TIERS}")

    def age(self, tier: Tier) -> timedelta | None:
        if tier in self.overrides:
            return self.overrides[tier]
        return DEFAULT_AGES[self.retention_class][tier]


class CursorBelowFloor(StaleCursor):
    """STALE_CURSOR for a cursor whose next event was removed by retention.

    Keeps StaleCursor's reason and metadata (`cursor`, `oldest_seq`) and adds what issue 14 asks
    the edge to send (HTTP 410): `floor`, `requested` and `head`."""

    def __init__(self, floor: int, requested: int, head: int) -> None:
        super().__init__(requested, floor)
        self.metadata = {
            **self.metadata,
            "floor": str(floor),
            "requested": str(requested),
            "head": str(head),
        }
        self.floor, self.requested, self.head = floor, requested, head


def retention_floor(
    l1_chunks: Iterable[ChunkRef], policy: RetentionPolicy, now: datetime, current_floor: int = 1
) -> int:
    """The lowest seq that must be kept (everything below may be removed)."""
    age = policy.age("raw")
    if age is None:
        return current_floor
    floor = current_floor
    l1 = sorted((c for c in l1_chunks if c.seq_range is not None), key=lambda c: c.seq_range or 0)
    for chunk in l1:
        assert chunk.seq_range is not None
        if chunk.seq_range.last < floor:
            continue
        if chunk.seq_range.first > floor or chunk.window.end + age > now:
            break
        floor = chunk.seq_range.last + 1
    return floor


def check_cursor(after_seq: int, floor: int, head: int) -> None:
    """A reader resuming after `after_seq` needs seq `after_seq + 1` onward: stale if that is gone."""
    if after_seq + 1 < floor:
        raise CursorBelowFloor(floor, after_seq, head)


def removable_chunks(chunks: Iterable[Chunk], policy: RetentionPolicy, now: datetime) -> tuple[str, ...]:
    """Ids of chunks past their tier's age whose window a written next-level chunk covers."""
    written = list(chunks)
    covered = {(c.level, c.window) for c in written}
    removable = []
    for chunk in written:
        age = policy.age(chunk.level.name)
        if age is None or chunk.level == Level.L3 or chunk.window.end + age > now:
            continue
        if (Level(chunk.level + 1), parent_window(chunk.level, chunk.window)) in covered:
            removable.append(chunk.chunk_id)
    return tuple(sorted(removable))
