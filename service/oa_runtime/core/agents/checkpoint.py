"""An agent's state as JSON and back, for checkpoints: an agent lives for weeks, so waking it
must read its latest checkpoint plus the events after it, never its whole stream.
Every time in the state came from a payload (milliseconds), so the round trip is exact."""

from __future__ import annotations

from typing import Any

from . import events as ev
from .loops import CallDigest
from .spec import AgentSpec
from .state import (
    AgentState,
    AgentStatus,
    Breaker,
    BreakerState,
    LoopWarning,
    Pause,
    PendingFrame,
    Retry,
    SubRun,
    Timer,
    Turn,
)

VERSION = 1


def state_to_json(s: AgentState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "spec": s.spec.to_json() if s.spec else None,
        "status": s.status.value if s.status else None,
        "last_seq": s.last_seq,
        "created_at": _t(s.created_at),
        "pending": _frames(s.pending),
        "recent_frames": [list(x) for x in s.recent_frames],
        "frames_received": s.frames_received,
        "turns": s.turns,
        "turn": _turn(s.turn),
        "last_outcome": s.last_outcome,
        "hold": s.hold,
        "sleep_requested": s.sleep_requested,
        "retry": None
        if s.retry is None
        else [_frames(s.retry.frames), s.retry.attempt, s.retry.failed_run_id, _t(s.retry.not_before)],
        "unsupervised_failure": s.unsupervised_failure,
        "last_failure_reason": s.last_failure_reason,
        "restarts": [ev.ts(r) for r in s.restarts],
        "consecutive_failures": s.consecutive_failures,
        "model_index": s.model_index,
        "calls": [[c.turn, c.tool_name, c.input_sha256, c.output_sha256] for c in s.calls],
        "loop_warning": None
        if s.loop_warning is None
        else [
            s.loop_warning.kind,
            s.loop_warning.detail,
            s.loop_warning.issued_after_turn,
            s.loop_warning.delivered,
        ],
        "breaker": [s.breaker.state.value, s.breaker.trips, [ev.ts(f) for f in s.breaker.failures]],
        "pause": None
        if s.pause is None
        else [s.pause.reason, s.pause.detail, ev.ts(s.pause.at), _t(s.pause.until)],
        "failure_reason": s.failure_reason,
        "error_message": s.error_message,
        "schedule_marks": [[i, ev.ts(m)] for i, m in s.schedule_marks],
        "timers": [[t.timer_id, ev.ts(t.fire_at), t.set_seq, t.text] for t in s.timers],
        **_tree_to_json(s),
    }


def _tree_to_json(s: AgentState) -> dict[str, Any]:
    """Sub-runs, children's supervision and the stop outbox: only what is set (rows of agents
    without children stay as small as before, and older checkpoints read back as unset)."""
    out: dict[str, Any] = {}
    if s.subruns:
        out["subruns"] = [[x.sub_id, x.run_id, x.thread_id, x.attempt, x.seq] for x in s.subruns]
        out["subrun_check"] = [_t(s.subrun_check_at), s.subrun_checks]
    if s.child_restarts:
        out["child_restarts"] = [ev.ts(r) for r in s.child_restarts]
    if s.child_reports:
        out["child_reports"] = [list(r) for r in s.child_reports]
    if s.escalation is not None:
        e = s.escalation
        out["escalation"] = [e.reason, e.detail, ev.ts(e.at)]
    if s.stop_due:
        out["stop_due"] = s.stop_due
    return out


def _tree_from_json(d: dict[str, Any]) -> dict[str, Any]:
    check_at, checks = d.get("subrun_check", [None, 0])
    escalation = d.get("escalation")
    return {
        "subruns": tuple(SubRun(*x) for x in d.get("subruns", ())),
        "subrun_check_at": _parse(check_at),
        "subrun_checks": checks,
        "child_restarts": tuple(ev.parse_ts(r) for r in d.get("child_restarts", ())),
        "child_reports": tuple((i, a) for i, a in d.get("child_reports", ())),
        "escalation": None
        if escalation is None
        else Pause(escalation[0], escalation[1], ev.parse_ts(escalation[2])),
        "stop_due": d.get("stop_due", ""),
    }


def state_from_json(d: dict[str, Any]) -> AgentState:
    if d.get("version") != VERSION:
        raise ValueError(f"agent checkpoint version {d.get('version')!r} is not {VERSION}")
    retry, warning, pause = d["retry"], d["loop_warning"], d["pause"]
    state, trips, failures = d["breaker"]
    return AgentState(
        spec=AgentSpec.from_json(d["spec"]) if d["spec"] else None,
        status=AgentStatus(d["status"]) if d["status"] else None,
        last_seq=d["last_seq"],
        created_at=_parse(d["created_at"]),
        pending=_frames_back(d["pending"]),
        recent_frames=tuple((i, g) for i, g in d["recent_frames"]),
        frames_received=d["frames_received"],
        turns=d["turns"],
        turn=_turn_back(d["turn"]),
        last_outcome=d["last_outcome"],
        hold=d["hold"],
        sleep_requested=d["sleep_requested"],
        retry=None if retry is None else Retry(_frames_back(retry[0]), retry[1], retry[2], _parse(retry[3])),
        unsupervised_failure=d["unsupervised_failure"],
        last_failure_reason=d["last_failure_reason"],
        restarts=tuple(ev.parse_ts(r) for r in d["restarts"]),
        consecutive_failures=d["consecutive_failures"],
        model_index=d["model_index"],
        calls=tuple(CallDigest(*c) for c in d["calls"]),
        loop_warning=None if warning is None else LoopWarning(*warning),
        breaker=Breaker(BreakerState(state), trips, tuple(ev.parse_ts(f) for f in failures)),
        pause=None if pause is None else Pause(pause[0], pause[1], ev.parse_ts(pause[2]), _parse(pause[3])),
        failure_reason=d["failure_reason"],
        error_message=d["error_message"],
        schedule_marks=tuple((i, ev.parse_ts(m)) for i, m in d["schedule_marks"]),
        timers=tuple(Timer(i, ev.parse_ts(f), seq, text) for i, f, seq, text in d["timers"]),
        **_tree_from_json(d),
    )


def _t(moment: Any) -> str | None:
    return ev.ts(moment) if moment is not None else None


def _parse(text: str | None) -> Any:
    return ev.parse_ts(text) if text is not None else None


def _frames(frames: tuple[PendingFrame, ...]) -> list[list[Any]]:
    return [[f.frame_id, f.kind, f.digest, f.seq] for f in frames]


def _frames_back(rows: list[list[Any]]) -> tuple[PendingFrame, ...]:
    return tuple(PendingFrame(*row) for row in rows)


def _turn(t: Turn | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "number": t.number,
        "run_id": t.run_id,
        "frames": _frames(t.frames),
        "model": t.model,
        "attempt": t.attempt,
        "started_at": ev.ts(t.started_at),
        "deadline": ev.ts(t.deadline),
        "cancel_reason": t.cancel_reason,
        "loop_warning": t.loop_warning,
        **({"waiting_until": ev.ts(t.waiting_until)} if t.waiting_until else {}),
    }


def _turn_back(d: dict[str, Any] | None) -> Turn | None:
    if d is None:
        return None
    return Turn(
        d["number"],
        d["run_id"],
        _frames_back(d["frames"]),
        d["model"],
        d["attempt"],
        ev.parse_ts(d["started_at"]),
        ev.parse_ts(d["deadline"]),
        d["cancel_reason"],
        d["loop_warning"],
        _parse(d.get("waiting_until")),
    )
