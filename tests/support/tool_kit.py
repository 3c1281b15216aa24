"""Python tools for the tool-task tests, registered through RUNTIME_TOOLS_CONFIG
({"python": ["tests.support.tool_kit:TOOLS"]}). They run inside the in-process service,
so a test can see exactly which calls executed (`EXECUTED`)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from oa_runtime.ports import ToolSpec
from oa_runtime.tools.registry import Tool, ToolContext, ToolFailed

# (run_id, tool name, tool_call_id, attempt) of every execution that began.
EXECUTED: list[tuple[str, str, str, int]] = []
_failures_left: dict[tuple[str, str], int] = defaultdict(lambda: 2)


def executed(run_id: str, name: str | None = None) -> list[tuple[str, str, str, int]]:
    return [e for e in EXECUTED if e[0] == run_id and (name is None or e[1] == name)]


def _note(name: str, ctx: ToolContext) -> None:
    EXECUTED.append((ctx.run_id, name, ctx.tool_call_id, ctx.attempt))


def _recorder(name: str) -> Any:
    async def record(args: dict[str, Any], ctx: ToolContext) -> Any:
        _note(name, ctx)
        return {"recorded": args.get("value")}

    return record


def _sleeper(name: str) -> Any:
    async def sleeper(args: dict[str, Any], ctx: ToolContext) -> Any:
        _note(name, ctx)
        await asyncio.sleep(float(args.get("ms", 0)) / 1000)
        return {"done": True}

    return sleeper


def _flaky(name: str) -> Any:
    async def flaky(args: dict[str, Any], ctx: ToolContext) -> Any:
        """Fails retryably twice per call, then succeeds."""
        _note(name, ctx)
        key = (ctx.run_id, ctx.tool_call_id)
        if _failures_left[key] > 0:
            _failures_left[key] -= 1
            raise ToolFailed("temporarily unavailable", error_class="unavailable", retryable=True)
        return {"attempt": ctx.attempt}

    return flaky


async def _broken_output(args: dict[str, Any], ctx: ToolContext) -> Any:
    return {"not json": object()}


async def _big_output(args: dict[str, Any], ctx: ToolContext) -> Any:
    """About `bytes` bytes of numbered lines (an output stored as an artifact)."""
    lines = (f"line {i:07d}\n" for i in range(int(args["bytes"]) // 13 + 1))
    return {"text": "".join(lines)}


def _spec(name: str, properties: dict[str, Any] | None = None) -> ToolSpec:
    return ToolSpec(name, f"test tool {name}", {"type": "object", "properties": properties or {}})


TOOLS = [
    Tool(_spec("record", {"value": {"type": "string"}}), _recorder("record"), version="2.1"),
    Tool(_spec("guarded", {"value": {"type": "string"}}), _recorder("guarded"), requires_approval=True),
    Tool(_spec("guarded_quick"), _recorder("guarded_quick"), requires_approval=True, approval_timeout_s=0.5),
    Tool(_spec("slow", {"ms": {"type": "number"}}), _sleeper("slow")),  # not idempotent: never re-run
    Tool(_spec("stall", {"ms": {"type": "number"}}), _sleeper("stall"), timeout_s=0.3),
    Tool(_spec("flaky"), _flaky("flaky"), idempotent=True, max_attempts=3),
    Tool(_spec("flaky_once"), _flaky("flaky_once")),  # the same failure, not idempotent: no retry
    Tool(_spec("broken_output"), _broken_output),
    Tool(_spec("big_output", {"bytes": {"type": "integer"}}), _big_output, idempotent=True),
]
