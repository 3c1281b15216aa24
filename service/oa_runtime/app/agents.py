"""Long-lived agents: create, read, list, frames, wake, sleep, timers, a waiting turn's wake.

Each use case validates its input, then hands the store a pure decision (core/agents/) that
runs inside the store's transaction on the agent's current row, and then makes sure the
agent is executed: an agent that needs an executor now is claimed at once on this replica
(or, when it executes here already, poked to decide again). Turns as runs, children and
sub-runs are in app/agent_tree.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.agents import events as aev
from ..core.agents.decide import turn_moved
from ..core.agents.errors import AgentAlreadyExists, AgentFailed, AgentNotFound, FrameConflict, NotAgentTurn
from ..core.agents.inputs import (
    FrameIn,
    FramesOutcome,
    accept_frames,
    refuse_if_busy,
    request_sleep,
    request_wake,
    validate_frames,
)
from ..core.agents.record import AgentRecord
from ..core.agents.spec import AGENT_ID_PATTERN, SUB_ID_PATTERN, AgentSpec, validate_spec
from ..core.agents.state import AgentState, AgentStatus
from ..core.agents.turns import agent_of_run
from ..core.errors import DomainError, InvalidArgument
from ..core.events import NewEvent
from ..core.memory.chunks import to_epoch_ms
from ..core.memory.records import thread_stream
from ..engine.agents import AgentExecutor, Clock
from ..engine.memory_context import NO_TURN_POLICY, TurnMemoryPolicy
from ..engine.worker_streams import WorkerHub
from ..ports import AgentLease, AgentStore, MemoryStore
from .paging import decode_page_token, encode_page_token

log = logging.getLogger(__name__)

MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_TIMER_DELAY = timedelta(days=366)


def require_agent_id(agent_id: str) -> str:
    if not AGENT_ID_PATTERN.match(agent_id):
        raise InvalidArgument("agent_id", "must be 1-100 characters from [A-Za-z0-9._:-]")
    return agent_id


@dataclass
class Agents:
    """What the agent use cases share (built by the server; `executor` set once it exists)."""

    store: AgentStore
    clock: Clock
    hub: WorkerHub = field(default_factory=WorkerHub)  # wakes stream readers (keyed by agent id)
    executor: AgentExecutor | None = None
    poll_s: float | None = None  # readers re-read this often for other replicas' commits
    sse_heartbeat_s: float = 15.0
    memory: MemoryStore | None = None  # where an agent with memory enabled marks its thread

    def claim(self) -> tuple[str, float] | None:
        """What a write asks the store for: the agent's lease for this replica, if it becomes due."""
        x = self.executor
        if x is None or x.stopping or x.free_slots() <= 0:
            return None  # no slot here: the agent stays due for any replica's claimer
        return (x.settings.owner, x.settings.ttl_s)

    def after_write(self, record: AgentRecord | None, lease: AgentLease | None = None) -> None:
        """Executes the agent here at once if it needs an executor now (with the lease the
        write took, else claiming it), or pokes its task."""
        if record is None:
            return
        agent_id = record.state.agent_id
        self.hub.publish(agent_id)
        if self.executor is None:
            return
        if lease is not None or (record.wake_at is not None and record.wake_at <= self.clock()):
            self.executor.start(agent_id, lease)
        else:
            self.executor.poke(agent_id)


async def create_agent(agents: Agents, spec: AgentSpec) -> tuple[AgentRecord, bool]:
    """Creates the agent, or answers the existing one with the same definition (created False);
    another definition for the same id: AgentAlreadyExists."""
    validate_spec(spec)
    now = agents.clock()
    fingerprint = aev.spec_fingerprint(spec.to_json())

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        if record is None:
            return [aev.agent_created(spec.to_json(), now)]
        if record.fingerprint != fingerprint:
            raise AgentAlreadyExists(spec.agent_id)
        return []

    update = await agents.store.update_agent(spec.agent_id, decide, now=now)
    assert update.record is not None
    await _enable_memory(agents, spec, now)
    agents.after_write(update.record)
    return update.record, bool(update.events)


async def _enable_memory(agents: Agents, spec: AgentSpec, now: datetime) -> None:
    """An agent whose policy enables memory makes its thread keep memory (idempotent), before
    its first turn can start. Done after the agent's write, so a crash between the two is
    repaired by the client's retry of the (idempotent) create."""
    if spec.memory.enabled and agents.memory is not None:
        await agents.memory.enable_memory(thread_stream(spec.thread_id), to_epoch_ms(now))


