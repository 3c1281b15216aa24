"""Reading a Codex worker's stream from a cursor: backlog, then live, exactly once.

The store is the truth: a reader always reads events from it, after the last seq it
yielded, so nothing is skipped or repeated. `WorkerHub` only says when to read again: the
use cases `publish` after each commit on this replica; events committed by other replicas
(PostgreSQL) are found by re-reading every `poll_s` while waiting. The order is the same as
for runs: register with the hub first, then read, so no commit falls between the two.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator

from ..core.errors import InvalidCursor, NotReady
from ..core.memory.retention import check_cursor as check_floor
from ..core.run_retention import check_contiguous, floor_of
from ..core.workers import WorkerEvent, WorkerNotFound
from ..ports import WorkerStore

PAGE = 500


class WorkerHub:
    """Wakes the readers of a worker's stream when it has new durable events."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.closed = False

    def publish(self, worker_id: str) -> None:
        for wake in self._waiters.get(worker_id, ()):
            wake.set()

    def close(self) -> None:
        """Ends every stream (shutdown: clients resume elsewhere)."""
        self.closed = True
        for waiters in self._waiters.values():
            for wake in waiters:
                wake.set()

    def _add(self, worker_id: str) -> asyncio.Event:
        wake = asyncio.Event()
        self._waiters[worker_id].add(wake)
        return wake

    def _remove(self, worker_id: str, wake: asyncio.Event) -> None:
        waiters = self._waiters.get(worker_id)
        if waiters is not None:
            waiters.discard(wake)
            if not waiters:
                del self._waiters[worker_id]


async def stream_worker_events(
    store: WorkerStore,
    hub: WorkerHub,
    worker_id: str,
    after_seq: int,
    *,
    idle_timeout: float | None = None,
    poll_s: float | None = None,
    tail_s: float | None = None,
) -> AsyncIterator[WorkerEvent | None]:
    """Yields the worker's events with seq > after_seq: the backlog, then live ones, until the
    worker is stopped or failed (after yielding the event that ended it) or `tail_s` passed.

    Yields None whenever `idle_timeout` passes without an event (for heartbeats). Raises
    WorkerNotFound or (below the retention floor) CursorBelowFloor before the first event,
    CursorBelowFloor in-band when retention removes events not read yet, NotReady when the
    hub closes (shutdown).
    """
    wake = hub._add(worker_id)
    try:
        worker = await store.get_worker(worker_id)
        if worker is None:
            raise WorkerNotFound(worker_id)
        check_cursor(after_seq, worker.latest_seq)
        await check_retained(store, worker_id, after_seq, worker.latest_seq)
        deadline = time.monotonic() + tail_s if tail_s is not None else None
        last = after_seq
        idle_since = time.monotonic()
        while True:
            wake.clear()
            page = await store.read_worker_events(worker_id, last, PAGE)
            check_contiguous(page[0].seq if page else None, last, page[-1].seq if page else last)
            for event in page:
                last = event.seq
                yield event
            if page:
                idle_since = time.monotonic()
            if len(page) == PAGE:
                continue
            worker = await store.get_worker(worker_id)
            if worker is not None and not worker.status.is_active and worker.latest_seq <= last:
                return
            if hub.closed:
                raise NotReady(f"this replica is shutting down; resume after seq {last}", last_seq=last)
            wait = _next_wait(deadline, poll_s, idle_timeout, idle_since)
            if wait is not None and wait <= 0:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    idle_since = time.monotonic()
                    yield None
                continue
            try:
                async with asyncio.timeout(wait):
                    await wake.wait()
            except TimeoutError:
                pass
    finally:
        hub._remove(worker_id, wake)


def check_cursor(after_seq: int, latest_seq: int) -> None:
    """A cursor past the worker's latest event was never handed out: following from it would
    skip the events up to it once they exist, so it is refused."""
    if after_seq > latest_seq:
        raise InvalidCursor(
            f"cursor {after_seq} is beyond the worker's latest event {latest_seq}", cursor=after_seq
        )


async def check_retained(store: WorkerStore, worker_id: str, after_seq: int, head: int) -> None:
    """STALE_CURSOR (HTTP 410) when retention removed the event after `after_seq`: the floor
    is the worker's oldest retained event (core/run_retention.py `floor_of`)."""
    oldest = await store.read_worker_events(worker_id, 0, 1)
    check_floor(after_seq, floor_of(oldest[0].seq if oldest else None, head), head)


def _next_wait(
    deadline: float | None, poll_s: float | None, idle_timeout: float | None, idle_since: float
) -> float | None:
    """Seconds until the next reason to look again (tail end, poll, heartbeat); None: none."""
    now = time.monotonic()
    waits = [w for w in (poll_s,) if w is not None]
    if deadline is not None:
        waits.append(deadline - now)
    if idle_timeout is not None:
        waits.append(idle_since + idle_timeout - now)
    return min(waits) if waits else None
