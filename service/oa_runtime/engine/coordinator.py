"""What makes replicas work together on one database (leases and change feed).

Three loops, all in the server's TaskGroup:
- the claimer takes runs nobody executes (new, released, expired, or held by a
  dead replica) every `claim_interval_s`, and at once when woken (a peer
  released leases, the database came back, the listener reconnected, or on
  PostgreSQL a peer's liveness connection disappeared: the store's peer watch
  calls `on_runnable` within ~50 ms of a kill, so a takeover does not wait for
  the next round; see store/postgres_leases.py);
- the keeper renews this replica's leases every third of their TTL; a lease it
  no longer holds stops its run task quietly, and a run the database says is
  `canceling` is cancelled here (the fallback when a cancel notification from
  another replica was missed);
- the listener (EventStore.listen) turns other replicas' notifications into
  broker pokes (streams), cancels and claims, and a poller reads the last seq
  of every streamed run that is executed elsewhere, for notifications missed.
On SQLite the listener only waits and nothing is polled: one process writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..core.errors import DependencyUnavailable
from ..core.run_state import RunStatus
from ..observability import metrics
from ..ports import EventStore
from .admission import Admission, AdmissionSettings
from .broker import Broker
from .executor import RunExecutor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoordinationSettings:
    claim_interval_s: float = 1.0
    claim_batch: int = 100
    stream_poll_s: float = 1.0
    poll_streams: bool = True  # off for single-node stores


class Coordinator:
    def __init__(
        self,
        store: EventStore,
        broker: Broker,
        executor: RunExecutor,
        settings: CoordinationSettings,
        admission: Admission | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._executor = executor
        self._settings = settings
        self._admission = admission or Admission(AdmissionSettings(0, 0), executor.executing)
        self._admission.wake_claimer = self.wake
        executor.on_run_ended = self._admission.run_ended
        self._claim_now = asyncio.Event()
        self._poll_now = asyncio.Event()
        self._stopping = False

    # ----- ChangeHandler (called by the store's listener) -----

    def on_appended(self, run_id: str, seq: int) -> None:
        self._broker.poke(run_id, seq)
        self._admission.peer_appended(run_id)

    def on_cancel(self, run_id: str) -> None:
        self._executor.cancel(run_id)

    def on_runnable(self) -> None:
        self._claim_now.set()

    def on_resync(self) -> None:
        self._claim_now.set()
        self._poll_now.set()

    # ----- loops -----

    def wake(self) -> None:
        """Claim at once (the database is back, or a run became runnable)."""
        self._claim_now.set()

    def stop(self) -> None:
        self._stopping = True
        self._claim_now.set()
        self._poll_now.set()

    async def claim_once(self) -> int:
        """Claims what is claimable now (in batches) and starts it; returns the count."""
        total = 0
        while not self._stopping and not self._executor.closing:
            # Admission control: never more runs than the replica has free slots for.
            limit = min(self._settings.claim_batch, self._admission.free_slots())
            if limit <= 0:
                self._admission.claimed(0, 0, await self._store.queue_length())
                break
            leases = await self._store.claim_runs(
                self._executor.policy.owner,
                self._executor.policy.ttl_s,
                run_ids=None,
                exclude=self._executor.running(),
                limit=limit,
                reclaim=self._executor.orphaned(),
            )
            self._admission.claimed(len(leases), limit, None)
            for lease in leases:
                # A lease with recovery attempts was taken from an owner that never released it.
                metrics.LEASE_CLAIMS.labels("takeover" if lease.recovery_attempts else "new").inc()
                if not self._executor.start(lease.run_id, lease, lease.record):
                    # Already running here (raced with a local start) or closing:
                    # give it back rather than hold a lease nobody uses.
                    await self._store.release_leases(self._executor.policy.owner, [lease])
            total += len(leases)
            if len(leases) < limit:
                break
        return total

    async def claim_loop(self) -> None:
        await claim_forever(
            self.claim_once, self._claim_now, self._settings.claim_interval_s, lambda: self._stopping, "claim"
        )

    async def keep_loop(self) -> None:
        policy = self._executor.policy
        interval = policy.ttl_s / 3
        last_ok = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(interval)
            held = self._executor.leases()
            try:
                statuses = await self._store.renew_leases(policy.owner, held, policy.ttl_s)
            except DependencyUnavailable as exc:
                if time.monotonic() - last_ok > policy.ttl_s:
                    # Our leases have expired; a peer may own these runs now.
                    for lease in held:
                        self._executor.lose(lease.run_id)
                log.warning("lease renewal failed", extra={"error": str(exc)})
                continue
            except Exception:
                log.exception("lease renewal failed")
                continue
            last_ok = time.monotonic()
            for lease in held:
                status = statuses.get(lease.run_id)
                if status is None:
                    log.warning("lease lost", extra={"run_id": lease.run_id})
                    metrics.LEASES_LOST.inc()
                    self._executor.lose(lease.run_id)
                elif status == RunStatus.CANCELING.value:
                    self._executor.cancel(lease.run_id)

    async def poll_loop(self) -> None:
        """Catches streams up when notifications were missed (polling fallback)."""
        if not self._settings.poll_streams:
            return
        while not self._stopping:
            await wait_event(self._poll_now, self._settings.stream_poll_s)
            local = set(self._executor.running())  # our own writer publishes those
            positions = {r: s for r, s in self._broker.positions().items() if r not in local}
            if not positions:
                continue
            try:
                latest = await self._store.last_seqs(list(positions))
            except DependencyUnavailable:
                continue
            except Exception:
                log.exception("stream poll failed")
                continue
            for run_id, seq in latest.items():
                if seq > positions[run_id]:
                    self._broker.poke(run_id, seq)


async def claim_forever(
    claim_once: Callable[[], Awaitable[int]],
    claim_now: asyncio.Event,
    interval_s: float,
    stopping: Callable[[], bool],
    what: str,
) -> None:
    """Claims every `interval_s`, and at once when `claim_now` is set, until `stopping()`; a
    failed round is logged (the next one tries again)."""
    while not stopping():
        try:
            await claim_once()
        except DependencyUnavailable as exc:
            log.warning(f"{what} failed: database unavailable", extra={"error": str(exc)})
        except Exception:
            log.exception(f"{what} failed")
        await wait_event(claim_now, interval_s)


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Waits until `event` is set or `timeout_s` passed, then clears it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):  # not wait_for: it can drop a cancel (3.11)
            await event.wait()
    event.clear()
