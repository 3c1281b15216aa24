"""`oa-runtime reproject`: finds drift between the Laravel read models and a fresh
fold of the log (core/read_models.py `check`, and `check_agents` for the agents
table), and repairs it by replay.

Repair, in order: a projection of another version is reset (its rows dropped);
the projection is stepped up to the log head (a lagging or reset projection
catches up by replay); runs and threads still drifting are rewritten from their
fold in one transaction each chunk, agents from their runtime rows. A last check
says what, if anything, is left.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.errors import DependencyUnavailable
from ..core.read_models import (
    DRIFT_REASONS,
    LARAVEL_READ_MODELS,
    PROJECTION_VERSION_CHANGED,
    WATERMARK_BEHIND,
    Drift,
    check,
    check_agents,
)
from ..observability import metrics
from ..ports import ProjectionStore, ReadModels

log = logging.getLogger(__name__)

CHUNK_RUNS = 500  # runs per snapshot read (a thread's runs stay in one chunk)


class ReprojectStore(ReadModels, ProjectionStore, Protocol):
    """What reproject and the drift sampler need of the store."""


@dataclass
class Report:
    runs_checked: int = 0
    agents_checked: int = 0
    found: list[Drift] = field(default_factory=list)
    remaining: list[Drift] = field(default_factory=list)
    reconciled: bool = False

    @property
    def ok(self) -> bool:
        """No drift, or all of it repaired."""
        return not self.remaining

    def summary(self) -> dict[str, Any]:
        return {
            "summary": {
                "runs_checked": self.runs_checked,
                "agents_checked": self.agents_checked,
                "drift_found": len(self.found),
                "reconciled": self.reconciled,
                "drift_remaining": len(self.remaining),
            }
        }


def chunks(scope: Sequence[tuple[str, str]], size: int = CHUNK_RUNS) -> list[list[str]]:
    """Run ids in chunks of about `size`, a thread's runs never split (its row is
    checked against all of them)."""
    out: list[list[str]] = []
    current: list[str] = []
    by_thread: dict[str, list[str]] = {}
    for run_id, thread_id in scope:
        by_thread.setdefault(thread_id, []).append(run_id)
    for run_ids in by_thread.values():
        if current and len(current) + len(run_ids) > size:
            out.append(current)
            current = []
        current += run_ids
    if current:
        out.append(current)
    return out


async def find_drift(
    store: ReprojectStore, scope: Sequence[tuple[str, str]], *, threads: bool
) -> list[Drift]:
    drifts: list[Drift] = []
    for run_ids in chunks(scope):
        found = check(await store.read_model_snapshot(run_ids, threads=threads), LARAVEL_READ_MODELS.version)
        if any(d.reason == PROJECTION_VERSION_CHANGED for d in found):
            return found  # every row is of the old version: one drift says it
        drifts += found
    return drifts


async def find_agent_drift(store: ReprojectStore, agent_ids: Sequence[str]) -> list[Drift]:
    drifts: list[Drift] = []
    for start in range(0, len(agent_ids), CHUNK_RUNS):
        snapshot = await store.read_model_agent_snapshot(agent_ids[start : start + CHUNK_RUNS])
        found = check_agents(snapshot, LARAVEL_READ_MODELS.version)
        if any(d.reason == PROJECTION_VERSION_CHANGED for d in found):
            return found
        drifts += found
    return drifts


async def find_all_drift(
    store: ReprojectStore, scope: Sequence[tuple[str, str]], agent_ids: Sequence[str], *, threads: bool
) -> list[Drift]:
    """The runs' (and threads') drift, then the agents'; a changed projection version once."""
    drifts = await find_drift(store, scope, threads=threads)
    if any(d.reason == PROJECTION_VERSION_CHANGED for d in drifts):
        return drifts
    return drifts + await find_agent_drift(store, agent_ids)


