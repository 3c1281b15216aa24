"""The built-in scripted model: offline, deterministic, driven by directives in the prompt.

The prompt (the last user message) holds one directive per line:

    /say <text>              stream <text> word by word
    /tokens <n> [<rate>]     stream "t1 t2 … tn", at most <rate> tokens/s
    /tool <name> <json-args> end the step with a call of tool <name>
    /tools <json-array>      end the step with several calls at once (run in parallel),
                             e.g. /tools [{"name": "sleep", "input": {"ms": 300}}, {"name": "echo"}]
    /fail <message>          fail the step (ModelError, not retryable)
    /sleep <ms>              pause

A memory summary prompt (core/memory/prompt.py) or map/reduce prompt (core/memory/mapreduce.py)
gets its deterministic scripted answer instead. Lines that are not directives are ignored;
a prompt without any directive is echoed back. A step runs directives until a /tool (which ends it with
FinishChunk("tool_calls")) or the end (FinishChunk("stop")). Where a later step
resumes is derived from the messages alone, the number of tool results after
the prompt being the number of calls of the /tool and /tools directives already run, so a step redone
after a restart produces exactly what it produced the first time.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from ..core.events import STEP_STOP, STEP_TOOL_CALLS
from ..core.memory.mapreduce import is_query_prompt, scripted_answer
from ..core.memory.prompt import is_summary_prompt, scripted_summary
from ..core.messages import ChatMessage, ToolCall
from ..ports import FinishChunk, ModelChunk, ModelError, ModelRequest, TextChunk, TokenUsage, ToolCallChunk

SCRIPTED_MODEL = "scripted"

DIRECTIVES = frozenset({"say", "tokens", "tool", "tools", "fail", "sleep"})

# Unpaced /tokens hands the loop back this often so one fast run cannot starve the others.
YIELD_EVERY_TOKENS = 64

_WORDS = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class Directive:
    name: str  # one of DIRECTIVES
    argument: str  # the rest of the line after "/name "


def parse_directives(prompt: str) -> list[Directive]:
    """The prompt's directives in order; lines that are not directives are dropped."""
    directives = []
    for line in prompt.splitlines():
        stripped = line.strip()
        if not stripped.startswith("/"):
            continue
        name, _, argument = stripped[1:].partition(" ")
        if name in DIRECTIVES:
            directives.append(Directive(name, argument))
    return directives


def split_words(text: str) -> list[str]:
    """Word chunks that keep their leading whitespace, so "".join(chunks) == text."""
    words = _WORDS.findall(text)
    trailing = text[len("".join(words)) :]
    if trailing:
        if words:
            words[-1] += trailing
        else:
            words = [trailing]
    return words


