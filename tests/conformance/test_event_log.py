"""EventLog conformance: create, append, cancel and read a run's stream, on SQLite and PostgreSQL.

The semantics are those of the `EventLog` Protocol in `oa_runtime.ports` (the
global log by position: test_global_log.py)."""

from __future__ import annotations

import asyncio

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    RunAlreadyExists,
    RunNotFound,
    SeqConflict,
)
from oa_runtime.core.records import AppendResult
from oa_runtime.core.run_state import RunStatus
from oa_runtime.ports import AppendRequest, EventStore

from .helpers import accepted, append, fingerprint, finish, new_run, start_request

# ----- create -----


async def test_create_run_writes_the_accepted_event_as_seq_1(store: EventStore) -> None:
    request = start_request("run-a")
    result = await store.create_run(request, fingerprint(request), accepted())

    assert result.created
    assert result.record.run_id == "run-a"
    assert result.record.status == RunStatus.QUEUED
    assert result.record.last_seq == 1
    stored = await store.read_events("run-a", 0)
    assert [(e.seq, e.type) for e in stored] == [(1, ev.RUN_ACCEPTED)]
    assert list(result.events) == stored  # what the writer publishes is what a replay reads
    assert await store.get_run("run-a") == result.record
    assert await store.oldest_retained_seq("run-a") == 1


async def test_create_run_again_returns_the_run_or_refuses_a_different_request(store: EventStore) -> None:
    request = start_request("run-a")
    first = await store.create_run(request, fingerprint(request), accepted())

    again = await store.create_run(request, fingerprint(request), accepted())
    assert not again.created
    assert again.record == first.record

    other = start_request("run-a", prompt="something else")
    with pytest.raises(RunAlreadyExists):
        await store.create_run(other, fingerprint(other), accepted())
    assert len(await store.read_events("run-a", 0)) == 1


# ----- append -----


async def test_append_gives_dense_seqs_and_updates_the_run_summary(store: EventStore) -> None:
    run_id = await new_run(store)
    first = await append(store, AppendRequest(run_id, [ev.run_started("exec-1", 1), ev.step_started(1)]))
    second = await append(store, AppendRequest(run_id, [ev.message_delta("m1", "Hi"), ev.step_started(2)]))

    assert first.seqs == (2, 3) and not first.replayed
    assert second.seqs == (4, 5)
    assert [e.seq for e in second.events] == [4, 5]
    assert list(second.events) == await store.read_events(run_id, 3)
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.status, record.last_seq, record.step_count) == (RunStatus.RUNNING, 5, 2)
    assert record.updated_at >= record.created_at


async def test_thirty_concurrent_appenders_get_dense_seqs(store: EventStore) -> None:
    run_id = await new_run(store)
    appends_per_task, events_per_append = 4, 2

    async def appender(task: int) -> list[int]:
        seqs: list[int] = []
        for n in range(appends_per_task):
            batch = [ev.message_delta("m1", f"{task}.{n}.{i}") for i in range(events_per_append)]
            seqs += (await append(store, AppendRequest(run_id, batch))).seqs
        return seqs

    per_task = await asyncio.gather(*(appender(t) for t in range(30)))

    total = 30 * appends_per_task * events_per_append
    assert sorted(s for seqs in per_task for s in seqs) == list(range(2, total + 2))
    stored = await store.read_events(run_id, 0, limit=10_000)
    assert [e.seq for e in stored] == list(range(1, total + 2))
    record = await store.get_run(run_id)
    assert record is not None and record.last_seq == total + 1


async def test_a_failed_request_in_a_batch_writes_nothing_and_the_others_commit(store: EventStore) -> None:
    run_a, run_b = await new_run(store), await new_run(store)

    results = await store.append_many(
        [
            AppendRequest(run_a, [ev.step_started(1)], expected_previous_seq=1),
            AppendRequest(run_a, [ev.step_started(2)], expected_previous_seq=1),  # stale now
            AppendRequest(run_b, [ev.step_started(1), ev.message_delta("m1", "x")]),
            AppendRequest("no-such-run", [ev.step_started(1)]),
            AppendRequest(run_a, [ev.message_delta("m1", "y")]),
        ]
    )

    assert isinstance(results[0], AppendResult) and results[0].seqs == (2,)
    assert isinstance(results[1], SeqConflict) and results[1].current_seq == 2
    assert isinstance(results[2], AppendResult) and results[2].seqs == (2, 3)
    assert isinstance(results[3], RunNotFound)
    assert isinstance(results[4], AppendResult) and results[4].seqs == (3,)
    assert [e.type for e in await store.read_events(run_a, 1)] == [ev.STEP_STARTED, ev.MESSAGE_DELTA]
    record_a = await store.get_run(run_a)
    assert record_a is not None and record_a.step_count == 1


async def test_expected_previous_seq_must_match_the_current_seq(store: EventStore) -> None:
    run_id = await new_run(store)
    matching = await append(store, AppendRequest(run_id, [ev.step_started(1)], expected_previous_seq=1))
    assert matching.seqs == (2,)

    with pytest.raises(SeqConflict) as conflict:
        await append(store, AppendRequest(run_id, [ev.step_started(2)], expected_previous_seq=1))
    assert conflict.value.current_seq == 2
    assert conflict.value.metadata["current_seq"] == "2"
    assert len(await store.read_events(run_id, 0)) == 2