async def catch_up(store: ReprojectStore, batch: int = 2000) -> None:
    """Steps the projection to the log head (waits while a server's projector holds it)."""
    while True:
        step = await store.project(LARAVEL_READ_MODELS, batch)
        if step is None:
            await asyncio.sleep(0.05)
        elif step.to_position == step.from_position:
            return


async def rewrite(store: ReprojectStore, scope: Sequence[tuple[str, str]], drifts: Sequence[Drift]) -> None:
    """Rewrites the drifting runs (and every run of a drifting thread) from their fold."""
    runs = {d.id for d in drifts if d.scope == "run"}
    threads = {d.id for d in drifts if d.scope == "thread"}
    wanted = [(r, t) for r, t in scope if r in runs or t in threads]
    for run_ids in chunks(wanted):
        folded = (await store.read_model_snapshot(run_ids, threads=False)).folded()
        models = [m for m in folded.values() if m is not None]
        for attempt in itertools.count():
            if await store.replace_read_models(run_ids, models):
                break
            await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))  # a projector step holds it this instant


async def rewrite_agents(store: ReprojectStore, drifts: Sequence[Drift]) -> None:
    agent_ids = sorted({d.id for d in drifts if d.scope == "agent"})
    for start in range(0, len(agent_ids), CHUNK_RUNS):
        for attempt in itertools.count():
            if await store.replace_read_model_agents(agent_ids[start : start + CHUNK_RUNS]):
                break
            await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))


async def reproject(
    store: ReprojectStore,
    *,
    run_id: str | None = None,
    thread_id: str | None = None,
    agent_id: str | None = None,
    reconcile: bool = False,
) -> Report:
    """Checks one run, one thread, one agent, or (none given) everything; repairs when
    `reconcile`."""
    everything = run_id is None and thread_id is None and agent_id is None
    scope = [] if agent_id is not None else await store.read_model_scope(run_id=run_id, thread_id=thread_id)
    agents = await store.read_model_agent_scope(agent_id) if everything or agent_id is not None else []
    threads = run_id is None  # a single run's thread row depends on runs out of scope
    report = Report(runs_checked=len(scope), agents_checked=len(agents))
    report.found = report.remaining = await find_all_drift(store, scope, agents, threads=threads)
    if not reconcile or not report.found:
        return report
    report.reconciled = True
    if any(d.reason == PROJECTION_VERSION_CHANGED for d in report.found):
        await store.reset_projection(LARAVEL_READ_MODELS.name)
    await catch_up(store)
    left = await find_all_drift(store, scope, agents, threads=threads)
    if left:
        await rewrite(store, scope, left)
        await rewrite_agents(store, left)
        left = await find_all_drift(store, scope, agents, threads=threads)
    report.remaining = left
    return report


class DriftSampler:
    """The periodic drift check: every `every_s`, a random sample of runs against their
    fold; the gauge `oa_runtime_read_model_drift` holds what the latest sample found,
    by reason, and each drift is logged. It repairs nothing (`reproject --reconcile`
    does). A run the projector has not reached yet is lag, not drift: not counted."""

    def __init__(self, store: ReprojectStore, *, every_s: float = 300.0, sample: int = 100) -> None:
        self._store = store
        self._every_s = every_s
        self._sample = sample

    async def check_once(self) -> list[Drift]:
        scope = await self._store.read_model_sample(self._sample)
        drifts = await find_drift(self._store, scope, threads=False)
        found = [d for d in drifts if d.reason != WATERMARK_BEHIND]
        for reason in (r for r in DRIFT_REASONS if r != WATERMARK_BEHIND):
            metrics.READ_MODEL_DRIFT.labels(reason).set(sum(d.reason == reason for d in found))
        for drift in found:
            log.warning("read model drift", extra=drift.to_json())
        return found

    async def run(self) -> None:
        """Until cancelled (a task in the server's TaskGroup)."""
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self.check_once()
            except DependencyUnavailable as exc:
                log.warning("drift check skipped: database unavailable", extra={"error": str(exc)})
