"""Retention: one pass (the `oa-runtime retention` command, or the server's periodic workload
when RUNTIME_RETENTION_INTERVAL_S is set) runs four steps, each paged by id:

1. finished runs: each floor moves as far as what covers its log allows (a checkpoint; on a
   memory thread, L1 chunks too), and the events below it are removed;
2. agents' streams, below what their fold still reads (the frames they hold);
3. Codex workers' streams;
4. artifact bytes no index row or unindexed event references, last stored longer ago than
   the grace period (RUNTIME_ARTIFACT_GC_GRACE_S).

The rules are in core/run_retention.py. A dry run reports what each step would remove and
removes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Settings
from ..core import events as ev
from ..core.errors import DomainError
from ..core.memory.retention import RetentionClass, RetentionPolicy
from ..core.run_retention import STREAM_AGENT, STREAM_WORKER, Trim, new_floor, stream_floor
from ..ports import RetentionStore

log = logging.getLogger(__name__)


def policy_of(settings: Settings) -> RetentionPolicy:
    """The configured class, with the raw age overridden when RUNTIME_RETENTION_RAW_AGE_S is set."""
    try:
        retention_class = RetentionClass(settings.retention_class)
    except ValueError:
        known = ", ".join(c.value for c in RetentionClass)
        raise ValueError(f"RUNTIME_RETENTION_CLASS must be one of {known}") from None
    if settings.retention_raw_age_s is None:
        return RetentionPolicy(retention_class)
    return RetentionPolicy(retention_class, {"raw": timedelta(seconds=settings.retention_raw_age_s)})


@dataclass
class RetentionReport:
    dry_run: bool
    trims: list[Trim] = field(default_factory=list)  # dry: `removed` is what would go
    deferred: int = 0  # streams a projection had not caught up with: trimmed by a later pass
    artifacts: list[tuple[str, int]] = field(default_factory=list)  # (sha256, bytes) collected
    artifacts_deferred: str = ""  # why the collector waited ("" when it ran)

    def summary(self) -> dict[str, object]:
        def streams(kind: str) -> int:
            return sum(1 for t in self.trims if t.stream_kind == kind)

        return {
            "dry_run": self.dry_run,
            "runs": streams(ev.STREAM_RUN),
            "agents": streams(STREAM_AGENT),
            "workers": streams(STREAM_WORKER),
            "events_removed": sum(t.removed for t in self.trims),
            "deferred": self.deferred,
            "artifacts_removed": len(self.artifacts),
            "artifact_bytes_removed": sum(size for _, size in self.artifacts),
            "artifacts_deferred": self.artifacts_deferred,
        }


async def retention_pass(
    store: RetentionStore,
    policy: RetentionPolicy,
    now: datetime,
    *,
    dry_run: bool,
    batch: int = 100,
    artifact_grace: timedelta | None = None,
) -> RetentionReport:
    """The four steps; without `artifact_grace`, no artifact bytes are collected."""
    report = RetentionReport(dry_run)
    age = policy.age("raw")
    if age is not None:
        await _trim_runs(store, policy, now, age, report, batch)
        for kind in (STREAM_AGENT, STREAM_WORKER):
            await _trim_streams(store, kind, now - age, report, batch)
    if artifact_grace is not None:
        await _collect_artifacts(store, now - artifact_grace, report, batch)
    return report


async def _trim_runs(
    store: RetentionStore,
    policy: RetentionPolicy,
    now: datetime,
    age: timedelta,
    report: RetentionReport,
    batch: int,
) -> None:
    after = ""
    while True:
        page = await store.retention_candidates(now - age, limit=batch, after_run_id=after)
        for candidate in page:
            floor = new_floor(candidate, policy, now)
            if floor is not None:
                trim = Trim(ev.STREAM_RUN, candidate.run_id, candidate.floor, floor, 0, candidate.covered_by)
                await _apply(store.trim_run(candidate.run_id, floor), trim, report)
        if len(page) < batch:
            return
        after = page[-1].run_id


async def _trim_streams(
    store: RetentionStore, kind: str, before: datetime, report: RetentionReport, batch: int
) -> None:
    after = ""
    while True:
        page = await store.stream_candidates(kind, before, limit=batch, after_id=after)
        for candidate in page:
            floor = stream_floor(candidate)
            if floor is not None:
                trim = Trim(kind, candidate.stream_id, candidate.floor, floor, 0, "fold")
                await _apply(store.trim_stream(kind, candidate.stream_id, floor), trim, report)
        if len(page) < batch:
            return
        after = page[-1].stream_id


async def _apply(trimming: Coroutine[Any, Any, int | None], trim: Trim, report: RetentionReport) -> None:
    """Does the trim (a dry run reports the events below the new floor: seqs are dense)."""
    if report.dry_run:
        trimming.close()
        report.trims.append(replace(trim, removed=trim.new_floor - trim.old_floor))
        return
    removed = await trimming
    if removed is None:
        report.deferred += 1
    else:
        report.trims.append(replace(trim, removed=removed))


async def _collect_artifacts(
    store: RetentionStore, stored_before: datetime, report: RetentionReport, batch: int
) -> None:
    after = ""
    while True:
        sweep = await store.collect_artifacts(
            stored_before, limit=batch, after_sha256=after, dry_run=report.dry_run
        )
        report.artifacts += sweep.removed
        if sweep.deferred:
            report.artifacts_deferred = sweep.deferred
            return
        if not sweep.full:
            return
        after = sweep.last_key


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def retention_loop(
    store: RetentionStore, settings: Settings, clock: Callable[[], datetime] = _utc_now
) -> None:
    """The periodic workload (a task in the server's TaskGroup): a pass every interval; a
    failed pass (the database down) is logged and the next one tries again."""
    policy = policy_of(settings)
    while True:
        await asyncio.sleep(settings.retention_interval_s)
        try:
            report = await retention_pass(
                store,
                policy,
                clock(),
                dry_run=False,
                batch=settings.retention_batch,
                artifact_grace=timedelta(seconds=settings.artifact_gc_grace_s),
            )
        except DomainError as err:
            log.warning("retention pass failed", extra={"reason": err.reason})
            continue
        if report.trims or report.deferred or report.artifacts or report.artifacts_deferred:
            log.info("retention pass", extra=report.summary())
