"""The scenarios. Each returns Results; none asserts a time (benchmarks are not tests)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from oa_runtime.core import events as ev
from oa_runtime.core.records import StartRequest
from oa_runtime.core.run_state import fold
from oa_runtime.core.validation import fingerprint
from oa_runtime.engine.broker import Broker
from oa_runtime.engine.writer import EventWriter
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_service_pb2

from .baselines import Row, raw_grpc_stream, raw_inserts
from .clients import StreamTrace, Target, read_grpc, read_sse, start_grpc, start_rest
from .report import CpuMeter, Result, percentile


@dataclass(frozen=True)
class Sizes:
    ttff_runs: int
    single_tokens: int
    concurrent_runs: tuple[int, ...]  # one figure per level
    concurrent_seconds: float
    append_writers: int
    append_events_each: int
    replay_events: int
    start_calls: int
    recovery_runs: int = 100
    recovery_rounds: int = 5  # restarts (and takeovers) per backend; figures are medians
    overload_capacity: int = 64  # RUNTIME_MAX_RUNNING_RUNS of the overload scenario (2x offered)
    rebuild_events: int = 100_000  # bench/sync.py
    sink_documents: int = 10_000

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                30,
                20_000,
                (20, 100),
                4.0,
                64,
                40,
                20_000,
                160,
                40,
                3,
                rebuild_events=20_000,
                sink_documents=2_000,
                overload_capacity=32,
            )
        return cls(
            200,
            100_000,
            (50, 500),
            10.0,
            64,
            200,
            100_000,
            1000,
            100,
            5,
            rebuild_events=100_000,
            sink_documents=10_000,
        )


PATHS = ("grpc", "envoy_sse")
CONCURRENT_RATE = 50.0  # tokens/s per run


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _start(t: Target, path: str, run_id: str, prompt: str) -> None:
    await (start_grpc if path == "grpc" else start_rest)(t, run_id, prompt)


async def _read(t: Target, path: str, run_id: str, keep_texts: bool = False) -> StreamTrace:
    return await (read_grpc(t, run_id, keep_texts) if path == "grpc" else read_sse(t, run_id))


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50) * 1e3, "p99_ms": percentile(values, 99) * 1e3}


async def ttff(t: Target, sizes: Sizes) -> list[Result]:
    """StartRun, then open the stream: time to its first frame and to its first token."""
    results = []
    for path in PATHS:
        frame, token = [], []
        with CpuMeter(t.envoy_pid) as cpu:
            for _ in range(sizes.ttff_runs):
                run_id = new_id("ttff")
                began = time.perf_counter()
                await _start(t, path, run_id, "/tokens 5")
                trace = await _read(t, path, run_id)
                assert trace.first_frame and trace.first_token, f"{run_id}: no frame or no token"
                frame.append(trace.first_frame - began)
                token.append(trace.first_token - began)
        first = _ms(frame)
        figures = {
            "first_token_p50_ms": percentile(token, 50) * 1e3,
            "first_token_p99_ms": percentile(token, 99) * 1e3,
            "first_frame_p50_ms": first["p50_ms"],
            "first_frame_p99_ms": first["p99_ms"],
            "runs": sizes.ttff_runs,
            **cpu.figures(sizes.ttff_runs, "run"),
        }
        results.append(Result("ttff", t.backend, path, "first_token_p50_ms", figures))
    return results


async def single_stream(t: Target, sizes: Sizes) -> list[Result]:
    """One unpaced run of many tokens; the baseline streams the same delta texts over raw gRPC."""
    results: list[Result] = []
    texts: list[str] = []
    for path in PATHS:
        run_id = new_id("single")
        with CpuMeter(t.envoy_pid) as cpu:
            await _start(t, path, run_id, f"/tokens {sizes.single_tokens}")
            trace = await _read(t, path, run_id, keep_texts=True)
        texts = texts or trace.texts
        figures = {
            "tokens_per_s": trace.tokens / cpu.wall_s,
            "tokens": trace.tokens,
            "deltas": len(trace.deltas),
            **cpu.figures(trace.tokens, "token"),
        }
        results.append(Result("single_stream", t.backend, path, "tokens_per_s", figures))
    with CpuMeter() as cpu:
        raw_rate, _ = await raw_grpc_stream(texts)
    tokens = sum(x.count("t") for x in texts)
    base = Result(
        "single_stream", t.backend, "baseline", "tokens_per_s",
        {"tokens_per_s": raw_rate, "tokens": tokens, "deltas": len(texts), **cpu.figures(tokens, "token")},
        notes=["raw grpc.aio stream of the grpc run's delta texts"],
    )  # fmt: skip
    for r in results:
        r.against("raw_grpc_tokens_per_s", raw_rate)
    return [*results, base]


def schedule_latencies(trace: StreamTrace, rate: float) -> list[float]:
    """Per token: how far it arrived behind the run's own schedule. Token i is due i/rate after
    an anchor; the anchor is the earliest `receive - i/rate` of the run (its best-delivered
    token), so figures are >= 0 and show lag and jitter; the first token's absolute latency is
    what `ttff` measures."""
    times: list[tuple[float, int]] = []
    index = 0
    for received, count, _ in trace.deltas:
        for _ in range(count):
            times.append((received, index))
            index += 1
    if not times:
        return []
    anchor = min(received - i / rate for received, i in times)
    return [received - (anchor + i / rate) for received, i in times]


async def concurrent(t: Target, sizes: Sizes) -> list[Result]:
    """Many runs at CONCURRENT_RATE tokens/s each, all streamed at once."""
    results = []
    tokens_each = int(CONCURRENT_RATE * sizes.concurrent_seconds)
    for runs, path in ((n, p) for n in sizes.concurrent_runs for p in PATHS):

        async def one(path: str = path) -> StreamTrace:
            run_id = new_id("conc")
            await _start(t, path, run_id, f"/tokens {tokens_each} {CONCURRENT_RATE:g}")
            return await _read(t, path, run_id)

        with CpuMeter(t.envoy_pid) as cpu:
            traces = await asyncio.gather(*(one() for _ in range(runs)))
        lat = [x for tr in traces for x in schedule_latencies(tr, CONCURRENT_RATE)]
        tokens = sum(tr.tokens for tr in traces)
        figures = {
            "tokens_per_s": tokens / cpu.wall_s,
            "offered_tokens_per_s": CONCURRENT_RATE * runs,
            "runs": runs,
            **_ms(lat),
            **cpu.figures(tokens, "token"),
        }
        if path == "grpc":  # occurred_at is the commit time: commit-to-receipt, clocks shared
            wall_offset = time.time() - time.perf_counter()
            commit = [r + wall_offset - c for tr in traces for r, _, c in tr.deltas if c is not None]
            figures["commit_to_receipt_p50_ms"] = percentile(commit, 50) * 1e3
            figures["commit_to_receipt_p99_ms"] = percentile(commit, 99) * 1e3
        results.append(
            Result(f"concurrent@{runs}", t.backend, path, "tokens_per_s", figures).against(
                "offered_tokens_per_s", figures["offered_tokens_per_s"]
            )
        )
    return results


async def _new_run(store: EventStore, run_id: str) -> None:
    request = StartRequest(run_id=run_id, thread_id=f"th-{run_id}", prompt="bench")
    await store.create_run(request, fingerprint(request), ev.run_accepted(request.thread_id, "scripted", "m"))


async def append(backend: str, database_url: str, sizes: Sizes) -> list[Result]:
    """Durable events/s through EventWriter group commit, many concurrent appenders (one event
    per append call), against plain batched inserts of rows of the same shape."""
    store = open_store(database_url)
    await store.open()
    writer = EventWriter(store, Broker())
    runner = asyncio.create_task(writer.run())
    run_ids = [new_id("append") for _ in range(sizes.append_writers)]
    try:
        for run_id in run_ids:
            await _new_run(store, run_id)

        async def appender(run_id: str) -> None:
            for i in range(sizes.append_events_each):
                await writer.append(AppendRequest(run_id, [ev.external("bench", {"i": i})]))

        with CpuMeter() as cpu:
            await asyncio.gather(*(appender(r) for r in run_ids))
        batches = writer.batches
    finally:
        writer.close()
        await runner
        await store.close()
    total = sizes.append_writers * sizes.append_events_each
    now = datetime.now(UTC).isoformat()
    rows: list[Row] = [
        (run_id, i + 2, uuid.uuid4().hex, ev.EXTERNAL, now, json.dumps({"data": {"i": i}, "kind": "bench"}))
        for run_id in run_ids
        for i in range(sizes.append_events_each)
    ]
    raw_rate = await raw_inserts(database_url, rows)
    figures = {
        "events_per_s": total / cpu.wall_s,
        "events": total,
        "appenders": sizes.append_writers,
        "events_per_commit": total / max(batches, 1),
        **cpu.figures(total, "event"),
    }
    result = Result("append", backend, "store", "events_per_s", figures)
    return [result.against("raw_batch100_events_per_s", raw_rate)]


async def prepare_replay_run(database_url: str, events: int) -> str:
    """A finished run of `events` events written straight to the store (before the service
    starts, so no executor picks it up): accepted, started, one step of text deltas (so the
    SSE path has a frame per event too), the checkpoint the executor saves at a step end,
    finished. Also its twin without the checkpoint (`<run id>-plain`), the baseline of a
    resume that must fold the whole log."""
    store = open_store(database_url)
    await store.open()
    run_id = new_id("replay")
    try:
        for this_run, checkpoint in ((run_id, True), (f"{run_id}-plain", False)):
            await _new_run(store, this_run)
            await store.append_many(
                [AppendRequest(this_run, [ev.run_started("bench", 1), ev.step_started(1)])]
            )
            body = events - 5
            for i in range(0, body, 2000):
                batch = [ev.message_delta("txt-s1", f"t{j} ") for j in range(i, min(body, i + 2000))]
                await store.append_many([AppendRequest(this_run, batch)])
            await store.append_many([AppendRequest(this_run, [ev.step_finished(1, ev.STEP_STOP)])])
            if checkpoint:
                state = fold(await _all_events(store, this_run))
                await store.save_checkpoint(this_run, state.last_seq, state.to_json())
            finished = ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")
            await store.append_many([AppendRequest(this_run, [finished])])
    finally:
        await store.close()
    return run_id


async def _all_events(store: EventStore, run_id: str) -> list[ev.Event]:
    out: list[ev.Event] = []
    while page := await store.read_events(run_id, out[-1].seq if out else 0, 5000):
        out += page
    return out


async def _replay_grpc(t: Target, run_id: str, batched: bool) -> dict[str, float]:
    count, first = 0, None
    with CpuMeter(t.envoy_pid) as cpu:
        began = time.perf_counter()
        call = t.runtime.stub.StreamRunEvents(
            run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=0, batched=batched),
            metadata=t.runtime.md(run_id=run_id),
        )
        async for message in call:
            if first is None:
                first = time.perf_counter() - began
            count += len(message.events) if batched else 1
    figures = {
        "events_per_s": count / cpu.wall_s,
        "events": count,
        "ttfe_ms": (first or float("nan")) * 1e3,
        **cpu.figures(count, "event"),
    }
    figures.pop("cpu_envoy_s", None)
    figures.pop("cpu_envoy_us_per_event", None)
    return figures


async def replay(t: Target, run_id: str) -> list[Result]:
    """Reads the prepared run from cursor 0: StreamRunEvents one event per message (the
    baseline), StreamRunEvents `batched` (backlog pages per message), and SSE through Envoy."""
    single = await _replay_grpc(t, run_id, batched=False)
    batched = await _replay_grpc(t, run_id, batched=True)
    count = int(batched["events"])
    results = [
        Result("replay", t.backend, "grpc", "events_per_s", batched).against(
            "grpc_one_event_per_message_events_per_s", single["events_per_s"]
        )
    ]
    # The same run as AI SDK SSE through Envoy (frames decoded by the bench client).
    with CpuMeter(t.envoy_pid) as cpu:
        began = time.perf_counter()
        trace = await read_sse(t, run_id)
    sse_figures = {
        "events_per_s": count / cpu.wall_s,
        "events": count,
        "ttfe_ms": ((trace.first_frame or began) - began) * 1e3,
        **cpu.figures(count, "event"),
    }
    results.append(Result("replay", t.backend, "envoy_sse", "events_per_s", sse_figures))
    # Resuming after the step end (the client missed only the finish): from the executor's
    # checkpoint, against the twin run without one (the fold of the whole log).
    resumed, folded = [await _resume_ms(t, run, count - 1) for run in (run_id, f"{run_id}-plain")]
    resume = Result("replay_resume_near_end", t.backend, "envoy_sse", "resume_ms", {"resume_ms": resumed})
    results.append(resume.against("resume_without_checkpoint_ms", folded))
    return results


async def _resume_ms(t: Target, run_id: str, cursor: int) -> float:
    """Best of 3: the time from the request to the end of an SSE stream resumed at `cursor`."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        await read_sse(t, run_id, cursor=cursor)
        times.append((time.perf_counter() - began) * 1e3)
    return min(times)


async def start_rate(t: Target, sizes: Sizes, clients: int = 16) -> list[Result]:
    """StartRun calls/s with `clients` concurrent callers (runs are `/say x`)."""
    results = []
    for path in PATHS:
        remaining = sizes.start_calls

        async def client(path: str = path) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await _start(t, path, new_id("start"), "/say x")

        with CpuMeter(t.envoy_pid) as cpu:
            await asyncio.gather(*(client() for _ in range(clients)))
        figures = {
            "starts_per_s": sizes.start_calls / cpu.wall_s,
            "clients": clients,
            **cpu.figures(sizes.start_calls, "start"),
        }
        results.append(Result("start_rate", t.backend, path, "starts_per_s", figures))
        await asyncio.sleep(0.5)  # let the started runs finish before the next figure
    return results
