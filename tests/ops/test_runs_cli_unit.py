"""The operator client against grpcio-testing's scripted channel: every error status becomes a
clear message and exit code, and a stream cut mid-way resumes after the last event shown."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
import grpc_testing
import pytest
from google.rpc import error_details_pb2, status_pb2
from oa_runtime.ops.runs_cli import EXIT_CODES, CliError, RunsClient, TokenSource, tail
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2

SERVICE = run_service_pb2.DESCRIPTOR.services_by_name["RunService"]
METHOD = SERVICE.methods_by_name


@pytest.fixture
def scripted() -> Iterator[tuple[Any, RunsClient, ThreadPoolExecutor]]:
    channel = grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())
    client = RunsClient(channel, TokenSource(b"unit-test-secret"), timeout_s=5)
    pool = ThreadPoolExecutor(max_workers=1)
    yield channel, client, pool
    pool.shutdown(wait=False, cancel_futures=True)  # a failed test may leave the client waiting


def _wait_for_lines(out: io.StringIO, count: int) -> None:
    """The scripted channel drops unread responses when a call ends with an error: let the
    client read (and print) them first, as a real client would have before the cut."""
    deadline = time.monotonic() + 5
    while len(out.getvalue().splitlines()) < count:
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.01)


def _event(seq: int, kind: str = "message.delta") -> run_event_pb2.RunEvent:
    event = run_event_pb2.RunEvent(run_id="r1", seq=seq, type=kind)
    if kind == "run.finished":
        event.run_finished.outcome = run_event_pb2.RUN_OUTCOME_SUCCEEDED
    else:
        event.message_delta.delta = f"w{seq} "
    return event


def _status_details(code: grpc.StatusCode, reason: str) -> tuple[tuple[str, bytes], ...]:
    domain = "runtime.openagents.dev"
    info = error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata={"run_id": "r1"})
    status = status_pb2.Status(code=code.value[0], message="went wrong")  # must match the details
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


ERROR_CODES = [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK]


@pytest.mark.parametrize("code", ERROR_CODES, ids=[c.name for c in ERROR_CODES])
def test_every_error_status_is_a_message_and_an_exit_code(
    scripted: tuple[Any, RunsClient, ThreadPoolExecutor], code: grpc.StatusCode
) -> None:
    channel, client, pool = scripted
    call: Future[run_pb2.Run] = pool.submit(client.show, "r1")
    metadata, request, rpc = channel.take_unary_unary(METHOD["GetRun"])
    assert request.run_id == "r1"
    assert any(k == "x-oa-runtime-signature" for k, _ in metadata)
    rpc.terminate(run_service_pb2.GetRunResponse(), _status_details(code, "SOME_REASON"), code, "went wrong")
    with pytest.raises(CliError) as failure:
        call.result(timeout=5)
    message = str(failure.value)
    assert message.startswith(code.name)
    assert "went wrong" in message
    assert "SOME_REASON {run_id=r1}" in message
    assert failure.value.exit_code == EXIT_CODES.get(code, 1)


def test_an_error_without_details_still_names_its_status(
    scripted: tuple[Any, RunsClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    call = pool.submit(client.cancel, "r1", "stop")
    _, request, rpc = channel.take_unary_unary(METHOD["CancelRun"])
    assert request.reason == "stop"
    rpc.terminate(run_service_pb2.CancelRunResponse(), (), grpc.StatusCode.NOT_FOUND, "")
    with pytest.raises(CliError) as failure:
        call.result(timeout=5)
    assert str(failure.value) == "NOT_FOUND: no details"
    assert failure.value.exit_code == 4


def test_a_stream_cut_mid_way_resumes_after_the_last_event_shown(
    scripted: tuple[Any, RunsClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    out, err = io.StringIO(), io.StringIO()
    done: Future[int] = pool.submit(tail, client, "r1", 0, out, err, False)

    first_md, first, rpc = channel.take_unary_stream(METHOD["StreamRunEvents"])
    assert first.after_seq == 0
    for seq in (1, 2, 3):
        rpc.send_response(run_service_pb2.StreamRunEventsResponse(event=_event(seq)))
    _wait_for_lines(out, 3)
    rpc.terminate((), grpc.StatusCode.UNAVAILABLE, "this replica is shutting down")

    second_md, second, rpc = channel.take_unary_stream(METHOD["StreamRunEvents"])
    assert second.after_seq == 3  # resumes after the last event printed
    for seq, kind in ((3, "message.delta"), (4, "message.delta"), (5, "run.finished")):
        rpc.send_response(run_service_pb2.StreamRunEventsResponse(event=_event(seq, kind)))
    rpc.terminate((), grpc.StatusCode.OK, "")

    assert done.result(timeout=5) == 0
    seqs = [int(line.split()[0]) for line in out.getvalue().splitlines()]
    assert seqs == [1, 2, 3, 4, 5]  # the repeated 3 is not shown twice
    assert "seq 5 · step 0 · 12 chars" in err.getvalue()
    # A fresh single-use token for each call.
    tokens = [dict(md)["x-oa-runtime-signature"] for md in (first_md, second_md)]
    assert tokens[0] != tokens[1]


def test_a_stream_refused_mid_way_is_not_retried(
    scripted: tuple[Any, RunsClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    events: Future[list[int]] = pool.submit(lambda: [e.seq for e in client.follow("r1")])
    _, _, rpc = channel.take_unary_stream(METHOD["StreamRunEvents"])
    rpc.send_response(run_service_pb2.StreamRunEventsResponse(event=_event(1)))
    rpc.terminate((), grpc.StatusCode.FAILED_PRECONDITION, "cursor too old")
    with pytest.raises(CliError, match="FAILED_PRECONDITION: cursor too old") as failure:
        events.result(timeout=5)
    assert failure.value.exit_code == 2


def test_resuming_gives_up_after_repeated_cuts_without_progress(
    scripted: tuple[Any, RunsClient, ThreadPoolExecutor],
) -> None:
    channel, client, pool = scripted
    events: Future[list[int]] = pool.submit(
        lambda: [e.seq for e in client.follow("r1", max_resumes=2, backoff_s=0)]
    )
    for _ in range(3):
        _, request, rpc = channel.take_unary_stream(METHOD["StreamRunEvents"])
        assert request.after_seq == 0
        rpc.terminate((), grpc.StatusCode.UNAVAILABLE, "connection refused")
    with pytest.raises(CliError, match="UNAVAILABLE") as failure:
        events.result(timeout=5)
    assert failure.value.exit_code == 6
