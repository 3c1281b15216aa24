"""Cancellation races, concurrent readers, external appends and bad input, over
real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.protobuf import struct_pb2
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2

from tests.e2e.helpers import error_info, events, start, types
from tests.support.runtime import RuntimeHandle


async def _cancel(rt: RuntimeHandle, run_id: str) -> run_service_pb2.CancelRunResponse:
    response: run_service_pb2.CancelRunResponse = await rt.stub.CancelRun(
        run_service_pb2.CancelRunRequest(run_id=run_id, reason="user pressed stop"),
        metadata=rt.md(run_id=run_id),
    )
    return response


async def _wait_for_type(rt: RuntimeHandle, run_id: str, event_type: str) -> None:
    call = rt.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
    )
    async for message in call:
        if message.event.type == event_type:
            call.cancel()
            return


async def test_cancel_stops_a_streaming_run_at_once(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/tokens 100000 200")
    await _wait_for_type(runtime, "r1", "message.delta")
    began = time.monotonic()
    response = await _cancel(runtime, "r1")
    evs = await events(runtime, "r1")
    assert time.monotonic() - began < 1.0
    assert response.cancel_recorded
    assert (
        evs[-1].type == "run.finished" and evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    )
    assert evs[-2].step_finished.reason == run_event_pb2.STEP_FINISH_REASON_INTERRUPTED
    assert types(evs).count("run.cancel_requested") == 1


async def test_racing_cancels_give_exactly_one_terminal_event(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/tokens 100000 500")
    await _wait_for_type(runtime, "r1", "message.delta")
    responses = await asyncio.gather(*(_cancel(runtime, "r1") for _ in range(6)))
    assert sum(r.cancel_recorded for r in responses) == 1
    evs = await events(runtime, "r1")
    assert types(evs).count("run.finished") == 1 and types(evs).count("run.cancel_requested") == 1
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))


async def test_cancel_before_start_is_kept_for_the_run_id(runtime: RuntimeHandle) -> None:
    response = await _cancel(runtime, "early")
    assert response.cancel_recorded and not response.HasField("run")
    await start(runtime, "early", "/say should never be said")
    evs = await events(runtime, "early")
    assert types(evs)[:2] == ["run.accepted", "run.cancel_requested"]
    assert "step.started" not in types(evs)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED


async def test_cancel_of_a_finished_run_changes_nothing(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/say done")
    before = await events(runtime, "r1")
    response = await _cancel(runtime, "r1")
    assert not response.cancel_recorded and response.run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert await events(runtime, "r1") == before


async def test_client_disconnect_never_cancels_the_run(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/tokens 30 300")
    await _wait_for_type(runtime, "r1", "message.delta")  # the reader goes away mid-run
    evs = await events(runtime, "r1")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_eight_concurrent_readers_see_every_event_once(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/tokens 400 2000\n/tool echo {}\n/tokens 100 2000")
    readers = await asyncio.gather(*(events(runtime, "r1") for _ in range(8)))
    full = await events(runtime, "r1")
    assert [e.seq for e in full] == list(range(1, len(full) + 1))
    for seen in readers:
        assert [e.SerializeToString() for e in seen] == [e.SerializeToString() for e in full]


async def test_reader_attached_mid_run_sees_no_gap(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/tokens 300 1000")
    await _wait_for_type(runtime, "r1", "message.delta")
    run = (
        await runtime.stub.GetRun(
            run_service_pb2.GetRunRequest(run_id="r1"), metadata=runtime.md(run_id="r1")
        )
    ).run
    cursor = run.last_seq
    tail = await events(runtime, "r1", after_seq=cursor)
    assert tail[0].seq == cursor + 1
    assert [e.seq for e in tail] == list(range(cursor + 1, cursor + 1 + len(tail)))
    assert tail[-1].type == "run.finished"


async def test_stream_of_finished_run_from_its_end_closes_at_once(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/say x")
    full = await events(runtime, "r1")
    assert await events(runtime, "r1", after_seq=full[-1].seq) == []


def _append(
    run_id: str, key: str, data: dict[str, float], expected: int | None = None
) -> run_service_pb2.AppendRunEventsRequest:
    struct = struct_pb2.Struct()
    struct.update(data)
    request = run_service_pb2.AppendRunEventsRequest(
        run_id=run_id,
        idempotency_key=key,
        events=[run_service_pb2.AppendedEvent(kind="laravel.note", data=struct)],
    )
    if expected is not None:
        request.expected_previous_seq = expected
    return request


async def test_append_run_events_idempotency_and_expected_seq(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/sleep 60000")
    await _wait_for_type(runtime, "r1", "step.started")
    md = runtime.md
    first = await runtime.stub.AppendRunEvents(_append("r1", "k1", {"n": 1}), metadata=md(run_id="r1"))
    again = await runtime.stub.AppendRunEvents(_append("r1", "k1", {"n": 1}), metadata=md(run_id="r1"))
    assert list(again.seqs) == list(first.seqs) and again.replayed and not first.replayed
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await runtime.stub.AppendRunEvents(_append("r1", "k1", {"n": 2}), metadata=md(run_id="r1"))
    assert reused.value.code() == grpc.StatusCode.ABORTED
    assert error_info(reused.value).reason == "IDEMPOTENCY_KEY_REUSED"
    current = first.seqs[-1]
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await runtime.stub.AppendRunEvents(
            _append("r1", "k2", {"n": 3}, expected=current - 1), metadata=md(run_id="r1")
        )
    info = error_info(conflict.value)
    assert conflict.value.code() == grpc.StatusCode.ABORTED and info.reason == "SEQ_CONFLICT"
    assert info.metadata["current_seq"] == str(current)
    ok = await runtime.stub.AppendRunEvents(
        _append("r1", "k3", {"n": 4}, expected=current), metadata=md(run_id="r1")
    )
    assert list(ok.seqs) == [current + 1]
    await _cancel(runtime, "r1")
    evs = await events(runtime, "r1")
    externals = [e for e in evs if e.type == "external"]
    assert [dict(e.external.data) for e in externals] == [{"n": 1.0}, {"n": 4.0}]
    with pytest.raises(grpc.aio.AioRpcError) as finished:
        await runtime.stub.AppendRunEvents(_append("r1", "k4", {"n": 5}), metadata=md(run_id="r1"))
    assert finished.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"run_id": "r1", "thread_id": "t1", "prompt": ""}, "prompt", "INVALID_ARGUMENT"),
        ({"run_id": "bad id!", "thread_id": "t1", "prompt": "hi"}, "run_id", "INVALID_ARGUMENT"),
        ({"run_id": "r1", "thread_id": "", "prompt": "hi"}, "thread_id", "INVALID_ARGUMENT"),
        ({"run_id": "r1", "thread_id": "t1", "prompt": "x" * (256 * 1024 + 1)}, "prompt", "INVALID_ARGUMENT"),
        (
            {"run_id": "r1", "thread_id": "t1", "prompt": "hi", "model": "no-such-model"},
            None,
            "UNKNOWN_MODEL",
        ),
    ],
)
async def test_bad_start_requests_are_rejected_and_nothing_is_written(
    runtime: RuntimeHandle, request_fields: dict[str, str], field: str | None, reason: str
) -> None:
    run_id, thread_id = request_fields["run_id"], request_fields["thread_id"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await runtime.stub.StartRun(
            run_service_pb2.StartRunRequest(**request_fields),
            metadata=runtime.md(run_id=run_id, thread_id=thread_id or None),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(caught.value)
    assert info.reason == reason and info.domain == "runtime.openagents.dev"
    if field is not None:
        assert info.metadata["field"] == field
    listed = await runtime.stub.ListRuns(run_service_pb2.ListRunsRequest(), metadata=runtime.md())
    assert list(listed.runs) == []


async def test_negative_cursor_and_unknown_run_are_clear_errors(runtime: RuntimeHandle) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as negative:
        await events(runtime, "r1", after_seq=-1)
    assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(negative.value).metadata["field"] == "after_seq"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await events(runtime, "nope")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(missing.value).reason == "RUN_NOT_FOUND"