async def test_an_idempotency_key_replays_the_same_request_and_refuses_another(store: EventStore) -> None:
    run_id = await new_run(store)
    request = AppendRequest(run_id, [ev.external("note", {"n": 1})], idempotency_key="k1", request_hash="h1")
    first = await append(store, request)

    # A retry: same key and hash, even with a now-stale expected seq, gets the original seqs.
    retry = AppendRequest(
        run_id,
        [ev.external("note", {"n": 1})],
        expected_previous_seq=1,
        idempotency_key="k1",
        request_hash="h1",
    )
    replayed = await append(store, retry)
    assert (replayed.seqs, replayed.replayed) == (first.seqs, True)

    with pytest.raises(IdempotencyKeyReused):
        await append(store, AppendRequest(run_id, [ev.external("note", {"n": 2})], None, "k1", "h2"))
    assert [e.seq for e in await store.read_events(run_id, 0)] == [1, 2]


async def test_resending_the_same_event_ids_is_a_replay(store: EventStore) -> None:
    run_id = await new_run(store)
    request = AppendRequest(run_id, [ev.step_started(1), ev.message_delta("m1", "a")])
    first = await append(store, request)

    again = await append(store, request)
    assert (again.seqs, again.replayed) == (first.seqs, True)
    assert len(await store.read_events(run_id, 0)) == 3


async def test_nothing_is_appended_after_the_run_finished(store: EventStore) -> None:
    run_id = await new_run(store)
    await finish(store, run_id)

    with pytest.raises(IllegalTransition):
        await append(store, AppendRequest(run_id, [ev.message_delta("m1", "late")]))
    stored = await store.read_events(run_id, 0)
    assert [e.type for e in stored] == [ev.RUN_ACCEPTED, ev.RUN_FINISHED]
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.status, record.finish_reason, record.last_seq) == (RunStatus.SUCCEEDED, "stop", 2)


async def test_an_illegal_event_mid_request_writes_none_of_its_events(store: EventStore) -> None:
    run_id = await new_run(store)
    events = [ev.run_finished(ev.OUTCOME_FAILED, "error", "boom"), ev.step_started(1)]

    with pytest.raises(IllegalTransition):
        await append(store, AppendRequest(run_id, events))
    record = await store.get_run(run_id)
    assert record is not None and (record.status, record.last_seq) == (RunStatus.QUEUED, 1)


# ----- cancel -----


async def test_a_cancel_before_the_run_exists_lands_as_seq_2_at_create(store: EventStore) -> None:
    pending = await store.request_cancel("run-later", ev.cancel_requested("user"))
    assert (pending.recorded, pending.seq, pending.pending) == (True, None, True)
    # A second early cancel keeps the first.
    await store.request_cancel("run-later", ev.cancel_requested("second"))

    created = await new_run(store, run_id="run-later")

    stored = await store.read_events(created, 0)
    assert [(e.seq, e.type) for e in stored] == [(1, ev.RUN_ACCEPTED), (2, ev.CANCEL_REQUESTED)]
    assert stored[1].payload["reason"] == "user"
    record = await store.get_run(created)
    assert record is not None and record.status == RunStatus.CANCELING
    # Consumed: cancelling again is a no-op, and another run id is unaffected.
    assert not (await store.request_cancel(created, ev.cancel_requested("again"))).recorded
    assert [(e.seq, e.type) for e in (await store.read_events(await new_run(store), 0))] == [
        (1, ev.RUN_ACCEPTED)
    ]


async def test_a_cancel_is_recorded_once_and_never_after_the_end(store: EventStore) -> None:
    run_id = await new_run(store)
    first = await store.request_cancel(run_id, ev.cancel_requested("user"))
    second = await store.request_cancel(run_id, ev.cancel_requested("user"))

    assert (first.recorded, first.seq, first.pending) == (True, 2, False)
    assert first.event is not None and first.event == (await store.read_events(run_id, 1))[0]
    assert (second.recorded, second.seq) == (False, None)

    ended = await new_run(store)
    await finish(store, ended)
    assert not (await store.request_cancel(ended, ev.cancel_requested("late"))).recorded
    assert len(await store.read_events(ended, 0)) == 2


# ----- reads -----


async def test_read_events_pages_by_cursor(store: EventStore) -> None:
    run_id = await new_run(store)
    await append(store, AppendRequest(run_id, [ev.message_delta("m1", str(i)) for i in range(9)]))

    pages: list[list[int]] = []
    cursor = 0
    while page := await store.read_events(run_id, cursor, limit=4):
        pages.append([e.seq for e in page])
        cursor = page[-1].seq
    assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert [e.payload["delta"] for e in await store.read_events(run_id, 8)] == ["7", "8"]
    assert await store.read_events("no-such-run", 0) == []
    with pytest.raises(RunNotFound):
        await store.oldest_retained_seq("no-such-run")
