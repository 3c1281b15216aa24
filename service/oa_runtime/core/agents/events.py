"""Agent event types and their payloads (the "agent" stream; one stream per agent id).

Like core/events.py: payloads are JSON-able dicts whose keys are the snake_case fields of the
matching proto message (agent_event.proto); enums are short lowercase words; times are RFC 3339
UTC strings. Every time the fold needs is in a payload (never the store's clock), so a replay
decides exactly as the first run did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from ..events import NewEvent
from ..validation import sha256_hex

STREAM_AGENT: Final = "agent"

AGENT_CREATED: Final = "agent.created"
FRAME_RECEIVED: Final = "agent.frame_received"
INPUT_POLICY_APPLIED: Final = "agent.input_policy_applied"
TURN_STARTED: Final = "agent.turn_started"
TURN_FINISHED: Final = "agent.turn_finished"
SLEEP_REQUESTED: Final = "agent.sleep_requested"
SLEPT: Final = "agent.slept"
WOKEN: Final = "agent.woken"
PAUSED: Final = "agent.paused"
RESUMED: Final = "agent.resumed"
FAILED: Final = "agent.failed"
ESCALATED: Final = "agent.escalated"
SUPERVISION_DECISION: Final = "agent.supervision_decision"
TIMER_SET: Final = "agent.timer_set"
TIMER_CANCELED: Final = "agent.timer_canceled"
TIMER_FIRED: Final = "agent.timer_fired"
FIRINGS_SKIPPED: Final = "agent.firings_skipped"
SUBRUN_STARTED: Final = "agent.subrun_started"
SUBRUN_FINISHED: Final = "agent.subrun_finished"
REPORTED: Final = "agent.reported"
TURN_WAITING: Final = "agent.turn_waiting"
TURN_MOVED: Final = "agent.turn_moved"
SUBRUNS_CHECKED: Final = "agent.subruns_checked"

AGENT_EVENT_TYPES: Final = frozenset(
    {
        AGENT_CREATED,
        FRAME_RECEIVED,
        INPUT_POLICY_APPLIED,
        TURN_STARTED,
        TURN_FINISHED,
        SLEEP_REQUESTED,
        SLEPT,
        WOKEN,
        PAUSED,
        RESUMED,
        FAILED,
        ESCALATED,
        SUPERVISION_DECISION,
        TIMER_SET,
        TIMER_CANCELED,
        TIMER_FIRED,
        FIRINGS_SKIPPED,
        SUBRUN_STARTED,
        SUBRUN_FINISHED,
        REPORTED,
        TURN_WAITING,
        TURN_MOVED,
        SUBRUNS_CHECKED,
    }
)

# Frame kinds (FrameKind in the proto, lowercased). Clients send the first five; the runtime
# makes `cron_tick` (a schedule fired) and `timer` (a one-shot timer fired) frames itself.
FRAME_USER_PROMPT: Final = "user_prompt"
FRAME_SIGNAL: Final = "signal"
FRAME_CRON_TICK: Final = "cron_tick"
FRAME_TOOL_RESULT: Final = "tool_result"
FRAME_SYSTEM: Final = "system"
FRAME_TIMER: Final = "timer"
FRAME_KINDS: Final = frozenset(
    {FRAME_USER_PROMPT, FRAME_SIGNAL, FRAME_CRON_TICK, FRAME_TOOL_RESULT, FRAME_SYSTEM, FRAME_TIMER}
)

# Why an agent woke, slept, paused, failed (stable codes, in payloads and GetAgent).
WAKE_FRAME: Final = "frame"
WAKE_TIMER: Final = "timer"
WAKE_RETRY: Final = "retry"
WAKE_REQUESTED: Final = "requested"
SLEEP_IDLE: Final = "idle"
SLEEP_REQUESTED_BY_CALLER: Final = "requested"
SLEEP_BACKOFF: Final = "backoff"
PAUSE_RESTART_INTENSITY: Final = "restart_intensity"
PAUSE_LOOP_DETECTED: Final = "loop_detected"
PAUSE_CIRCUIT_OPEN: Final = "circuit_open"
PAUSE_CHILD_ESCALATED: Final = "child_escalated"  # a child failed past the restart intensity
FAIL_CIRCUIT_EXHAUSTED: Final = "circuit_exhausted"
FAIL_RECOVERY_EXHAUSTED: Final = "executor_recovery_exhausted"
FAIL_INTERNAL: Final = "internal_error"
RESUME_REQUESTED: Final = "requested"
RESUME_HALF_OPEN: Final = "circuit_half_open"
RESUME_BY_PARENT: Final = "parent"  # the parent restarted this child (one_for_one)

# Turn outcomes (those of the turn's run) and the reasons a turn was canceled.
TURN_SUCCEEDED: Final = "succeeded"
TURN_FAILED: Final = "failed"
TURN_CANCELED: Final = "canceled"
CANCEL_INTERRUPTED: Final = "interrupted"
CANCEL_ROLLBACK: Final = "rollback"
CANCEL_DEADLINE: Final = "deadline_exceeded"

# What fired (timer_fired.source).
SOURCE_SCHEDULE: Final = "schedule"
SOURCE_TIMER: Final = "timer"

# Supervision actions.
ACT_RESTART: Final = "restart"  # the failed turn runs again (same frames) after a backoff
ACT_ACCEPT_FAILURE: Final = "accept_failure"  # not restartable: its frames stay consumed
ACT_PAUSE: Final = "pause"
ACT_FAIL: Final = "fail"
ACT_CANCEL_TURN: Final = "cancel_turn"  # the turn's deadline passed
ACT_WARN_LOOP: Final = "warn_loop"  # the next turn is told, in context, that it loops
ACT_RESTART_CHILD: Final = "restart_child"  # one_for_one: the failed child alone starts again
ACT_ESCALATE: Final = "escalate"  # past the children's restart intensity: the parent pauses

# Child kinds (a parent's children): a child agent, or a sub-run (a run on its own thread).
CHILD_AGENT: Final = "agent"
CHILD_SUBRUN: Final = "subrun"

# Input policy outcomes.
OUTCOME_QUEUED: Final = "queued"
OUTCOME_REJECTED: Final = "rejected"
OUTCOME_CANCEL_REQUESTED: Final = "cancel_requested"
OUTCOME_ALREADY_CANCELING: Final = "already_canceling"


def ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, the one spelling of a time in agent payloads."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def frame_digest(kind: str, text: str, data: Mapping[str, Any] | None, occurred_at: str) -> str:
    """Identifies a frame's body: the same frame id with another digest is a conflict."""
    return sha256_hex({"kind": kind, "text": text, "data": dict(data or {}), "occurred_at": occurred_at})[:32]


