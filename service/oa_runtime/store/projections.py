"""Where async projections keep their rows: one sink per projection name.

A sink writes a projection's changes idempotently (an upsert by the change's key,
so a step replayed after a crash between commit and acknowledgement is harmless)
and clears its rows for a rebuild. The projection itself stays pure
(core/projections.py); the flows that drive it are in flows.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..core.artifacts import ARTIFACT_INDEX
from ..core.projections import THREAD_MESSAGES, ThreadMessage
from ..core.read_models import LARAVEL_READ_MODELS
from .artifacts import ArtifactIndexSink
from .dialect import Dialect
from .read_models import LaravelReadModelsSink
from .sql import Flow, Stmt, command


class Sink(Protocol):
    def write(self, d: Dialect, changes: Sequence[Any]) -> Flow[None]: ...

    def clear(self, d: Dialect) -> Flow[None]: ...


@runtime_checkable
class AsideSink(Protocol):
    """A sink whose rows others read while a new version rebuilds: the new version's rows
    are built in tables aside and swapped in when caught up (flows.project_aside)."""

    def write_aside(self, d: Dialect, changes: Sequence[Any]) -> Flow[None]: ...

    def prepare_aside(self, d: Dialect) -> Flow[None]: ...

    def swap_aside(self, d: Dialect) -> Flow[None]: ...


class ThreadMessagesSink:
    def write(self, d: Dialect, changes: Sequence[ThreadMessage]) -> Flow[None]:
        yield Stmt(
            d.sql(
                "INSERT INTO thread_messages (run_id, seq, position, message_id, role, content)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, seq) DO UPDATE"
                " SET position = excluded.position, message_id = excluded.message_id, role = excluded.role,"
                " content = excluded.content"
            ),
            [(m.run_id, m.seq, m.position, m.message_id, m.role, m.content) for m in changes],
            many=True,
        )

    def clear(self, d: Dialect) -> Flow[None]:
        yield command("DELETE FROM thread_messages")


SINKS: dict[str, Sink] = {
    THREAD_MESSAGES.name: ThreadMessagesSink(),
    LARAVEL_READ_MODELS.name: LaravelReadModelsSink(),
    ARTIFACT_INDEX.name: ArtifactIndexSink(),
}
