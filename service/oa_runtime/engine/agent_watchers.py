"""Sub-run watchers: each sub-run's current attempt is started (idempotent) and waited for
until it ends, then reported to its agent (app/agent_tree.py). A watcher is process memory:
the agent's `subrun_check_at` keeps its row due, so the replica that claims it watches again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from ..core.agents.state import SubRun
from ..core.events import RUN_FINISHED
from ..core.records import RunRecord
from ..ports import EventLog, RunQueries
from .broker import Broker

log = logging.getLogger(__name__)


class RunReader(RunQueries, EventLog, Protocol):
    """What waiting for a turn's or a sub-run's run needs of the store."""


class SubrunTurns(Protocol):
    """What a watcher needs of the application layer (part of the executor's `Turns`)."""

    async def start_subrun(self, agent_id: str, sub_id: str, run_id: str) -> bool:
        """Creates the sub-run's attempt `run_id` (idempotent); False when it is no longer the
        agent's current attempt of that sub-run (nothing to watch)."""

    async def subrun_ended(self, agent_id: str, sub_id: str, run: RunRecord) -> None:
        """Tells the parent its sub-run's attempt ended (idempotent): one tool_result frame,
        or a restart, or an escalation."""


class SubrunWatchers:
    def __init__(self, turns: SubrunTurns, runs: RunReader, broker: Broker, poll_s: float) -> None:
        self._turns = turns
        self._runs = runs
        self._broker = broker
        self._poll_s = poll_s
        self._watched: set[str] = set()  # sub-run attempts (run ids) watched here

    def claim(self, run_id: str) -> bool:
        """True when nobody here watches `run_id` yet (the caller then runs `watch`)."""
        if run_id in self._watched:
            return False
        self._watched.add(run_id)
        return True

    async def watch(self, agent_id: str, sub: SubRun) -> None:
        try:
            if await self._turns.start_subrun(agent_id, sub.sub_id, sub.run_id):
                record = await wait_run_end(self._runs, self._broker, sub.run_id, self._poll_s)
                await self._turns.subrun_ended(agent_id, sub.sub_id, record)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sub-run watcher failed", extra={"agent_id": agent_id, "run_id": sub.run_id})
        finally:
            self._watched.discard(sub.run_id)


async def wait_run_end(runs: RunReader, broker: Broker, run_id: str, poll_s: float) -> RunRecord:
    """The run's record once it ended (its stream says so, or a re-read every `poll_s`)."""
    with broker.subscribe(run_id) as sub:
        while True:
            record = await runs.get_run(run_id)
            if record is not None and record.status.is_terminal:
                return record
            if record is not None:
                sub.position = record.last_seq
            while not _finished(sub.drain()) and not sub.lagging:
                if sub.closed:
                    raise asyncio.CancelledError  # the broker closed: shutting down
                if not await sub.wait(poll_s):
                    break
            sub.lagging = False


def _finished(events: Sequence[object]) -> bool:
    return any(getattr(e, "type", "") == RUN_FINISHED for e in events)