def agent_created(spec_json: Mapping[str, Any], created_at: datetime) -> NewEvent:
    return NewEvent(AGENT_CREATED, {"spec": dict(spec_json), "created_at": ts(created_at)})


def spec_fingerprint(spec_json: Mapping[str, Any]) -> str:
    """A repeated CreateAgent with the same fingerprint is the same agent (idempotent)."""
    return sha256_hex(dict(spec_json))


def frame_received(
    frame_id: str,
    kind: str,
    *,
    text: str = "",
    data: Mapping[str, Any] | None = None,
    occurred_at: str = "",
    received_at: datetime,
) -> NewEvent:
    return NewEvent(
        FRAME_RECEIVED,
        {
            "frame_id": frame_id,
            "kind": kind,
            "text": text,
            "data": dict(data or {}),
            "occurred_at": occurred_at,
            "received_at": ts(received_at),
            "digest": frame_digest(kind, text, data, occurred_at),
        },
    )


def input_policy_applied(policy: str, frame_ids: Sequence[str], run_id: str, outcome: str) -> NewEvent:
    return NewEvent(
        INPUT_POLICY_APPLIED,
        {"policy": policy, "frame_ids": list(frame_ids), "run_id": run_id, "outcome": outcome},
    )


def turn_started(
    turn: int,
    run_id: str,
    frame_ids: Sequence[str],
    *,
    model: str,
    attempt: int,
    started_at: datetime,
    deadline: datetime,
    loop_warning: str = "",
    retry_of_run_id: str = "",
) -> NewEvent:
    return NewEvent(
        TURN_STARTED,
        {
            "turn": turn,
            "run_id": run_id,
            "frame_ids": list(frame_ids),
            "model": model,
            "attempt": attempt,
            "started_at": ts(started_at),
            "deadline": ts(deadline),
            "loop_warning": loop_warning,
            "retry_of_run_id": retry_of_run_id,
        },
    )


def tool_call_digest(tool_name: str, input_sha256: str, output_sha256: str) -> dict[str, str]:
    """One tool call of a turn, as loop detection sees it (the tool task receipt's hashes)."""
    return {"tool_name": tool_name, "input_sha256": input_sha256, "output_sha256": output_sha256}


def turn_finished(
    run_id: str,
    outcome: str,
    *,
    finished_at: datetime,
    reason: str = "",
    error_message: str = "",
    tool_calls: Sequence[Mapping[str, str]] = (),
) -> NewEvent:
    """Build it with state.finish_turn, which adds what the fold knows (rolled back or not)."""
    return NewEvent(
        TURN_FINISHED,
        {
            "run_id": run_id,
            "outcome": outcome,
            "reason": reason,
            "error_message": error_message,
            "finished_at": ts(finished_at),
            "tool_calls": [dict(c) for c in tool_calls],
            "rolled_back": False,
        },
    )


def sleep_requested(by: str = "") -> NewEvent:
    return NewEvent(SLEEP_REQUESTED, {"by": by})


def slept(reason: str, at: datetime, wake_at: datetime | None) -> NewEvent:
    return NewEvent(SLEPT, {"reason": reason, "at": ts(at), "wake_at": ts(wake_at) if wake_at else ""})


def woken(reason: str, at: datetime) -> NewEvent:
    return NewEvent(WOKEN, {"reason": reason, "at": ts(at)})


