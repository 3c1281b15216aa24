"""A turn as a run: the StartRun request of a turn, and what the agent learns from its run.

The request is built only from the agent's state and the frames' durable events, so building
it again after a crash gives the same request (StartRun is idempotent by run id and body).
The frames the turn consumes are its prompt (user prompts verbatim, other frames labelled with
their kind) and, whole, its context frames; the agent's instructions and the supervisor's
loop warning are context frames too, so the model sees them as system context each turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..canonical import canonical_json
from ..events import RUN_FINISHED, TOOL_CALL_REQUESTED, TOOL_RESULT, Event
from ..records import StartRequest
from ..validation import sha256_hex
from . import events as ev
from .state import AgentState, Turn

# A timer frame's data (or a cron tick's) names its source; the run's prompt says what fired.
_LABELS = {
    ev.FRAME_SIGNAL: "signal",
    ev.FRAME_CRON_TICK: "scheduled",
    ev.FRAME_TOOL_RESULT: "tool result",
    ev.FRAME_SYSTEM: "system",
    ev.FRAME_TIMER: "timer",
}


def frame_body(event: Event) -> dict[str, Any]:
    """The frame an `agent.frame_received` or `agent.timer_fired` event records."""
    p = event.payload
    if event.type == ev.FRAME_RECEIVED:
        return {
            "frame_id": p["frame_id"],
            "kind": p["kind"],
            "text": p.get("text", ""),
            "data": dict(p.get("data") or {}),
            "occurred_at": p.get("occurred_at", ""),
        }
    kind = ev.FRAME_CRON_TICK if p["source"] == ev.SOURCE_SCHEDULE else ev.FRAME_TIMER
    return {
        "frame_id": p["frame_id"],
        "kind": kind,
        "text": p.get("text", ""),
        "data": {"source_id": p["source_id"], "instant": p["instant"], "late": bool(p.get("late"))},
        "occurred_at": p["instant"],
    }


def turn_prompt(frames: Sequence[Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for f in frames:
        text = str(f.get("text") or "")
        data = f.get("data") or {}
        if f["kind"] == ev.FRAME_USER_PROMPT and not data:
            lines.append(text)
            continue
        body = " ".join(x for x in (text, canonical_json(data) if data else "") if x)
        lines.append(f"[{_LABELS.get(str(f['kind']), str(f['kind']))}] {body}")
    return "\n\n".join(lines)


def turn_request(state: AgentState, turn: Turn, frames: Sequence[Mapping[str, Any]]) -> StartRequest:
    """The StartRun request of `turn` (a run on the agent's thread), given the bodies of the
    frames it consumes, in order."""
    spec = state.spec
    assert spec is not None
    context: list[dict[str, Any]] = []
    if spec.instructions:
        context.append({"type": "agent_instructions", "text": spec.instructions})
    if turn.loop_warning:
        context.append({"type": "supervisor_warning", "text": turn.loop_warning})
    context.append(
        {"type": "agent_turn", "agent_id": spec.agent_id, "turn": turn.number, "attempt": turn.attempt}
    )
    context += [{"type": "agent_frame", **f} for f in frames]
    return StartRequest(
        run_id=turn.run_id,
        thread_id=spec.thread_id,
        user_id=str(spec.user_id) if spec.user_id else "",
        prompt=turn_prompt(frames),
        context_frames=tuple(context),
        tool_policy=spec.tool_policy,
        model=turn.model,
    )


def agent_of_run(run_id: str) -> tuple[str, int] | None:
    """The agent and turn number of a turn's run id ("<agent id>:turn:<n>"), else None."""
    agent_id, sep, number = run_id.rpartition(":turn:")
    if not sep or not agent_id or not number.isdigit():
        return None
    return agent_id, int(number)


def turn_tool_calls(run_events: Sequence[Event]) -> tuple[dict[str, str], ...]:
    """The turn's tool calls in order, as loop detection sees them: the tool, and hashes of
    its input and of its output (or error)."""
    requested: dict[str, tuple[str, str]] = {}
    calls: list[dict[str, str]] = []
    for e in run_events:
        p = e.payload
        if e.type == TOOL_CALL_REQUESTED:
            requested[p["tool_call_id"]] = (p["tool_name"], sha256_hex(p.get("input_json", "")))
        elif e.type == TOOL_RESULT and p["tool_call_id"] in requested:
            name, input_hash = requested.pop(p["tool_call_id"])
            output = p.get("output_json") or p.get("error_text") or ""
            calls.append(ev.tool_call_digest(name, input_hash, sha256_hex(output)))
        elif e.type == RUN_FINISHED:
            break
    return tuple(calls)
