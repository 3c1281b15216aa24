"""The bench's clients: start runs and read their tokens over direct gRPC or Envoy SSE.

Tokens of `/tokens n` are "t1 t2 … tn": the count in any text is its number of "t"s, which
is cheap to take and does not care how the service coalesced tokens into deltas.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import httpx
from openagents.runtime.v1 import run_service_pb2

from tests.support.runtime import RuntimeHandle

SIGNATURE_HEADER = "X-OA-RUNTIME-SIGNATURE"


@dataclass
class Target:
    """One backend's running service: gRPC stub and, through Envoy, an HTTP client."""

    backend: str
    runtime: RuntimeHandle
    http: httpx.AsyncClient
    envoy_pid: int


@dataclass
class StreamTrace:
    """What a client saw of one run's stream (times are time.perf_counter())."""

    first_frame: float | None = None
    first_token: float | None = None
    tokens: int = 0
    # (receive time, tokens in the delta, commit time from occurred_at or None), per delta
    deltas: list[tuple[float, int, float | None]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # kept only when asked (the baseline replays them)


async def start_grpc(t: Target, run_id: str, prompt: str) -> None:
    thread_id = f"th-{run_id}"
    await t.runtime.stub.StartRun(
        run_service_pb2.StartRunRequest(run_id=run_id, thread_id=thread_id, prompt=prompt),
        metadata=t.runtime.md(run_id=run_id, thread_id=thread_id),
    )


async def start_rest(t: Target, run_id: str, prompt: str) -> None:
    response = await t.http.post(
        "/internal/v1/runs",
        json={"runId": run_id, "threadId": f"th-{run_id}", "prompt": prompt},
        headers={SIGNATURE_HEADER: t.runtime.token()},
    )
    if response.status_code != 200:
        raise RuntimeError(f"StartRun over REST: {response.status_code} {response.text[:300]}")


async def read_grpc(t: Target, run_id: str, keep_texts: bool = False, after_seq: int = 0) -> StreamTrace:
    trace = StreamTrace()
    call = t.runtime.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq),
        metadata=t.runtime.md(run_id=run_id),
    )
    async for message in call:
        now = time.perf_counter()
        if trace.first_frame is None:
            trace.first_frame = now
        event = message.event
        if event.type != "message.delta":
            continue
        text = event.message_delta.delta
        count = text.count("t")
        if trace.first_token is None:
            trace.first_token = now
        trace.tokens += count
        committed = event.occurred_at.ToNanoseconds() / 1e9
        trace.deltas.append((now, count, committed))
        if keep_texts:
            trace.texts.append(text)
    return trace


async def read_sse(t: Target, run_id: str, cursor: int | None = None) -> StreamTrace:
    """Reads the SSE response to its end; `first_frame` is the first `data:` frame (not the `: ok`)."""
    trace = StreamTrace()
    params = {"cursor": str(cursor)} if cursor is not None else None
    headers = {SIGNATURE_HEADER: t.runtime.token()}
    async with t.http.stream(
        "GET", f"/internal/v1/runs/{run_id}/stream", headers=headers, params=params
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"SSE stream: {response.status_code} {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            now = time.perf_counter()
            if trace.first_frame is None:
                trace.first_frame = now
            if not line.startswith('data: {"type":"text-delta"'):
                continue
            count = json.loads(line[6:])["delta"].count("t")
            if trace.first_token is None:
                trace.first_token = now
            trace.tokens += count
            trace.deltas.append((now, count, None))
    return trace
