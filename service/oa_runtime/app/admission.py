"""StartRun's admission and thread input (core/admission.py decides, engine/admission.py
counts): what happens after create_run recorded a run that could not start at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..core.records import CreateResult
from ..observability import admission_metrics as m
from .runtime import Runtime

# Stops a run whose cancel request is recorded (app/runs.py stop_canceled); before its
# first await it has stopped the run's task here, if any.
StopCanceled = Callable[[Runtime, str], Awaitable[None]]


async def after_create(rt: Runtime, result: CreateResult, stop_canceled: StopCanceled) -> None:
    """Counts the decision; under interrupt and rollback, stops the thread's earlier runs,
    whose cancel requests create_run wrote in its transaction (the new run starts once
    they have ended: the claim waits for them). A crash before this point loses nothing:
    a recovered run sees its cancel request and ends."""
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
    m.THREAD_INPUT.labels(plan.thread_policy.value, "canceled" if result.cancels else "queued").inc()
    for cancel in result.cancels:
        await stop_canceled(rt, cancel.run_id)
