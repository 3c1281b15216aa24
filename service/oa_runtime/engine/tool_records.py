"""What the tool-task runner records, apart from running tools: the result events with
their receipt fields, the canceled results of a run's open calls, and small parsing helpers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from ..core import events as ev
from ..core import tool_tasks as tt
from ..core.artifacts import ArtifactRef
from ..core.messages import ToolCall
from ..core.records import RunRecord
from ..core.run_state import RunState
from ..tools.registry import Tool

log = logging.getLogger(__name__)


class Recorder(Protocol):
    """What the runner needs of the run loop (RunLoop): its state and its appends."""

    record: RunRecord
    state: RunState

    async def append(self, *events: ev.NewEvent, stop_on_cancel: bool = True) -> None: ...

    async def refresh(self) -> None: ...


# ----- cancellation -----


async def record_canceled(loop: Recorder) -> None:
    """Records `canceled` for every open tool call once the run's cancel is in the log.

    Safe to call more than once and from the run's cancel path (RunLoop.finish_canceled
    may call it): it does nothing without a cancel request or open calls."""
    try:
        await loop.refresh()
        state = loop.state
        if not state.cancel_requested or state.is_terminal or not state.pending_tool_calls:
            return
        events = []
        for call in state.pending_tool_calls:
            task = state.task_of(call.id)
            events.append(
                ev.tool_result(
                    call.id,
                    call.name,
                    error_text="the run was canceled",
                    receipt={
                        "state": tt.TaskState.CANCELED.value,
                        "error_class": tt.ERR_CANCELED,
                        "attempt": task.attempt if task else 0,
                        "params_sha256": tt.params_sha256(call.input_json),
                    },
                )
            )
        await loop.append(*events, stop_on_cancel=False)
    except Exception:  # the run's end is recorded anyway; the receipts then say "open"
        log.exception("could not record canceled tool tasks", extra={"run_id": loop.record.run_id})


# ----- helpers -----


def parse_args(input_json: str) -> tuple[dict[str, Any], str]:
    """(arguments, "") or ({}, the problem). Models send "" for a call without arguments."""
    try:
        args = json.loads(input_json or "{}", parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(args, dict):
        return {}, "arguments must be a JSON object"
    return args, ""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def expiry(tool: Tool, now: float) -> str:
    if not tool.approval_timeout_s:
        return ""
    return datetime.fromtimestamp(now + tool.approval_timeout_s, UTC).isoformat()


def result_event(
    call: ToolCall,
    tool: Tool | None,
    state: tt.TaskState,
    *,
    output: str = "",
    error: tuple[str, str] | None = None,
    attempt: int = 0,
    artifact: ArtifactRef | None = None,
) -> ev.NewEvent:
    """The call's `tool.result`. With `artifact`, `output` is the stand-in the model sees and
    the receipt names the stored output (its digest is the output's SHA-256)."""
    error_text, error_class = error or ("", "")
    receipt: dict[str, Any] = {
        "state": state.value,
        "error_class": error_class,
        "attempt": attempt,
        "tool_version": tool.version if tool else "",
        "params_sha256": tt.params_sha256(call.input_json),
        "output_sha256": tt.sha256_text(output) if output else "",
    }
    if artifact is not None:
        receipt["artifact"] = artifact.to_json()
        receipt["output_sha256"] = artifact.sha256
    return ev.tool_result(call.id, call.name, output_json=output, error_text=error_text, receipt=receipt)
