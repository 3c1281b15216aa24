"""The agent state machine: an agent's state is the fold of its stream's events.

SLEEPING (holds nothing) -> AWAKE (an executor holds its lease) -> RUNNING (a turn, which is a
run on the agent's thread) -> AWAKE -> ... ; PAUSED when supervision stopped it (a human, or
an open circuit's cool-down, resumes it); FAILED is the end.

The inbox: `agent.frame_received` and `agent.timer_fired` add frames to `pending`, in order;
`agent.turn_started` consumes a prefix of `pending`, so a frame is consumed once and in order.
A frame id already pending, in the running or retried turn, or among the last
`FRAME_ID_MEMORY` consumed ones is refused here; the store's unique (agent, frame id) index is
the guard for older ids, whose bodies the state does not keep (an agent lives for weeks).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..errors import IllegalTransition
from ..events import Event, NewEvent
from . import events as ev
from .loops import CallDigest, detect_loop
from .spec import AgentSpec

CHILD_REPORT_MEMORY = 32  # children's reports whose decisions the fold remembers (retries see them)
SUBRUN_CHECK_FIRST = timedelta(seconds=30)  # running sub-runs are looked at again after this (doubling)
FRAME_ID_MEMORY = 32  # consumed frame ids the fold still recognises as duplicates (the store's index: all)
# Frames from outside the agent: a turn that consumes one starts loop detection afresh.
OUTSIDE_KINDS = frozenset({ev.FRAME_USER_PROMPT, ev.FRAME_SIGNAL, ev.FRAME_CRON_TICK, ev.FRAME_TOOL_RESULT})


class AgentStatus(enum.StrEnum):
    SLEEPING = "sleeping"
    AWAKE = "awake"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # the next turn is a trial: success closes, failure opens again


@dataclass(frozen=True, slots=True)
class PendingFrame:
    frame_id: str
    kind: str
    digest: str
    seq: int  # the event holding the frame's body (text, data): the turn reads it from the log


@dataclass(frozen=True, slots=True)
class Turn:
    number: int
    run_id: str
    frames: tuple[PendingFrame, ...]
    model: str
    attempt: int  # 1, or 2+ when supervision restarted the frames of a failed turn
    started_at: datetime
    deadline: datetime
    cancel_reason: str = ""  # interrupted | rollback | deadline_exceeded, once a cancel is asked
    loop_warning: str = ""  # told to the model in this turn's context
    # The turn's run waits for a human (approval, question): the agent holds no task and no
    # lease; it is claimed again when the run moves, at the deadline, or at this recheck.
    waiting_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubRun:
    """A sub-run in flight: child work as a run on its own thread, started by the delegate
    tool; its result comes back as one tool_result frame."""

    sub_id: str
    run_id: str  # the current attempt's run
    thread_id: str
    attempt: int
    seq: int  # the agent.subrun_started event (its text and instructions build the request)


@dataclass(frozen=True, slots=True)
class Retry:
    """A failed turn's frames, to run again (attempt `attempt`) not before `not_before`."""

    frames: tuple[PendingFrame, ...]
    attempt: int
    failed_run_id: str
    not_before: datetime | None = None  # None until supervision decided the restart


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    detail: str
    at: datetime
    until: datetime | None = None  # resumes by itself then (an open circuit); else a human


@dataclass(frozen=True, slots=True)
class LoopWarning:
    kind: str
    detail: str
    issued_after_turn: int
    delivered: bool = False  # told to a turn (in its context) already


@dataclass(frozen=True, slots=True)
class Breaker:
    state: BreakerState = BreakerState.CLOSED
    trips: int = 0  # trips in a row without a good turn
    failures: tuple[datetime, ...] = ()  # failed turns within the window


@dataclass(frozen=True, slots=True)
class Timer:
    timer_id: str
    fire_at: datetime
    set_seq: int  # makes each setting's firing a frame id of its own
    text: str = ""


