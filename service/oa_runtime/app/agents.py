"""Long-lived agents: create, read, list, frames, wake, sleep, timers; and turns as runs.

Each use case validates its input, then hands the store a pure decision (core/agents/) that
runs inside the store's transaction on the agent's current row, and then makes sure the
agent is executed: an agent that needs an executor now is claimed at once on this replica
(or, when it executes here already, poked to decide again). `AgentTurns` is what the agent
executor (engine/agents.py) calls to run a turn: StartRun / CancelRun by the turn's run id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core.agents import events as aev
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
from ..core.agents.turns import agent_of_run, frame_body, turn_request
from ..core.errors import InvalidArgument
from ..core.events import MESSAGE_COMPLETED, NewEvent
from ..core.memory.chunks import to_epoch_ms
from ..core.memory.records import thread_stream
from ..engine.agents import AgentExecutor, Clock
from ..engine.memory_context import NO_TURN_POLICY, TurnMemoryPolicy
from ..engine.worker_streams import WorkerHub
from ..ports import AgentLease, AgentStore, MemoryStore
from .paging import decode_page_token, encode_page_token
from .runs import cancel_run, start_run
from .runtime import Runtime

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
        return None if x is None or x.stopping else (x.settings.owner, x.settings.ttl_s)

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
    agent_id = _running_agent(run_id)
    if not SUB_ID_PATTERN.match(timer_id):
        raise InvalidArgument("timer_id", "must be 1-64 characters from [A-Za-z0-9._-]")
    now = agents.clock()
    if (fire_at is None) == (after is None):
        raise InvalidArgument("at", "give exactly one of at and after_seconds")
    when = fire_at if fire_at is not None else now + (after or timedelta(0))
    if when - now > MAX_TIMER_DELAY:
        raise InvalidArgument("at", "must be at most a year from now")

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        _require_turn(record, agent_id, run_id)
        return [aev.timer_set(timer_id, when, text=text, run_id=run_id)]

    update = await agents.store.update_agent(agent_id, decide, now=now)
    agents.after_write(update.record)
    return when


async def cancel_timer(agents: Agents, run_id: str, timer_id: str) -> bool:
    """The timer tool: cancels a timer of the turn's agent; False when it was not set."""
    agent_id = _running_agent(run_id)

    def decide(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
        state = _require_turn(record, agent_id, run_id)
        if all(t.timer_id != timer_id for t in state.timers):
            return []
        return [aev.timer_canceled(timer_id)]

    update = await agents.store.update_agent(agent_id, decide, now=agents.clock())
    agents.after_write(update.record)
    return bool(update.events)


def _running_agent(run_id: str) -> str:
    owner = agent_of_run(run_id)
    if owner is None:
        raise NotAgentTurn(run_id, "is not an agent's turn: timers belong to agents")
    return owner[0]


def _require_turn(record: AgentRecord | None, agent_id: str, run_id: str) -> AgentState:
    if record is None:
        raise AgentNotFound(agent_id)
    turn = record.state.turn
    if turn is None or turn.run_id != run_id:
        raise NotAgentTurn(run_id, f"is not the running turn of agent {agent_id!r}")
    return record.state


class AgentTurns:
    """The `Turns` port of the agent executor: a turn is a run on the agent's thread; a child's
    turn results and pauses are told to its parent."""

    def __init__(self, rt: Runtime, agents: Agents) -> None:
        self._rt = rt
        self._agents = agents
        self._store = agents.store

    async def start_turn(self, state: AgentState, run_id: str) -> None:
        turn = state.turn
        assert turn is not None and turn.run_id == run_id
        bodies = []
        for frame in turn.frames:  # each frame's body is the event at its seq
            [event] = await self._store.read_agent_events(state.agent_id, frame.seq - 1, limit=1)
            bodies.append(frame_body(event))
        await start_run(self._rt, turn_request(state, turn, bodies))

    async def cancel_turn(self, run_id: str, reason: str) -> None:
        await cancel_run(self._rt, run_id, f"agent: {reason}")

    async def turn_ended(self, state: AgentState, run_id: str, outcome: str, error_message: str) -> None:
        if state.spec is None or not state.spec.parent_agent_id:
            return
        texts = [
            str(e.payload.get("text", ""))
            for e in await self._rt.store.read_events(run_id, 0, limit=100_000)
            if e.type == MESSAGE_COMPLETED
        ]
        data = {"child_agent_id": state.agent_id, "run_id": run_id, "outcome": outcome}
        if error_message:
            data["error"] = error_message
        frame_id = f"child:{run_id}"[:128]
        text = texts[-1] if texts else ""
        await tell_parent(self._agents, state, FrameIn(frame_id, aev.FRAME_TOOL_RESULT, text, data))

    async def agent_paused(self, state: AgentState) -> None:
        await sleep_children(self._agents, state.agent_id)
        if state.spec is None or not state.spec.parent_agent_id or state.pause is None:
            return
        p = state.pause
        text = f"child agent {state.agent_id} paused ({p.reason}): {p.detail}"
        frame = FrameIn(f"child:{state.agent_id}:paused:{state.last_seq}", aev.FRAME_SYSTEM, text)
        await tell_parent(self._agents, state, frame)


class AgentTools:
    """The backend of the agents' built-in tools (tools/builtin.py `timer_tool`, `delegate_tool`)."""

    def __init__(self, agents: Agents) -> None:
        self._agents = agents

    async def set_timer(
        self, run_id: str, timer_id: str, *, fire_at: datetime | None, after: timedelta | None, text: str
    ) -> datetime:
        return await set_timer(self._agents, run_id, timer_id, fire_at=fire_at, after=after, text=text)

    async def cancel_timer(self, run_id: str, timer_id: str) -> bool:
        return await cancel_timer(self._agents, run_id, timer_id)

    async def delegate(
        self, run_id: str, tool_call_id: str, child: str, text: str, instructions: str
    ) -> dict[str, str]:
        return await delegate(self._agents, run_id, tool_call_id, child, text, instructions)


# ----- child agents (the delegate tool) -----


async def delegate(
    agents: Agents, run_id: str, tool_call_id: str, child: str, text: str, instructions: str
) -> dict[str, str]:
    """The delegate tool: the agent whose running turn `run_id` is starts (or reuses) its child
    `<agent id>.<child>` on a thread of its own and gives it `text` as a user prompt (idempotent
    per tool call). The child's turns' results come back to the parent as tool_result frames."""
    agent_id = _running_agent(run_id)
    parent = _require_turn(await agents.store.get_agent(agent_id), agent_id, run_id).spec
    assert parent is not None
    if not SUB_ID_PATTERN.match(child):
        raise InvalidArgument("child", "must be 1-64 characters from [A-Za-z0-9._-]")
    spec = AgentSpec(
        agent_id=f"{agent_id}.{child}",
        thread_id=f"{parent.thread_id}.{child}",
        user_id=parent.user_id,
        models=parent.models,
        instructions=instructions or parent.instructions,
        tool_policy=parent.tool_policy,
        supervision=parent.supervision,
        memory=parent.memory,
        parent_agent_id=agent_id,
    )
    await create_agent(agents, spec)
    frame_id = f"delegate:{tool_call_id}"[:128]
    await submit_frames(agents, spec.agent_id, [FrameIn(frame_id, aev.FRAME_USER_PROMPT, text)])
    return {"child_agent_id": spec.agent_id, "frame_id": frame_id}


async def tell_parent(agents: Agents, child: AgentState, frame: FrameIn) -> None:
    """Delivers `frame` to the child's parent (idempotent by its frame id); a parent that
    failed or is gone takes nothing."""
    assert child.spec is not None
    with contextlib.suppress(AgentNotFound, AgentFailed):
        await submit_frames(agents, child.spec.parent_agent_id, [frame])


async def children(agents: Agents, agent_id: str) -> list[str]:
    """The ids of the agent's children (at most 500)."""
    rows = await agents.store.list_agents(
        status=None, thread_id=None, limit=MAX_PAGE, before=None, parent_agent_id=agent_id
    )
    return [r.state.agent_id for r in rows]


async def sleep_children(agents: Agents, agent_id: str) -> None:
    """A parent put to sleep or paused: its children (and theirs) sleep after their turns."""
    for child_id in await children(agents, agent_id):
        with contextlib.suppress(AgentFailed):
            await sleep_agent(agents, child_id, by=f"parent {agent_id}")
