"""Reading an agent's stream from a cursor: backlog, then live, exactly once.

As for Codex workers (worker_streams.py): the store is the truth and the reader always reads
after the last seq it yielded; the hub (a `WorkerHub`, which is keyed by any stream id) only
says when to read again. The use cases and the agent executor publish after each commit on
this replica; events other replicas commit (PostgreSQL) are found by re-reading every `poll_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from ..core.agents import events as aev
from ..core.agents.errors import AgentNotFound
from ..core.errors import InvalidCursor, NotReady
from ..core.events import Event
from ..core.memory.retention import check_cursor
from ..core.run_retention import check_contiguous, floor_of
from ..ports import AgentStore
from .worker_streams import WorkerHub

PAGE = 500


async def stream_agent_events(
    store: AgentStore,
    hub: WorkerHub,
    agent_id: str,
    after_seq: int,
    *,
    idle_timeout: float | None = None,
    poll_s: float | None = None,
) -> AsyncIterator[Event | None]:
    """Yields the agent's events with seq > after_seq, the backlog then live ones, until
    `agent.failed` (yielded last). Yields None whenever `idle_timeout` passes without an
    event (heartbeats). Raises AgentNotFound, InvalidCursor or (below the retention floor)
    CursorBelowFloor before the first event, CursorBelowFloor in-band when retention removes
    events the reader had not read yet, NotReady when the hub closes (shutdown: the client
    resumes elsewhere)."""
    wake = hub._add(agent_id)
    try:
        record = await store.get_agent(agent_id)
        if record is None:
            raise AgentNotFound(agent_id)
        await check_agent_cursor(store, agent_id, after_seq, record.state.last_seq)
        last = after_seq
        idle_since = time.monotonic()
        while True:
            wake.clear()
            page = await store.read_agent_events(agent_id, last, PAGE)
            check_contiguous(page[0].seq if page else None, last, page[-1].seq if page else last)
            for event in page:
                last = event.seq
                yield event
                if event.type == aev.FAILED:
                    return
            if page:
                idle_since = time.monotonic()
            if len(page) == PAGE:
                continue
            if hub.closed:
                raise NotReady(f"this replica is shutting down; resume after seq {last}", last_seq=last)
            waits = [w for w in (poll_s,) if w is not None]
            if idle_timeout is not None:
                heartbeat_in = idle_since + idle_timeout - time.monotonic()
                if heartbeat_in <= 0:
                    idle_since = time.monotonic()
                    yield None
                    continue
                waits.append(heartbeat_in)
            try:
                async with asyncio.timeout(min(waits) if waits else None):
                    await wake.wait()
            except TimeoutError:
                pass
    finally:
        hub._remove(agent_id, wake)


async def check_agent_cursor(store: AgentStore, agent_id: str, after_seq: int, head: int) -> None:
    """InvalidCursor past the head (never handed out); STALE_CURSOR (HTTP 410) when retention
    removed the event after `after_seq`: the floor is the agent's oldest retained event
    (core/run_retention.py `floor_of`)."""
    if after_seq > head:
        raise InvalidCursor(f"cursor {after_seq} is beyond the agent's latest event {head}", cursor=after_seq)
    oldest = await store.read_agent_events(agent_id, 0, 1)
    check_cursor(after_seq, floor_of(oldest[0].seq if oldest else None, head), head)