@dataclass(frozen=True, slots=True)
class AgentState:
    spec: AgentSpec | None = None  # None before agent.created
    status: AgentStatus | None = None
    last_seq: int = 0
    created_at: datetime | None = None
    pending: tuple[PendingFrame, ...] = ()
    recent_frames: tuple[tuple[str, str], ...] = ()  # (frame id, digest) of the last consumed
    frames_received: int = 0
    turns: int = 0  # turns started
    turn: Turn | None = None  # the running turn
    last_outcome: str = ""  # of the latest finished turn
    hold: bool = False  # slept on request: pending frames alone do not wake it
    sleep_requested: bool = False  # sleep once the running turn ends
    retry: Retry | None = None
    unsupervised_failure: str = ""  # run id of a failed turn supervision has not decided on
    last_failure_reason: str = ""
    restarts: tuple[datetime, ...] = ()  # restart decisions (for the restart intensity)
    consecutive_failures: int = 0  # failed turns in a row on the current model
    model_index: int = 0  # rung of the model ladder
    calls: tuple[CallDigest, ...] = ()  # recent tool calls, for loop detection
    loop_warning: LoopWarning | None = None
    breaker: Breaker = field(default_factory=Breaker)
    pause: Pause | None = None
    failure_reason: str = ""
    error_message: str = ""
    schedule_marks: tuple[tuple[str, datetime], ...] = ()  # instants up to here are settled
    timers: tuple[Timer, ...] = ()
    subruns: tuple[SubRun, ...] = ()
    subrun_check_at: datetime | None = None  # when running sub-runs are looked at again
    subrun_checks: int = 0  # checks that found them running (the next one waits longer)
    # This agent as a supervisor (one_for_one): its restarts of children within the window,
    # and the decisions on its children's latest reports, (report id, action).
    child_restarts: tuple[datetime, ...] = ()
    child_reports: tuple[tuple[str, str], ...] = ()
    escalation: Pause | None = None  # a child escalated while a turn ran: pause once it ends
    # The effects of this agent's pause or failure not yet carried out (an outbox, durable):
    # its sub-runs canceled, its children put to sleep, its parent told. The report's id.
    stop_due: str = ""

    @property
    def agent_id(self) -> str:
        return self.spec.agent_id if self.spec else ""

    @property
    def model(self) -> str:
        return self.spec.model_at(self.model_index) if self.spec else ""

    def mark_of(self, schedule_id: str) -> datetime:
        mark = next((m for s, m in self.schedule_marks if s == schedule_id), None)
        if mark is None:
            raise IllegalTransition(f"agent has no schedule {schedule_id!r}")
        return mark

    def knows_frame(self, frame_id: str) -> str | None:
        """The digest of a frame the fold still holds with this id, if any."""
        for f in self._held_frames():
            if f.frame_id == frame_id:
                return f.digest
        return next((d for i, d in self.recent_frames if i == frame_id), None)

    def _held_frames(self) -> tuple[PendingFrame, ...]:
        held = self.pending
        if self.turn:
            held += self.turn.frames
        if self.retry:
            held += self.retry.frames
        return held


def turn_run_id(agent_id: str, turn: int) -> str:
    """Each turn is a run with this id: deterministic, so starting it again is idempotent."""
    return f"{agent_id}:turn:{turn}"


def apply(state: AgentState, event: Event | NewEvent, seq: int | None = None) -> AgentState:
    """Returns the state after `event`, or raises IllegalTransition."""
    if isinstance(event, Event):
        seq = event.seq
    new_seq = seq if seq is not None else state.last_seq + 1
    t, p = event.type, event.payload
    if t == ev.AGENT_CREATED:
        if state.status is not None:
            raise IllegalTransition("agent.created must be the first event")
        return _created(p, new_seq)
    if state.status is None:
        raise IllegalTransition(f"{t} before agent.created")
    if state.status == AgentStatus.FAILED and not _after_failure(t, p):
        raise IllegalTransition(f"{t} after the agent failed")
    handler = _HANDLERS.get(t)
    if handler is None:
        raise IllegalTransition(f"unknown agent event type {t!r}")
    return handler(replace(state, last_seq=new_seq), p)


