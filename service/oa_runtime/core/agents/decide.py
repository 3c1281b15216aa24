"""What the engine does next for an agent, given its state and the time.

`decide(state, now)` returns the events to append (in one fenced append) and one effect:
- `RunTurn`: make sure the turn's run exists (StartRun with the turn's run id is idempotent),
  cancel it if `cancel_reason` is set, and wait for its end or until `until` (then decide again);
- `Hold`: keep the lease, decide again at `until` or when an event arrives (a short backoff);
- `Release`: drop the task and the lease; the claimer wakes the agent at `wake_at` (None:
  only a frame or a request wakes it).
The engine appends the events and only then acts. Deciding again after a crash, on the state
those events made, gives the same effect, so a kill -9 anywhere neither loses nor repeats work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..events import NewEvent
from . import events as ev
from .schedules import next_firing, schedule_events, timer_frame_id
from .state import AgentState, AgentStatus, Turn, apply, turn_run_id
from .supervision import loop_warning_text, supervise_failure, supervise_loops

MAX_FRAMES_PER_TURN = 64  # a turn consumes at most this many pending frames (a prefix)
# A backoff this short keeps the lease (Hold); a longer one puts the agent to sleep.
HOLD_AT_MOST = timedelta(seconds=2)
TIMER_LATE_AFTER = timedelta(seconds=60)  # a one-shot timer firing later than this is "late"
CANCEL_RECHECK = timedelta(seconds=10)  # how often a turn being canceled is looked at again


@dataclass(frozen=True, slots=True)
class RunTurn:
    turn: Turn
    until: datetime  # the deadline, or an earlier timer due while the turn runs
    cancel_reason: str = ""


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime


@dataclass(frozen=True, slots=True)
class Release:
    wake_at: datetime | None


Effect = RunTurn | Hold | Release


@dataclass(frozen=True, slots=True)
class Decision:
    events: tuple[NewEvent, ...]
    effect: Effect
    state: AgentState  # after the events


class _Builder:
    def __init__(self, state: AgentState) -> None:
        self.state = state
        self.events: list[NewEvent] = []

    def emit(self, events: Iterable[NewEvent]) -> None:
        for event in events:
            self.state = apply(self.state, event)
            self.events.append(event)

    def done(self, effect: Effect) -> Decision:
        return Decision(tuple(self.events), effect, self.state)


def decide(state: AgentState, now: datetime) -> Decision:
    b = _Builder(state)
    if state.status in (None, AgentStatus.FAILED):
        return b.done(Release(None))
    if state.status != AgentStatus.PAUSED:  # a paused agent's timers wait; catch-up applies later
        b.emit(_firings(state, now))
    s = b.state
    if s.status == AgentStatus.RUNNING:
        return _running(b, now)
    if s.status == AgentStatus.PAUSED:
        assert s.pause is not None
        if s.pause.until is None or now < s.pause.until:
            return b.done(Release(s.pause.until))
        b.emit([ev.resumed(ev.RESUME_HALF_OPEN, now)])
        b.emit(_firings(b.state, now))
    if b.state.escalation is not None and b.state.status == AgentStatus.AWAKE:
        # A child escalated while the turn ran: the agent handles it as its own failure.
        e = b.state.escalation
        b.emit([ev.paused(e.reason, e.detail, now)])
    if b.state.unsupervised_failure and b.state.status != AgentStatus.PAUSED:
        b.emit(supervise_failure(b.state, now))
    if b.state.status == AgentStatus.AWAKE:
        b.emit(supervise_loops(b.state, now))
    s = b.state
    if s.status in (AgentStatus.PAUSED, AgentStatus.FAILED):
        return b.done(Release(s.pause.until if s.pause else None))
    if s.status == AgentStatus.SLEEPING:
        reason = _wake_reason(s, b.events, now)
        if not reason:
            return b.done(Release(wake_at(s, now)))
        b.emit([ev.woken(reason, now)])
    return _awake(b, now)


def _running(b: _Builder, now: datetime) -> Decision:
    turn = b.state.turn
    assert turn is not None
    if not turn.cancel_reason and now >= turn.deadline:
        detail = f"the turn ran past its deadline {ev.ts(turn.deadline)}"
        b.emit(
            [
                ev.supervision_decision(
                    ev.ACT_CANCEL_TURN, ev.CANCEL_DEADLINE, run_id=turn.run_id, at=now, detail=detail
                )
            ]
        )
        turn = b.state.turn
        assert turn is not None
    # Once a cancel is asked the deadline is behind us: look again a little later, not at once.
    recheck = now + CANCEL_RECHECK if turn.cancel_reason else turn.deadline
    due = _next_due(b.state, now)
    until = min(recheck, due) if due else recheck
    return b.done(RunTurn(turn, until, turn.cancel_reason))


def _awake(b: _Builder, now: datetime) -> Decision:
    s = b.state
    if s.sleep_requested:
        b.emit([ev.slept(ev.SLEEP_REQUESTED_BY_CALLER, now, wake_at(s, now))])
        return b.done(Release(wake_at(b.state, now)))
    retry = s.retry
    if retry is not None and retry.not_before is not None and now < retry.not_before:
        if retry.not_before - now <= HOLD_AT_MOST:
            return b.done(Hold(retry.not_before))
        b.emit([ev.slept(ev.SLEEP_BACKOFF, now, retry.not_before)])
        return b.done(Release(wake_at(b.state, now)))
    if retry is not None:
        ids = [f.frame_id for f in retry.frames]
        b.emit([_turn_started(s, ids, retry.attempt, now, retry.failed_run_id)])
    elif s.pending:
        ids = [f.frame_id for f in s.pending[:MAX_FRAMES_PER_TURN]]
        b.emit([_turn_started(s, ids, 1, now, "")])
    else:
        b.emit([ev.slept(ev.SLEEP_IDLE, now, wake_at(s, now))])
        return b.done(Release(wake_at(b.state, now)))
    return _running(b, now)


def _turn_started(
    s: AgentState, frame_ids: list[str], attempt: int, now: datetime, retry_of: str
) -> NewEvent:
    assert s.spec is not None
    number = s.turns + 1
    warning = s.loop_warning
    text = loop_warning_text(warning.kind, warning.detail) if warning and not warning.delivered else ""
    return ev.turn_started(
        number,
        turn_run_id(s.agent_id, number),
        frame_ids,
        model=s.model,
        attempt=attempt,
        started_at=now,
        deadline=now + s.spec.supervision.turn_deadline,
        loop_warning=text,
        retry_of_run_id=retry_of,
    )


def _wake_reason(s: AgentState, emitted: list[NewEvent], now: datetime) -> str:
    if any(e.type == ev.TIMER_FIRED for e in emitted):
        return ev.WAKE_TIMER
    if s.hold:
        return ""
    if s.retry is not None and (s.retry.not_before is None or now >= s.retry.not_before):
        return ev.WAKE_RETRY
    if s.pending:
        return ev.WAKE_FRAME
    return ""


def _firings(s: AgentState, now: datetime) -> list[NewEvent]:
    assert s.spec is not None
    out: list[NewEvent] = []
    for schedule in s.spec.schedules:
        out += schedule_events(schedule, s.mark_of(schedule.schedule_id), now)
    for timer in sorted(s.timers, key=lambda t: (t.fire_at, t.timer_id)):
        if timer.fire_at <= now:
            frame_id = timer_frame_id(timer.timer_id, timer.set_seq)
            late = now - timer.fire_at > TIMER_LATE_AFTER
            out.append(
                ev.timer_fired(
                    ev.SOURCE_TIMER, timer.timer_id, timer.fire_at, frame_id, late=late, text=timer.text
                )
            )
    return out


def _next_due(s: AgentState, now: datetime) -> datetime | None:
    """The earliest schedule instant or timer after now."""
    assert s.spec is not None
    times = [t.fire_at for t in s.timers]
    times += [next_firing(x, max(s.mark_of(x.schedule_id), now)) for x in s.spec.schedules]
    return min(times) if times else None


def turn_moved(s: AgentState, run_id: str, now: datetime) -> list[NewEvent]:
    """The agent's turn `run_id`, waiting for a human, moved again (nothing otherwise)."""
    turn = s.turn
    if turn is None or turn.run_id != run_id or turn.waiting_until is None:
        return []
    return [ev.turn_moved(run_id, now)]


