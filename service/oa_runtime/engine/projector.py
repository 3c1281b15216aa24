"""Keeps async projections current: one task in the server's TaskGroup.

Each round, every projection takes one step, all in one transaction (store
`project_together`): one read of the events after their checkpoint, each one's
changes, and their new checkpoint. A full step is followed by another at once;
otherwise the round waits `idle_s` (or a `wake`).
Across replicas, one writer per projection at a time (the store's lock: a
transaction-scoped advisory lock on PostgreSQL, the single writer on SQLite);
a replica that finds it taken simply tries again next round.

Readers never wait for the projector: thread reads top up from the log past the
checkpoint (store `thread_messages`), so lag costs a few rows, not correctness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from ..core.errors import DependencyUnavailable
from ..core.projections import Projection
from ..observability import metrics
from ..ports import EventLog, ProjectionStore

log = logging.getLogger(__name__)


class Pacer:
    """When a projector takes its next round: at once after a full one; otherwise at the next
    `wake` (this process committed events: the broker's publish) or after `idle_s` (events
    of other replicas), but never sooner than `min_gap_s` after the last round began, so a
    commit every few milliseconds makes rounds of many events, not one round each."""

    def __init__(self, idle_s: float, min_gap_s: float) -> None:
        self._idle_s = idle_s
        self._min_gap_s = min_gap_s
        self._woken = asyncio.Event()
        self._began = 0.0

    def wake(self) -> None:
        self._woken.set()

    def round_begins(self) -> None:
        """A wake from here on (events committed during the round) asks for another round."""
        self._woken.clear()
        self._began = time.monotonic()

    async def wait(self) -> None:
        try:
            async with asyncio.timeout(self._idle_s):
                await self._woken.wait()
        except TimeoutError:
            pass
        rest = self._min_gap_s - (time.monotonic() - self._began)
        if rest > 0:
            await asyncio.sleep(rest)


class ProjectorStore(EventLog, ProjectionStore, Protocol):
    """What the projector needs of the store (a Protocol by inheritance)."""


class Projector:
    def __init__(
        self,
        store: ProjectorStore,
        projections: Sequence[Projection[Any]],
        *,
        batch: int = 2000,
        idle_s: float = 0.25,
        min_gap_s: float = 0.25,
        retry_s: float = 1.0,
        lag_every_s: float = 1.0,
    ) -> None:
        self._store = store
        self._projections = list(projections)
        self._batch = batch
        self._pacer = Pacer(idle_s, min_gap_s)
        self._retry_s = retry_s
        self.steps = 0  # steps that applied events, for metrics
        self._lag_every_s = lag_every_s
        self._lag_measured = 0.0

    def wake(self) -> None:
        """New events are committed: step soon instead of after the idle wait."""
        self._pacer.wake()

    async def catch_up(self) -> None:
        """Steps every projection until it has applied the whole log (tests, rebuilds)."""
        for projection in self._projections:
            while True:
                step = await self._store.project(projection, self._batch)
                if step is None:
                    await asyncio.sleep(0.05)  # another replica holds it this instant
                elif step.to_position == step.from_position:
                    break

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            busy = False
            self._pacer.round_begins()
            try:
                for step in await self._store.project_together(self._projections, self._batch):
                    if step is not None and step.applied:
                        self.steps += 1
                    busy = busy or (step is not None and step.more)
                await self._measure_lag()
            except DependencyUnavailable as exc:
                log.warning("projector paused: database unavailable", extra={"error": str(exc)})
                await asyncio.sleep(self._retry_s)
                continue
            if not busy:
                await self._pacer.wait()

    async def _measure_lag(self) -> None:
        """Sets the lag gauge at most every `lag_every_s` (two small reads per projection)."""
        now = time.monotonic()
        if now - self._lag_measured < self._lag_every_s:
            return
        self._lag_measured = now
        for name, behind in (await self.lag()).items():
            metrics.PROJECTION_LAG.labels(name).set(behind)

    async def lag(self) -> dict[str, int]:
        """Events each projection is behind the log head (a gauge for `ops`)."""
        head = await self._store.log_head()
        return {p.name: head - await self._store.projection_position(p.name) for p in self._projections}