async def turn_memory_policy(agents: Agents, run_id: str) -> TurnMemoryPolicy:
    """What an agent's memory policy asks for its turn `run_id`: its context budget (0: none
    given) and its hot window; nothing when the run is not an agent's turn."""
    turn = agent_of_run(run_id)
    record = None if turn is None else await agents.store.get_agent(turn[0])
    spec = None if record is None else record.state.spec
    if spec is None or not spec.memory.enabled:
        return NO_TURN_POLICY
    return TurnMemoryPolicy(spec.memory.context_token_budget, spec.memory.hot_window)


async def get_agent(agents: Agents, agent_id: str) -> AgentRecord:
    record = await agents.store.get_agent(require_agent_id(agent_id))
    if record is None:
        raise AgentNotFound(agent_id)
    return record


async def list_agents(
    agents: Agents,
    *,
    page_size: int,
    page_token: str,
    status: AgentStatus | None,
    thread_id: str,
    parent_agent_id: str = "",
) -> tuple[list[AgentRecord], str]:
    """A page of agents, newest first, and the token of the next page ("" on the last)."""
    if page_size < 0 or page_size > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE} (0 means {DEFAULT_PAGE})")
    size = page_size or DEFAULT_PAGE
    if parent_agent_id:
        require_agent_id(parent_agent_id)
    filters = {"status": status.value if status else "", "thread_id": thread_id, "parent": parent_agent_id}
    before = decode_page_token(page_token, filters) if page_token else None
    rows = await agents.store.list_agents(
        status=status,
        thread_id=thread_id or None,
        limit=size + 1,
        before=before,
        parent_agent_id=parent_agent_id or None,
    )
    page = rows[:size]
    last = page[-1] if page else None
    token = (
        encode_page_token(last.created_at, last.state.agent_id, filters) if last and len(rows) > size else ""
    )
    return page, token


@dataclass(frozen=True, slots=True)
class FramesResult:
    record: AgentRecord
    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    policy: str  # the input policy applied when a turn was running, else ""
    outcome: str
    running_run_id: str


async def submit_frames(agents: Agents, agent_id: str, frames: Sequence[FrameIn]) -> FramesResult:
    """Records the frames durably (idempotent per frame id; the same id with another body:
    FrameConflict), applying the agent's input policy when a turn runs (`reject`: the refusal
    is recorded, then AgentBusy); then the agent is executed here at once if it sleeps."""
    require_agent_id(agent_id)
    validate_frames(frames)
    now = agents.clock()
    outcomes: list[tuple[FramesOutcome, tuple[str, ...]]] = []

    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        if record is None:
            raise AgentNotFound(agent_id)
        fresh: list[FrameIn] = []
        indexed: list[str] = []
        for frame in frames:
            digest = known.get(frame.frame_id)
            if digest is None:
                fresh.append(frame)
            elif digest != frame.digest:
                raise FrameConflict(agent_id, frame.frame_id)
            else:
                indexed.append(frame.frame_id)
        outcome = accept_frames(record.state, fresh, now)
        outcomes.append((outcome, tuple(indexed)))
        return outcome.events

    ids = [f.frame_id for f in frames]
    update = await agents.store.update_agent(agent_id, decide, now=now, frame_ids=ids, claim=agents.claim())
    assert update.record is not None
    outcome, indexed = outcomes[-1]
    agents.after_write(update.record, update.lease)
    refuse_if_busy(outcome, agent_id)  # after the refusal itself was recorded
    return FramesResult(
        update.record,
        outcome.accepted,
        tuple(i for i in ids if i in set(indexed) | set(outcome.duplicates)),
        outcome.policy,
        outcome.outcome,
        update.record.state.turn.run_id if update.record.state.turn and outcome.policy else "",
    )


async def wake_agent(agents: Agents, agent_id: str) -> tuple[AgentRecord, bool]:
    """Wakes a sleeping agent or resumes a paused one; (the agent, whether anything was recorded)."""
    return await _request(agents, agent_id, lambda state, now: request_wake(state, now))


