"""Admission and thread input: what StartRun does when it cannot start a run at once. Pure.

Two questions, answered in this order:
1. Does the thread have a run that has not ended (read in create_run's own transaction)?
   The thread input policy says what the new run does: wait behind it (`enqueue`), cancel
   it and then start (`interrupt`), cancel it and leave it out of the thread's history
   (`rollback`), or not be recorded at all (`reject` -> ThreadBusy, HTTP 409).
2. Has this replica a free executor slot? If not, the overload policy says: wait QUEUED
   (durably; any replica with room takes queued runs in order) or not be recorded at all
   (`reject` -> Overloaded, HTTP 429 with retry-after).
A run that waits gets a `run.queued` event written with its `run.accepted`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from . import events as ev
from .errors import DomainError


class ThreadInputPolicy(enum.StrEnum):
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"
    REJECT = "reject"
    ROLLBACK = "rollback"


class OverloadPolicy(enum.StrEnum):
    QUEUE = "queue"
    REJECT = "reject"


LIMIT_RUNS = "max_running_runs"
LIMIT_STREAMS = "max_open_streams"


class Overloaded(DomainError):
    """The replica is at its limit and the request asked not to wait (HTTP 429)."""

    code = "RESOURCE_EXHAUSTED"
    reason = "OVERLOADED"

    def __init__(self, limit: str, retry_after_s: int) -> None:
        super().__init__(
            f"the replica is at its {limit} limit; retry after {retry_after_s} s",
            limit=limit,
            retry_after_s=retry_after_s,
        )
        self.retry_after_s = retry_after_s


class ThreadBusy(DomainError):
    """The thread has an unfinished run and the thread input policy is reject (HTTP 409)."""

    code = "ABORTED"
    reason = "THREAD_BUSY"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"thread {thread_id!r} has run {run_id!r} that has not ended", thread_id=thread_id, run_id=run_id
        )
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class StartPlan:
    """How a new run starts: at once here (`executes`), or after `waiting_for_run_id`
    ends, or when a replica has room; `cancels` says whether the thread's earlier
    unfinished runs are to be canceled (interrupt, rollback)."""

    executes: bool
    waiting_for_run_id: str = ""
    thread_policy: ThreadInputPolicy = ThreadInputPolicy.ENQUEUE
    queued_for_capacity: bool = False

    @property
    def cancels(self) -> bool:
        return bool(self.waiting_for_run_id) and self.thread_policy in (
            ThreadInputPolicy.INTERRUPT,
            ThreadInputPolicy.ROLLBACK,
        )

    def cancel_event(self, new_run_id: str) -> ev.NewEvent:
        """The cancel request create_run writes on each earlier unfinished run of the thread,
        in the new run's transaction (so no crash or retry can leave them running)."""
        return ev.cancel_requested(
            f"{self.thread_policy.value}: a later run of the thread ({new_run_id}) replaces it",
            by_run_id=new_run_id,
            rollback=rollback_of(self.thread_policy),
        )

    def queued_event(self, position: int) -> ev.NewEvent | None:
        """The `run.queued` event to write with run.accepted (None: the run starts now).
        The runs it cancels are named on their own streams (their cancel events)."""
        if self.waiting_for_run_id:
            return ev.run_queued(
                ev.QUEUED_FOR_THREAD,
                thread_policy=self.thread_policy.value,
                waiting_for_run_id=self.waiting_for_run_id,
            )
        if self.queued_for_capacity:
            return ev.run_queued(ev.QUEUED_FOR_CAPACITY, position=position)
        return None


# What create_run calls with the thread's latest unfinished run id (None: none).
PlanStart = Callable[[str | None], StartPlan]


def plan_start(
    thread_id: str, unfinished_run_id: str | None, policy: ThreadInputPolicy, has_slot: bool
) -> StartPlan:
    """The plan for a new run, given the thread's latest unfinished run (None: none) and
    whether this replica reserved an executor slot for it (the overload policy was
    applied before: a replica that refuses never gets here without a slot)."""
    if unfinished_run_id is None:
        return StartPlan(executes=has_slot, queued_for_capacity=not has_slot)
    if policy is ThreadInputPolicy.REJECT:
        raise ThreadBusy(thread_id, unfinished_run_id)
    return StartPlan(executes=False, waiting_for_run_id=unfinished_run_id, thread_policy=policy)


def rollback_of(policy: ThreadInputPolicy) -> bool:
    return policy is ThreadInputPolicy.ROLLBACK