def last_user_turn(messages: Sequence[ChatMessage]) -> tuple[str, int]:
    """The last user message's text and how many tool results follow it."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            tool_results = sum(1 for m in messages[index + 1 :] if m.role == "tool")
            return messages[index].content, tool_results
    return "", 0


class ScriptedProvider:
    """Serves the model "scripted" (and "", the default) without any network."""

    name = "scripted"

    def __init__(self, memory_delay_s: float = 0.0) -> None:
        # A pause before each memory answer (RUNTIME_SCRIPTED_MEMORY_DELAY_MS): lets a test
        # kill a server in the middle of a compaction.
        self.memory_delay_s = memory_delay_s

    def serves(self, model: str) -> bool:
        return model in (SCRIPTED_MODEL, "")

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        prompt, tools_done = last_user_turn(request.messages)
        memory_answer = _memory_answer(prompt)
        if memory_answer is not None:
            if self.memory_delay_s:
                await asyncio.sleep(self.memory_delay_s)
            # Memory's summary and map/reduce prompts: a deterministic answer (core/memory/),
            # and a usage report as a real provider's (its own count: whitespace-separated words).
            yield TextChunk(memory_answer)
            prompt_words = sum(len(m.content.split()) for m in request.messages)
            yield FinishChunk(STEP_STOP, TokenUsage(prompt_words, len(memory_answer.split())))
            return
        directives = parse_directives(prompt)
        if not directives:
            for word in split_words(prompt):
                yield TextChunk(word)
            yield FinishChunk(STEP_STOP)
            return

        remaining = _after_tool_directives(directives, tools_done)
        for directive in remaining:
            if directive.name == "tool":
                yield ToolCallChunk(_tool_call(directive.argument, request.step, tools_done))
                yield FinishChunk(STEP_TOOL_CALLS)
                return
            if directive.name == "tools":
                for call in _tool_calls(directive.argument, request.step, tools_done):
                    yield ToolCallChunk(call)
                yield FinishChunk(STEP_TOOL_CALLS)
                return
            async for chunk in _run(directive):
                yield chunk
        yield FinishChunk(STEP_STOP)


def _memory_answer(prompt: str) -> str | None:
    if is_summary_prompt(prompt):
        return scripted_summary(prompt)
    if is_query_prompt(prompt):
        return scripted_answer(prompt)
    return None


def _after_tool_directives(directives: list[Directive], tools_done: int) -> list[Directive]:
    """The directives left once `tools_done` /tool directives have run."""
    if tools_done == 0:
        return directives
    seen = 0
    for index, directive in enumerate(directives):
        if directive.name in ("tool", "tools"):
            seen += 1 if directive.name == "tool" else len(_parse_calls(directive.argument))
            if seen >= tools_done:
                return directives[index + 1 :]
    return []


def _tool_call(argument: str, step: int, ordinal: int) -> ToolCall:
    name, _, args = argument.strip().partition(" ")
    if not name:
        raise ModelError("/tool needs a tool name", retryable=False)
    input_json = args.strip() or "{}"
    try:
        json.loads(input_json)
    except ValueError as err:
        raise ModelError(f"/tool {name}: arguments are not JSON: {err}", retryable=False) from err
    return ToolCall(id=f"call_{step}_{ordinal}", name=name, input_json=input_json)


def _parse_calls(argument: str) -> list[tuple[str, str]]:
    """(name, input_json) of each call of a /tools directive."""
    try:
        calls = json.loads(argument)
    except ValueError as err:
        raise ModelError(f"/tools: not a JSON array: {err}", retryable=False) from err
    if not isinstance(calls, list) or not calls:
        raise ModelError("/tools takes a non-empty JSON array of {name, input}", retryable=False)
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
            raise ModelError("/tools: every call needs a name", retryable=False)
        out.append((call["name"], json.dumps(call.get("input", {}))))
    return out


def _tool_calls(argument: str, step: int, ordinal: int) -> list[ToolCall]:
    return [
        ToolCall(id=f"call_{step}_{ordinal}_{i}", name=name, input_json=input_json)
        for i, (name, input_json) in enumerate(_parse_calls(argument))
    ]


async def _run(directive: Directive) -> AsyncGenerator[TextChunk, None]:
    if directive.name == "say":
        for word in split_words(directive.argument):
            yield TextChunk(word)
    elif directive.name == "tokens":
        async for chunk in _tokens(directive.argument):
            yield chunk
    elif directive.name == "sleep":
        await asyncio.sleep(_number(directive, directive.argument) / 1000)
    elif directive.name == "fail":
        raise ModelError(directive.argument or "scripted failure", retryable=False)


async def _tokens(argument: str) -> AsyncGenerator[TextChunk, None]:
    parts = argument.split()
    directive = Directive("tokens", argument)
    if not 1 <= len(parts) <= 2:
        raise ModelError("/tokens takes <n> [<rate>]", retryable=False)
    count = int(_number(directive, parts[0]))
    rate = _number(directive, parts[1]) if len(parts) == 2 else 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(count):
        if rate > 0:
            # Token i is due at start + i/rate: sleeping to a fixed schedule keeps
            # the average rate exact however late each wake-up is.
            delay = started + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        elif index and index % YIELD_EVERY_TOKENS == 0:
            await asyncio.sleep(0)
        yield TextChunk(f"t{index + 1}" if index == 0 else f" t{index + 1}")


def _number(directive: Directive, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ModelError(f"/{directive.name}: {text!r} is not a number", retryable=False) from None
    if value < 0:
        raise ModelError(f"/{directive.name}: {text!r} is negative", retryable=False)
    return value
