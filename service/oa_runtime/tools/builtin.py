"""Built-in tools for tests and demos: echo, clock, sleep, math, fail."""

from __future__ import annotations

import ast
import asyncio
import json
import operator
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..ports import ToolSpec


class ToolFailed(Exception):
    """The tool ran and reported an error; the model sees the message."""


ToolFn = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    fn: ToolFn
    idempotent: bool = True
    timeout_s: float = 30.0


async def _echo(args: dict[str, Any]) -> Any:
    return args


async def _clock(args: dict[str, Any]) -> Any:
    return {"unix_ms": int(time.time() * 1000)}


async def _sleep(args: dict[str, Any]) -> Any:
    ms = args.get("ms", 0)
    if not isinstance(ms, int | float) or ms < 0:
        raise ToolFailed("ms must be a non-negative number")
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


async def _fail(args: dict[str, Any]) -> Any:
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


async def _math(args: dict[str, Any]) -> Any:
    expression = args.get("expression")
    if not isinstance(expression, str) or len(expression) > 200:
        raise ToolFailed("expression must be a string of at most 200 characters")
    try:
        return {"result": _evaluate(ast.parse(expression, mode="eval"))}
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise ToolFailed(f"cannot evaluate: {exc}") from exc


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {"type": "object", "properties": properties, "required": required}
    return ToolSpec(name, description, schema)


BUILTIN_TOOLS: dict[str, Tool] = {
    t.spec.name: t
    for t in (
        Tool(_spec("echo", "Returns its arguments.", {}, []), _echo),
        Tool(_spec("clock", "Returns the current time.", {}, []), _clock, idempotent=False),
        Tool(_spec("sleep", "Waits ms milliseconds.", {"ms": {"type": "number"}}, ["ms"]), _sleep),
        Tool(
            _spec("math", "Evaluates arithmetic.", {"expression": {"type": "string"}}, ["expression"]),
            _math,
        ),
        Tool(_spec("fail", "Always fails.", {"message": {"type": "string"}}, []), _fail),
    )
}


async def run_tool(tools: dict[str, Tool], name: str, input_json: str) -> tuple[str, str]:
    """Runs a tool call; returns (output_json, error_text), exactly one non-empty."""
    tool = tools.get(name)
    if tool is None:
        return "", f"unknown tool {name!r}"
    try:
        args = json.loads(input_json or "{}")
    except json.JSONDecodeError as exc:
        return "", f"arguments are not valid JSON: {exc.msg}"
    if not isinstance(args, dict):
        return "", "arguments must be a JSON object"
    try:
        output = await asyncio.wait_for(tool.fn(args), tool.timeout_s)
    except ToolFailed as exc:
        return "", str(exc)
    except TimeoutError:
        return "", f"tool {name!r} timed out after {tool.timeout_s:g} s"
    return json.dumps(output, sort_keys=True), ""