def _after_failure(event_type: str, p: Any) -> bool:
    """What a failed agent still records: its failure's effects done, a parent's restart, and
    the ends of the sub-runs its failure canceled."""
    if event_type == ev.RESUMED:
        return bool(p.get("by") == ev.RESUME_BY_PARENT)
    return event_type in (ev.REPORTED, ev.SUBRUN_FINISHED)


def fold(events: list[Event], start: AgentState | None = None) -> AgentState:
    state = start or AgentState()
    for event in events:
        if event.seq > state.last_seq:
            state = apply(state, event)
    return state


def _created(p: Any, seq: int) -> AgentState:
    spec = AgentSpec.from_json(p["spec"])
    created_at = ev.parse_ts(p["created_at"])
    marks = tuple((s.schedule_id, created_at) for s in spec.schedules)
    return AgentState(
        spec=spec, status=AgentStatus.SLEEPING, last_seq=seq, created_at=created_at, schedule_marks=marks
    )


def _add_frame(s: AgentState, frame: PendingFrame) -> AgentState:
    if s.knows_frame(frame.frame_id) is not None:
        raise IllegalTransition(f"frame {frame.frame_id!r} was already received")
    # A frame that arrives while the agent sleeps wakes it, even one put to sleep on request.
    hold = s.hold and s.status != AgentStatus.SLEEPING
    return replace(s, pending=(*s.pending, frame), frames_received=s.frames_received + 1, hold=hold)


def _frame_received(s: AgentState, p: Any) -> AgentState:
    if p["kind"] not in ev.FRAME_KINDS:
        raise IllegalTransition(f"unknown frame kind {p['kind']!r}")
    return _add_frame(s, PendingFrame(p["frame_id"], p["kind"], p["digest"], s.last_seq))


def _timer_fired(s: AgentState, p: Any) -> AgentState:
    instant = ev.parse_ts(p["instant"])
    source_id = p["source_id"]
    if p["source"] == ev.SOURCE_SCHEDULE:
        if instant <= s.mark_of(source_id):
            raise IllegalTransition(f"schedule {source_id!r} already settled {p['instant']}")
        s = _set_mark(s, source_id, instant)
        kind = ev.FRAME_CRON_TICK
    else:
        timer = next((x for x in s.timers if x.timer_id == source_id), None)
        if timer is None or timer.fire_at != instant:
            raise IllegalTransition(f"timer {source_id!r} is not set for {p['instant']}")
        s = replace(s, timers=tuple(x for x in s.timers if x.timer_id != source_id))
        kind = ev.FRAME_TIMER
    digest = ev.frame_digest(kind, p.get("text", ""), None, p["instant"])
    return _add_frame(s, PendingFrame(p["frame_id"], kind, digest, s.last_seq))


def _firings_skipped(s: AgentState, p: Any) -> AgentState:
    through = ev.parse_ts(p["through"])
    if through <= s.mark_of(p["schedule_id"]):
        raise IllegalTransition(f"schedule {p['schedule_id']!r} already settled {p['through']}")
    return _set_mark(s, p["schedule_id"], through)


def _set_mark(s: AgentState, schedule_id: str, mark: datetime) -> AgentState:
    return replace(s, schedule_marks=tuple((i, mark if i == schedule_id else m) for i, m in s.schedule_marks))


def _timer_set(s: AgentState, p: Any) -> AgentState:
    timer = Timer(p["timer_id"], ev.parse_ts(p["fire_at"]), s.last_seq, p.get("text", ""))
    others = tuple(x for x in s.timers if x.timer_id != timer.timer_id)
    return replace(s, timers=(*others, timer))  # setting an id again moves that timer