async def sleep_agent(agents: Agents, agent_id: str, by: str = "") -> tuple[AgentRecord, bool]:
    """The running turn finishes, then the agent sleeps; frames arriving meanwhile wait. The
    agent's children are put to sleep too."""
    answer = await _request(agents, agent_id, lambda state, now: request_sleep(state, by))
    await sleep_children(agents, agent_id)
    return answer


async def _request(
    agents: Agents, agent_id: str, make: Callable[[AgentState, datetime], list[NewEvent]]
) -> tuple[AgentRecord, bool]:
    require_agent_id(agent_id)
    now = agents.clock()

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        if record is None:
            raise AgentNotFound(agent_id)
        return make(record.state, now)

    update = await agents.store.update_agent(agent_id, decide, now=now, claim=agents.claim())
    assert update.record is not None
    agents.after_write(update.record, update.lease)
    return update.record, bool(update.events)


async def set_timer(
    agents: Agents,
    run_id: str,
    timer_id: str,
    *,
    fire_at: datetime | None,
    after: timedelta | None,
    text: str,
) -> datetime:
    """The timer tool: the agent whose turn `run_id` is sets (or moves) a one-shot timer;
    returns when it fires. Only the agent's running turn may set its timers."""
    agent_id = running_agent(run_id)
    if not SUB_ID_PATTERN.match(timer_id):
        raise InvalidArgument("timer_id", "must be 1-64 characters from [A-Za-z0-9._-]")
    now = agents.clock()
    if (fire_at is None) == (after is None):
        raise InvalidArgument("at", "give exactly one of at and after_seconds")
    when = fire_at if fire_at is not None else now + (after or timedelta(0))
    if when - now > MAX_TIMER_DELAY:
        raise InvalidArgument("at", "must be at most a year from now")

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        require_turn(record, agent_id, run_id)
        return [aev.timer_set(timer_id, when, text=text, run_id=run_id)]

    update = await agents.store.update_agent(agent_id, decide, now=now)
    agents.after_write(update.record)
    return when


async def cancel_timer(agents: Agents, run_id: str, timer_id: str) -> bool:
    """The timer tool: cancels a timer of the turn's agent; False when it was not set."""
    agent_id = running_agent(run_id)

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        state = require_turn(record, agent_id, run_id)
        if all(t.timer_id != timer_id for t in state.timers):
            return []
        return [aev.timer_canceled(timer_id)]

    update = await agents.store.update_agent(agent_id, decide, now=agents.clock())
    agents.after_write(update.record)
    return bool(update.events)


def running_agent(run_id: str) -> str:
    owner = agent_of_run(run_id)
    if owner is None:
        raise NotAgentTurn(run_id, "is not an agent's turn: timers belong to agents")
    return owner[0]


def require_turn(record: AgentRecord | None, agent_id: str, run_id: str) -> AgentState:
    if record is None:
        raise AgentNotFound(agent_id)
    turn = record.state.turn
    if turn is None or turn.run_id != run_id:
        raise NotAgentTurn(run_id, f"is not the running turn of agent {agent_id!r}")
    return record.state


async def children(agents: Agents, agent_id: str) -> list[str]:
    """The ids of the agent's child agents (at most 500)."""
    rows = await agents.store.list_agents(
        status=None, thread_id=None, limit=MAX_PAGE, before=None, parent_agent_id=agent_id
    )
    return [r.state.agent_id for r in rows]


async def sleep_children(agents: Agents, agent_id: str) -> None:
    """A parent put to sleep or paused: its children (and theirs) sleep after their turns."""
    for child_id in await children(agents, agent_id):
        with contextlib.suppress(AgentFailed):
            await sleep_agent(agents, child_id, by=f"parent {agent_id}")


async def turn_run_moved(agents: Agents, run_id: str) -> None:
    """A run moved again after waiting for a human: when it is an agent's turn waiting on it,
    the agent is woken (recorded, and claimed here at once). Best effort: the agent's recheck
    wakes it anyway (a crash before this, another path that moved the run)."""
    owner = agent_of_run(run_id)
    if owner is None:
        return
    now = agents.clock()

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        return [] if record is None else turn_moved(record.state, run_id, now)

    try:
        update = await agents.store.update_agent(owner[0], decide, now=now, claim=agents.claim())
    except DomainError:
        return
    except Exception:
        log.exception("waking an agent after its turn's run moved failed", extra={"run_id": run_id})
        return
    agents.after_write(update.record, update.lease)
