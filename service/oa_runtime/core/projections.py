"""Projections: read models derived from the event log. Pure.

A projection has a name, a version and an `apply(event) -> changes`. Two kinds:

- Inline: written in the append's own transaction, because the append needs it
  to decide (the run summary row: status, last seq and lease token, which the
  seq and fencing checks read). Its apply folds a per-stream state
  (`RUN_SUMMARY`, which is run_state.apply); store/common.py plans the row from it.
- Async: a projector (engine/projector.py) follows the global log by position
  from the projection's checkpoint and writes the changes and the new checkpoint
  in one transaction. Its apply sees one event at a time and returns row changes
  keyed so that writing them again is harmless; a rebuild replays the log from
  position 0 into empty rows and must end equal to the incremental result.

Bump `version` whenever apply changes: a stored checkpoint of another version
makes the projector drop the rows and rebuild from zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from . import events as ev
from .messages import ChatMessage
from .run_state import RunState, apply

C = TypeVar("C", covariant=True)
S = TypeVar("S")


class Projection(Protocol[C]):
    name: str
    version: int
    # The event types apply ever changes anything for (None: all). The projector reads
    # only those, so a projection of rare events does not read the whole log back.
    event_types: frozenset[str] | None

    def apply(self, event: ev.Event) -> Sequence[C]: ...


@dataclass(frozen=True, slots=True)
class InlineProjection(Generic[S]):
    """A projection folded per stream inside the append's transaction."""

    name: str
    version: int
    fold: Callable[[S, ev.NewEvent], S]


RUN_SUMMARY: InlineProjection[RunState] = InlineProjection("run_summary", 1, apply)


@dataclass(frozen=True, slots=True)
class ProjectionStep:
    """What one projector step did: events applied, and the positions it went between
    (`to_position` can pass events the projection does not read)."""

    applied: int
    from_position: int
    to_position: int
    # The step stopped at its limit: more events wait past `to_position`.
    more: bool = False


# ----- thread messages -----


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A completed message of a run, as the thread's conversation shows it."""

    run_id: str
    seq: int
    position: int
    message_id: str
    role: str
    content: str

    def chat_message(self) -> ChatMessage:
        return ChatMessage(role=self.role, content=self.content, id=self.message_id)


class ThreadMessages:
    """Each run's completed messages, keyed (run_id, seq). A run's prompt is not an
    event; readers take it from the run row (the request) and put it first."""

    name = "thread_messages"
    version = 1
    event_types: frozenset[str] | None = frozenset({ev.MESSAGE_COMPLETED})

    def apply(self, event: ev.Event) -> Sequence[ThreadMessage]:
        if event.stream_kind != ev.STREAM_RUN or event.type != ev.MESSAGE_COMPLETED:
            return ()
        p = event.payload
        return (
            ThreadMessage(
                event.run_id,
                event.seq,
                event.position,
                p["message_id"],
                p.get("role") or "assistant",
                p["text"],
            ),
        )


THREAD_MESSAGES = ThreadMessages()


def by_run(messages: Iterable[ThreadMessage]) -> dict[str, list[ChatMessage]]:
    """run id -> its messages in seq order; a message seen twice (rows and log) counts once."""
    unique = {(m.run_id, m.seq): m for m in messages}
    out: dict[str, list[ChatMessage]] = {}
    for key in sorted(unique):
        out.setdefault(key[0], []).append(unique[key].chat_message())
    return out