def wake_at(s: AgentState, now: datetime) -> datetime | None:
    """When a sleeping agent must be woken even if no frame arrives (None: never): also when
    its running sub-runs are to be looked at again (their watchers may be gone with a replica)."""
    times = [t for t in [s.subrun_check_at] if t is not None]
    if s.status == AgentStatus.PAUSED:
        times += [s.pause.until] if s.pause and s.pause.until else []
        return min(times) if times else None
    times += [t for t in [_next_due(s, now)] if t is not None]
    if s.retry is not None and s.retry.not_before is not None and not s.hold:
        times.append(s.retry.not_before)
    return min(times) if times else None


def claim_at(s: AgentState, now: datetime) -> datetime | None:
    """When the agent needs an executor (the agent row's `wake_at`, which the claimer scans):
    now while it is awake or running (a dead holder's lease expires and a peer goes on), now
    for a sleeping agent with work it may do, else when a timer, schedule, restart or an open
    circuit's cool-down falls due (None: only a frame or WakeAgent wakes it)."""
    if s.stop_due:
        return now  # a pause's or failure's effects are due (its outbox)
    if s.status in (None, AgentStatus.FAILED):
        return None
    if s.status == AgentStatus.RUNNING and s.turn is not None and s.turn.waiting_until is not None:
        # The turn waits for a human: nothing to hold until the run moves (which sets the
        # row due), the deadline, a timer, or the recheck.
        due = [t for t in (_next_due(s, now), s.subrun_check_at) if t is not None]
        return min([s.turn.waiting_until, s.turn.deadline, *due])
    if s.status in (AgentStatus.AWAKE, AgentStatus.RUNNING):
        return now
    restartable = s.unsupervised_failure or (s.retry is not None and s.retry.not_before is None)
    if s.status == AgentStatus.SLEEPING and not s.hold and (s.pending or restartable):
        return now
    return wake_at(s, now)
