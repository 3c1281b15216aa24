"""The ids of the run a log line belongs to, added to every line logged inside its task.

A run executes in its own asyncio task (and the tool tasks it starts copy its
context), so a ContextVar bound when the run loop is built is seen by every log
call of that run, including the executor's own lines about it, and by nothing else.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Final

from opentelemetry import trace

from ..core.records import RunRecord

_run_ids: Final[ContextVar[dict[str, str] | None]] = ContextVar("oa_runtime_run_ids", default=None)


def bind_run(record: RunRecord) -> None:
    """From now on, log lines of the current task (and tasks it starts) carry the run's ids."""
    request = record.request
    ids = {
        "run_id": request.run_id,
        "thread_id": request.thread_id,
        "user_id": request.user_id,
        "autopilot_id": request.autopilot_id,
    }
    _run_ids.set({k: v for k, v in ids.items() if v})


def current_ids() -> dict[str, str]:
    return dict(_run_ids.get() or {})


class RunContextFilter(logging.Filter):
    """Adds the bound run ids (and the trace id, when tracing) to each record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _run_ids.get()
        if ids:
            for key, value in ids.items():
                if key not in record.__dict__:
                    setattr(record, key, value)
        span = trace.get_current_span().get_span_context()  # invalid unless tracing is on
        if span.is_valid and "trace_id" not in record.__dict__:
            record.trace_id = f"{span.trace_id:032x}"
        return True
