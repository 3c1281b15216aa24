"""Reading a run's events from a cursor: backlog, then live, exactly once.

Order matters: subscribe to live events first, then read the backlog after the
cursor, then drop anything at or below the last seq sent. A subscriber that
lagged (buffer overflow) or sees a gap re-reads from the store, so every event
after the cursor is yielded exactly once, in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..core.errors import InvalidArgument, NotReady, RunNotFound, StaleCursor
from ..core.events import Event
from ..ports import EventStore
from .broker import Broker

PAGE = 1000


async def stream_events(
    store: EventStore,
    broker: Broker,
    run_id: str,
    after_seq: int,
    *,
    idle_timeout: float | None = None,
) -> AsyncIterator[Event | None]:
    """Yields events with seq > after_seq until (and including) the terminal one.

    With `idle_timeout`, yields None whenever that long passes without an event,
    so callers can send heartbeats. Raises RunNotFound / StaleCursor before the
    first event, and NotReady when the broker closes (this replica is shutting
    down: resume from the last seq yielded, on another replica).
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
        last = sub.position = after_seq
        # Backlog, then live; `catch_up` re-reads the store whenever live delivery
        # cannot be trusted to be contiguous.
        catch_up = True
        while True:
            if catch_up:
                catch_up = False
                sub.lagging = False
                sub.drain()  # anything buffered is also in the store
                while True:
                    page = await store.read_events(run_id, last, PAGE)
                    for event in page:
                        last = sub.position = event.seq
                        yield event
                        if event.is_terminal:
                            return
                    if len(page) < PAGE:
                        break
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
                yield event
                if event.is_terminal:
                    return
