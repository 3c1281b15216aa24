"""In-process fan-out of committed events to live subscribers.

Only events that are already durable are published (the writer publishes after
commit), so a live stream and a replay carry the same events. A slow subscriber
never blocks the publisher or other subscribers: its bounded buffer overflows,
it is marked `lagging`, and its reader re-reads the gap from the store.

Events committed by other replicas arrive as a `poke` (run id, seq) from the
PostgreSQL change listener: subscribers behind that seq are marked lagging and
read the events from the store themselves. `close` ends every subscription
(graceful shutdown: clients resume on another replica).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable

from ..core.events import Event


class Subscription:
    def __init__(self, broker: Broker, run_id: str, buffer: int) -> None:
        self._broker = broker
        self.run_id = run_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=buffer)
        self.lagging = False
        self.closed = False
        self.position = 0  # the last seq its reader yielded (set by the reader)
        self._wakeup = asyncio.Event()

    def _offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagging = True
        self._wakeup.set()

    def _poke(self) -> None:
        self.lagging = True
        self._wakeup.set()

    def _close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def wait(self, idle_s: float | None) -> bool:
        """Waits until something was offered (True) or the timeout passed (False)."""
        if not self.queue.empty() or self.lagging or self.closed:
            return True
        self._wakeup.clear()
        try:
            async with asyncio.timeout(idle_s):  # not wait_for: it can drop a cancel (3.11)
                await self._wakeup.wait()
        except TimeoutError:
            return False
        return True

    def drain(self) -> list[Event]:
        out: list[Event] = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    def close(self) -> None:
        self._broker._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Broker:
    def __init__(self, buffer: int = 1024) -> None:
        self._buffer = buffer
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._closed = False
        self._watchers: list[Callable[[], None]] = []

    def watch(self, committed: Callable[[], None]) -> None:
        """`committed()` after each publish (the projectors' wake-up: no poll for local commits)."""
        self._watchers.append(committed)

    def subscribe(self, run_id: str) -> Subscription:
        sub = Subscription(self, run_id, self._buffer)
        self._subs[run_id].add(sub)
        if self._closed:
            sub._close()
        return sub

    def poke(self, run_id: str, seq: int) -> None:
        """Another replica committed `run_id` up to `seq`: readers behind it re-read the store."""
        for sub in self._subs.get(run_id, ()):
            if sub.position < seq:
                sub._poke()

    def positions(self) -> dict[str, int]:
        """The lowest reader position of each run with live subscribers."""
        return {run_id: min(s.position for s in subs) for run_id, subs in self._subs.items() if subs}

    def close(self) -> None:
        """Ends every subscription, now and later (shutdown)."""
        self._closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub._close()

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for sub in self._subs.get(event.run_id, ()):
                sub._offer(event)
        for committed in self._watchers:
            committed()

    def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.run_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.run_id]
