"""Admission control of one replica: how many runs it executes and streams it serves.

Past `max_running_runs`, StartRun (app/runs.py) either records the run without a lease,
QUEUED (it then waits durably; the claimer of any replica with room takes queued runs in
order, core/admission.py and store/admission.py), or refuses it (Overloaded, HTTP 429),
by the request's or the replica's overload policy. Past `max_open_streams`, a new stream
is refused. Below the limits nothing here touches the database: a slot is an in-memory
reservation taken before create_run and turned into the run's task after it.

The claimer (engine/coordinator.py) takes at most `free_slots()` runs per round, and is
woken when a run task here ends while queued runs may exist, or when an earlier run of a
thread that a run waits for (thread input `enqueue`) ends here or, seen through the change
feed, on a peer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..core.admission import LIMIT_RUNS, LIMIT_STREAMS, Overloaded, OverloadPolicy
from ..observability import admission_metrics as m

# The claim round (every RUNTIME_CLAIM_INTERVAL_S) starts a follower whose wake-up was lost.
MAX_AWAITED = 10_000


@dataclass(frozen=True)
class AdmissionSettings:
    max_running_runs: int = 64  # 0: no limit
    max_open_streams: int = 512  # 0: no limit
    overload_policy: OverloadPolicy = OverloadPolicy.QUEUE
    retry_after_s: int = 1  # what a refusal tells the client (HTTP retry-after)


class Admission:
    def __init__(self, settings: AdmissionSettings, executing: Callable[[], int]) -> None:
        self.settings = settings
        self._executing = executing
        self._reserved = 0
        self._streams = 0
        self.wake_claimer: Callable[[], None] = lambda: None  # the coordinator's, once wired
        self.queue_hint = False  # queued runs may exist: claim when a slot frees
        # Runs a run queued here waits for (its thread's), oldest first. An entry for a run
        # that ends on a peer is not removed by its end: the oldest go past MAX_AWAITED.
        self._awaited: dict[str, None] = {}

    # ----- runs -----

    def free_slots(self) -> int:
        limit = self.settings.max_running_runs
        if limit <= 0:
            return 1 << 30
        return max(0, limit - self._executing() - self._reserved)

    def reserve(self, requested: OverloadPolicy | None) -> bool:
        """Takes an executor slot for a new run (True), or says it must queue (False);
        raises Overloaded when the policy is to refuse. While queued runs may wait, a free
        slot is theirs (the claimer takes them oldest first): a new run queues behind them
        instead of overtaking them in the moment between a run's end and the claim."""
        if self.free_slots() > 0:
            if self.queue_hint and self.settings.max_running_runs > 0:
                return False
            self._reserved += 1
            return True
        if (requested or self.settings.overload_policy) is OverloadPolicy.REJECT:
            raise Overloaded(LIMIT_RUNS, self.settings.retry_after_s)  # counted by refused()
        return False

    def refused(self) -> None:
        """StartRun answered the Overloaded of `reserve` (not a repeat of a recorded run)."""
        m.RUN_REFUSED.inc()

    def unreserve(self) -> None:
        """The reserved slot became the run's task (or was not needed)."""
        self._reserved -= 1
        m.RUNS_EXECUTING.set(self._executing())

    def queued_for_slot(self) -> None:
        m.RUN_QUEUED.inc()
        self.queue_hint = True
        if self.free_slots() > 0:  # it queued behind others while a slot is free: claim now
            self.wake_claimer()

    def admitted(self) -> None:
        m.RUN_ADMITTED.inc()

    def await_run(self, run_id: str) -> None:
        """A run queued here waits for `run_id` (of its thread) to end."""
        self._awaited[run_id] = None
        if len(self._awaited) > MAX_AWAITED:
            del self._awaited[next(iter(self._awaited))]

    def claimed(self, count: int, limit: int, queue_depth: int | None) -> None:
        """A claim round took `count` runs of at most `limit`; `queue_depth` when it read one
        (at capacity: then queued runs exist exactly when the depth says so)."""
        self.queue_hint = count >= limit if queue_depth is None else queue_depth > 0
        m.QUEUE_DEPTH.set(queue_depth or 0)
        m.RUNS_EXECUTING.set(self._executing())

    def run_ended(self, run_id: str) -> None:
        """A run task here ended: its slot is free, and a run may wait for it."""
        awaited = run_id in self._awaited
        self._awaited.pop(run_id, None)
        m.RUNS_EXECUTING.set(self._executing())
        if awaited or self.queue_hint:
            self.wake_claimer()

    def peer_appended(self, run_id: str) -> None:
        """A peer appended to `run_id`: if a run waits for it, it may have ended."""
        if run_id in self._awaited:
            self.wake_claimer()

    # ----- streams -----

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[None]:
        """Holds one of the replica's stream slots, or raises Overloaded."""
        limit = self.settings.max_open_streams
        if 0 < limit <= self._streams:
            m.STREAM_REFUSED.inc()
            raise Overloaded(LIMIT_STREAMS, self.settings.retry_after_s)
        self._streams += 1
        m.STREAM_ADMITTED.inc()
        m.STREAMS_OPEN.set(self._streams)
        try:
            yield
        finally:
            self._streams -= 1
            m.STREAMS_OPEN.set(self._streams)
