"""Builds the messages a model step sees. Pure.

Order: the context frames (one system message, as JSON), the thread history
(the caller's `messages` when given, else the thread's earlier runs), the run's
prompt, then what this run produced so far (its transcript).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .messages import ChatMessage, ToolCall
from .records import StartRequest


def request_history(request: StartRequest) -> list[ChatMessage]:
    """The caller-supplied messages, converted; parts are flattened to text."""
    out: list[ChatMessage] = []
    for m in request.messages:
        content = m.get("content") or _text_of_parts(m.get("parts") or [])
        calls = tuple(
            ToolCall(
                str(c.get("id", "")),
                str(c.get("name", c.get("function", {}).get("name", ""))),
                _as_json(c.get("arguments", c.get("input", {}))),
            )
            for c in (m.get("tool_calls") or [])
        )
        out.append(
            ChatMessage(
                role=str(m.get("role", "user")),
                content=str(content),
                tool_calls=calls,
                tool_call_id=str(m.get("tool_call_id", "")),
                id=str(m.get("id", "")),
            )
        )
    return out


def prompt_message(request: StartRequest) -> list[ChatMessage]:
    return (
        [ChatMessage(role="user", content=request.prompt, id=f"{request.run_id}-prompt")]
        if request.prompt
        else []
    )


def model_context(
    request: StartRequest,
    thread_history: Sequence[ChatMessage],
    transcript: Sequence[ChatMessage],
) -> tuple[ChatMessage, ...]:
    messages: list[ChatMessage] = []
    if request.context_frames:
        frames = json.dumps(list(request.context_frames), sort_keys=True, ensure_ascii=False)
        messages.append(ChatMessage(role="system", content=f"Context frames:\n{frames}"))
    messages.extend(request_history(request) if request.messages else thread_history)
    messages.extend(prompt_message(request))
    messages.extend(transcript)
    return tuple(messages)


def _text_of_parts(parts: Sequence[Any]) -> str:
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text")


def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