def _timer_canceled(s: AgentState, p: Any) -> AgentState:
    if all(x.timer_id != p["timer_id"] for x in s.timers):
        raise IllegalTransition(f"timer {p['timer_id']!r} is not set")
    return replace(s, timers=tuple(x for x in s.timers if x.timer_id != p["timer_id"]))


def _turn_started(s: AgentState, p: Any) -> AgentState:
    _require(s, AgentStatus.AWAKE, "a turn starts")
    if int(p["turn"]) != s.turns + 1 or p["run_id"] != turn_run_id(s.agent_id, s.turns + 1):
        raise IllegalTransition(f"turn {p['turn']} ({p['run_id']}) is not the agent's next turn")
    ids = tuple(p["frame_ids"])
    attempt = int(p["attempt"])
    if attempt > 1:
        if s.retry is None or tuple(f.frame_id for f in s.retry.frames) != ids or attempt != s.retry.attempt:
            raise IllegalTransition("a restarted turn must run the failed turn's frames, next attempt")
        frames, pending = s.retry.frames, s.pending
    else:
        if not ids or tuple(f.frame_id for f in s.pending[: len(ids)]) != ids:
            raise IllegalTransition("a turn consumes a non-empty prefix of the pending frames, in order")
        frames, pending = s.pending[: len(ids)], s.pending[len(ids) :]
    started_at = ev.parse_ts(p["started_at"])
    deadline = ev.parse_ts(p["deadline"])
    warning_text = p.get("loop_warning", "")
    turn = Turn(s.turns + 1, p["run_id"], frames, p["model"], attempt, started_at, deadline, "", warning_text)
    calls = () if any(f.kind in OUTSIDE_KINDS for f in frames) and attempt == 1 else s.calls
    warning = s.loop_warning
    if warning and warning_text:
        warning = replace(warning, delivered=True)
    return replace(
        s,
        status=AgentStatus.RUNNING,
        turns=turn.number,
        turn=turn,
        pending=pending,
        retry=None if attempt > 1 else s.retry,
        calls=calls,
        loop_warning=warning,
    )


def _input_policy_applied(s: AgentState, p: Any) -> AgentState:
    if p["outcome"] != ev.OUTCOME_CANCEL_REQUESTED:
        return s  # queued, rejected, already canceling: recorded, nothing changes
    if s.turn is None or s.turn.run_id != p["run_id"]:
        raise IllegalTransition(f"no running turn {p['run_id']!r} to cancel")
    reason = ev.CANCEL_ROLLBACK if p["policy"] == ev.CANCEL_ROLLBACK else ev.CANCEL_INTERRUPTED
    return replace(s, turn=replace(s.turn, cancel_reason=s.turn.cancel_reason or reason))


def _turn_finished(s: AgentState, p: Any) -> AgentState:
    turn = s.turn
    if s.status != AgentStatus.RUNNING or turn is None or turn.run_id != p["run_id"]:
        raise IllegalTransition(f"turn {p['run_id']!r} is not running")
    s = replace(s, status=AgentStatus.AWAKE, turn=None, last_outcome=p["outcome"])
    s = _record_calls(s, turn.number, p.get("tool_calls", ()))
    pending = (*turn.frames, *s.pending) if p.get("rolled_back") else s.pending
    recent = s.recent_frames if p.get("rolled_back") else _remember(s.recent_frames, turn.frames)
    s = replace(s, pending=pending, recent_frames=recent)
    if failure_of(turn, p):
        failures = (*s.breaker.failures, ev.parse_ts(p["finished_at"]))
        return replace(
            s,
            unsupervised_failure=turn.run_id,
            last_failure_reason=failure_of(turn, p),
            consecutive_failures=s.consecutive_failures + 1,
            breaker=replace(s.breaker, failures=failures[-64:]),
            retry=Retry(turn.frames, turn.attempt + 1, turn.run_id),
        )
    if p["outcome"] == ev.TURN_SUCCEEDED:
        breaker = s.breaker
        if breaker.state == BreakerState.HALF_OPEN:
            breaker = Breaker()
        return replace(s, consecutive_failures=0, model_index=0, breaker=replace(breaker, trips=0))
    return s


