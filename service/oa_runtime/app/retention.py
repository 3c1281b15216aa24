"""Retention of finished runs' logs: one pass (the `oa-runtime retention` command, or the
server's periodic workload when RUNTIME_RETENTION_INTERVAL_S is set) moves each finished
run's floor as far as what covers its log allows (core/run_retention.py) and removes the
events below it. A dry run reports the same plan and removes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..config import Settings
from ..core.errors import DomainError
from ..core.memory.retention import RetentionClass, RetentionPolicy
from ..core.run_retention import Trim, new_floor
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
    trims: list[Trim] = field(default_factory=list)
    deferred: int = 0  # runs a projection had not caught up with: trimmed by a later pass

    def summary(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "runs": len(self.trims),
            "events_removed": sum(t.removed for t in self.trims),
            "deferred": self.deferred,
        }


async def retention_pass(
    store: RetentionStore, policy: RetentionPolicy, now: datetime, *, dry_run: bool, batch: int = 100
) -> RetentionReport:
    report = RetentionReport(dry_run)
    age = policy.age("raw")
    if age is None:
        return report
    after = ""
    while True:
        page = await store.retention_candidates(now - age, limit=batch, after_run_id=after)
        for candidate in page:
            floor = new_floor(candidate, policy, now)
            if floor is None:
                continue
            if dry_run:
                report.trims.append(Trim(candidate.run_id, candidate.floor, floor))
                continue
            removed = await store.trim_run(candidate.run_id, floor)
            if removed is None:
                report.deferred += 1
            else:
                report.trims.append(Trim(candidate.run_id, candidate.floor, floor, removed))
        if len(page) < batch:
            return report
        after = page[-1].run_id


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
                store, policy, clock(), dry_run=False, batch=settings.retention_batch
            )
        except DomainError as err:
            log.warning("retention pass failed", extra={"reason": err.reason})
            continue
        if report.trims or report.deferred:
            log.info("retention pass", extra=report.summary())
