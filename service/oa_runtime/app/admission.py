"""StartRun's admission and thread input (core/admission.py decides, engine/admission.py
counts): what happens after create_run recorded a run that could not start at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..core import events as ev
from ..core.admission import StartPlan, rollback_of
from ..core.records import CreateResult
from ..observability import admission_metrics as m
from .runtime import Runtime


class Canceled(Protocol):
    @property
    def recorded(self) -> bool: ...


# Records a cancel event on a run and stops it (app/runs.py cancel_with).
CancelWith = Callable[[Runtime, str, ev.NewEvent], Awaitable[Canceled]]


async def after_create(rt: Runtime, result: CreateResult, cancel_with: CancelWith) -> None:
    """Counts the decision; under interrupt and rollback, cancels the thread's earlier
    unfinished runs (the new run starts once they have ended: the claim waits for them)."""
    plan = result.plan
    if plan is None or not result.created:
        return
    if plan.queued_for_capacity:
        rt.admission.queued_for_slot()
    elif plan.executes:
        rt.admission.admitted()
    if not plan.waiting_for_run_id:
        return
    rt.admission.await_run(plan.waiting_for_run_id)
    if not plan.cancels:
        m.THREAD_INPUT.labels(plan.thread_policy.value, "queued").inc()
        return
    canceled = await _cancel_earlier_runs(rt, result, plan, cancel_with)
    m.THREAD_INPUT.labels(plan.thread_policy.value, "canceled" if canceled else "queued").inc()


async def _cancel_earlier_runs(
    rt: Runtime, result: CreateResult, plan: StartPlan, cancel_with: CancelWith
) -> int:
    new_run = result.record
    cancel = ev.cancel_requested(
        f"{plan.thread_policy.value}: a later run of the thread ({new_run.run_id}) replaces it",
        by_run_id=new_run.run_id,
        rollback=rollback_of(plan.thread_policy),
    )
    canceled = 0
    for record in await rt.store.thread_runs(new_run.request.thread_id):
        if record.run_id == new_run.run_id:
            break  # oldest first: the rest came after the new run
        if record.status.is_terminal:
            continue
        outcome = await cancel_with(rt, record.run_id, cancel)
        canceled += outcome.recorded
    return canceled