def failure_of(turn: Turn, p: Any) -> str:
    """Why the turn failed ("" if it did not): its run failed, or it was cut at its deadline."""
    if p["outcome"] == ev.TURN_FAILED:
        return str(p.get("reason") or "failed")
    if p["outcome"] == ev.TURN_CANCELED and turn.cancel_reason == ev.CANCEL_DEADLINE:
        return ev.CANCEL_DEADLINE
    return ""


def _remember(
    recent: tuple[tuple[str, str], ...], frames: tuple[PendingFrame, ...]
) -> tuple[tuple[str, str], ...]:
    known = {i for i, _ in recent}
    return (*recent, *((f.frame_id, f.digest) for f in frames if f.frame_id not in known))[-FRAME_ID_MEMORY:]


def _record_calls(s: AgentState, turn: int, calls: Any) -> AgentState:
    assert s.spec is not None
    limits = s.spec.supervision.loops
    new = tuple(CallDigest(turn, c["tool_name"], c["input_sha256"], c["output_sha256"]) for c in calls)
    history = (*s.calls, *new)[-limits.window :]
    # The model broke out of the loop it was warned about: the warning is spent.
    warning = s.loop_warning if detect_loop(history, limits) else None
    return replace(s, calls=history, loop_warning=warning)


def _sleep_requested(s: AgentState, p: Any) -> AgentState:
    if s.status == AgentStatus.PAUSED:
        raise IllegalTransition("a paused agent is not put to sleep")
    if s.status == AgentStatus.SLEEPING:
        return replace(s, hold=True)
    return replace(s, sleep_requested=True)


def _slept(s: AgentState, p: Any) -> AgentState:
    _require(s, AgentStatus.AWAKE, "an agent sleeps")
    hold = p["reason"] == ev.SLEEP_REQUESTED_BY_CALLER
    return replace(s, status=AgentStatus.SLEEPING, sleep_requested=False, hold=hold)


def _woken(s: AgentState, p: Any) -> AgentState:
    _require(s, AgentStatus.SLEEPING, "an agent wakes")
    return replace(s, status=AgentStatus.AWAKE, hold=False)


def _paused(s: AgentState, p: Any) -> AgentState:
    if s.status not in (AgentStatus.AWAKE, AgentStatus.SLEEPING):
        raise IllegalTransition(f"an agent pauses only when not running, not {s.status}")
    until = ev.parse_ts(p["until"]) if p.get("until") else None
    pause = Pause(p["reason"], p.get("detail", ""), ev.parse_ts(p["at"]), until)
    breaker = s.breaker
    if p["reason"] == ev.PAUSE_CIRCUIT_OPEN:
        breaker = replace(breaker, state=BreakerState.OPEN, trips=breaker.trips + 1, failures=())
    return replace(
        s,
        status=AgentStatus.PAUSED,
        pause=pause,
        breaker=breaker,
        sleep_requested=False,
        escalation=None,
        stop_due=f"child:{s.agent_id}:paused:{s.last_seq}",
    )


def _resumed(s: AgentState, p: Any) -> AgentState:
    if s.status == AgentStatus.FAILED:  # a parent's restart (one_for_one): a fresh start
        s = replace(s, status=AgentStatus.PAUSED, failure_reason="", error_message="", breaker=Breaker())
    _require(s, AgentStatus.PAUSED, "an agent resumes")
    breaker = s.breaker
    if breaker.state == BreakerState.OPEN:
        breaker = replace(breaker, state=BreakerState.HALF_OPEN)
    # A fresh start: the restart intensity, loop history and warning begin again.
    return replace(
        s, status=AgentStatus.AWAKE, pause=None, restarts=(), calls=(), loop_warning=None, breaker=breaker
    )


