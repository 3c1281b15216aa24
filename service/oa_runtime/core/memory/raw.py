"""The raw events memory reads, as memory sees them, and their compact rendering.

The platform's event (stream, seq, occurred-at, type, payload) is converted to a `RawEvent` at the
edge of memory; everything here is a pure function of it. Rendering is compact and deterministic
(sorted keys, long values cut with a marker) because the same text is what the summary prompt
shows, what context assembly counts and what a replayed context must reproduce byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .chunks import StreamRef, require_utc

# A payload value longer than this is cut in a rendering (the full event stays in the log and
# `expand` leads back to it); keeps one huge tool output from eating a summary prompt.
MAX_VALUE_CHARS = 400


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event of a stream's log, as memory needs it."""

    stream: StreamRef
    seq: int
    occurred_at: datetime
    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError(f"seq {self.seq} < 1")
        require_utc(self.occurred_at)


def _render_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_VALUE_CHARS:
        return f"{text[:MAX_VALUE_CHARS]}…[+{len(text) - MAX_VALUE_CHARS} chars]"
    return text


def render_event(event: RawEvent) -> str:
    """One line: ``#<seq> <HH:MM:SS>Z <type> key=value …`` with keys sorted."""
    clock = require_utc(event.occurred_at).strftime("%H:%M:%S")
    fields = " ".join(f"{key}={_render_value(event.payload[key])}" for key in sorted(event.payload))
    head = f"#{event.seq} {clock}Z {event.type}"
    return f"{head} {fields}" if fields else head