def paused(reason: str, detail: str, at: datetime, until: datetime | None = None) -> NewEvent:
    """`until`: when the agent resumes by itself (an open circuit's cool-down); else a human wakes it."""
    return NewEvent(
        PAUSED, {"reason": reason, "detail": detail, "at": ts(at), "until": ts(until) if until else ""}
    )


def resumed(by: str, at: datetime) -> NewEvent:
    return NewEvent(RESUMED, {"by": by, "at": ts(at)})


def failed(reason: str, error_message: str, at: datetime) -> NewEvent:
    return NewEvent(FAILED, {"reason": reason, "error_message": error_message, "at": ts(at)})


def escalated(from_model: str, to_model: str, model_index: int, failed_turns: int) -> NewEvent:
    return NewEvent(
        ESCALATED,
        {
            "from_model": from_model,
            "to_model": to_model,
            "model_index": model_index,
            "failed_turns": failed_turns,
        },
    )


def supervision_decision(
    action: str,
    reason: str,
    *,
    run_id: str,
    at: datetime,
    detail: str = "",
    attempt: int = 0,
    delay_ms: int = 0,
    not_before: datetime | None = None,
    child_id: str = "",
    report_id: str = "",
) -> NewEvent:
    """`child_id` and `report_id` (decisions on a child's report): only when set, so the
    payloads of the other decisions stay as they were."""
    payload: dict[str, Any] = {
        "action": action,
        "reason": reason,
        "run_id": run_id,
        "at": ts(at),
        "detail": detail,
        "attempt": attempt,
        "delay_ms": delay_ms,
        "not_before": ts(not_before) if not_before else "",
    }
    if child_id:
        payload.update(child_id=child_id, report_id=report_id)
    return NewEvent(SUPERVISION_DECISION, payload)


def timer_set(timer_id: str, fire_at: datetime, *, text: str = "", run_id: str = "") -> NewEvent:
    """`after` timers are resolved to an instant when set: the event holds the absolute time."""
    return NewEvent(TIMER_SET, {"timer_id": timer_id, "fire_at": ts(fire_at), "text": text, "run_id": run_id})


def timer_canceled(timer_id: str) -> NewEvent:
    return NewEvent(TIMER_CANCELED, {"timer_id": timer_id})


def timer_fired(
    source: str, source_id: str, instant: datetime, frame_id: str, *, late: bool, text: str = ""
) -> NewEvent:
    """A schedule instant or a one-shot timer fired: this event is also the firing's frame
    (kind cron_tick or timer), with a frame id derived from the source and the instant."""
    return NewEvent(
        TIMER_FIRED,
        {
            "source": source,
            "source_id": source_id,
            "instant": ts(instant),
            "frame_id": frame_id,
            "late": late,
            "text": text,
        },
    )


def firings_skipped(schedule_id: str, through: datetime, count: int) -> NewEvent:
    """Missed instants the catch-up policy dropped, up to and including `through`."""
    return NewEvent(FIRINGS_SKIPPED, {"schedule_id": schedule_id, "through": ts(through), "count": count})


def subrun_started(
    sub_id: str, run_id: str, thread_id: str, *, text: str, instructions: str, tool_call_id: str, at: datetime
) -> NewEvent:
    """The delegate tool started a sub-run: a run on a thread of its own whose result comes
    back as one tool_result frame. The run's request is rebuilt from this event on a restart."""
    return NewEvent(
        SUBRUN_STARTED,
        {
            "sub_id": sub_id,
            "run_id": run_id,
            "thread_id": thread_id,
            "text": text,
            "instructions": instructions,
            "tool_call_id": tool_call_id,
            "at": ts(at),
        },
    )


def subrun_finished(
    sub_id: str, run_id: str, outcome: str, frame_id: str, error_message: str = ""
) -> NewEvent:
    """The sub-run ended for good (its `frame_id` tool_result frame follows in the same append)."""
    return NewEvent(
        SUBRUN_FINISHED,
        {
            "sub_id": sub_id,
            "run_id": run_id,
            "outcome": outcome,
            "frame_id": frame_id,
            "error_message": error_message,
        },
    )


def reported(report_id: str, action: str) -> NewEvent:
    """A child's pause or failure reached its parent, which decided `action` on it."""
    return NewEvent(REPORTED, {"report_id": report_id, "action": action})


def turn_waiting(run_id: str, at: datetime, recheck_at: datetime) -> NewEvent:
    """The turn's run waits for a human: the agent gives its task and lease up until the run
    moves again (or `recheck_at`, a durable fallback)."""
    return NewEvent(TURN_WAITING, {"run_id": run_id, "at": ts(at), "recheck_at": ts(recheck_at)})


def turn_moved(run_id: str, at: datetime) -> NewEvent:
    """The waiting turn's run moved again (a decision, an answer, its end)."""
    return NewEvent(TURN_MOVED, {"run_id": run_id, "at": ts(at)})


def subruns_checked(at: datetime, next_check_at: datetime) -> NewEvent:
    """The agent's sub-runs were found still running (a durable fallback for a lost watcher):
    they are looked at again at `next_check_at`."""
    return NewEvent(SUBRUNS_CHECKED, {"at": ts(at), "next_check_at": ts(next_check_at)})
