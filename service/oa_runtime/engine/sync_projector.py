"""Keeps the sync documents current: one task in the server's TaskGroup.

Each round takes one step of this release's projection version (store `project_sync`):
the log after its checkpoint into documents, the checkpoint, in one transaction, one writer
across replicas (the projection lock; a replica that finds it taken tries next round). When
the stored serving version is older, the steps build this version aside and the step that
reaches the log head switches to it (store/sync.py). A step that changed documents wakes
this replica's Subscribe streams and sink pusher (`SyncFeed`); other replicas' steps reach
them by their poll.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..core.errors import DependencyUnavailable
from ..core.sync import SYNC_PROJECTION_VERSION
from ..observability import metrics
from ..ports import EventLog, SyncStore
from .projector import Pacer

log = logging.getLogger(__name__)
LAG_NAME = "sync_documents"


class SyncFeed:
    """Wakes whoever waits for new documents (Subscribe streams, the sink pusher)."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()  # the next waiters wait for the next change

    async def wait(self, timeout_s: float) -> None:
        """Returns at the next change, or after `timeout_s` (changes made by other replicas)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._changed.wait()
        except TimeoutError:
            pass


class SyncProjector:
    def __init__(
        self,
        store: SyncStore,
        log_store: EventLog,
        feed: SyncFeed,
        *,
        version: int = SYNC_PROJECTION_VERSION,
        batch: int = 2000,
        idle_s: float = 0.25,
        min_gap_s: float = 0.25,
        retry_s: float = 1.0,
        lag_every_s: float = 1.0,
    ) -> None:
        self.store = store
        self._log = log_store
        self.feed = feed
        self.version = version
        self._batch = batch
        self._pacer = Pacer(idle_s, min_gap_s)
        self._retry_s = retry_s
        self._lag_every_s = lag_every_s
        self._lag_measured = 0.0

    def wake(self) -> None:
        """New events are committed: step soon instead of after the idle wait."""
        self._pacer.wake()

    async def step(self) -> bool:
        """One step; True when it read a full batch (more is waiting)."""
        step = await self.store.project_sync(self.version, self._batch)
        if step is None:
            return False
        if step.written or step.switched:
            self.feed.notify()
        if step.switched:
            log.info("sync documents switched version", extra={"version": step.version})
        return step.applied >= self._batch

    async def catch_up(self) -> None:
        """Steps until this version has applied the log head as of the call (tests, bench)."""
        target = await self._log.log_head()
        while await self.store.sync_position(self.version) < target:
            if not await self.step():
                await asyncio.sleep(0.01)

    async def _measure_lag(self) -> None:
        """The lag gauge (events behind the log head), at most every `lag_every_s`."""
        now = time.monotonic()
        if now - self._lag_measured < self._lag_every_s:
            return
        self._lag_measured = now
        position = await self.store.sync_position(self.version)
        metrics.PROJECTION_LAG.labels(LAG_NAME).set(max(0, await self._log.log_head() - position))

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            self._pacer.round_begins()
            try:
                busy = await self.step()
                await self._measure_lag()
            except DependencyUnavailable as exc:
                log.warning("sync projection paused: database unavailable", extra={"error": str(exc)})
                await asyncio.sleep(self._retry_s)
                continue
            if not busy:
                await self._pacer.wait()
