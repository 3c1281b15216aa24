"""The run's tool policy, enforced before a tool task exists. Pure.

Deny wins over allow; an empty allow list allows every registered tool that is not
denied; `guest_mode` allows only tools declared guest-safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.records import ToolPolicy

if TYPE_CHECKING:
    from .registry import Tool


def denial(policy: ToolPolicy, name: str, tool: Tool | None) -> str | None:
    """Why `policy` forbids calling `name` (the text the model sees), or None if it may."""
    if name in policy.deny:
        return f"the tool {name!r} is denied by this run's tool policy"
    if policy.allow and name not in policy.allow:
        return f"the tool {name!r} is not in this run's allowed tools"
    if policy.guest_mode and (tool is None or not tool.guest_safe):
        return f"the tool {name!r} is not available to guests"
    return None
