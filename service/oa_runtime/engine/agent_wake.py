"""Waking agents across replicas at once (PostgreSQL LISTEN/NOTIFY).

Every agent update NOTIFYs, inside its own transaction, `(agent, last seq, due)` on the
control channel (store/agents.py, store/postgres_leases.py): PostgreSQL delivers it at
commit, or never. The replica's one change listener (the connection that also carries run
notifications and the liveness lock) hands it here:
- readers of the agent's stream on this replica read again (the hub);
- an agent this replica holds decides again (its task is poked): a frame or a sleep request
  that landed on another replica reaches it in a round trip, not after a poll;
- an agent that is due with nobody holding it (the writer's transaction did not lease it,
  e.g. a replica whose executor is stopping took the frame) is claimed here at once.
Notifications are lost while the listener reconnects, so that case is a resync: every held
agent decides again and the claimer runs; the executor's poll of the held agents' seqs
(`RUNTIME_AGENT_POLL_S`) stays as the fallback. SQLite has one writing process: nothing to hear.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ports import ChangeHandler
from .agents import AgentExecutor


class AgentWake:
    """The listener's handler: runs' notifications go to `runs` (the Coordinator), agents'
    to the agent executor and the agent stream hub."""

    def __init__(self, runs: ChangeHandler, executor: AgentExecutor, publish: Callable[[str], None]) -> None:
        self._runs = runs
        self._executor = executor
        self._publish = publish

    def on_appended(self, run_id: str, seq: int) -> None:
        self._runs.on_appended(run_id, seq)

    def on_cancel(self, run_id: str) -> None:
        self._runs.on_cancel(run_id)

    def on_runnable(self) -> None:
        self._runs.on_runnable()

    def on_resync(self) -> None:
        self._runs.on_resync()
        self._executor.wake()
        for agent_id in self._executor.running():
            self._executor.poke(agent_id)

    def on_agent_appended(self, agent_id: str, seq: int, due: bool) -> None:
        self._publish(agent_id)
        if self._executor.holds(agent_id):
            self._executor.poke(agent_id)
        elif due:
            self._executor.start(agent_id)  # a targeted claim; the replica that loses it just stops
