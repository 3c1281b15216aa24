"""Loop detection over an agent's recent tool calls.

Three shapes, each with its threshold (spec.LoopThresholds):
- `repeated_call`: the same tool with the same input, N times in a row;
- `ping_pong`: two different calls alternating, A B A B ..., N cycles;
- `no_progress`: the same tool answering the same output N times in a row (a poll whose
  answer never changes, whatever its input says).
The history the agent keeps restarts whenever a turn starts on outside input (a user prompt,
a signal, a cron tick, a tool result): a loop is something the agent does to itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .spec import LoopThresholds

REPEATED_CALL = "repeated_call"
PING_PONG = "ping_pong"
NO_PROGRESS = "no_progress"


@dataclass(frozen=True, slots=True)
class CallDigest:
    """One tool call, as the loop detector sees it."""

    turn: int
    tool_name: str
    input_sha256: str
    output_sha256: str

    @property
    def call_key(self) -> tuple[str, str]:
        return (self.tool_name, self.input_sha256)


@dataclass(frozen=True, slots=True)
class LoopFinding:
    kind: str
    detail: str  # for the model's warning and the pause reason
    count: int  # calls in the loop
    last_turn: int  # the turn of the newest call in it


def detect_loop(calls: Sequence[CallDigest], limits: LoopThresholds) -> LoopFinding | None:
    """The loop the newest calls form, if any (checked at the end of the history only)."""
    if not calls:
        return None
    return (
        _repeated(calls, limits.repeated_call)
        or _ping_pong(calls, limits.ping_pong_cycles)
        or _stuck(calls, limits.no_progress)
    )


def _run_length(calls: Sequence[CallDigest], same: Callable[[CallDigest], object]) -> int:
    """How many of the newest calls share `same(call)` with the newest one."""
    key = same(calls[-1])
    n = 0
    for call in reversed(calls):
        if same(call) != key:
            break
        n += 1
    return n


def _repeated(calls: Sequence[CallDigest], threshold: int) -> LoopFinding | None:
    n = _run_length(calls, lambda c: c.call_key)
    if n < threshold:
        return None
    name = calls[-1].tool_name
    return LoopFinding(
        REPEATED_CALL, f"called {name} with the same input {n} times in a row", n, calls[-1].turn
    )


def _ping_pong(calls: Sequence[CallDigest], cycles: int) -> LoopFinding | None:
    if len(calls) < 2 * cycles:
        return None
    a, b = calls[-2].call_key, calls[-1].call_key
    if a == b:
        return None
    n = 0
    for i, call in enumerate(reversed(calls)):
        if call.call_key != (b if i % 2 == 0 else a):
            break
        n += 1
    if n < 2 * cycles:
        return None
    detail = f"alternated {calls[-2].tool_name} and {calls[-1].tool_name} {n // 2} times"
    return LoopFinding(PING_PONG, detail, n, calls[-1].turn)


def _stuck(calls: Sequence[CallDigest], threshold: int) -> LoopFinding | None:
    n = _run_length(calls, lambda c: (c.tool_name, c.output_sha256))
    if n < threshold:
        return None
    name = calls[-1].tool_name
    detail = f"{name} returned the same result {n} times in a row: no progress"
    return LoopFinding(NO_PROGRESS, detail, n, calls[-1].turn)
