"""Admission control and thread input over real gRPC, on SQLite and PostgreSQL: runs past
the replica's limit wait QUEUED in order with their position visible, or are refused
RESOURCE_EXHAUSTED with retry-after; streams past theirs are refused; the queue survives
a restart; each thread input policy (enqueue, interrupt, reject, rollback)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from oa_runtime.engine.thread_history import thread_history
from oa_runtime.observability.metrics import REGISTRY
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2

from tests.e2e.helpers import error_info, events, start, types
from tests.support.runtime import RuntimeHandle, running_runtime

LONG = "/tokens 100000 200"  # streams until canceled
LIMITS = {"RUNTIME_MAX_RUNNING_RUNS": "2"}


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[RuntimeHandle]:
    async with running_runtime(database_url, LIMITS) as handle:
        yield handle


async def _get(rt: RuntimeHandle, run_id: str) -> run_pb2.Run:
    response = await rt.stub.GetRun(
        run_service_pb2.GetRunRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
    )
    run: run_pb2.Run = response.run
    return run


async def _until(rt: RuntimeHandle, run_id: str, event_type: str) -> run_event_pb2.RunEvent:
    """The run's first event of `event_type`, waiting for it on the run's stream."""
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md(run_id=run_id), timeout=30
    )
    async for message in call:
        if message.event.type == event_type:
            call.cancel()
            event: run_event_pb2.RunEvent = message.event
            return event
    raise AssertionError(f"{run_id} ended without {event_type}")


async def _cancel(rt: RuntimeHandle, run_id: str) -> None:
    await rt.stub.CancelRun(run_service_pb2.CancelRunRequest(run_id=run_id), metadata=rt.md(run_id=run_id))


async def test_runs_past_the_limit_wait_queued_in_order_with_their_position(limited: RuntimeHandle) -> None:
    for i in (1, 2):
        await start(limited, f"r{i}", LONG, thread_id=f"t{i}")
    before = _decisions("run", "queued")
    queued = [await start(limited, f"q{i}", "/say hi", thread_id=f"tq{i}") for i in (1, 2, 3)]
    assert _decisions("run", "queued") - before == 3
    assert all(r.run.state == run_pb2.RUN_STATE_QUEUED for r in queued)
    assert [(await _get(limited, f"q{i}")).queue_position for i in (1, 2, 3)] == [1, 2, 3]
    first = await _until(limited, "q1", "run.queued")
    assert first.run_queued.reason == "capacity" and first.run_queued.position == 1
    assert (await _until(limited, "q3", "run.queued")).run_queued.position == 3

    await _cancel(limited, "r1")  # a slot frees: the oldest queued run takes it
    await _until(limited, "q1", "run.finished")
    await _until(limited, "q2", "run.finished")  # q1 ended: its slot went to q2
    await _until(limited, "q3", "run.finished")
    started = [(await _until(limited, f"q{i}", "run.started")).occurred_at.ToNanoseconds() for i in (1, 2, 3)]
    assert started == sorted(started)
    assert (await _get(limited, "r2")).state == run_pb2.RUN_STATE_RUNNING  # admitted runs kept going
    assert (await _get(limited, "q1")).queue_position == 0
    await _cancel(limited, "r2")


def _decisions(kind: str, outcome: str) -> float:
    """oa_admission_decisions_total of this process (the runtime under test runs in it)."""
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("oa_admission_decisions_total", labels) or 0.0


async def test_overload_reject_refuses_with_retry_after_and_records_nothing(limited: RuntimeHandle) -> None:
    admitted, refused = _decisions("run", "admitted"), _decisions("run", "refused")
    for i in (1, 2):
        await start(limited, f"r{i}", LONG, thread_id=f"t{i}")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await start(
            limited, "r3", "/say hi", thread_id="t3", overload_policy=run_service_pb2.OVERLOAD_POLICY_REJECT
        )
    err = caught.value
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(err)
    assert info.reason == "OVERLOADED" and info.metadata["limit"] == "max_running_runs"
    assert ("retry-after", "1") in list(err.trailing_metadata() or ())
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await _get(limited, "r3")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (_decisions("run", "admitted") - admitted, _decisions("run", "refused") - refused) == (2, 1)
    for i in (1, 2):
        await _cancel(limited, f"r{i}")


async def test_a_repeated_start_at_capacity_answers_the_recorded_run(limited: RuntimeHandle) -> None:
    """StartRun is idempotent by run id: a client retrying a start whose answer it lost gets
    its run, even when the replica is full and the retry asks to be refused rather than queued."""
    for i in (1, 2):
        await start(limited, f"r{i}", LONG, thread_id=f"t{i}")
    refused = _decisions("run", "refused")
    again = await start(
        limited, "r1", LONG, thread_id="t1", overload_policy=run_service_pb2.OVERLOAD_POLICY_REJECT
    )
    assert (again.run_id, again.created, again.run.run_id) == ("r1", False, "r1")
    assert _decisions("run", "refused") == refused  # answered, so not counted as refused
    for i in (1, 2):
        await _cancel(limited, f"r{i}")


async def test_streams_past_the_limit_are_refused(database_url: str) -> None:
    async with running_runtime(database_url, {"RUNTIME_MAX_OPEN_STREAMS": "1"}) as rt:
        await start(rt, "r1", LONG)
        held = rt.stub.StreamRunEvents(
            run_service_pb2.StreamRunEventsRequest(run_id="r1"), metadata=rt.md(run_id="r1")
        )
        await held.read()  # the first stream is open
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await events(rt, "r1")
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info(caught.value).metadata["limit"] == "max_open_streams"
        held.cancel()
        await _cancel(rt, "r1")
        assert types(await events(rt, "r1"))[-1] == "run.finished"  # the slot came back


async def test_the_queue_survives_a_restart_and_drains_in_order(database_url: str) -> None:
    env = {"RUNTIME_MAX_RUNNING_RUNS": "1"}
    async with running_runtime(database_url, env) as rt:
        await start(rt, "r1", LONG, thread_id="t1")
        for i in (1, 2):
            await start(rt, f"q{i}", "/say hi", thread_id=f"tq{i}")
        assert (await _get(rt, "q2")).queue_position == 2
    async with running_runtime(database_url, env) as rt:
        await _until(rt, "r1", "message.delta")  # the admitted run resumed first
        assert [(await _get(rt, f"q{i}")).queue_position for i in (1, 2)] == [1, 2]
        await _cancel(rt, "r1")
        await _until(rt, "q2", "run.finished")
        finished = [(await _until(rt, f"q{i}", "run.finished")) for i in (1, 2)]
        assert all(e.run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED for e in finished)
        started = [(await _until(rt, f"q{i}", "run.started")).occurred_at.ToNanoseconds() for i in (1, 2)]
        assert started[0] <= started[1]


# ----- thread input -----


async def _history_before(database_url: str, run_id: str, thread_id: str) -> list[str]:
    """What the run's model saw from earlier runs (the run loop's own history function),
    read once the service has stopped (a SQLite file has one process at a time)."""
    store = open_store(database_url)
    await store.open()
    try:
        return [m.content for m in await thread_history(store, thread_id, run_id)]
    finally:
        await store.close()


async def test_enqueue_waits_for_the_running_run_and_sees_its_output(database_url: str) -> None:
    async with running_runtime(database_url) as runtime:
        await start(runtime, "a", "/say first answer\n/sleep 300")
        second = await start(runtime, "b", "/say second")  # default policy: enqueue
        assert second.run.state == run_pb2.RUN_STATE_QUEUED
        queued = await _until(runtime, "b", "run.queued")
        assert queued.run_queued.reason == "thread" and queued.run_queued.thread_policy == "enqueue"
        assert queued.run_queued.waiting_for_run_id == "a"
        run_b = await _get(runtime, "b")
        assert run_b.waiting_for_run_id in ("a", "")  # "" once a has ended
        a_end = await _until(runtime, "a", "run.finished")
        b_start = await _until(runtime, "b", "run.started")
        assert a_end.occurred_at.ToNanoseconds() <= b_start.occurred_at.ToNanoseconds()
        assert (
            await _until(runtime, "b", "run.finished")
        ).run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    history = await _history_before(database_url, "b", "t1")
    assert history[0].startswith("/say first answer") and history[1] == "first answer"


async def test_a_queued_run_names_the_run_it_waits_for(runtime: RuntimeHandle) -> None:
    await start(runtime, "a", LONG)
    await start(runtime, "b", "/say second")
    run_b = await _get(runtime, "b")
    assert run_b.state == run_pb2.RUN_STATE_QUEUED and run_b.waiting_for_run_id == "a"
    assert run_b.queue_position == 0
    await _cancel(runtime, "a")
    assert types(await events(runtime, "b"))[-1] == "run.finished"


async def test_reject_refuses_with_the_running_run_id(runtime: RuntimeHandle) -> None:
    await start(runtime, "a", LONG)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await start(runtime, "b", "/say hi", thread_input_policy=run_service_pb2.THREAD_INPUT_POLICY_REJECT)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    info = error_info(caught.value)
    assert info.reason == "THREAD_BUSY" and info.metadata["run_id"] == "a"
    await _cancel(runtime, "a")
    await events(runtime, "a")
    # Once the thread is idle the same request is accepted.
    accepted = await start(
        runtime, "b", "/say hi", thread_input_policy=run_service_pb2.THREAD_INPUT_POLICY_REJECT
    )
    assert accepted.created


async def _replace_running_run(
    runtime: RuntimeHandle, policy: run_service_pb2.ThreadInputPolicy.ValueType
) -> tuple[run_event_pb2.CancelRequested, run_event_pb2.RunFinished, list[run_event_pb2.RunEvent]]:
    """Run "a" streams on t1; "b" arrives with `policy`: (a's cancel, a's end, b's events)."""
    await start(runtime, "a", "/say first words\n" + LONG)
    await _until(runtime, "a", "message.delta")
    await start(runtime, "b", "/say after", thread_input_policy=policy)
    a_events = await events(runtime, "a")
    [cancel] = [e.cancel_requested for e in a_events if e.type == "run.cancel_requested"]
    assert cancel.by_run_id == "b"
    assert a_events[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    b_events = await events(runtime, "b")
    assert b_events[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    return cancel, a_events[-1].run_finished, b_events


async def test_interrupt_cancels_the_running_run_then_starts(database_url: str) -> None:
    async with running_runtime(database_url) as runtime:
        cancel, a_end, b_events = await _replace_running_run(
            runtime, run_service_pb2.THREAD_INPUT_POLICY_INTERRUPT
        )
        assert not cancel.rollback and a_end.reason == "canceled"
        assert b_events[1].run_queued.thread_policy == "interrupt"
    # Interrupted, not rolled back: the run's prompt stays in the thread (its cut-off text never
    # enters a history).
    assert await _history_before(database_url, "b", "t1") == ["/say first words\n" + LONG]


async def test_rollback_cancels_and_leaves_the_run_out_of_the_thread(database_url: str) -> None:
    async with running_runtime(database_url) as runtime:
        cancel, a_end, b_events = await _replace_running_run(
            runtime, run_service_pb2.THREAD_INPUT_POLICY_ROLLBACK
        )
        assert cancel.rollback and a_end.reason == "rolled_back"
        assert b_events[1].run_queued.thread_policy == "rollback"
        state = await runtime.stub.GetThreadState(
            run_service_pb2.GetThreadStateRequest(thread_id="t1"), metadata=runtime.md(thread_id="t1")
        )
        assert all("first words" not in m.content for m in state.messages)
        assert [(r.run_id, r.finish_reason) for r in state.runs] == [("a", "rolled_back"), ("b", "stop")]
        assert [m.content for m in state.messages if m.role == "assistant"] == ["after"]
    assert await _history_before(database_url, "b", "t1") == []


async def test_concurrent_starts_on_one_thread_run_one_at_a_time(runtime: RuntimeHandle) -> None:
    ids = [f"c{i}" for i in range(5)]
    await asyncio.gather(*(start(runtime, run_id, "/say x\n/sleep 50") for run_id in ids))
    spans = []
    for run_id in ids:
        evs = await events(runtime, run_id)
        assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
        began = next(e for e in evs if e.type == "run.started").occurred_at.ToNanoseconds()
        spans.append((began, evs[-1].occurred_at.ToNanoseconds()))
    spans.sort()
    assert all(end <= next_began for (_, end), (next_began, _) in itertools.pairwise(spans))
    second_events = [types(await events(runtime, run_id))[1] for run_id in ids]
    assert second_events.count("run.queued") == 4  # all but the first waited for the thread
