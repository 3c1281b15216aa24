"""Reading a run's events from a cursor: backlog, then live, exactly once.

Order matters: subscribe to live events first, then read the backlog after the
cursor, then drop anything at or below the last seq sent. A subscriber that
lagged (buffer overflow) or sees a gap re-reads from the store, so every event
after the cursor is yielded exactly once, in order.

Memory is bounded per stream and the reader sets the pace: the backlog is read
one page (PAGE_EVENTS events, PAGE_CHARS of payload) at a time and the next page only once the
caller asked for more (an async generator runs only when pulled; the gRPC
servicers pull after the previous message was handed to the transport). Live
events are shared with every subscriber (the broker's bounded buffer holds
references); a subscriber that falls behind re-reads pages from the store.

A cursor past the run's head is legal while the run is live (a client may hold
an id another replica already sent): the stream waits for the events after it,
and ends when the run's terminal event is written, even if that event is at or
below the cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from ..core.errors import InvalidArgument, NotReady, RunNotFound
from ..core.events import Event
from ..core.memory.retention import CursorBelowFloor, check_cursor
from ..ports import EventStore
from .broker import Broker, Subscription

# One backlog page, what a stream holds in memory at most (plus the message being sent):
# this many events, and no more than fit in PAGE_CHARS characters of payload JSON (a
# single bigger event comes alone).
PAGE_EVENTS = 256
PAGE_CHARS = 256 * 1024
# The documented ceiling of what one open stream adds to the service's memory: its page
# as Python objects, the page encoded as one message, and the transport's copy of it
# (tests/e2e/test_replay_memory.py measures 50 at once). A single event bigger than
# PAGE_CHARS adds its own size.
STREAM_MEMORY_CEILING_BYTES = 1024 * 1024


async def stream_batches(
    store: EventStore,
    broker: Broker,
    run_id: str,
    after_seq: int,
    *,
    idle_timeout: float | None = None,
    page_events: int = PAGE_EVENTS,
    page_chars: int = PAGE_CHARS,
) -> AsyncIterator[list[Event] | None]:
    """Yields the events with seq > after_seq, in order, until (and including) the
    terminal one: the backlog in batches of up to `page_events`, then live events
    one per batch (the live tail is not held back to fill a batch).

    With `idle_timeout`, yields None whenever that long passes without an event,
    so callers can send heartbeats. Raises RunNotFound / StaleCursor before the
    first event, and NotReady when the broker closes (this replica is shutting
    down: resume from the last seq yielded, on another replica). Returns without
    a terminal event only when that event is at or below `after_seq`.
    """
    if after_seq < 0:
        raise InvalidArgument("after_seq", "must not be negative")
    with broker.subscribe(run_id) as sub:
        if not await _open_cursor(store, sub, run_id, after_seq):
            return
        reader = _Reader(store, sub, run_id, after_seq, page_events, page_chars)
        while True:
            if reader.catch_up:
                reader.begin_catch_up()
                while (batch := await reader.next_page()) is not None:
                    if batch:
                        yield batch
                if reader.ended:
                    return
            if not await reader.wait(idle_timeout):
                yield None
            elif not reader.catch_up:
                for event in reader.live_events():
                    yield [event]
                if reader.ended:
                    return


async def _open_cursor(store: EventStore, sub: Subscription, run_id: str, after_seq: int) -> bool:
    """Checks the run and the cursor and places the subscriber at the first seq to read;
    False when there is nothing to stream (the run ended at or before the cursor)."""
    run = await store.get_run(run_id)
    if run is None:
        raise RunNotFound(run_id)
    check_cursor(after_seq, await store.oldest_retained_seq(run_id), run.last_seq)
    if run.status.is_terminal and after_seq >= run.last_seq:
        return False
    # `sub.position` is how far the log has been read; events up to `after_seq` are
    # read (a cursor past the head waits for them) but not yielded.
    sub.position = min(after_seq, run.last_seq)
    return True


@dataclass
class _Reader:
    """One stream's reading state: backlog pages from the store, then live events from
    the subscriber. `catch_up` says live delivery cannot be trusted to be contiguous and
    the store must be re-read; `ended` that the run's terminal event was read."""

    store: EventStore
    sub: Subscription
    run_id: str
    after_seq: int
    page_events: int
    page_chars: int
    catch_up: bool = True  # the backlog comes first
    ended: bool = False

    def begin_catch_up(self) -> None:
        self.catch_up = False
        self.sub.lagging = False
        self.sub.drain()  # anything buffered is also in the store

    async def wait(self, idle_timeout: float | None) -> bool:
        """Waits for live events; False when `idle_timeout` passed without any. Sets
        `catch_up` when the subscriber lagged; raises NotReady when the broker closed."""
        got = await self.sub.wait(idle_timeout)
        if self.sub.closed:
            last = self.sub.position
            raise NotReady(f"this replica is shutting down; resume after seq {last}", last_seq=last)
        if got and self.sub.lagging:
            self.catch_up = True
        return got

    async def next_page(self) -> list[Event] | None:
        """The next backlog page's events after the cursor (maybe none); None once the
        store has no more or the terminal event was read. Until an empty page: a short
        page may have ended at its size budget."""
        if self.ended:
            return None
        page = await self.store.read_events(
            self.run_id, self.sub.position, self.page_events, max_chars=self.page_chars
        )
        if not page:
            return None
        if page[0].seq != self.sub.position + 1:
            # Retention removed events this stream had not read yet (it moved the floor while
            # a slow reader paged): STALE_CURSOR, in-band once the stream has started.
            floor = await self.store.oldest_retained_seq(self.run_id)
            raise CursorBelowFloor(floor, self.sub.position, page[-1].seq)
        self.sub.position = page[-1].seq
        self.ended = page[-1].is_terminal  # nothing follows run.finished
        if page[0].seq > self.after_seq:
            return page  # one page at a time: the caller's batch is the only reference kept
        return [e for e in page if e.seq > self.after_seq]

    def live_events(self) -> Iterator[Event]:
        """The subscriber's buffered events that follow the last one read, in order; on a
        gap, stops and sets `catch_up`."""
        for event in self.sub.drain():
            if event.seq <= self.sub.position:
                continue
            if event.seq != self.sub.position + 1:
                self.catch_up = True
                return
            self.sub.position = event.seq
            self.ended = event.is_terminal
            if event.seq > self.after_seq:
                yield event
            if self.ended:
                return
