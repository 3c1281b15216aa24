"""Executes long-lived agents: one asyncio task per agent this replica holds the lease of.

An agent's task is the workload loop of docs/AGENTS.md: decide (core/agents/decide.py) on
the agent row inside a fenced update, append what was decided, then act on the effect:
- `RunTurn`: start the turn's run (StartRun, idempotent by run id, through `Turns`), cancel
  it if asked, wait until it ends (then record `turn_finished`), until the decision's
  deadline, or until the agent's stream moves (a frame, a sleep request): then decide again;
- `Hold`: wait a short backoff, or until the stream moves;
- `Release`: give the lease up, atomically with "nothing arrived since I decided" (else
  decide again), and end the task. A sleeping agent holds no task, no lease, no memory.
A kill -9 anywhere loses nothing: the next holder decides on the same durable state.
Before deciding on anything else, a pause's or failure's effects (`state.stop_due`: cancel the
sub-runs, sleep the children, report to the parent) are carried out and recorded done. A turn
whose run waits for a human records `agent.turn_waiting` and gives task and lease up. An
unexpected exception gives the lease up at once; the task starts again after a backoff, and
the agent fails after `max_task_failures` in a row. Sub-runs are watched by
engine/agent_watchers.py.

Agents with work are found by the claimer (`wake_at` due on the agent row) within
`claim_interval_s` on any replica, and at once on the replica that took a frame (`start`).
A replica holding an agent hears of events other replicas appended (frames, sleep requests)
by NOTIFY (engine/agent_wake.py), and polls the held agents' last seqs every `poll_s` in case
a notification was lost (PostgreSQL; one process writes SQLite).
Every task belongs to the server's TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ..core.agents import events as aev
from ..core.agents.decide import Decision, Hold, Release, RunTurn, decide, turn_moved
from ..core.agents.events import TURN_FAILED
from ..core.agents.record import AgentRecord
from ..core.agents.state import SUBRUN_CHECK_FIRST, AgentState, AgentStatus, SubRun, finish_turn
from ..core.agents.turns import turn_tool_calls
from ..core.errors import DependencyUnavailable, DomainError, FencedOff
from ..core.events import APPROVAL_REQUESTED, QUESTION_ASKED, RUN_FINISHED, NewEvent
from ..core.records import RunRecord
from ..core.run_state import RunStatus
from ..observability import admission_metrics as m
from ..ports import AgentLease, AgentStore
from .agent_watchers import RunReader, SubrunTurns, SubrunWatchers
from .broker import Broker
from .coordinator import claim_forever

log = logging.getLogger(__name__)
WAIT_TYPES = (APPROVAL_REQUESTED, QUESTION_ASKED)  # a turn's run asking a human

Clock = Callable[[], datetime]


class Turns(SubrunTurns, Protocol):
    """What a turn needs of the run use cases (implemented by the application layer)."""

    async def start_turn(self, state: AgentState, run_id: str) -> None:
        """Creates the turn's run (idempotent) and makes sure a replica executes it."""

    async def cancel_turn(self, run_id: str, reason: str) -> None:
        """Records the cancel of the turn's run (idempotent) and stops it."""

    async def turn_ended(self, state: AgentState, run_id: str, outcome: str, error_message: str) -> None:
        """Before the turn's end is recorded: tells a child agent's parent (idempotent)."""

    async def agent_stopped(self, state: AgentState) -> str:
        """The effects of the agent's pause or failure (`state.stop_due`): its sub-runs are
        canceled, its children sleep, its parent is told (idempotent); answers what the
        parent decided on it (core/agents/children.py), or "none"."""


