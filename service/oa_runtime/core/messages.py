"""Conversation messages as the core sees them (provider- and proto-neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model made: its id, the tool and the JSON arguments."""

    id: str
    name: str
    input_json: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the context sent to a model."""

    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    tool_calls: tuple[ToolCall, ...] = field(default=())
    tool_call_id: str = ""
    id: str = ""
