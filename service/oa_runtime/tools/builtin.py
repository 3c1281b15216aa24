"""Built-in tools: echo, clock, sleep, math, fail, ask_user (tests and demos); artifact_read
(the model reads a large tool output stored as an artifact, a slice at a time); and `timer`,
with which an agent's turn sets or cancels its one-shot timers (`timer_tool`)."""

from __future__ import annotations

import ast
import asyncio
import operator
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..core.artifacts import READ_TOOL, ArtifactScope
from ..core.errors import DomainError
from ..ports import ToolSpec
from .registry import KIND_QUESTION, Tool, ToolContext, ToolFailed, ToolRegistry

__all__ = [
    "BUILTIN_TOOLS",
    "AgentToolsBackend",
    "Tool",
    "ToolFailed",
    "agent_tools",
    "delegate_tool",
    "timer_tool",
]


async def _echo(args: dict[str, Any], ctx: ToolContext) -> Any:
    return args


async def _clock(args: dict[str, Any], ctx: ToolContext) -> Any:
    return {"unix_ms": int(time.time() * 1000)}


async def _sleep(args: dict[str, Any], ctx: ToolContext) -> Any:
    """Sleeps `ms` (cancellable at any moment); with `progress_ms`, reports how long it
    has slept every `progress_ms` milliseconds."""
    ms = float(args["ms"])
    every = float(args.get("progress_ms") or 0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = started + ms / 1000
    if every > 0:
        while end - loop.time() > every / 1000:
            await asyncio.sleep(every / 1000)
            ctx.progress({"slept_ms": round((loop.time() - started) * 1000)})
        await asyncio.sleep(max(0.0, end - loop.time()))
    else:
        await asyncio.sleep(ms / 1000)
    return {"slept_ms": args["ms"]}


async def _fail(args: dict[str, Any], ctx: ToolContext) -> Any:
    raise ToolFailed(str(args.get("message", "tool failed")))


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNOPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ToolFailed("exponent too large")
        result: float | int = _BINOPS[type(node.op)](left, right)
        return result
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNOPS:
        value: float | int = _UNOPS[type(node.op)](_evaluate(node.operand))
        return value
    raise ToolFailed("only numbers and + - * / // % ** ( ) are allowed")


async def _math(args: dict[str, Any], ctx: ToolContext) -> Any:
    try:
        return {"result": _evaluate(ast.parse(args["expression"], mode="eval"))}
    except (SyntaxError, ZeroDivisionError, OverflowError, ValueError) as exc:
        raise ToolFailed(f"cannot evaluate: {exc}") from exc


ARTIFACT_READ_MAX = 32 * 1024
ARTIFACT_READ_DEFAULT = 16 * 1024


async def _artifact_read(args: dict[str, Any], ctx: ToolContext) -> Any:
    """Bytes [offset, offset+length) of an artifact of this run, as text. A slice never ends
    inside a UTF-8 character: `next_offset` is where the next read starts (null at the end)."""
    sha256 = str(args["sha256"])
    if ctx.artifacts is None:
        raise ToolFailed("artifacts are not available here")
    if await ctx.artifacts.find_artifact(ArtifactScope(run_id=ctx.run_id), sha256) is None:
        raise ToolFailed(f"this run has no artifact {sha256}", error_class="artifact_not_found")
    offset = int(args.get("offset", 0))
    length = int(args.get("length", ARTIFACT_READ_DEFAULT))
    data = await ctx.artifacts.read_content(sha256, offset, length)
    if data is None:
        raise ToolFailed(f"the bytes of artifact {sha256} are gone", error_class="artifact_not_found")
    text, used = _utf8_prefix(data)
    size = offset + len(data) if len(data) < length else None
    end = offset + used
    return {
        "sha256": sha256,
        "offset": offset,
        "length": used,
        "text": text,
        "next_offset": None if size is not None and end >= size else end,
    }


def _utf8_prefix(data: bytes) -> tuple[str, int]:
    """The text of `data` up to its last whole UTF-8 character, and how many bytes that is
    (bytes that are not UTF-8 at all become U+FFFD)."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8"), cut
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), len(data)


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {"type": "object", "properties": properties, "required": required}
    return ToolSpec(name, description, schema)


BUILTIN_TOOLS = ToolRegistry(
    [
        Tool(_spec("echo", "Returns its arguments.", {}, []), _echo, idempotent=True, guest_safe=True),
        Tool(_spec("clock", "Returns the current time.", {}, []), _clock, idempotent=True, guest_safe=True),
        # Not guest-safe: a guest must not be able to hold a run (and a slot) for minutes.
        Tool(
            _spec(
                "sleep",
                "Waits ms milliseconds, reporting progress every progress_ms if given.",
                {
                    "ms": {"type": "number", "minimum": 0, "maximum": 86_400_000},
                    "progress_ms": {"type": "number", "minimum": 10},
                },
                ["ms"],
            ),
            _sleep,
            idempotent=True,
        ),
        Tool(
            _spec(
                "math",
                "Evaluates arithmetic.",
                {"expression": {"type": "string", "maxLength": 200}},
                ["expression"],
            ),
            _math,
            idempotent=True,
            guest_safe=True,
        ),
        Tool(_spec("fail", "Always fails.", {"message": {"type": "string"}}, []), _fail, guest_safe=True),
        Tool(
            _spec(
                "ask_user",
                "Asks the user a question and waits for the answer.",
                {"question": {"type": "string", "minLength": 1, "maxLength": 4000}},
                ["question"],
            ),
            guest_safe=True,
            kind=KIND_QUESTION,
        ),
        Tool(
            _spec(
                READ_TOOL,
                "Reads part of a large tool output stored as an artifact (its sha256 is in the"
                " output's `artifact` reference). Returns the text from offset and next_offset.",
                {
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "offset": {"type": "integer", "minimum": 0},
                    "length": {"type": "integer", "minimum": 1, "maximum": ARTIFACT_READ_MAX},
                },
                ["sha256"],
            ),
            _artifact_read,
            idempotent=True,
            guest_safe=True,
        ),
    ]
)


class AgentToolsBackend(Protocol):
    """What the agents' tools need: the agent use cases (app/agents.py `AgentTools`). Each
    raises a DomainError when the run is not its agent's running turn or the input is bad."""

    async def set_timer(
        self, run_id: str, timer_id: str, *, fire_at: datetime | None, after: timedelta | None, text: str
    ) -> datetime: ...

    async def cancel_timer(self, run_id: str, timer_id: str) -> bool: ...

    async def delegate(
        self, run_id: str, tool_call_id: str, child: str, text: str, instructions: str, mode: str = ""
    ) -> dict[str, str]: ...


TIMER_TOOL = "timer"


def timer_tool(backend: AgentToolsBackend) -> Tool:
    """`timer`: an agent's turn sets (at a time or after a delay) or cancels a one-shot timer;
    when it fires, the agent gets a frame of kind `timer` with the timer's text and wakes.
    Setting a timer id again moves it. Only callable from an agent's running turn."""

    async def run(args: dict[str, Any], ctx: ToolContext) -> Any:
        try:
            if args["action"] == "cancel":
                return {
                    "timer_id": args["timer_id"],
                    "canceled": await backend.cancel_timer(ctx.run_id, args["timer_id"]),
                }
            at = datetime.fromisoformat(args["at"]).astimezone(UTC) if args.get("at") else None
            after = timedelta(seconds=float(args["after_seconds"])) if "after_seconds" in args else None
            fire_at = await backend.set_timer(
                ctx.run_id, args["timer_id"], fire_at=at, after=after, text=str(args.get("text", ""))
            )
        except DomainError as err:  # the backend's refusals are the tool's errors
            raise ToolFailed(err.message, error_class=err.reason.lower()) from err
        except ValueError as err:
            raise ToolFailed(f"at must be an RFC 3339 time: {err}") from err
        return {"timer_id": args["timer_id"], "fire_at": fire_at.isoformat().replace("+00:00", "Z")}

    spec = _spec(
        TIMER_TOOL,
        "Sets (action set: at an RFC 3339 time, or after_seconds from now) or cancels (action cancel)"
        " a one-shot timer of this agent; when it fires the agent wakes with a timer frame carrying"
        " text. Setting the same timer_id again moves the timer.",
        {
            "action": {"type": "string", "enum": ["set", "cancel"]},
            "timer_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
            "at": {"type": "string", "maxLength": 64},
            "after_seconds": {"type": "number", "minimum": 0, "maximum": 31_622_400},
            "text": {"type": "string", "maxLength": 4000},
        },
        ["action", "timer_id"],
    )
    return Tool(spec, run, idempotent=True, agent_only=True)


DELEGATE_TOOL = "delegate"


def delegate_tool(backend: AgentToolsBackend) -> Tool:
    """`delegate`: an agent's turn hands work to a child agent (`<agent id>.<child>`, on a thread
    of its own, same user, models and tools), or with `mode: "run"` to a sub-run (one run on a
    thread of its own, identified by this tool call); the answer comes back later as a
    tool_result frame that wakes the agent. Only callable from an agent's running turn."""

    async def run(args: dict[str, Any], ctx: ToolContext) -> Any:
        try:
            return await backend.delegate(
                ctx.run_id,
                ctx.tool_call_id,
                str(args.get("child", "")),
                str(args["text"]),
                str(args.get("instructions", "")),
                str(args.get("mode", "agent")),
            )
        except DomainError as err:  # the backend's refusals are the tool's errors
            raise ToolFailed(err.message, error_class=err.reason.lower()) from err

    spec = _spec(
        DELEGATE_TOOL,
        "Hands a task (text) to the child agent named child (mode agent, the default), which works"
        " on it in its own turns and keeps its conversation; or, with mode run, to a one-off"
        " sub-run on a fresh thread (child not needed). The answer arrives later as a tool result"
        " frame.",
        {
            "mode": {"type": "string", "enum": ["agent", "run"]},
            "child": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "text": {"type": "string", "minLength": 1, "maxLength": 65536},
            "instructions": {"type": "string", "maxLength": 65536},
        },
        ["text"],
    )
    return Tool(spec, run, idempotent=True, agent_only=True)


def agent_tools(backend: AgentToolsBackend) -> list[Tool]:
    """The built-in tools of agents' turns."""
    return [timer_tool(backend), delegate_tool(backend)]