@dataclass(frozen=True)
class AgentExecutorSettings:
    owner: str
    ttl_s: float = 10.0
    claim_interval_s: float = 1.0
    poll_s: float | None = 0.25  # None: one process writes (SQLite), nothing to poll
    claim_batch: int = 100
    # Agent tasks this replica executes at once (0: no limit). Past it nothing more is claimed
    # or started here: due agents stay due in the database for any replica, and are claimed
    # (oldest due first) as tasks end. Overload is shed, not spread over a connection pool.
    max_awake: int = 0
    run_poll_s: float = 1.0  # re-reads a turn's run executed elsewhere at least this often
    # An unexpected exception in an agent's task: the lease is given up at once and the task
    # is started again after a backoff (doubling from `recovery_backoff_s`); after
    # `max_task_failures` in a row the agent is marked FAILED with the error.
    max_task_failures: int = 5
    recovery_backoff_s: float = 0.5
    recovery_backoff_max_s: float = 30.0
    waiting_recheck_s: float = 60.0  # a turn waiting for a human: durable fallback recheck
    subrun_check_max_s: float = 600.0  # running sub-runs: the longest wait between checks


@dataclass
class _Handle:
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    lease: AgentLease | None = None
    task: asyncio.Task[None] | None = None
    seen_seq: int = 0
    releasing: bool = False  # giving the lease up: a start meanwhile claims again after
    start_again: bool = False


