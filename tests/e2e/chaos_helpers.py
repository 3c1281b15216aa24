"""Clients for the chaos tests: SSE readers that resume with Last-Event-ID on
whichever replica answers, and checks over a finished run's log."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import grpc.aio
from openagents.runtime.v1 import run_event_pb2, run_service_pb2

from tests.support.replica import Replica

INTERRUPTED = run_event_pb2.STEP_FINISH_REASON_INTERRUPTED


@dataclass
class SseRead:
    """What a resuming SSE client kept: every frame up to the last `id:`, per connection."""

    frames: list[bytes] = field(default_factory=list)
    connections: int = 0
    done: bool = False
    first_frame_at: float | None = None


def _blocks(buffer: bytes) -> tuple[list[bytes], bytes]:
    *complete, rest = buffer.split(b"\n\n")
    return complete, rest


async def read_sse(
    replicas: list[Replica], run_id: str, *, within_s: float = 90.0, read: SseRead | None = None
) -> SseRead:
    """Reads a run's SSE stream to `[DONE]`, reconnecting with Last-Event-ID (to
    the next replica in turn) whenever the stream breaks or ends early. Frames
    after the last `id:` of a broken connection are dropped: the resumed
    stream sends that event again, whole."""
    read = read or SseRead()
    last_id: int | None = None
    deadline = time.monotonic() + within_s
    turn = 0
    while not read.done:
        assert time.monotonic() < deadline, f"{run_id}: no [DONE] within {within_s} s"
        replica = replicas[turn % len(replicas)]
        turn += 1
        connection = _Connection(read, last_id)
        try:
            await _read_connection(replica, run_id, connection, within_s)
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise
        last_id = connection.last_id
        if not read.done:
            await asyncio.sleep(0.2)
    return read


@dataclass
class _Connection:
    """One connection's reading: frames wait in `pending` until an `id:` (or `[DONE]`)
    confirms them, then join `read.frames`."""

    read: SseRead
    last_id: int | None
    pending: list[bytes] = field(default_factory=list)

    def take(self, block: bytes) -> None:
        lines = block.split(b"\n")
        if all(line.startswith(b":") for line in lines if line):
            return  # comments: ok, keep-alive, reconnect
        if self.read.first_frame_at is None:
            self.read.first_frame_at = time.monotonic()
        if block == b"data: [DONE]":
            self._confirm()
            self.read.done = True
            return
        self.pending.append(block)
        ids = [line for line in lines if line.startswith(b"id: ")]
        if ids:
            self.last_id = int(ids[-1][4:])
            self._confirm()

    def _confirm(self) -> None:
        self.read.frames += self.pending
        self.pending = []


async def _read_connection(replica: Replica, run_id: str, connection: _Connection, within_s: float) -> None:
    """Reads one connection (resuming after `connection.last_id`) until `[DONE]` or its end."""
    metadata = replica.md(run_id=run_id)
    if connection.last_id is not None:
        metadata += (("last-event-id", str(connection.last_id)),)
    call = replica.stub.StreamRunSse(
        run_service_pb2.StreamRunSseRequest(run_id=run_id), metadata=metadata, timeout=within_s
    )
    connection.read.connections += 1
    buffer = b""
    async for message in call:
        blocks, buffer = _blocks(buffer + message.body.data)
        for block in blocks:
            connection.take(block)
            if connection.read.done:
                return


async def full_sse(replica: Replica, run_id: str) -> list[bytes]:
    """The whole stream of a finished run from cursor 0, in one connection."""
    read = await read_sse([replica], run_id, within_s=30)
    assert read.connections == 1
    return read.frames


async def run_events(replica: Replica, run_id: str) -> list[run_event_pb2.RunEvent]:
    out = []
    call = replica.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=replica.md(run_id=run_id), timeout=30
    )
    async for message in call:
        out.append(message.event)
    return out


async def start_run(replica: Replica, run_id: str, prompt: str, thread_id: str = "chaos") -> None:
    await replica.stub.StartRun(
        run_service_pb2.StartRunRequest(run_id=run_id, thread_id=thread_id, prompt=prompt),
        metadata=replica.md(run_id=run_id, thread_id=thread_id),
        timeout=10,
    )


def check_log(events: list[run_event_pb2.RunEvent], steps: int) -> int:
    """Asserts a finished run's log is whole and that every recorded step ran
    once: seqs dense, one run.finished (succeeded), `steps` steps completed and
    any other step closed `interrupted` (a step cut by a crash is redone under
    the next step number), each tool call answered once. Returns how many steps
    were re-executed."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.type for e in events]
    assert kinds.count("run.finished") == 1 and kinds[-1] == "run.finished"
    assert events[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED, events[-1]
    started = [e.step_started.step for e in events if e.type == "step.started"]
    finished = [(e.step_finished.step, e.step_finished.reason) for e in events if e.type == "step.finished"]
    assert started == sorted(set(started)) == [step for step, _ in finished], (started, finished)
    interrupted = sum(1 for _, reason in finished if reason == INTERRUPTED)
    assert len(finished) - interrupted == steps, finished
    results = Counter(e.tool_call_result.tool_call_id for e in events if e.type == "tool.result")
    requested = Counter(e.tool_call_requested.tool_call_id for e in events if e.type == "tool.call_requested")
    assert results == requested and set(results.values()) <= {1}
    return interrupted
