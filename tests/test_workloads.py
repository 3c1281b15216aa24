"""The executor runs any Workload under the same leases, fencing, handoff and
recovery budget as the run loop. `Tally` is a second workload (not a run loop):
it appends to its stream with its lease token as the fence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.errors import FencedOff
from oa_runtime.core.leases import Lease
from oa_runtime.core.records import RunRecord
from oa_runtime.engine.executor import LeasePolicy, RunExecutor, Workload
from oa_runtime.ports import AppendRequest
from oa_runtime.store import SqliteEventStore

from tests.conformance.helpers import new_run


class Tally:
    """Appends `count` deltas, then finishes; or blocks (`block`) until cancelled."""

    def __init__(
        self, store: SqliteEventStore, run_id: str, lease: Lease, block: bool, started: asyncio.Event
    ) -> None:
        self.store, self.run_id, self.lease = store, run_id, lease
        self.count, self.block = 3, block
        self.calls: list[str] = []
        self.ended = False
        self.started = started

    @property
    def finished(self) -> bool:
        return self.ended

    async def _append(self, *events: ev.NewEvent) -> None:
        [result] = await self.store.append_many([AppendRequest(self.run_id, events, fence=self.lease.token)])
        if isinstance(result, Exception):
            raise result

    async def run(self) -> None:
        self.calls.append("run")
        self.started.set()
        for n in range(self.count):
            await self._append(ev.message_delta("m", str(n)))
        if self.block:
            await asyncio.Event().wait()
        await self._append(ev.run_finished(ev.OUTCOME_SUCCEEDED, ev.STEP_STOP))
        self.ended = True

    async def finish_canceled(self) -> None:
        self.calls.append("canceled")
        await self._append(ev.run_finished(ev.OUTCOME_CANCELED, "canceled"))
        self.ended = True

    async def finish_recovery_exhausted(self, attempts: int) -> None:
        self.calls.append(f"exhausted:{attempts}")
        self.ended = True

    async def fail(self, exc: Exception) -> None:
        self.calls.append(f"failed:{type(exc).__name__}")

    def checkpoint(self) -> tuple[int, dict[str, object]] | None:
        return (1, {"tally": self.count})


class Harness:
    def __init__(self, store: SqliteEventStore, tg: asyncio.TaskGroup, *, block: bool = False) -> None:
        self.store = store
        self.loaded: dict[str, Tally] = {}
        self.block = block
        self.started = asyncio.Event()  # a workload's run() began
        self.executor = RunExecutor(store, tg, LeasePolicy("tally@1", ttl_s=30, recovery_budget=2), self.load)

    async def load(self, run_id: str, lease: Lease, record: RunRecord | None) -> Workload | None:
        tally = self.loaded[run_id] = Tally(self.store, run_id, lease, self.block, self.started)
        return tally


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    opened = SqliteEventStore(str(tmp_path / "w.db"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_workload_runs_under_its_lease_and_appends_fenced(store: SqliteEventStore) -> None:
    run_id = await new_run(store)
    async with asyncio.TaskGroup() as tg:
        harness = Harness(store, tg)
        assert harness.executor.start(run_id)  # claims the lease itself
    tally = harness.loaded[run_id]
    assert tally.calls == ["run"] and tally.lease.token == 1
    assert [e.type for e in await store.read_events(run_id, 1)] == [ev.MESSAGE_DELTA] * 3 + [ev.RUN_FINISHED]
    # A stale token is fenced off: the lease is what lets a workload write.
    stale = AppendRequest(run_id, [ev.message_delta("m", "x")], fence=0)
    assert isinstance((await store.append_many([stale]))[0], FencedOff)


async def test_the_recovery_budget_ends_a_workload_instead_of_running_it(store: SqliteEventStore) -> None:
    run_id = await new_run(store)
    async with asyncio.TaskGroup() as tg:
        harness = Harness(store, tg)
        harness.executor.start(run_id, Lease(run_id, token=1, recovery_attempts=3))
    assert harness.loaded[run_id].calls == ["exhausted:3"]


async def test_a_cancel_stops_the_workload_which_records_its_end(store: SqliteEventStore) -> None:
    run_id = await new_run(store)
    async with asyncio.TaskGroup() as tg:
        harness = Harness(store, tg, block=True)
        harness.executor.start(run_id)
        await harness.started.wait()
        assert harness.executor.cancel(run_id)
    assert harness.loaded[run_id].calls == ["run", "canceled"]
    events = await store.read_events(run_id, 0)
    assert events[-1].payload["outcome"] == ev.OUTCOME_CANCELED


async def test_a_handoff_checkpoints_the_workload_and_releases_its_lease(store: SqliteEventStore) -> None:
    run_id = await new_run(store)
    async with asyncio.TaskGroup() as tg:
        harness = Harness(store, tg, block=True)
        harness.executor.start(run_id)
        await harness.started.wait()
        assert await harness.executor.handoff(5.0) == 1
    assert harness.loaded[run_id].calls == ["run"]  # stopped quietly, no ending recorded
    checkpoint = await store.latest_checkpoint(run_id)
    assert checkpoint is not None and checkpoint.state == {"tally": 3}
    # Released: another replica takes the lease at once.
    taken = await store.claim_runs("other@1", 30, run_ids=[run_id], exclude=(), limit=1)
    assert [lease.token for lease in taken] == [2]
