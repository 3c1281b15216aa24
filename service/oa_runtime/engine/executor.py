"""Supervises one asyncio task per active run, inside the server's TaskGroup.

A run task never lets an exception escape (that would cancel the whole
TaskGroup): unexpected failures end the run `failed{internal_error}`. A cancel
reaches the running task at once (task.cancel), which closes the model stream
and cancels running tools; the task then records the cancellation. Server
shutdown cancels tasks without recording anything: the runs stay unfinished
and resume from their log on the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from ..core import events as ev
from ..core.errors import DependencyUnavailable
from ..models.registry import ModelRegistry
from .run_loop import RunDeps, RunLoop

log = logging.getLogger(__name__)


@dataclass
class _Handle:
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False


class RunExecutor:
    def __init__(self, deps: RunDeps, models: ModelRegistry, task_group: asyncio.TaskGroup) -> None:
        self._deps = deps
        self._models = models
        self._tg = task_group
        self._handles: dict[str, _Handle] = {}
        self._closing = False

    @property
    def active(self) -> int:
        return len(self._handles)

    def start(self, run_id: str) -> None:
        """Starts executing a run unless it is already running here."""
        if self._closing or run_id in self._handles:
            return
        handle = _Handle()
        self._handles[run_id] = handle
        handle.task = self._tg.create_task(self._execute(run_id, handle), name=f"run:{run_id}")

    def cancel(self, run_id: str) -> bool:
        """Stops a run executing here at once; it then records `run.finished{canceled}`."""
        handle = self._handles.get(run_id)
        if handle is None or handle.task is None:
            return False
        if not handle.cancel_requested:
            # Once only: a second task.cancel() would interrupt the task while it
            # records the cancellation.
            handle.cancel_requested = True
            handle.task.cancel()
        return True

    async def resume_unfinished(self) -> int:
        run_ids = await self._deps.store.unfinished_runs()
        for run_id in run_ids:
            self.start(run_id)
        return len(run_ids)

    async def shutdown(self, grace_s: float) -> None:
        """Stops taking runs and cancels the running ones without recording anything."""
        self._closing = True
        tasks = [h.task for h in self._handles.values() if h.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)

    async def _execute(self, run_id: str, handle: _Handle) -> None:
        loop: RunLoop | None = None
        try:
            record = await self._deps.store.get_run(run_id)
            if record is None:
                return
            provider = self._models.resolve(record.request.model)
            loop = RunLoop(self._deps, record, provider)
            await loop.run()
        except asyncio.CancelledError:
            if not handle.cancel_requested or loop is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._record_quietly(loop.finish_canceled(), run_id)
        except DependencyUnavailable as exc:
            # Nothing more can be recorded now; the run stays unfinished and is
            # resumed when the database is back (next start or recovery sweep).
            log.warning("run paused: database unavailable", extra={"run_id": run_id, "error": str(exc)})
        except Exception as exc:
            log.exception("run failed unexpectedly", extra={"run_id": run_id})
            if loop is not None:
                await self._record_quietly(self._fail(loop, exc), run_id)
        finally:
            self._handles.pop(run_id, None)

    async def _fail(self, loop: RunLoop, exc: Exception) -> None:
        await loop.refresh()
        if not loop.state.is_terminal:
            await loop.append(ev.run_finished(ev.OUTCOME_FAILED, "internal_error", type(exc).__name__))

    async def _record_quietly(self, coro: Awaitable[None], run_id: str) -> None:
        try:
            await coro
        except Exception:
            log.exception("could not record the end of a run", extra={"run_id": run_id})
