"""Runs: start, cancel, read, and append the caller's own events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..core import events as ev
from ..core.admission import Overloaded, OverloadPolicy, ThreadInputPolicy, plan_start
from ..core.errors import InvalidArgument, RunNotFound
from ..core.records import AppendResult, CreateResult, NonceToSpend, RunRecord, StartRequest
from ..core.validation import (
    fingerprint,
    require_id,
    sha256_hex,
    validate_append,
    validate_cursor,
    validate_start,
)
from ..ports import AppendRequest
from .admission import after_create
from .runtime import Runtime

MAX_CANCEL_REASON_CHARS = 1000


async def get_run(rt: Runtime, run_id: str) -> RunRecord:
    record = await rt.store.get_run(require_id("run_id", run_id))
    if record is None:
        raise RunNotFound(run_id)
    return record


async def start_run(
    rt: Runtime,
    start: StartRequest,
    thread_policy: ThreadInputPolicy = ThreadInputPolicy.ENQUEUE,
    overload_policy: OverloadPolicy | None = None,
    nonce: NonceToSpend | None = None,
) -> CreateResult:
    """Creates the run (idempotent by run id) and starts executing it here, or queues it
    behind its thread's unfinished run or for an executor slot (README "Admission and
    overload"); refuses it by the thread or overload policy."""
    start = validate_start(start)
    rt.models.resolve(start.model)  # UnknownModel before anything is written
    # The run records the model that serves it, so GetRun says which one did.
    start = replace(start, model=start.model or rt.models.default_model)
    executor = rt.executor
    has_slot = await _reserve_slot(rt, start.run_id, overload_policy)
    try:
        result = await rt.store.create_run(
            start,
            fingerprint(start),
            ev.run_accepted(start.thread_id, start.model, f"msg-{start.run_id}"),
            # A replica that is shutting down accepts the run but leaves it to its peers.
            lease_owner=None if executor.closing or not has_slot else executor.policy.owner,
            lease_ttl_s=executor.policy.ttl_s,
            plan_start=partial(plan_start, start.thread_id, policy=thread_policy, has_slot=has_slot),
            nonce=nonce,
        )
        rt.broker.publish(result.events)
        if result.cancels:
            rt.broker.publish(result.cancels)
        if not result.record.status.is_terminal and (
            result.lease is not None or (not result.created and has_slot)
        ):
            # A repeated StartRun of a run nobody executes resumes it here, if there is room
            # (a queued run does not jump its queue by being sent again).
            executor.start(start.run_id, result.lease, result.record)
    finally:
        if has_slot:
            rt.admission.unreserve()
    await after_create(rt, result, stop_canceled)
    return result


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    record: RunRecord | None  # None: the run does not exist yet (the cancel waits for it)
    recorded: bool


async def _reserve_slot(rt: Runtime, run_id: str, overload_policy: OverloadPolicy | None) -> bool:
    """An executor slot for the run (in memory: no database round trip), or False when it is
    to queue. A refusal (Overloaded) is for new runs only: a repeat of a recorded run is
    answered by create_run like any repeat (idempotent by run id), without a slot."""
    try:
        return rt.admission.reserve(overload_policy)
    except Overloaded:
        if await rt.store.get_run(run_id) is None:
            rt.admission.refused()
            raise
        return False


async def cancel_run(rt: Runtime, run_id: str, reason: str) -> CancelOutcome:
    """Records the cancel durably (even before the run exists) and stops the run."""
    run_id = require_id("run_id", run_id)
    if len(reason) > MAX_CANCEL_REASON_CHARS:
        raise InvalidArgument("reason", f"must be at most {MAX_CANCEL_REASON_CHARS} characters")
    return await cancel_with(rt, run_id, ev.cancel_requested(reason))


async def cancel_with(rt: Runtime, run_id: str, cancel: ev.NewEvent) -> CancelOutcome:
    """Records `cancel` (a run.cancel_requested event) and stops the run."""
    result = await rt.store.request_cancel(run_id, cancel)
    if result.event is not None:
        rt.broker.publish([result.event])
    record = await _stop(rt, run_id, result.recorded)
    return CancelOutcome(record, result.recorded)


async def stop_canceled(rt: Runtime, run_id: str) -> None:
    """Stops a run whose cancel request was just recorded (by create_run's thread input)."""
    await _stop(rt, run_id, recorded=True)


async def _stop(rt: Runtime, run_id: str, recorded: bool) -> RunRecord | None:
    canceled_here = rt.executor.cancel(run_id)  # before any await: a cancelled caller still stops it
    record = await rt.store.get_run(run_id)
    if not canceled_here and recorded and record and not record.status.is_terminal:
        # Not executing anywhere here (a run waiting for a human holds no task): start
        # it so it records its end at once.
        rt.executor.start(run_id)
        await rt.tell_run_moved(run_id)
    return record


async def append_events(
    rt: Runtime,
    run_id: str,
    items: Sequence[tuple[str, Mapping[str, Any]]],
    idempotency_key: str,
    expected_previous_seq: int | None,
) -> AppendResult:
    """Appends the caller's own events (`kind`, `data`) to a run's log, idempotently by key."""
    run_id = require_id("run_id", run_id)
    validate_append(items, idempotency_key)
    if expected_previous_seq is not None:
        validate_cursor("expected_previous_seq", expected_previous_seq)
    return await rt.writer.append(
        AppendRequest(
            run_id,
            [ev.external(kind, dict(data)) for kind, data in items],
            expected_previous_seq=expected_previous_seq,
            idempotency_key=idempotency_key,
            request_hash=sha256_hex([[k, d] for k, d in items]),
        )
    )