def _failed(s: AgentState, p: Any) -> AgentState:
    return replace(
        s,
        status=AgentStatus.FAILED,
        failure_reason=p["reason"],
        error_message=p.get("error_message", ""),
        stop_due=f"child:{s.agent_id}:failed:{s.last_seq}",
    )


def _reported(s: AgentState, p: Any) -> AgentState:
    if not s.stop_due or p["report_id"] != s.stop_due:
        raise IllegalTransition(f"report {p['report_id']!r} is not due")
    return replace(s, stop_due="")


def _subrun_started(s: AgentState, p: Any) -> AgentState:
    if any(x.sub_id == p["sub_id"] for x in s.subruns):
        raise IllegalTransition(f"sub-run {p['sub_id']!r} was already started")
    sub = SubRun(p["sub_id"], p["run_id"], p["thread_id"], 1, s.last_seq)
    check_at = s.subrun_check_at or ev.parse_ts(p["at"]) + SUBRUN_CHECK_FIRST
    return replace(s, subruns=(*s.subruns, sub), subrun_check_at=check_at)


def _subrun_finished(s: AgentState, p: Any) -> AgentState:
    if all(x.sub_id != p["sub_id"] for x in s.subruns):
        raise IllegalTransition(f"no sub-run {p['sub_id']!r} is running")
    subruns = tuple(x for x in s.subruns if x.sub_id != p["sub_id"])
    if subruns:
        return replace(s, subruns=subruns)
    return replace(s, subruns=(), subrun_check_at=None, subrun_checks=0)


def _subruns_checked(s: AgentState, p: Any) -> AgentState:
    return replace(s, subrun_check_at=ev.parse_ts(p["next_check_at"]), subrun_checks=s.subrun_checks + 1)


def _turn_waiting(s: AgentState, p: Any) -> AgentState:
    if s.turn is None or s.turn.run_id != p["run_id"]:
        raise IllegalTransition(f"turn {p['run_id']!r} is not running")
    return replace(s, turn=replace(s.turn, waiting_until=ev.parse_ts(p["recheck_at"])))


def _turn_moved(s: AgentState, p: Any) -> AgentState:
    if s.turn is None or s.turn.run_id != p["run_id"] or s.turn.waiting_until is None:
        raise IllegalTransition(f"turn {p['run_id']!r} is not waiting")
    return replace(s, turn=replace(s.turn, waiting_until=None))


def _child_decision(s: AgentState, p: Any) -> AgentState:
    """This agent, as a supervisor, decided on a child's failure (core/agents/children.py)."""
    assert s.spec is not None
    window = s.spec.supervision.child_restart_window
    at = ev.parse_ts(p["at"])
    reports = (*(r for r in s.child_reports if r[0] != p["report_id"]), (p["report_id"], p["action"]))
    s = replace(s, child_reports=reports[-CHILD_REPORT_MEMORY:])
    if p["action"] == ev.ACT_ESCALATE:
        pause = Pause(ev.PAUSE_CHILD_ESCALATED, p.get("detail", ""), at)
        return replace(s, escalation=pause if s.status == AgentStatus.RUNNING else s.escalation)
    restarts = (*(r for r in s.child_restarts if r > at - window), at)
    subruns = tuple(
        replace(x, run_id=p["run_id"], attempt=int(p["attempt"])) if x.sub_id == p["child_id"] else x
        for x in s.subruns
    )
    return replace(s, child_restarts=restarts, subruns=subruns)


def _escalated(s: AgentState, p: Any) -> AgentState:
    return replace(s, model_index=int(p["model_index"]), consecutive_failures=0)


