"""RetentionStore conformance on both backends, and the retention pass and CLI over it: a
finished run's log is trimmed to one past its latest checkpoint once it finished longer ago
than the raw age, never while a projection still needs its events; the floor moves in the same
transaction, so readers get STALE_CURSOR (floor, requested, head) below it; a stream that was
paging when the floor moved fails in-band; `oa-runtime retention --dry-run` removes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from oa_runtime.api.sse import mapper_at
from oa_runtime.app.retention import retention_pass
from oa_runtime.cli import main as cli_main
from oa_runtime.core import events as ev
from oa_runtime.core.frames import replay_state
from oa_runtime.core.memory.retention import CursorBelowFloor, RetentionClass, RetentionPolicy
from oa_runtime.core.projections import THREAD_MESSAGES
from oa_runtime.core.sync import SYNC_PROJECTION_VERSION
from oa_runtime.engine.broker import Broker
from oa_runtime.engine.projector import Projector
from oa_runtime.engine.streams import stream_batches
from oa_runtime.ports import AppendRequest, EventStore, RetentionStore
from oa_runtime.store.base import SqlStore
from oa_runtime.store.retention import open_retention_store
from oa_runtime.store.sync import open_sync_store

from .conftest import make_store
from .helpers import append, new_run

RAW_NOW = RetentionPolicy(RetentionClass.HOT, {"raw": timedelta(0)})
SUMMARY: dict[str, object] = {  # a pass's summary when nothing was done
    "dry_run": False,
    "runs": 0,
    "agents": 0,
    "workers": 0,
    "events_removed": 0,
    "deferred": 0,
    "artifacts_removed": 0,
    "artifact_bytes_removed": 0,
    "artifacts_deferred": "",
}
LATER = timedelta(seconds=5)


@pytest.fixture
def retention(store: EventStore) -> RetentionStore:
    return open_retention_store(store)


async def finished_run(store: EventStore, thread_id: str = "thread-r", *, steps: int = 3) -> tuple[str, int]:
    """A run of `steps` steps, checkpointed at each step end like the executor does, then
    finished; its id and the last checkpoint's seq."""
    run_id = await new_run(store, thread_id)
    await append(store, AppendRequest(run_id, [ev.run_started("x", 1)]))
    covers = 0
    for step in range(1, steps + 1):
        events = [
            ev.step_started(step),
            ev.message_delta(f"m{step}", f"text {step}"),
            ev.message_completed(f"{run_id}-m{step}", f"text {step}"),
            ev.step_finished(step, ev.STEP_STOP),
        ]
        covers = (await append(store, AppendRequest(run_id, events))).seqs[-1]
        state = await store.run_state(run_id)
        assert state is not None
        await store.save_checkpoint(run_id, covers, state.to_json())
    await append(store, AppendRequest(run_id, [ev.run_finished(ev.OUTCOME_SUCCEEDED, ev.STEP_STOP)]))
    return run_id, covers


async def test_a_finished_run_is_trimmed_to_its_checkpoint(
    store: EventStore, retention: RetentionStore
) -> None:
    run_id, covers = await finished_run(store)
    live = await new_run(store, "thread-live")
    now = datetime.now(UTC)
    assert await retention.retention_candidates(now - LATER, limit=10) == []  # not old enough
    (candidate,) = await retention.retention_candidates(now + LATER, limit=10)
    assert (candidate.run_id, candidate.floor, candidate.checkpoint_seq) == (run_id, 1, covers)
    assert live not in [c.run_id for c in await retention.retention_candidates(now + LATER, limit=10)]

    before = await store.read_events(run_id, 0)
    assert await retention.trim_run(run_id, covers + 1) == covers
    assert await store.oldest_retained_seq(run_id) == covers + 1
    assert await store.read_events(run_id, 0) == before[covers:]  # the rest is untouched
    checkpoint = await store.latest_checkpoint(run_id)
    assert checkpoint is not None and checkpoint.covers_seq == covers  # the resume point stays
    assert await store.latest_checkpoint(run_id, at_or_before=covers - 1) is None
    assert await retention.trim_run(run_id, covers + 1) == 0  # again: nothing left to do
    assert await retention.retention_candidates(now + LATER, limit=10) == []  # done with it


async def test_a_projection_behind_holds_the_trim_back(store: EventStore, retention: RetentionStore) -> None:
    await Projector(store, [THREAD_MESSAGES]).catch_up()  # a checkpoint at the head
    run_id, covers = await finished_run(store)  # written after it: not applied yet
    assert await retention.trim_run(run_id, covers + 1) is None
    assert await store.oldest_retained_seq(run_id) == 1
    await Projector(store, [THREAD_MESSAGES]).catch_up()
    assert await retention.trim_run(run_id, covers + 1) == covers


async def test_the_sync_documents_behind_hold_the_trim_back(
    store: EventStore, retention: RetentionStore
) -> None:
    sync = open_sync_store(store)
    await sync.project_sync(SYNC_PROJECTION_VERSION)  # a sync checkpoint at the head
    run_id, covers = await finished_run(store)  # written after it: not applied yet
    await Projector(store, [THREAD_MESSAGES]).catch_up()  # the other projections are current
    assert await retention.trim_run(run_id, covers + 1) is None
    assert await store.oldest_retained_seq(run_id) == 1
    while (step := await sync.project_sync(SYNC_PROJECTION_VERSION)) is not None and not step.caught_up:
        pass
    assert await retention.trim_run(run_id, covers + 1) == covers


