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

from collections.abc import AsyncIterator

from ..core.errors import InvalidArgument, NotReady, RunNotFound, StaleCursor
from ..core.events import Event
from ..ports import EventStore
from .broker import Broker

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
        run = await store.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        oldest = await store.oldest_retained_seq(run_id)
        if after_seq < oldest - 1:
            raise StaleCursor(after_seq, oldest)
        if run.status.is_terminal and after_seq >= run.last_seq:
            return
        # `last` is how far the log has been read; events up to `after_seq` are read
        # (a cursor past the head waits for them) but not yielded.
        last = sub.position = min(after_seq, run.last_seq)
        # Backlog, then live; `catch_up` re-reads the store whenever live delivery
        # cannot be trusted to be contiguous.
        catch_up = True
        while True:
            if catch_up:
                catch_up = False
                sub.lagging = False
                sub.drain()  # anything buffered is also in the store
                while True:
                    # Until an empty page: a short page may have ended at its size budget.
                    page = await store.read_events(run_id, last, page_events, max_chars=page_chars)
                    if not page:
                        break
                    last = sub.position = page[-1].seq
                    ended = page[-1].is_terminal  # nothing follows run.finished
                    batch = page if page[0].seq > after_seq else [e for e in page if e.seq > after_seq]
                    del page  # one page at a time: the batch is the only reference kept
                    if batch:
                        yield batch
                    if ended:
                        return
            got = await sub.wait(idle_timeout)
            if sub.closed:
                raise NotReady(f"this replica is shutting down; resume after seq {last}", last_seq=last)
            if not got:
                yield None
                continue
            if sub.lagging:
                catch_up = True
                continue
            for event in sub.drain():
                if event.seq <= last:
                    continue
                if event.seq != last + 1:
                    catch_up = True
                    break
                last = sub.position = event.seq
                if event.seq > after_seq:
                    yield [event]
                if event.is_terminal:
                    return
