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
    event (heartbeats). Raises AgentNotFound or InvalidCursor before the first event,
    NotReady when the hub closes (shutdown: the client resumes elsewhere)."""
    wake = hub._add(agent_id)
    try:
        record = await store.get_agent(agent_id)
        if record is None:
            raise AgentNotFound(agent_id)
        if after_seq > record.state.last_seq:
            raise InvalidCursor(
                f"cursor {after_seq} is beyond the agent's latest event {record.state.last_seq}",
                cursor=after_seq,
            )
        last = after_seq
        idle_since = time.monotonic()
        while True:
            wake.clear()
            page = await store.read_agent_events(agent_id, last, PAGE)
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