async def test_the_pass_plans_then_trims_every_old_run(store: EventStore, retention: RetentionStore) -> None:
    runs = dict([await finished_run(store, f"thread-{i}", steps=i + 1) for i in range(3)])
    later = datetime.now(UTC) + LATER
    plan = await retention_pass(retention, RAW_NOW, later, dry_run=True, batch=2)
    assert {t.stream_id: (t.old_floor, t.new_floor, t.removed) for t in plan.trims} == {
        r: (1, covers + 1, covers)
        for r, covers in runs.items()  # dry: what would go
    }
    assert all([await store.oldest_retained_seq(r) == 1 for r in runs])
    done = await retention_pass(retention, RAW_NOW, later, dry_run=False, batch=2)
    assert done.summary() == {
        **SUMMARY,
        "dry_run": False,
        "runs": 3,
        "events_removed": sum(runs.values()),
    }
    assert (await retention_pass(retention, RAW_NOW, later, dry_run=False)).trims == []
    kept = RetentionPolicy(RetentionClass.ARCHIVE)
    assert (await retention_pass(retention, kept, later + timedelta(days=9999), dry_run=False)).trims == []


async def test_a_reader_below_the_floor_gets_stale_cursor(
    store: EventStore, retention: RetentionStore
) -> None:
    run_id, covers = await finished_run(store)
    record = await store.get_run(run_id)
    assert record is not None
    head = record.last_seq
    await retention.trim_run(run_id, covers + 1)
    broker = Broker()
    with pytest.raises(CursorBelowFloor) as err:
        [batch async for batch in stream_batches(store, broker, run_id, covers - 1)]
    assert dict(err.value.metadata) == {
        "cursor": str(covers - 1),
        "oldest_seq": str(covers + 1),
        "floor": str(covers + 1),
        "requested": str(covers - 1),
        "head": str(head),
    }
    assert err.value.http_status == "410"
    tail = [
        e.seq
        for batch in [b async for b in stream_batches(store, broker, run_id, covers)]
        for e in batch or []
    ]
    assert tail == list(range(covers + 1, head + 1))


async def test_a_stream_paging_when_the_floor_moves_fails_in_band(
    store: EventStore, retention: RetentionStore
) -> None:
    run_id, covers = await finished_run(store, steps=4)
    batches = stream_batches(store, Broker(), run_id, 0, page_events=2)
    first = await anext(batches)
    assert [e.seq for e in first or []] == [1, 2]
    await retention.trim_run(run_id, covers + 1)
    with pytest.raises(CursorBelowFloor) as err:
        await anext(batches)
    assert err.value.metadata["floor"] == str(covers + 1) and err.value.metadata["requested"] == "2"


async def test_the_cli_dry_run_removes_nothing(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened = make_store(store_url)
    await opened.open()
    run_id, covers = await finished_run(opened)
    await opened.close()
    monkeypatch.setenv("RUNTIME_DATABASE_URL", store_url)

    def run(*args: str) -> list[dict[str, object]]:
        assert cli_main(["retention", "--raw-age-s", "0", *args]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    # asyncio.run inside a running loop is not allowed: run the CLI on a worker thread.
    planned = await asyncio.to_thread(run, "--dry-run")
    trim = {"stream_kind": "run", "stream_id": run_id, "old_floor": 1, "new_floor": covers + 1}
    assert planned == [
        {**trim, "removed": covers, "covered_by": "checkpoint"},
        {**SUMMARY, "dry_run": True, "runs": 1, "events_removed": covers},
    ]
    assert await asyncio.to_thread(run, "--dry-run") == planned  # nothing was removed
    done = await asyncio.to_thread(run)
    assert done[-1] == {**SUMMARY, "dry_run": False, "runs": 1, "events_removed": covers}
    assert cli_main(["retention", "--class", "nope"]) == 2


async def test_a_resume_at_the_floor_needs_nothing_below_it(
    store: EventStore, retention: RetentionStore
) -> None:
    """Bounded replay after retention: the SSE mapper at `floor - 1` starts from the checkpoint
    the floor rests on and reads only the retained events, frame for frame what a fold of the
    whole log (taken before the trim) gives."""
    run_id, covers = await finished_run(store, steps=5)
    log = await store.read_events(run_id, 0)
    reference = replay_state(log, up_to_seq=covers)
    await retention.trim_run(run_id, covers + 1)
    assert isinstance(store, SqlStore)
    before = store.rows_read
    mapper = await mapper_at(store, run_id, covers)
    assert store.rows_read - before == 1  # the checkpoint row: no event is folded
    before = store.rows_read
    await mapper_at(store, run_id, covers + 1)  # run.finished, the last event
    assert store.rows_read - before == 2  # the checkpoint and the one event after it
    rest = log[covers:]
    assert [f for e in rest for f in mapper.feed(e)] == [f for e in rest for f in reference.feed(e)]
