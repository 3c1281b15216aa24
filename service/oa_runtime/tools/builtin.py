"""Built-in tools for tests and demos: echo, clock, sleep, math, fail, ask_user."""

from __future__ import annotations

import ast
import asyncio
import operator
import time
from collections.abc import Callable
from typing import Any

from ..ports import ToolSpec
from .registry import KIND_QUESTION, Tool, ToolContext, ToolFailed, ToolRegistry

__all__ = ["BUILTIN_TOOLS", "Tool", "ToolFailed"]


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
    ]
)
