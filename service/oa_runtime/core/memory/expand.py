"""Expand: walk down from a summary to what it stands for (L3 → L2 → L1 → raw seq ranges).

Pure over a lookup function, so the same walk serves the operator API, the `memory_expand` tool
and tests. The walk is breadth-first (a whole level before the next), bounded by `max_depth`
(levels below the start) and `max_items` (nodes returned); what the bounds cut is reported, not
silently dropped. A child the lookup cannot find (removed by retention, or not written) is listed
in `missing`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .chunks import Chunk, SeqRange


@dataclass(frozen=True, slots=True)
class ExpandedNode:
    chunk: Chunk
    depth: int
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class Expansion:
    """`nodes` in breadth-first order (the start at depth 0); `raw_ranges` are the seq ranges of the
    L1 chunks reached within `max_depth` (read them from the log to go below L1)."""

    nodes: tuple[ExpandedNode, ...]
    raw_ranges: tuple[SeqRange, ...]
    missing: tuple[str, ...]
    truncated: bool


def expand_chunk(
    chunk_id: str, lookup: Callable[[str], Chunk | None], *, max_depth: int = 3, max_items: int = 100
) -> Expansion | None:
    """None when `chunk_id` itself is unknown."""
    if max_depth < 0 or max_items < 1:
        raise ValueError("max_depth >= 0 and max_items >= 1")
    start = lookup(chunk_id)
    if start is None:
        return None
    nodes = [ExpandedNode(start, 0, None)]
    missing: list[str] = []
    truncated = False
    frontier = [nodes[0]]
    while frontier:
        next_frontier: list[ExpandedNode] = []
        for node in frontier:
            if not node.chunk.input_ids:
                continue
            if node.depth >= max_depth:
                truncated = True
                continue
            for child_id in node.chunk.input_ids:
                child = lookup(child_id)
                if child is None:
                    missing.append(child_id)
                elif len(nodes) >= max_items:
                    truncated = True
                else:
                    expanded = ExpandedNode(child, node.depth + 1, node.chunk.chunk_id)
                    nodes.append(expanded)
                    next_frontier.append(expanded)
        frontier = next_frontier
    ranges = tuple(n.chunk.seq_range for n in nodes if n.chunk.seq_range is not None)
    return Expansion(tuple(nodes), ranges, tuple(missing), truncated)
