"""Builds the process's tool registry at start-up.

Sources, later ones replacing earlier tools of the same name:
1. the built-ins;
2. entry points of the group `openagents_runtime.tools` (each names a Tool, a
   ToolRegistry, an iterable of Tools, or a no-argument callable returning one of them);
3. RUNTIME_TOOLS_CONFIG, a JSON file path or inline JSON (starting with "{"):

       {"python": ["package.module:attribute", ...],        # like an entry point
        "remote": [{"name": ..., "url": ..., "input_schema": {...}, "timeout_s": 10,
                    "idempotent": false, "guest_safe": false, "requires_approval": false,
                    "approval_timeout_s": 600, "version": "1", "description": ...}],
        "tools":  {"<name>": {"timeout_s": 5, "requires_approval": true, ...}}}

   "tools" overrides declarations of tools from any source (see registry.OVERRIDABLE).
Then the process-wide defaults fill what a tool left open (timeout, attempts,
approval timeout). A bad configuration fails the start, never a run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..auth.token import Keyring
from ..config import Settings
from .registry import Tool, ToolRegistry, overridden
from .remote import remote_tool

ENTRY_POINT_GROUP = "openagents_runtime.tools"
_CONFIG_KEYS = frozenset({"python", "remote", "tools"})


def load_registry(base: ToolRegistry, settings: Settings, keyring: Keyring) -> ToolRegistry:
    registry = base
    if settings.tool_entry_points:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            registry = registry.with_tools(tools_from(entry_point.load(), entry_point.name))
    config = read_config(settings.tools_config)
    for reference in config.get("python", ()):
        registry = registry.with_tools(tools_from(import_reference(reference), reference))
    registry = registry.with_tools(remote_tool(c, keyring) for c in config.get("remote", ()))
    changes: Mapping[str, Mapping[str, Any]] = config.get("tools", {})
    missing = sorted(set(changes) - set(registry.names()))
    if missing:
        raise ValueError(f"RUNTIME_TOOLS_CONFIG overrides unknown tools: {missing}")
    registry = ToolRegistry(overridden(t, changes[t.name]) if t.name in changes else t for t in registry)
    return registry.with_defaults(
        timeout_s=settings.tool_timeout_s,
        max_attempts=settings.tool_max_attempts,
        approval_timeout_s=settings.approval_timeout_s,
    )


def read_config(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    text = raw if raw.lstrip().startswith("{") else Path(raw).read_text(encoding="utf-8")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"RUNTIME_TOOLS_CONFIG is not JSON: {exc}") from exc
    if not isinstance(config, dict) or set(config) - _CONFIG_KEYS:
        raise ValueError(f"RUNTIME_TOOLS_CONFIG must be an object with keys among {sorted(_CONFIG_KEYS)}")
    return config


def import_reference(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"tool reference {reference!r} must look like package.module:attribute")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def tools_from(value: Any, source: str) -> list[Tool]:
    """The Tools an entry point or reference names."""
    if isinstance(value, Tool):
        return [value]
    if isinstance(value, ToolRegistry):
        return list(value)
    if callable(value):
        return tools_from(value(), source)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        tools = list(value)
        if all(isinstance(t, Tool) for t in tools):
            return tools
    raise ValueError(f"{source}: expected a Tool, a ToolRegistry, Tools or a callable returning them")
