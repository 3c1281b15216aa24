"""An agent's definition: what CreateAgent records in `agent.created`, and its checks.

Durations are kept as `timedelta` and written to JSON as whole milliseconds (`*_ms`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidArgument
from ..records import ToolPolicy
from ..validation import require_id

# Agent ids are shorter than run ids: a turn's run id is "<agent id>:turn:<n>" (<= 128).
AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
SUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # schedule and timer ids (no ':')
MAX_SCHEDULES = 32
MAX_MODELS = 8
MAX_INSTRUCTIONS_BYTES = 64 * 1024


class InputPolicy(enum.StrEnum):
    """What user prompts and signals do when they arrive while a turn runs."""

    ENQUEUE = "enqueue"  # wait for the next turn (the default)
    INTERRUPT = "interrupt"  # cancel the turn; the next one gets everything pending
    REJECT = "reject"  # refuse the frames (409 with the running run id)
    ROLLBACK = "rollback"  # cancel the turn and drop it from the thread; its frames go again


class CatchUp(enum.StrEnum):
    """What a schedule does with instants missed while nothing ran (older than the grace)."""

    SKIP = "skip"  # drop them
    ONCE = "once"  # fire the latest one, standing for all of them
    ALL = "all"  # fire each, at most `max_catch_up` (the latest ones)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    schedule_id: str
    cron: str  # 5 fields: minute hour day-of-month month day-of-week
    time_zone: str = "UTC"  # IANA name
    catch_up: CatchUp = CatchUp.ONCE
    max_catch_up: int = 10
    # An instant fired within this long after it is on time; later than that it was missed.
    misfire_grace: timedelta = timedelta(seconds=60)
    text: str = ""  # the text of each firing's frame

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "cron": self.cron,
            "time_zone": self.time_zone,
            "catch_up": self.catch_up.value,
            "max_catch_up": self.max_catch_up,
            "misfire_grace_ms": _ms(self.misfire_grace),
            "text": self.text,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScheduleSpec:
        return cls(
            d["schedule_id"],
            d["cron"],
            d.get("time_zone", "UTC"),
            CatchUp(d.get("catch_up", "once")),
            int(d.get("max_catch_up", 10)),
            timedelta(milliseconds=int(d.get("misfire_grace_ms", 60_000))),
            d.get("text", ""),
        )


@dataclass(frozen=True, slots=True)
class LoopThresholds:
    """Loop detection over the agent's recent tool calls (core/agents/loops.py)."""

    repeated_call: int = 5  # the same tool with the same input this many times in a row
    ping_pong_cycles: int = 3  # two calls alternating A,B this many times (A,B,A,B,A,B)
    no_progress: int = 4  # the same tool answering the same output this many times in a row
    window: int = 24  # how many recent calls are kept

    def to_json(self) -> dict[str, Any]:
        return {
            "repeated_call": self.repeated_call,
            "ping_pong_cycles": self.ping_pong_cycles,
            "no_progress": self.no_progress,
            "window": self.window,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoopThresholds:
        return cls(**{k: int(v) for k, v in d.items()})


DEFAULT_CHILD_RESTARTS = 3
DEFAULT_CHILD_WINDOW = timedelta(seconds=60)

_DURATIONS = (
    "turn_deadline",
    "restart_window",
    "backoff_initial",
    "backoff_max",
    "breaker_window",
    "breaker_cooldown",
    "breaker_cooldown_max",
)


@dataclass(frozen=True, slots=True)
class SupervisionPolicy:
    turn_deadline: timedelta = timedelta(minutes=10)
    max_restarts: int = 3  # restarts of failed turns within `restart_window`, then pause
    restart_window: timedelta = timedelta(minutes=10)
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    backoff_multiplier: float = 2.0
    backoff_jitter: float = 0.2  # up to this fraction added, derived from agent id + attempt
    escalate_after_failures: int = 2  # failed turns in a row on one model before the next model
    loops: LoopThresholds = field(default_factory=LoopThresholds)
    breaker_failures: int = 10  # failed turns within `breaker_window` open the circuit
    breaker_window: timedelta = timedelta(hours=1)
    breaker_cooldown: timedelta = timedelta(minutes=5)  # doubled on each trip in a row
    breaker_cooldown_max: timedelta = timedelta(hours=1)
    breaker_max_trips: int = 5  # trips in a row without a good turn, then the agent fails
    # The agent as the supervisor of its children (child agents and sub-runs), OTP one_for_one:
    # a failed child alone is restarted, at most `max_child_restarts` times (over all children)
    # within `child_restart_window`; one more failure escalates: this agent pauses.
    max_child_restarts: int = DEFAULT_CHILD_RESTARTS
    child_restart_window: timedelta = DEFAULT_CHILD_WINDOW

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"{name}_ms": _ms(getattr(self, name)) for name in _DURATIONS}
        out.update(
            max_restarts=self.max_restarts,
            backoff_multiplier=self.backoff_multiplier,
            backoff_jitter=self.backoff_jitter,
            escalate_after_failures=self.escalate_after_failures,
            loops=self.loops.to_json(),
            breaker_failures=self.breaker_failures,
            breaker_max_trips=self.breaker_max_trips,
        )
        # Only when not the default: the JSON (and fingerprint) of agents created before these
        # fields existed stays the same.
        if self.max_child_restarts != DEFAULT_CHILD_RESTARTS:
            out["max_child_restarts"] = self.max_child_restarts
        if self.child_restart_window != DEFAULT_CHILD_WINDOW:
            out["child_restart_window_ms"] = _ms(self.child_restart_window)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SupervisionPolicy:
        durations = {name: timedelta(milliseconds=int(d[f"{name}_ms"])) for name in _DURATIONS}
        return cls(
            max_restarts=int(d["max_restarts"]),
            backoff_multiplier=float(d["backoff_multiplier"]),
            backoff_jitter=float(d["backoff_jitter"]),
            escalate_after_failures=int(d["escalate_after_failures"]),
            loops=LoopThresholds.from_json(d["loops"]),
            breaker_failures=int(d["breaker_failures"]),
            breaker_max_trips=int(d["breaker_max_trips"]),
            max_child_restarts=int(d.get("max_child_restarts", DEFAULT_CHILD_RESTARTS)),
            child_restart_window=timedelta(
                milliseconds=int(d.get("child_restart_window_ms", _ms(DEFAULT_CHILD_WINDOW)))
            ),
            **durations,
        )


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """Tiered memory for the agent's thread (issue 14): `enabled` makes the thread keep memory
    when the agent is created; its turns' context then gets at most `context_token_budget`
    tokens (0: the budget of the turn's model, which also caps it). `hot_window` is the turns'
    raw window: events older than that before the newest are left to the summaries once an L1
    chunk covers them (engine/memory_context.py); the compaction windows stay the deployment's."""

    context_token_budget: int = 0  # 0: the deployment's budget
    hot_window: timedelta = timedelta(minutes=30)  # raw events kept verbatim in context
    enabled: bool = False

    def to_json(self) -> dict[str, Any]:
        # `enabled` only when set: the JSON (and so the fingerprint) of an agent created
        # before the field existed stays the same.
        out: dict[str, Any] = {
            "context_token_budget": self.context_token_budget,
            "hot_window_ms": _ms(self.hot_window),
        }
        if self.enabled:
            out["enabled"] = True
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MemoryPolicy:
        return cls(
            int(d["context_token_budget"]),
            timedelta(milliseconds=int(d["hot_window_ms"])),
            bool(d.get("enabled", False)),
        )


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent_id: str
    thread_id: str
    user_id: int = 0  # the product's integer user id; 0: none
    models: tuple[str, ...] = ()  # the model ladder; empty: the configured default model
    instructions: str = ""
    tool_policy: ToolPolicy = field(default_factory=ToolPolicy)
    schedules: tuple[ScheduleSpec, ...] = ()
    input_policy: InputPolicy = InputPolicy.ENQUEUE
    supervision: SupervisionPolicy = field(default_factory=SupervisionPolicy)
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    # A child agent (started by its parent's `delegate` tool): its turns' results go to the
    # parent as tool_result frames, and the parent's sleep and pause reach it.
    parent_agent_id: str = ""

    def model_at(self, index: int) -> str:
        """The model of rung `index` of the ladder ("" = the configured default)."""
        if not self.models:
            return ""
        return self.models[min(index, len(self.models) - 1)]

    def schedule(self, schedule_id: str) -> ScheduleSpec | None:
        return next((s for s in self.schedules if s.schedule_id == schedule_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "thread_id": self.thread_id,
            "user_id": self.user_id,
            "models": list(self.models),
            "instructions": self.instructions,
            "tool_policy": self.tool_policy.to_json(),
            "schedules": [s.to_json() for s in self.schedules],
            "input_policy": self.input_policy.value,
            "supervision": self.supervision.to_json(),
            "memory": self.memory.to_json(),
            # Only when set, so the definitions (and fingerprints) of other agents do not change.
            **({"parent_agent_id": self.parent_agent_id} if self.parent_agent_id else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AgentSpec:
        return cls(
            agent_id=d["agent_id"],
            thread_id=d["thread_id"],
            user_id=int(d.get("user_id", 0)),
            models=tuple(d.get("models", ())),
            instructions=d.get("instructions", ""),
            tool_policy=ToolPolicy.from_json(d.get("tool_policy", {})),
            schedules=tuple(ScheduleSpec.from_json(s) for s in d.get("schedules", ())),
            input_policy=InputPolicy(d.get("input_policy", "enqueue")),
            supervision=SupervisionPolicy.from_json(d["supervision"])
            if "supervision" in d
            else SupervisionPolicy(),
            memory=MemoryPolicy.from_json(d["memory"]) if "memory" in d else MemoryPolicy(),
            parent_agent_id=d.get("parent_agent_id", ""),
        )


def _ms(d: timedelta) -> int:
    return d // timedelta(milliseconds=1)


def validate_spec(spec: AgentSpec) -> AgentSpec:
    """Raises InvalidArgument naming the first bad field."""
    if not AGENT_ID_PATTERN.match(spec.agent_id):
        raise InvalidArgument("agent_id", "must be 1-100 characters from [A-Za-z0-9._:-]")
    require_id("thread_id", spec.thread_id)
    if spec.user_id < 0:
        raise InvalidArgument("user_id", "must not be negative")
    if len(spec.models) > MAX_MODELS or any(not m or len(m) > 200 for m in spec.models):
        raise InvalidArgument("models", f"must be at most {MAX_MODELS} non-empty names")
    if len(spec.instructions.encode("utf-8")) > MAX_INSTRUCTIONS_BYTES:
        raise InvalidArgument("instructions", f"must be at most {MAX_INSTRUCTIONS_BYTES} bytes")
    if len(spec.schedules) > MAX_SCHEDULES:
        raise InvalidArgument("schedules", f"must have at most {MAX_SCHEDULES} entries")
    seen: set[str] = set()
    for i, schedule in enumerate(spec.schedules):
        validate_schedule(f"schedules[{i}]", schedule)
        if schedule.schedule_id in seen:
            raise InvalidArgument(f"schedules[{i}].schedule_id", "is used twice")
        seen.add(schedule.schedule_id)
    _validate_supervision(spec.supervision)
    if spec.memory.context_token_budget < 0:
        raise InvalidArgument("memory_policy.context_token_budget", "must not be negative")
    return spec


def validate_schedule(where: str, s: ScheduleSpec) -> None:
    if not SUB_ID_PATTERN.match(s.schedule_id):
        raise InvalidArgument(f"{where}.schedule_id", "must be 1-64 characters from [A-Za-z0-9._-]")
    from croniter import croniter  # here: a service with no schedule to check starts without it

    if len(s.cron.split()) != 5 or not croniter.is_valid(s.cron):
        raise InvalidArgument(f"{where}.cron", "must be a 5-field cron expression")
    try:
        ZoneInfo(s.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(f"{where}.time_zone", "must be an IANA time zone name") from None
    if not 1 <= s.max_catch_up <= 1000:
        raise InvalidArgument(f"{where}.max_catch_up", "must be 1-1000")
    if s.misfire_grace < timedelta(seconds=1):
        raise InvalidArgument(f"{where}.misfire_grace", "must be at least 1 s")


def _validate_supervision(p: SupervisionPolicy) -> None:
    where = "supervision_policy"
    if p.turn_deadline < timedelta(seconds=1):
        raise InvalidArgument(f"{where}.turn_deadline", "must be at least 1 s")
    if p.max_restarts < 0 or p.escalate_after_failures < 1 or p.breaker_failures < 1:
        raise InvalidArgument(where, "max_restarts >= 0, escalate_after_failures and breaker_failures >= 1")
    if not timedelta(0) < p.backoff_initial <= p.backoff_max:
        raise InvalidArgument(f"{where}.backoff_initial", "must be positive and at most backoff_max")
    if not 0 <= p.backoff_jitter <= 1:
        raise InvalidArgument(f"{where}.backoff_jitter", "must be 0-1")
    # With this, a jittered delay never exceeds the next attempt's unjittered one: monotone.
    if p.backoff_multiplier < 1 + p.backoff_jitter:
        raise InvalidArgument(f"{where}.backoff_multiplier", "must be at least 1 + backoff_jitter")
    if p.breaker_max_trips < 1 or not timedelta(0) < p.breaker_cooldown <= p.breaker_cooldown_max:
        raise InvalidArgument(f"{where}.breaker_cooldown", "must be positive, at most breaker_cooldown_max")
    if p.max_child_restarts < 0 or p.child_restart_window < timedelta(seconds=1):
        raise InvalidArgument(f"{where}.max_child_restarts", "must be >= 0, with a window of at least 1 s")
    loops = p.loops
    if min(loops.repeated_call, loops.no_progress) < 2 or loops.ping_pong_cycles < 2:
        raise InvalidArgument(f"{where}.loops", "thresholds must be at least 2")
    if loops.window < max(loops.repeated_call, loops.no_progress, 2 * loops.ping_pong_cycles):
        raise InvalidArgument(f"{where}.loops.window", "must hold the longest loop it looks for")
