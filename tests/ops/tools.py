"""Python tools for the operations tests (RUNTIME_TOOLS_CONFIG {"python": ["tests.ops.tools:TOOLS"]})."""

from __future__ import annotations

import logging
from typing import Any

from oa_runtime.ports import ToolSpec
from oa_runtime.tools.registry import Tool, ToolContext

log = logging.getLogger("tests.ops.tools")


async def _chatty(args: dict[str, Any], ctx: ToolContext) -> Any:
    """Logs a plain line (no ids passed): the run's log context must add them."""
    log.info("chatty tool ran")
    return {"ok": True}


async def _explodes(args: dict[str, Any], ctx: ToolContext) -> Any:
    raise RuntimeError("boom")


TOOLS = [
    Tool(ToolSpec("chatty", "logs a line", {"type": "object"}), _chatty),
    Tool(ToolSpec("explodes", "raises", {"type": "object"}), _explodes),
]
