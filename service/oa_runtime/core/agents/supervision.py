"""Supervision, as an OTP supervisor would do it, decided from the agent's recorded history.

After a failed turn, in this order:
1. the circuit breaker: `breaker_failures` failed turns within `breaker_window` (or any failure of
   a half-open trial turn) open the circuit: the agent pauses for a cool-down that doubles with
   each trip in a row, then resumes by itself (half-open); `breaker_max_trips` trips in a row
   without a good turn and the agent fails;
2. escalation: `escalate_after_failures` failed turns in a row on one model move the agent to
   the next model of its ladder (back to the first after a good turn);
3. restart: a crash or provider failure (TRANSIENT) runs the same frames again after an
   exponential backoff, at most `max_restarts` within `restart_window`, then the agent pauses
   (a human resumes it); any other failure is accepted (its frames stay consumed).
After any turn: loop detection first warns the next turn in context, then pauses the agent if
the loop goes on.
Each decision is an `agent.supervision_decision` event with its reason; the transition
(`agent.escalated`, `agent.paused`, `agent.failed`) follows it in the same append.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from ..events import NewEvent
from . import events as ev
from .loops import detect_loop
from .spec import SupervisionPolicy
from .state import AgentState, BreakerState, turn_run_id

# Failures worth running the same frames again for: the provider or the executor failed.
TRANSIENT = frozenset(
    {"model_error", "provider_error", "internal_error", "executor_recovery_exhausted", ev.CANCEL_DEADLINE}
)


def jitter_fraction(agent_id: str, attempt: int) -> float:
    """In [0, 1), derived from the agent id and the attempt: every replica and every replay
    computes the same delay, while agents failing together spread out."""
    digest = hashlib.blake2b(f"{agent_id}\x00{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def backoff(policy: SupervisionPolicy, agent_id: str, restart: int) -> timedelta:
    """The delay before restart number `restart` (1 first): initial x multiplier^(restart-1),
    plus up to `backoff_jitter` of itself, at most `backoff_max`, in whole milliseconds.
    Non-decreasing in `restart` because validate_spec asks multiplier >= 1 + jitter."""
    cap_ms = policy.backoff_max / timedelta(milliseconds=1)
    base_ms = policy.backoff_initial / timedelta(milliseconds=1)
    for _ in range(max(restart, 1) - 1):
        base_ms *= policy.backoff_multiplier
        if base_ms >= cap_ms:
            return timedelta(milliseconds=int(cap_ms))
    jittered = base_ms * (1 + policy.backoff_jitter * jitter_fraction(agent_id, restart))
    return timedelta(milliseconds=int(min(jittered, cap_ms)))


def supervise_failure(state: AgentState, now: datetime) -> list[NewEvent]:
    """The decision on the failed turn `state.unsupervised_failure` (state is AWAKE)."""
    assert state.spec is not None and state.retry is not None
    policy = state.spec.supervision
    run_id, reason = state.unsupervised_failure, state.last_failure_reason
    tripped = _breaker(state, now, run_id)
    if tripped:
        return tripped
    out: list[NewEvent] = []
    models = state.spec.models
    if state.consecutive_failures >= policy.escalate_after_failures and state.model_index + 1 < len(models):
        nxt = state.model_index + 1
        out.append(ev.escalated(models[state.model_index], models[nxt], nxt, state.consecutive_failures))
    if reason not in TRANSIENT:
        detail = f"{reason} is not restartable; the turn's frames stay consumed"
        return [
            *out,
            ev.supervision_decision(ev.ACT_ACCEPT_FAILURE, reason, run_id=run_id, at=now, detail=detail),
        ]
    recent = [r for r in state.restarts if r > now - policy.restart_window]
    if len(recent) >= policy.max_restarts:
        detail = f"{len(recent)} restarts within {policy.restart_window}; last failure: {reason}"
        return [
            *out,
            ev.supervision_decision(
                ev.ACT_PAUSE, ev.PAUSE_RESTART_INTENSITY, run_id=run_id, at=now, detail=detail
            ),
            ev.paused(ev.PAUSE_RESTART_INTENSITY, detail, now),
        ]
    attempt = state.retry.attempt
    delay = backoff(policy, state.agent_id, attempt - 1)
    decision = ev.supervision_decision(
        ev.ACT_RESTART,
        reason,
        run_id=run_id,
        at=now,
        attempt=attempt,
        delay_ms=delay // timedelta(milliseconds=1),
        not_before=now + delay,
    )
    return [*out, decision]


def _breaker(state: AgentState, now: datetime, run_id: str) -> list[NewEvent]:
    assert state.spec is not None
    policy = state.spec.supervision
    breaker = state.breaker
    failures = [f for f in breaker.failures if f > now - policy.breaker_window]
    if breaker.state != BreakerState.HALF_OPEN and len(failures) < policy.breaker_failures:
        return []
    if breaker.trips >= policy.breaker_max_trips:
        detail = f"the circuit opened {breaker.trips} times in a row without a good turn"
        return [
            ev.supervision_decision(
                ev.ACT_FAIL, ev.FAIL_CIRCUIT_EXHAUSTED, run_id=run_id, at=now, detail=detail
            ),
            ev.failed(ev.FAIL_CIRCUIT_EXHAUSTED, detail, now),
        ]
    cooldown = min(policy.breaker_cooldown * 2**breaker.trips, policy.breaker_cooldown_max)
    if breaker.state == BreakerState.HALF_OPEN:
        detail = f"the trial turn failed ({state.last_failure_reason}); cooling down {cooldown}"
    else:
        detail = f"{len(failures)} failed turns within {policy.breaker_window}; cooling down {cooldown}"
    return [
        ev.supervision_decision(ev.ACT_PAUSE, ev.PAUSE_CIRCUIT_OPEN, run_id=run_id, at=now, detail=detail),
        ev.paused(ev.PAUSE_CIRCUIT_OPEN, detail, now, until=now + cooldown),
    ]


def supervise_loops(state: AgentState, now: datetime) -> list[NewEvent]:
    """After a turn: warn about a loop once (the next turn is told), pause if it goes on after
    the warning reached a turn. Idempotent: deciding twice on the same state adds nothing."""
    assert state.spec is not None
    finding = detect_loop(state.calls, state.spec.supervision.loops)
    if finding is None or state.turns == 0:
        return []
    run_id = turn_run_id(state.agent_id, state.turns)
    warning = state.loop_warning
    if warning is None:
        return [
            ev.supervision_decision(
                ev.ACT_WARN_LOOP, finding.kind, run_id=run_id, at=now, detail=finding.detail
            )
        ]
    if warning.delivered and finding.last_turn > warning.issued_after_turn:
        detail = f"{finding.detail}, after a warning"
        return [
            ev.supervision_decision(
                ev.ACT_PAUSE, ev.PAUSE_LOOP_DETECTED, run_id=run_id, at=now, detail=detail
            ),
            ev.paused(ev.PAUSE_LOOP_DETECTED, detail, now),
        ]
    return []


def loop_warning_text(kind: str, detail: str) -> str:
    """What the model is told at the start of its next turn."""
    return (
        f"Supervisor: you appear to be stuck in a loop ({kind}: {detail}). Change your approach; "
        "if the loop goes on, you will be paused until a human looks at it."
    )
