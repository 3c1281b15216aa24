"""What the use cases and servicers share; built and owned by the server's lifecycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..engine.admission import Admission, AdmissionSettings
from ..engine.broker import Broker
from ..engine.executor import RunExecutor
from ..engine.writer import EventWriter
from ..models.registry import ModelRegistry
from ..ports import EventStore


@dataclass
class Runtime:
    store: EventStore
    broker: Broker
    writer: EventWriter
    executor: RunExecutor
    models: ModelRegistry
    sse_heartbeat_s: float = 15.0
    # Unlimited unless the server configures it (RUNTIME_MAX_RUNNING_RUNS, ...).
    admission: Admission = field(default_factory=lambda: Admission(AdmissionSettings(0, 0), lambda: 0))
    # Told after a waiting run moved (a decision, an answer, a cancel): an agent whose turn
    # waits on it is woken (app/agents.py `turn_run_moved`). A crash before it is told is
    # covered by the agent's recheck.
    run_moved: Callable[[str], Awaitable[None]] | None = None

    async def tell_run_moved(self, run_id: str) -> None:
        if self.run_moved is not None:
            await self.run_moved(run_id)