class AgentExecutor:
    def __init__(
        self,
        agents: AgentStore,
        runs: RunReader,
        broker: Broker,
        turns: Turns,
        task_group: asyncio.TaskGroup,
        settings: AgentExecutorSettings,
        clock: Clock,
        on_change: Callable[[str], None] = lambda agent_id: None,
    ) -> None:
        self._agents = agents
        self._runs = runs
        self._broker = broker
        self._turns = turns
        self._tg = task_group
        self.settings = settings
        self._clock = clock
        self.on_change = on_change  # wakes the agent's stream readers after a commit here
        self._handles: dict[str, _Handle] = {}
        self._claim_now = asyncio.Event()
        self._stopping = False
        self._failures: dict[str, int] = {}  # unexpected task exceptions in a row, per agent
        self._watchers = SubrunWatchers(turns, runs, broker, settings.run_poll_s)
        self._helpers: set[asyncio.Task[None]] = set()  # sub-run watchers, delayed restarts
        self._saturated = False  # due work may have been left in the database for want of a slot

    @property
    def stopping(self) -> bool:
        return self._stopping

    def running(self) -> list[str]:
        return list(self._handles)

    def holds(self, agent_id: str) -> bool:
        return agent_id in self._handles

    def free_slots(self) -> int:
        """How many more agent tasks this replica may start (`max_awake`)."""
        if self.settings.max_awake <= 0:
            return self.settings.claim_batch
        return max(0, self.settings.max_awake - len(self._handles))

    def start(self, agent_id: str, lease: AgentLease | None = None) -> bool:
        """Executes the agent here (claiming it first without a `lease`); an agent already
        executing here is poked instead (its stream moved). Without a free slot nothing
        starts: a `lease` is given back, and the agent stays due for the claimers."""
        if self._stopping:
            return False
        current = self._handles.get(agent_id)
        if current is None and self.free_slots() <= 0:
            self._saturated = True
            if lease is not None:
                self._tg.create_task(self._give_back(lease), name=f"agent-release:{agent_id}")
            return False
        if current is not None:
            current.start_again = current.releasing
            if lease is not None and current.lease is None:
                current.lease = lease  # its task is claiming it right now: it takes this lease
            elif lease is not None:
                self._tg.create_task(self._give_back(lease), name=f"agent-release:{agent_id}")
            self.poke(agent_id)
            return False
        handle = _Handle(lease=lease)
        self._handles[agent_id] = handle
        m.AGENTS_AWAKE.set(len(self._handles))
        handle.task = self._tg.create_task(self._execute(agent_id, handle), name=f"agent:{agent_id}")
        return True

    async def _give_back(self, lease: AgentLease) -> None:
        with contextlib.suppress(Exception):
            await self._agents.release_agent(self.settings.owner, lease, None)

    def poke(self, agent_id: str) -> None:
        """The agent's stream moved: its task decides again now."""
        handle = self._handles.get(agent_id)
        if handle is not None:
            handle.wakeup.set()

    def wake(self) -> None:
        """Claim at once (an agent became due, or the clock moved)."""
        self._claim_now.set()

    # ----- loops (the server's TaskGroup) -----

    async def claim_once(self) -> int:
        """Claims due agents (oldest due first), never more than the free slots."""
        total = 0
        while not self._stopping:
            limit = min(self.settings.claim_batch, self.free_slots())
            if limit <= 0:
                self._saturated = True  # a task's end claims again
                return total
            leases = await self._agents.claim_agents(
                self.settings.owner,
                self.settings.ttl_s,
                now=self._clock(),
                exclude=self.running(),
                limit=limit,
            )
            for lease in leases:
                self.start(lease.agent_id, lease)  # hands it over, or gives it back, if running here
            total += len(leases)
            if len(leases) < limit:
                return total
        return total

    async def claim_loop(self) -> None:
        interval = self.settings.claim_interval_s
        await claim_forever(self.claim_once, self._claim_now, interval, lambda: self._stopping, "agent claim")

    async def keep_loop(self) -> None:
        """Renews the held leases every third of their TTL; a lost lease stops its task."""
        while not self._stopping:
            await asyncio.sleep(self.settings.ttl_s / 3)
            held = {a: (h, h.lease) for a, h in self._handles.items() if h.lease is not None}
            try:
                kept = await self._agents.renew_agent_leases(
                    self.settings.owner,
                    [lease for _, lease in held.values() if lease is not None],
                    self.settings.ttl_s,
                )
            except Exception:
                log.exception("agent lease renewal failed")
                continue
            for agent_id in set(held) - kept:
                handle, lease = held[agent_id]
                # Only the task that held that lease: meanwhile it may have released it and a
                # new task claimed the agent again (cancelling that one would strand its lease).
                if (
                    self._handles.get(agent_id) is handle
                    and handle.lease is lease
                    and handle.task is not None
                ):
                    log.warning("agent lease lost", extra={"agent_id": agent_id})
                    handle.task.cancel()

    async def poll_loop(self) -> None:
        """Pokes held agents whose stream another replica moved (PostgreSQL)."""
        if self.settings.poll_s is None:
            return
        while not self._stopping:
            await asyncio.sleep(self.settings.poll_s)
            held = {a: h.seen_seq for a, h in self._handles.items()}
            if not held:
                continue
            try:
                seqs = await self._agents.agent_seqs(list(held))
            except Exception:
                continue
            for agent_id, seq in seqs.items():
                if seq > held[agent_id]:
                    self.poke(agent_id)

    async def stop(self, grace_s: float) -> None:
        """Shutdown: stops the agent tasks (a turn's run goes on as any run) and releases
        their leases so a peer continues at once."""
        self._stopping = True
        self._claim_now.set()
        for helper in list(self._helpers):
            helper.cancel()  # process memory: the agents' durable checks recover them
        handles = list(self._handles.items())
        for _, handle in handles:
            if handle.task is not None:
                handle.task.cancel()
        tasks = [h.task for _, h in handles if h.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for _, handle in handles:
            if handle.lease is not None and handle.task is not None and handle.task.done():
                with contextlib.suppress(Exception):
                    await self._agents.release_agent(self.settings.owner, handle.lease, handle.seen_seq)

    # ----- one agent's task -----

    async def _execute(self, agent_id: str, handle: _Handle) -> None:
        try:
            if handle.lease is None:
                claimed = await self._agents.claim_agents(
                    self.settings.owner, self.settings.ttl_s, now=self._clock(), agent_ids=[agent_id], limit=1
                )
                if claimed:
                    handle.lease = claimed[0]
                elif handle.lease is None:  # else the claimer took it meanwhile and handed it over
                    return  # not due, or another replica holds it
            await _AgentLoop(self, agent_id, handle).run()
        except FencedOff:
            log.info("agent taken over by another replica", extra={"agent_id": agent_id})
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # a lost lease: stop quietly (the TaskGroup ignores a cancelled child)
        except DependencyUnavailable as exc:
            # Transient (an outage, or a pool exhausted): no supervision failure. The lease is
            # given up if the database answers (else it expires); the claimers retry it.
            log.warning(
                "agent deferred: database unavailable", extra={"agent_id": agent_id, "error": str(exc)}
            )
            if handle.lease is not None:
                await self._give_back(handle.lease)
        except Exception as exc:
            log.exception("agent task failed", extra={"agent_id": agent_id})
            await self._recover(agent_id, handle, exc)
        else:
            self._failures.pop(agent_id, None)
        finally:
            self._ended(agent_id, handle)

    def _ended(self, agent_id: str, handle: _Handle) -> None:
        """The agent's task ended: its slot is free."""
        if self._handles.get(agent_id) is not handle:
            return
        del self._handles[agent_id]
        m.AGENTS_AWAKE.set(len(self._handles))
        if handle.start_again:  # work arrived while the lease was being given up
            self.start(agent_id)
        if self._saturated and self.free_slots() > 0:
            self._saturated = False
            self.wake()  # a slot freed: the oldest due agent, on any replica, is next

    async def _recover(self, agent_id: str, handle: _Handle, exc: Exception) -> None:
        """An unexpected exception: give the lease up now (a peer, or this replica after a
        backoff, goes on); past the budget, the agent fails with the error in GetAgent."""
        failures = self._failures.get(agent_id, 0) + 1
        self._failures[agent_id] = failures
        lease = handle.lease
        error = f"{type(exc).__name__}: {exc}"[:500]
        try:
            if failures >= self.settings.max_task_failures and lease is not None:
                await self._fail_agent(agent_id, lease, failures, error)
                self._failures.pop(agent_id, None)
                handle.start_again = True  # its failure's effects (children, parent) are due
                return
            if lease is not None:
                await self._agents.release_agent(self.settings.owner, lease, None)
        except Exception:
            log.exception("agent recovery failed", extra={"agent_id": agent_id})
            return  # the lease expires; the claimer goes on
        delay = min(
            self.settings.recovery_backoff_s * 2 ** (failures - 1), self.settings.recovery_backoff_max_s
        )
        self._helper(self._start_later(agent_id, delay), f"agent-recover:{agent_id}")

    async def _fail_agent(self, agent_id: str, lease: AgentLease, failures: int, error: str) -> None:
        now = self._clock()
        detail = f"the agent's task failed {failures} times in a row; last: {error}"
        running: list[str] = []

        def failed(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
            if record is None or record.state.status in (None, AgentStatus.FAILED):
                return []
            running[:] = [record.state.turn.run_id] if record.state.turn else []
            return [aev.failed(aev.FAIL_RECOVERY_EXHAUSTED, detail, now)]

        update = await self._agents.update_agent(agent_id, failed, now=now, fence=lease)
        if update.events:
            self.on_change(agent_id)
        for run_id in running:
            await self._turns.cancel_turn(run_id, aev.FAIL_RECOVERY_EXHAUSTED)
        await self._agents.release_agent(self.settings.owner, lease, None)

    async def _start_later(self, agent_id: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.start(agent_id)

    # ----- sub-runs -----

    def watch_subruns(self, agent_id: str, subruns: Sequence[SubRun]) -> None:
        """Makes sure each sub-run's current attempt is started and watched here until it
        ends (process memory: the agent's `subrun_check_at` recovers a lost watcher)."""
        for sub in subruns:
            if not self._stopping and self._watchers.claim(sub.run_id):
                self._helper(self._watchers.watch(agent_id, sub), f"subrun:{sub.run_id}")

    def _helper(self, job: Coroutine[object, object, None], name: str) -> None:
        task = self._tg.create_task(job, name=name)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)


class _AgentLoop:
    """load → decide → append → act, until the agent releases its lease."""

    def __init__(self, executor: AgentExecutor, agent_id: str, handle: _Handle) -> None:
        self.x = executor
        self.agent_id = agent_id
        self.handle = handle
        assert handle.lease is not None
        self.lease = handle.lease
        # What this task already did for the running turn (deciding again repeats it otherwise).
        self._started: set[str] = set()
        self._canceled: set[str] = set()

    async def run(self) -> None:
        while True:
            self.handle.wakeup.clear()
            decision = await self._decide()
            if decision is None:
                await self.x._agents.release_agent(self.x.settings.owner, self.lease, self.handle.seen_seq)
                return
            if decision.state.stop_due:
                await self._stopped(decision.state)
                continue
            if decision.state.subruns:
                self.x.watch_subruns(self.agent_id, decision.state.subruns)
                if await self._check_subruns(decision.state):
                    continue
            effect = decision.effect
            if isinstance(effect, Release):
                if await self.x._agents.release_agent(
                    self.x.settings.owner, self.lease, self.handle.seen_seq
                ):
                    return
                continue  # something arrived since: decide again
            if isinstance(effect, Hold):
                await self._wait(self._seconds_until(effect.until))
                continue
            if await self._turn(decision.state, effect):
                return  # the turn waits for a human: task and lease given up

    async def _append(self, decider: Callable[[AgentState], Sequence[NewEvent]]) -> AgentState | None:
        """Appends (fenced) what `decider` makes of the current state; the state after."""
        now = self.x._clock()

        def decide_on(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
            return [] if record is None else decider(record.state)

        update = await self.x._agents.update_agent(self.agent_id, decide_on, now=now, fence=self.lease)
        if update.events:
            self.x.on_change(self.agent_id)
        if update.record is None:
            return None
        self.handle.seen_seq = update.record.state.last_seq
        return update.record.state

    async def _stopped(self, state: AgentState) -> None:
        """Carries out the pause's or failure's effects, then records them done (with the
        parent's restart, if it decided one): exactly once, a crash in between repeats them."""
        report_id = state.stop_due
        action = await self.x._turns.agent_stopped(state)
        now = self.x._clock()

        def done(current: AgentState) -> Sequence[NewEvent]:
            if current.stop_due != report_id:
                return []
            out = [aev.reported(report_id, action)]
            if action == aev.ACT_RESTART_CHILD and current.status in (AgentStatus.PAUSED, AgentStatus.FAILED):
                out.append(aev.resumed(aev.RESUME_BY_PARENT, now))
            return out

        await self._append(done)

    async def _check_subruns(self, state: AgentState) -> bool:
        """When the sub-runs' check is due: they are watched here now, so the next check
        waits longer (doubling). True when it was recorded (decide again)."""
        now = self.x._clock()
        if state.subrun_check_at is None or state.subrun_check_at > now:
            return False
        first = SUBRUN_CHECK_FIRST.total_seconds()
        wait_s = min(first * 2 ** min(state.subrun_checks, 20), self.x.settings.subrun_check_max_s)

        def checked(current: AgentState) -> Sequence[NewEvent]:
            due = current.subrun_check_at
            if not current.subruns or due is None or due > now:
                return []
            return [aev.subruns_checked(now, now + timedelta(seconds=wait_s))]

        return await self._append(checked) is not None

    async def _decide(self) -> Decision | None:
        now = self.x._clock()
        made: list[Decision] = []

        def decider(record: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
            if record is None:
                return []
            made.append(decide(record.state, now))
            return made[-1].events

        update = await self.x._agents.update_agent(self.agent_id, decider, now=now, fence=self.lease)
        if update.events:
            self.x.on_change(self.agent_id)
        if update.record is None or not made:
            return None
        self.handle.seen_seq = update.record.state.last_seq
        return made[-1]

    async def _turn(self, state: AgentState, effect: RunTurn) -> bool:
        """Runs the turn until it ends, `effect.until`, or the stream moves; True when the turn
        waits for a human and the task gave its lease up."""
        run_id = effect.turn.run_id
        try:
            if run_id not in self._started:
                await self.x._turns.start_turn(state, run_id)
                self._started.add(run_id)
        except (FencedOff, DependencyUnavailable):
            raise
        except DomainError as err:
            # The run cannot exist (an unknown model, a thread of another user): the turn
            # failed, and supervision decides what follows (such failures are not restarted).
            await self._finish(run_id, TURN_FAILED, f"start_{err.reason.lower()}", err.message, ())
            return False
        if effect.cancel_reason and run_id not in self._canceled:
            await self.x._turns.cancel_turn(run_id, effect.cancel_reason)
            self._canceled.add(run_id)
        record = await self._wait_run(run_id, effect.until)
        if record is None:
            return False  # the deadline, a timer, or the stream moved: decide again
        if record.status == RunStatus.WAITING:
            return await self._wait_for_human(run_id)
        if effect.turn.waiting_until is not None:
            await self._append(lambda s: turn_moved(s, run_id, self.x._clock()))
        calls = turn_tool_calls(await self.x._runs.read_events(run_id, 0, limit=100_000))
        # Told before the end is recorded: a crash in between tells again (deduplicated by frame id).
        await self.x._turns.turn_ended(state, run_id, record.status.value, record.error_message)
        await self._finish(run_id, record.status.value, record.finish_reason, record.error_message, calls)
        return False

    async def _wait_for_human(self, run_id: str) -> bool:
        """The turn's run waits for a human: record it (the row is no longer due but at the
        recheck), look once more that the run did not move meanwhile, and give the lease up."""
        now = self.x._clock()
        recheck = now + timedelta(seconds=self.x.settings.waiting_recheck_s)

        def waiting(current: AgentState) -> Sequence[NewEvent]:
            turn = current.turn
            if turn is None or turn.run_id != run_id:
                return []
            if turn.waiting_until is not None and turn.waiting_until > now:
                return []  # recorded already, and its recheck is still ahead
            return [aev.turn_waiting(run_id, now, recheck)]

        if await self._append(waiting) is None:
            return False
        record = await self.x._runs.get_run(run_id)
        if record is None or record.status != RunStatus.WAITING:  # moved before we recorded it
            await self._append(lambda s: turn_moved(s, run_id, self.x._clock()))
            return False
        return await self.x._agents.release_agent(self.x.settings.owner, self.lease, self.handle.seen_seq)

    async def _finish(
        self, run_id: str, outcome: str, reason: str, error_message: str, calls: tuple[dict[str, str], ...]
    ) -> None:
        """Records how the turn's run ended (nothing when the turn is no longer running)."""
        now = self.x._clock()

        def finished(current: AgentRecord | None, _: Mapping[str, str]) -> Sequence[NewEvent]:
            if current is None or current.state.turn is None or current.state.turn.run_id != run_id:
                return []
            return [
                finish_turn(
                    current.state,
                    outcome,
                    finished_at=now,
                    reason=reason,
                    error_message=error_message,
                    tool_calls=calls,
                )
            ]

        update = await self.x._agents.update_agent(self.agent_id, finished, now=now, fence=self.lease)
        if update.events:
            self.x.on_change(self.agent_id)
        if update.record is not None:
            self.handle.seen_seq = update.record.state.last_seq

    async def _wait_run(self, run_id: str, until: datetime) -> RunRecord | None:
        """The run's record once it ended or waits for a human; None at `until` or when the
        agent's stream moved.
        The run row is read again only when its stream says it finished, lags (another
        replica executes it), or every `run_poll_s`."""
        with self.x._broker.subscribe(run_id) as sub:
            while True:
                record = await self.x._runs.get_run(run_id)
                if record is not None and (record.status.is_terminal or record.status == RunStatus.WAITING):
                    return record
                if record is not None:
                    sub.position = record.last_seq
                while True:
                    remaining = self._seconds_until(until)
                    if remaining <= 0 or self.handle.wakeup.is_set():
                        return None
                    timeout = min(remaining, self.x.settings.run_poll_s)
                    woke = await _first([sub.wait(timeout), self.handle.wakeup.wait()], timeout)
                    if _moved_on(sub.drain()) or sub.lagging or not woke:
                        break
                sub.lagging = False

    def _seconds_until(self, until: datetime) -> float:
        return (until - self.x._clock()).total_seconds()

    async def _wait(self, seconds: float) -> None:
        """Until `seconds` passed or the agent's stream moved (the loop clears the wakeup)."""
        if seconds > 0:
            await _first([self.handle.wakeup.wait()], seconds)


def _moved_on(events: Sequence[object]) -> bool:
    """The run ended, or asked a human (its row then says WAITING)."""
    return any(getattr(e, "type", "") in (RUN_FINISHED, *WAIT_TYPES) for e in events)


async def _first(waits: Sequence[Awaitable[object]], timeout_s: float) -> bool:
    """Waits for the first of `waits` (or the timeout); True unless it timed out."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, timeout=max(timeout_s, 0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
    return bool(done)
