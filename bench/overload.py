"""Overload: 2x a replica's run capacity offered at once (issue 17 goal 5). The service runs
in processes of its own (tests/support/replica.py). Admitted runs should keep their token
lag while the rest wait QUEUED and the queue drains; on PostgreSQL the same offer is served
by one and by two service processes (the scaling figure)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from openagents.runtime.v1 import run_service_pb2

from tests.support.replica import Replica

from .clients import StreamTrace
from .report import Result, percentile

RATE = 50.0  # tokens/s per run


async def _run(replica: Replica, run_id: str, tokens: int) -> tuple[StreamTrace, bool, float]:
    """Starts and streams one run: (trace, was it queued, seconds from StartRun to run.started)."""
    began = time.perf_counter()
    await replica.stub.StartRun(
        run_service_pb2.StartRunRequest(
            run_id=run_id, thread_id=f"th-{run_id}", prompt=f"/tokens {tokens} {RATE:g}"
        ),
        metadata=replica.md(run_id=run_id, thread_id=f"th-{run_id}"),
        timeout=60,
    )
    trace, queued, started = StreamTrace(), False, 0.0
    call = replica.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=replica.md(run_id=run_id), timeout=600
    )
    async for message in call:
        now, event = time.perf_counter(), message.event
        if event.type == "run.queued":
            queued = True
        elif event.type == "run.started" and not started:
            started = now - began
        elif event.type == "message.delta":
            count = event.message_delta.delta.count("t")
            trace.tokens += count
            trace.deltas.append((now, count, None))
    return trace, queued, started


def _lags_ms(trace: StreamTrace) -> list[float]:
    from .scenarios import schedule_latencies  # one definition of lag for every scenario

    return [x * 1e3 for x in schedule_latencies(trace, RATE)]


async def _offer(replicas: list[Replica], runs: int, seconds: float) -> dict[str, float]:
    tokens = int(RATE * seconds)
    began = time.perf_counter()
    outcomes = await asyncio.gather(
        *(_run(replicas[i % len(replicas)], f"ovl-{i}-{time.monotonic_ns()}", tokens) for i in range(runs))
    )
    wall = time.perf_counter() - began
    admitted = [lag for trace, queued, _ in outcomes if not queued for lag in _lags_ms(trace)]
    waited = [lag for trace, queued, _ in outcomes if queued for lag in _lags_ms(trace)]
    waits = [started for _, queued, started in outcomes if queued]
    delivered = sum(trace.tokens for trace, _, _ in outcomes)
    return {
        "runs": runs,
        "queued_runs": len(waits),
        "admitted_p50_lag_ms": percentile(admitted, 50) if admitted else 0.0,
        "admitted_p99_lag_ms": percentile(admitted, 99) if admitted else 0.0,
        "queued_p99_lag_ms": percentile(waited, 99) if waited else 0.0,
        "queue_wait_max_s": max(waits, default=0.0),
        "drain_s": wall,
        "delivered_fraction": delivered / (tokens * runs),
        "delivered_tokens_per_s": delivered / wall,
    }


async def overload(
    backend: str, database_url: str, work_dir: Path, capacity: int, seconds: float
) -> list[Result]:
    env = {"RUNTIME_MAX_RUNNING_RUNS": str(capacity), "RUNTIME_LOG_LEVEL": "WARNING"}
    results: list[Result] = []
    a = Replica("bench-ovl-a", database_url, work_dir, env=env)
    try:
        a.start()
        await a.ready(60)
        one = await _offer([a], 2 * capacity, seconds)
        results.append(Result("overload@2x", backend, "grpc", "admitted_p99_lag_ms", one))
        if backend == "postgres":
            b = Replica("bench-ovl-b", database_url, work_dir, env=env, secret=a.secret)
            try:
                b.start()
                await b.ready(60)
                two = await _offer([a, b], 2 * capacity, seconds)
                results.append(
                    Result(
                        "overload@2x_two_replicas", backend, "grpc", "delivered_tokens_per_s", two
                    ).against("one_replica_tokens_per_s", one["delivered_tokens_per_s"])
                )
            finally:
                await b.close()
    finally:
        await a.close()
    return results
