"""Supervises one asyncio task per workload this replica holds the lease of,
inside the server's TaskGroup.

A workload is anything implementing `Workload`: it loads its state from its
checkpoint plus the log, works (appending with its lease token as the fence),
and records its own ending when cancelled. The run loop (engine/run_loop.py) is
the first; agents and memory jobs plug in the same way, through a
`WorkloadFactory`, and get the same leases, fencing, handoff and recovery budget.

A run task never lets an exception escape (that would cancel the whole
TaskGroup): unexpected failures end the run `failed{internal_error}`. A cancel
reaches the running task at once (task.cancel), which closes the model stream
and cancels running tools; the task then records the cancellation. A lost
lease (another replica took the run over) or a shutdown cancels the task
without recording anything: the run continues from its log elsewhere or on the
next start. A run whose executors keep dying without progress ends
`failed{executor_recovery_exhausted}` once its recovery budget is spent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..core.errors import DependencyUnavailable, FencedOff
from ..core.leases import Lease
from ..core.records import RunRecord
from ..models.registry import ModelRegistry
from ..ports import Checkpoints, Leases
from .run_loop import RunDeps, RunLoop

log = logging.getLogger(__name__)


class Workload(Protocol):
    """What the executor runs under a lease."""

    @property
    def finished(self) -> bool:
        """The workload has recorded its end (nothing left to run or hold a lease for)."""

    async def run(self) -> None:
        """Loads from the checkpoint plus the log, then works until it ends or must wait."""

    async def finish_canceled(self) -> None:
        """Records the end after a cancel stopped `run` (the task's cancel is undone first)."""

    async def finish_recovery_exhausted(self, attempts: int) -> None:
        """Records the end of a workload whose executors kept dying without progress."""

    async def fail(self, exc: Exception) -> None:
        """Records an unexpected failure as the end."""

    def checkpoint(self) -> tuple[int, dict[str, object]] | None:
        """(covers_seq, state) to save when stopped for a handoff; None if nothing to save."""


# Builds the workload for a stream whose lease was just taken (None: nothing to run).
WorkloadFactory = Callable[[str, Lease, RunRecord | None], Awaitable[Workload | None]]


def run_workloads(deps: RunDeps, models: ModelRegistry) -> WorkloadFactory:
    """The run loop as a workload: a run's record, its model, its lease token as the fence."""

    async def load(run_id: str, lease: Lease, record: RunRecord | None) -> Workload | None:
        record = record or await deps.store.get_run(run_id)
        if record is None:
            return None
        loop = RunLoop(deps, record, models.resolve(record.request.model), fence=lease.token)
        loop.claimed_state = lease.state
        return loop

    return load


class ExecutorStore(Leases, Checkpoints, Protocol):
    """What the executor needs of the store."""


@dataclass
class _Handle:
    task: asyncio.Task[None] | None = None
    lease: Lease | None = None
    record: RunRecord | None = None  # known when the run was just created here
    workload: Workload | None = None
    cancel_requested: bool = False  # record `canceled` once the task stops
    lost: bool = False  # stop quietly: the lease is gone or the replica is leaving


@dataclass(frozen=True)
class LeasePolicy:
    owner: str
    ttl_s: float = 10.0
    recovery_budget: int = 3


class RunExecutor:
    def __init__(
        self,
        store: ExecutorStore,
        task_group: asyncio.TaskGroup,
        policy: LeasePolicy,
        workloads: WorkloadFactory,
    ) -> None:
        self._store = store
        self._workloads = workloads
        self._tg = task_group
        self.policy = policy
        self._handles: dict[str, _Handle] = {}
        self._closing = False
        # Runs whose task stopped while the database was away: their lease is still
        # ours on paper, and the claimer takes it back (EventStore.claim_runs `reclaim`).
        self._orphaned: set[str] = set()
        # Told when a run task ends (engine/admission.py: a slot is free, a run may wait for it).
        self.on_run_ended: Callable[[str], None] = lambda run_id: None

    @property
    def closing(self) -> bool:
        return self._closing

    def running(self) -> list[str]:
        return list(self._handles)

    def executing(self) -> int:
        """How many run tasks this replica has (admission control counts them)."""
        return len(self._handles)

    def leases(self) -> list[Lease]:
        return [h.lease for h in self._handles.values() if h.lease is not None]

    def orphaned(self) -> list[str]:
        return sorted(self._orphaned)

    def start(self, run_id: str, lease: Lease | None = None, record: RunRecord | None = None) -> bool:
        """Executes a run here unless it already runs here. Without a `lease` the
        task claims one first, and does nothing if another replica holds it. A
        `record` (the run just created) saves reading it again."""
        if self._closing or run_id in self._handles:
            return False
        handle = _Handle(lease=lease, record=record)
        self._handles[run_id] = handle
        self._orphaned.discard(run_id)
        handle.task = self._tg.create_task(self._execute(run_id, handle), name=f"run:{run_id}")
        return True

    def cancel(self, run_id: str) -> bool:
        """Stops a run executing here at once; it then records `run.finished{canceled}`."""
        handle = self._handles.get(run_id)
        if handle is None or handle.task is None:
            return False
        if not handle.cancel_requested and not handle.lost:
            # Once only: a second task.cancel() would interrupt the task while it
            # records the cancellation.
            handle.cancel_requested = True
            handle.task.cancel()
        return True

    def lose(self, run_id: str) -> None:
        """The lease is gone: stop the task without recording anything."""
        handle = self._handles.get(run_id)
        if handle is not None and handle.task is not None and not handle.lost:
            handle.lost = True
            if not handle.cancel_requested:
                handle.task.cancel()

    async def handoff(self, grace_s: float) -> int:
        """Shutdown: stops taking runs, stops the running ones without recording an
        ending, checkpoints them and releases their leases so another replica
        continues at once. Returns how many runs were handed off."""
        self._closing = True
        handles = list(self._handles.values())
        for handle in handles:
            if handle.task is not None and not handle.cancel_requested:
                handle.lost = True
                handle.task.cancel()
        tasks = [h.task for h in handles if h.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        leases: list[Lease] = []
        for handle in handles:
            if handle.lease is None or not handle.lost:
                continue
            if handle.task is not None and not handle.task.done():
                # Still running after the grace: keep its lease (it expires), so no
                # peer resumes the run while this task may still write.
                log.warning("run task did not stop in time", extra={"run_id": handle.lease.run_id})
                continue
            leases.append(handle.lease)
            saved = None if handle.workload is None else handle.workload.checkpoint()
            if saved is not None:
                await _quietly(
                    self._store.save_checkpoint(handle.lease.run_id, *saved),
                    "could not checkpoint a run at shutdown",
                )
        await _quietly(
            self._store.release_leases(self.policy.owner, leases), "could not release leases at shutdown"
        )
        return len(leases)

    async def _execute(self, run_id: str, handle: _Handle) -> None:
        """The run's task: runs it, and records how it ended when that was not the run's doing."""
        try:
            await self._claim_and_run(run_id, handle)
        except asyncio.CancelledError:
            workload = handle.workload
            if handle.lost or not handle.cancel_requested or workload is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await _quietly(workload.finish_canceled(), "could not record the end of a run", run_id)
        except FencedOff:
            log.info("run taken over by another replica", extra={"run_id": run_id})
        except DependencyUnavailable as exc:
            # Nothing more can be recorded now; the run keeps its lease on paper and
            # is claimed again (by us or, after expiry, by a peer) when the database is back.
            log.warning("run paused: database unavailable", extra={"run_id": run_id, "error": str(exc)})
            if handle.lease is not None:
                self._orphaned.add(run_id)
        except Exception as exc:
            log.exception("run failed unexpectedly", extra={"run_id": run_id})
            if handle.workload is not None:
                await _quietly(handle.workload.fail(exc), "could not record the end of a run", run_id)
        finally:
            self._handles.pop(run_id, None)
            self.on_run_ended(run_id)

    async def _claim_and_run(self, run_id: str, handle: _Handle) -> None:
        """Claims the run's lease (unless it came with one), builds its workload and runs it,
        or records its end when its executors kept dying; releases a lease nobody needs."""
        if handle.lease is None:
            claimed = await self._store.claim_runs(
                self.policy.owner, self.policy.ttl_s, run_ids=[run_id], exclude=(), limit=1
            )
            if not claimed:
                return  # another replica executes it (or it has ended)
            handle.lease = claimed[0]
        lease = handle.lease
        workload = handle.workload = await self._workloads(run_id, lease, handle.record)
        if workload is None:
            return
        if lease.exhausted(self.policy.recovery_budget):
            log.warning("run recovery budget exhausted", extra={"run_id": run_id})
            await workload.finish_recovery_exhausted(lease.recovery_attempts)
        else:
            await workload.run()
        if not workload.finished:
            # The run waits (for example for an approval): nobody needs to hold it.
            await self._store.release_leases(self.policy.owner, [lease])


async def _quietly(coro: Awaitable[None], message: str, run_id: str = "") -> None:
    try:
        await coro
    except FencedOff:
        pass  # another replica owns the run now; it records the ending
    except Exception:
        log.exception(message, extra={"run_id": run_id} if run_id else None)
