"""What the use cases and servicers share; built and owned by the server's lifecycle."""

from __future__ import annotations

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
