"""Agent messages to and from core types (agent.proto, agent_event.proto): the edge only.

Enums travel as lowercase words in core (`enqueue`, `user_prompt`) and as prefixed upper-case
names in proto (`INPUT_POLICY_ENQUEUE`); durations as `timedelta` (milliseconds in JSON) and
`google.protobuf.Duration`; an agent event's payload keys are its proto fields.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format
from openagents.runtime.v1 import agent_event_pb2, agent_pb2, run_pb2

from ..core.agents import events as aev
from ..core.agents.inputs import FrameIn
from ..core.agents.record import AgentRecord
from ..core.agents.spec import (
    AgentSpec,
    CatchUp,
    InputPolicy,
    LoopThresholds,
    MemoryPolicy,
    ScheduleSpec,
    SupervisionPolicy,
)
from ..core.agents.state import AgentStatus
from ..core.errors import InvalidArgument
from ..core.events import Event
from ..core.records import ToolPolicy
from .convert import _struct_to_dict, _timestamp


def _enum(prefix: str, word: str) -> str:
    return f"{prefix}{word.upper()}"


def _word(prefix: str, name: str) -> str:
    return name.removeprefix(prefix).lower()


def _dur(value: duration_pb2.Duration, default: timedelta, present: bool) -> timedelta:
    return value.ToTimedelta() if present else default


def _duration(value: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(value)
    return out


def status_from_proto(state: int) -> AgentStatus | None:
    if state == agent_pb2.AGENT_STATE_UNSPECIFIED:
        return None
    name = agent_pb2.AgentState.Name(state)
    return AgentStatus(_word("AGENT_STATE_", name))


# ----- CreateAgent -> AgentSpec -----


def spec_from_proto(req: Any) -> AgentSpec:
    """The definition a CreateAgentRequest gives (unset fields take their defaults)."""
    if req.escalation_models and not req.model:
        raise InvalidArgument("model", "is required when escalation_models are given")
    models = ([req.model] if req.model else []) + list(req.escalation_models)
    policy = InputPolicy.ENQUEUE
    if req.input_policy != agent_pb2.INPUT_POLICY_UNSPECIFIED:
        policy = InputPolicy(_word("INPUT_POLICY_", agent_pb2.InputPolicy.Name(req.input_policy)))
    return AgentSpec(
        agent_id=req.agent_id,
        thread_id=req.thread_id,
        user_id=int(req.user_id),
        models=tuple(models),
        instructions=req.instructions,
        tool_policy=ToolPolicy(
            allow=tuple(req.tool_policy.allow),
            deny=tuple(req.tool_policy.deny),
            guest_mode=req.tool_policy.guest_mode,
        ),
        schedules=tuple(_schedule_from_proto(s) for s in req.schedules),
        input_policy=policy,
        supervision=_supervision_from_proto(req.supervision_policy),
        memory=_memory_from_proto(req.memory_policy),
    )


def _schedule_from_proto(s: agent_pb2.Schedule) -> ScheduleSpec:
    catch_up = CatchUp.ONCE
    if s.catch_up != agent_pb2.CATCH_UP_POLICY_UNSPECIFIED:
        catch_up = CatchUp(_word("CATCH_UP_POLICY_", agent_pb2.CatchUpPolicy.Name(s.catch_up)))
    return ScheduleSpec(
        schedule_id=s.schedule_id,
        cron=s.cron,
        time_zone=s.time_zone or "UTC",
        catch_up=catch_up,
        max_catch_up=s.max_catch_up or 10,
        misfire_grace=_dur(s.misfire_grace, timedelta(seconds=60), s.HasField("misfire_grace")),
        text=s.text,
    )


def _supervision_from_proto(p: agent_pb2.SupervisionPolicy) -> SupervisionPolicy:
    d = SupervisionPolicy()
    loops, breaker = p.loop_detection, p.circuit_breaker
    dl = d.loops
    return SupervisionPolicy(
        turn_deadline=_dur(p.turn_deadline, d.turn_deadline, p.HasField("turn_deadline")),
        max_restarts=p.max_restarts or d.max_restarts,
        restart_window=_dur(p.restart_window, d.restart_window, p.HasField("restart_window")),
        backoff_initial=_dur(p.backoff_initial, d.backoff_initial, p.HasField("backoff_initial")),
        backoff_max=_dur(p.backoff_max, d.backoff_max, p.HasField("backoff_max")),
        backoff_multiplier=p.backoff_multiplier or d.backoff_multiplier,
        backoff_jitter=p.backoff_jitter or d.backoff_jitter,
        escalate_after_failures=p.escalate_after_failures or d.escalate_after_failures,
        loops=LoopThresholds(
            repeated_call=loops.repeated_call or dl.repeated_call,
            ping_pong_cycles=loops.ping_pong_cycles or dl.ping_pong_cycles,
            no_progress=loops.no_progress or dl.no_progress,
            window=loops.window or dl.window,
        ),
        breaker_failures=breaker.failures or d.breaker_failures,
        breaker_window=_dur(breaker.window, d.breaker_window, breaker.HasField("window")),
        breaker_cooldown=_dur(breaker.cooldown, d.breaker_cooldown, breaker.HasField("cooldown")),
        breaker_cooldown_max=_dur(
            breaker.cooldown_max, d.breaker_cooldown_max, breaker.HasField("cooldown_max")
        ),
        breaker_max_trips=breaker.max_trips or d.breaker_max_trips,
        max_child_restarts=p.max_child_restarts if p.HasField("max_child_restarts") else d.max_child_restarts,
        child_restart_window=_dur(
            p.child_restart_window, d.child_restart_window, p.HasField("child_restart_window")
        ),
    )


def _memory_from_proto(p: agent_pb2.MemoryPolicy) -> MemoryPolicy:
    d = MemoryPolicy()
    return MemoryPolicy(
        context_token_budget=p.context_token_budget,
        hot_window=_dur(p.hot_window, d.hot_window, p.HasField("hot_window")),
        enabled=p.enabled,
    )


def frames_from_proto(frames: Any) -> list[FrameIn]:
    out: list[FrameIn] = []
    for i, f in enumerate(frames):
        if f.kind == agent_pb2.FRAME_KIND_UNSPECIFIED:
            raise InvalidArgument(f"frames[{i}].kind", "is required")
        occurred = ""
        if f.HasField("occurred_at"):
            occurred = aev.ts(f.occurred_at.ToDatetime(tzinfo=UTC))
        out.append(
            FrameIn(
                frame_id=f.frame_id,
                kind=_word("FRAME_KIND_", agent_pb2.FrameKind.Name(f.kind)),
                text=f.text,
                data=_struct_to_dict(f.data) if f.HasField("data") else None,
                occurred_at=occurred,
            )
        )
    return out


# ----- AgentSpec / AgentRecord -> Agent -----


def _spec_fields(spec: AgentSpec, out: agent_pb2.Agent) -> None:
    out.agent_id = spec.agent_id
    out.thread_id = spec.thread_id
    out.user_id = spec.user_id
    if spec.models:
        out.model = spec.models[0]
        out.escalation_models.extend(spec.models[1:])
    out.instructions = spec.instructions
    out.tool_policy.CopyFrom(
        run_pb2.ToolPolicy(
            allow=list(spec.tool_policy.allow),
            deny=list(spec.tool_policy.deny),
            guest_mode=spec.tool_policy.guest_mode,
        )
    )
    for s in spec.schedules:
        out.schedules.append(
            agent_pb2.Schedule(
                schedule_id=s.schedule_id,
                cron=s.cron,
                time_zone=s.time_zone,
                catch_up=agent_pb2.CatchUpPolicy.Value(_enum("CATCH_UP_POLICY_", s.catch_up.value)),
                max_catch_up=s.max_catch_up,
                misfire_grace=_duration(s.misfire_grace),
                text=s.text,
            )
        )
    out.input_policy = agent_pb2.InputPolicy.Value(_enum("INPUT_POLICY_", spec.input_policy.value))
    p = spec.supervision
    out.supervision_policy.CopyFrom(
        agent_pb2.SupervisionPolicy(
            turn_deadline=_duration(p.turn_deadline),
            max_restarts=p.max_restarts,
            restart_window=_duration(p.restart_window),
            backoff_initial=_duration(p.backoff_initial),
            backoff_max=_duration(p.backoff_max),
            backoff_multiplier=p.backoff_multiplier,
            backoff_jitter=p.backoff_jitter,
            escalate_after_failures=p.escalate_after_failures,
            loop_detection=agent_pb2.LoopDetection(
                repeated_call=p.loops.repeated_call,
                ping_pong_cycles=p.loops.ping_pong_cycles,
                no_progress=p.loops.no_progress,
                window=p.loops.window,
            ),
            circuit_breaker=agent_pb2.CircuitBreaker(
                failures=p.breaker_failures,
                window=_duration(p.breaker_window),
                cooldown=_duration(p.breaker_cooldown),
                cooldown_max=_duration(p.breaker_cooldown_max),
                max_trips=p.breaker_max_trips,
            ),
            max_child_restarts=p.max_child_restarts,
            child_restart_window=_duration(p.child_restart_window),
        )
    )
    out.memory_policy.CopyFrom(
        agent_pb2.MemoryPolicy(
            context_token_budget=spec.memory.context_token_budget,
            hot_window=_duration(spec.memory.hot_window),
            enabled=spec.memory.enabled,
        )
    )


def agent_to_proto(record: AgentRecord) -> agent_pb2.Agent:
    s = record.state
    assert s.spec is not None and s.status is not None
    out = agent_pb2.Agent()
    _spec_fields(s.spec, out)
    out.state = agent_pb2.AgentState.Value(_enum("AGENT_STATE_", s.status.value))
    out.create_time.CopyFrom(_timestamp(record.created_at))
    out.update_time.CopyFrom(_timestamp(record.updated_at))
    out.last_seq = s.last_seq
    out.pending_frame_count = len(s.pending)
    out.turn_count = s.turns
    out.current_run_id = s.turn.run_id if s.turn else ""
    out.current_model = s.model
    if s.pause is not None:
        out.pause.reason = s.pause.reason
        out.pause.detail = s.pause.detail
        out.pause.at.CopyFrom(_timestamp(s.pause.at))
        if s.pause.until is not None:
            out.pause.until.CopyFrom(_timestamp(s.pause.until))
    out.parent_agent_id = s.spec.parent_agent_id
    out.failure_reason = s.failure_reason
    out.error_message = s.error_message
    if s.status == AgentStatus.SLEEPING and record.wake_at is not None:
        out.wake_time.CopyFrom(_timestamp(record.wake_at))
    for sub in s.subruns:
        out.sub_runs.append(
            agent_pb2.AgentSubRun(
                sub_run_id=sub.sub_id, run_id=sub.run_id, thread_id=sub.thread_id, attempt=sub.attempt
            )
        )
    window = s.spec.supervision.child_restart_window
    out.child_restart_count = len([r for r in s.child_restarts if r > record.updated_at - window])
    for t in sorted(s.timers, key=lambda x: (x.fire_at, x.timer_id)):
        out.timers.append(
            agent_pb2.AgentTimer(timer_id=t.timer_id, fire_at=_timestamp(t.fire_at), text=t.text)
        )
    return out


# ----- agent events -----

# Payload keys whose values are enum words, by event type ("*": every type).
_ENUM_PREFIXES: dict[str, dict[str, str]] = {
    "*": {
        "kind": "FRAME_KIND_",
        "policy": "INPUT_POLICY_",
        "action": "SUPERVISION_ACTION_",
        "source": "TIMER_SOURCE_",
    },
    aev.TURN_FINISHED: {"outcome": "RUN_OUTCOME_"},
    aev.INPUT_POLICY_APPLIED: {"outcome": "INPUT_POLICY_OUTCOME_"},
    aev.REPORTED: {"action": ""},  # a string there (it may be "none")
}


def _payload_field(event_type: str) -> str:
    name = event_type.removeprefix("agent.")
    return "agent_created" if name == "created" else name


def agent_event_to_proto(event: Event) -> agent_event_pb2.AgentEvent:
    out = agent_event_pb2.AgentEvent(
        agent_id=event.run_id, seq=event.seq, event_id=event.event_id, type=event.type
    )
    out.occurred_at.CopyFrom(_timestamp(event.occurred_at))
    field = _payload_field(event.type)
    if event.type == aev.AGENT_CREATED:
        spec = AgentSpec.from_json(dict(event.payload["spec"]))
        _spec_fields(spec, out.agent_created.spec)
        out.agent_created.created_at.CopyFrom(_timestamp(aev.parse_ts(event.payload["created_at"])))
        return out
    prefixes = {**_ENUM_PREFIXES["*"], **_ENUM_PREFIXES.get(event.type, {})}
    payload: dict[str, Any] = {}
    for key, value in event.payload.items():
        if value == "" or value is None:
            continue  # unset (times, optional ids)
        enum = prefixes.get(key, "")
        payload[key] = _enum(enum, value) if enum and isinstance(value, str) else value
    json_format.ParseDict(payload, getattr(out, field), ignore_unknown_fields=True)
    return out