def _supervision_decision(s: AgentState, p: Any) -> AgentState:
    action = p["action"]
    at = ev.parse_ts(p["at"])
    if action in (ev.ACT_RESTART_CHILD, ev.ACT_ESCALATE):
        return _child_decision(s, p)
    if action == ev.ACT_CANCEL_TURN:
        if s.turn is None or s.turn.run_id != p["run_id"]:
            raise IllegalTransition(f"no running turn {p['run_id']!r} to cancel")
        return replace(s, turn=replace(s.turn, cancel_reason=s.turn.cancel_reason or ev.CANCEL_DEADLINE))
    if action == ev.ACT_WARN_LOOP:
        return replace(s, loop_warning=LoopWarning(p["reason"], p.get("detail", ""), s.turns))
    failure = p["run_id"] == s.unsupervised_failure != ""
    if action in (ev.ACT_RESTART, ev.ACT_ACCEPT_FAILURE) and not failure:
        raise IllegalTransition(f"turn {p['run_id']!r} has no failure to decide on")
    if failure:
        s = replace(s, unsupervised_failure="")
    if action == ev.ACT_RESTART:
        if s.retry is None:
            raise IllegalTransition("nothing to restart")
        window = s.spec.supervision.restart_window if s.spec else timedelta(0)
        restarts = tuple(r for r in s.restarts if r > at - window)
        retry = replace(s.retry, not_before=ev.parse_ts(p["not_before"]))
        return replace(s, retry=retry, restarts=(*restarts, at))
    if action == ev.ACT_ACCEPT_FAILURE:
        return replace(s, retry=None)
    return s  # pause, fail: the retry waits for a resume; the next event changes the status


def _require(s: AgentState, status: AgentStatus, what: str) -> None:
    if s.status != status:
        raise IllegalTransition(f"{what} only when {status.value}, not {s.status}")


_HANDLERS = {
    ev.FRAME_RECEIVED: _frame_received,
    ev.TIMER_FIRED: _timer_fired,
    ev.FIRINGS_SKIPPED: _firings_skipped,
    ev.TIMER_SET: _timer_set,
    ev.TIMER_CANCELED: _timer_canceled,
    ev.TURN_STARTED: _turn_started,
    ev.INPUT_POLICY_APPLIED: _input_policy_applied,
    ev.TURN_FINISHED: _turn_finished,
    ev.SLEEP_REQUESTED: _sleep_requested,
    ev.SLEPT: _slept,
    ev.WOKEN: _woken,
    ev.PAUSED: _paused,
    ev.RESUMED: _resumed,
    ev.FAILED: _failed,
    ev.ESCALATED: _escalated,
    ev.SUPERVISION_DECISION: _supervision_decision,
    ev.REPORTED: _reported,
    ev.SUBRUN_STARTED: _subrun_started,
    ev.SUBRUN_FINISHED: _subrun_finished,
    ev.SUBRUNS_CHECKED: _subruns_checked,
    ev.TURN_WAITING: _turn_waiting,
    ev.TURN_MOVED: _turn_moved,
}


def finish_turn(
    state: AgentState,
    outcome: str,
    *,
    finished_at: datetime,
    reason: str = "",
    error_message: str = "",
    tool_calls: tuple[dict[str, str], ...] = (),
) -> NewEvent:
    """The `agent.turn_finished` event for the running turn's run ending with `outcome`: a turn
    canceled for a rollback is marked rolled back (the engine then drops the run from the
    thread's history and its frames are pending again, first)."""
    if state.turn is None:
        raise IllegalTransition("no turn is running")
    event = ev.turn_finished(
        state.turn.run_id,
        outcome,
        finished_at=finished_at,
        reason=reason,
        error_message=error_message,
        tool_calls=tool_calls,
    )
    rolled_back = outcome == ev.TURN_CANCELED and state.turn.cancel_reason == ev.CANCEL_ROLLBACK
    return NewEvent(event.type, {**event.payload, "rolled_back": rolled_back}, event.event_id)
