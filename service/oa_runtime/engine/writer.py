"""The group-commit writer: appends of many runs share one transaction.

Callers await `append`; a single loop collects requests while they keep
arriving (it stops as soon as one pass of the event loop brings nothing new,
after at most `wait_ms`, or at `batch_max` events), commits them with one
`store.append_many` call, resolves each caller with its own result or error,
and only then publishes the committed events to the broker. Appends that
arrive during a commit make up the next batch, so batches grow with load
while a lone append is never held back waiting for company.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from ..core.errors import DependencyUnavailable, DomainError, FencedOff, NotReady
from ..core.records import AppendResult
from ..observability import metrics
from ..ports import AppendRequest, EventStore
from .broker import Broker

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    request: AppendRequest
    future: asyncio.Future[AppendResult]


class EventWriter:
    def __init__(
        self, store: EventStore, broker: Broker, *, batch_max: int = 512, wait_ms: float = 2.0
    ) -> None:
        self._store = store
        self._broker = broker
        self._batch_max = batch_max
        self._wait_s = wait_ms / 1000
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._closed = False
        self.batches = 0  # commits so far, for metrics and benchmarks

    async def append(self, request: AppendRequest) -> AppendResult:
        if self._closed:
            raise NotReady("the service is shutting down")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(request, future))
        return await future

    async def run(self) -> None:
        """The commit loop; runs until `close` and drains what was queued."""
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.request.events)
            deadline = asyncio.get_running_loop().time() + self._wait_s
            stop = False
            idle_passes = 0
            while size < self._batch_max:
                item = self._take_nowait()
                if item is None:
                    if self._queue.qsize():
                        stop = True  # the close sentinel: commit this batch, then return
                        break
                    # Let tasks made ready by the last commit (or by this batch's callers'
                    # peers) run once; if none of them appends, the burst is over.
                    if idle_passes or asyncio.get_running_loop().time() >= deadline:
                        break
                    idle_passes += 1
                    await asyncio.sleep(0)
                    continue
                idle_passes = 0
                batch.append(item)
                size += len(item.request.events)
            await self._commit(batch)
            if stop:
                return

    def _take_nowait(self) -> _Pending | None:
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is None:
            # Put the sentinel back so the outer loop sees it after this batch.
            self._queue.put_nowait(None)
            return None
        return item

    async def _commit(self, batch: list[_Pending]) -> None:
        began = time.perf_counter()
        try:
            outcomes = await self._store.append_many([p.request for p in batch])
        except DependencyUnavailable as exc:
            metrics.COMMIT_FAILURES.labels("unavailable").inc()
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        except Exception as exc:  # a store bug must not kill the writer loop
            log.exception("append_many failed")
            metrics.COMMIT_FAILURES.labels("error").inc()
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self.batches += 1
        metrics.observe_commit(sum(len(p.request.events) for p in batch), time.perf_counter() - began)
        for p, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, AppendResult):
                self._broker.publish(outcome.events)
                metrics.count_committed(outcome.events)
                if not p.future.done():
                    p.future.set_result(outcome)
            else:
                if isinstance(outcome, DomainError):
                    metrics.count_rejected_append(outcome.reason, isinstance(outcome, FencedOff))
                if not p.future.done():
                    p.future.set_exception(outcome)

    def close(self) -> None:
        """Stops taking appends; the loop commits what is queued, then returns."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
