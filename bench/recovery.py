"""`recovery`: kill -9 a replica process with many runs in flight, restart it,
and time how soon the runs stream again; on PostgreSQL also the takeover of a
killed replica's runs by a live peer.

Figures: restart -> first resumed event (any run), p50 and max over the runs
(all resumed), steps re-executed per run, and the baseline: restart -> ready
of the same service with nothing to recover, measured in the same run. Each is
the median of `rounds` rounds (cold starts and restarts interleaved): one start
of a Python process on a shared machine varies by hundreds of ms.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import grpc.aio
from oa_runtime.store import open_store, sqlite_path
from openagents.runtime.v1 import run_event_pb2, run_service_pb2

from tests.e2e.chaos_helpers import run_events
from tests.support.replica import Replica

from .report import Result, percentile

ENV = {
    "RUNTIME_LOG_LEVEL": "INFO",  # the "serving" line (a few hundred request lines besides)
    "RUNTIME_LEASE_TTL_S": "10",
    "RUNTIME_CLAIM_INTERVAL_S": "1",
}
INTERRUPTED = run_event_pb2.STEP_FINISH_REASON_INTERRUPTED
# Long enough to be in flight at the kill, short enough to finish soon after.
PROMPT = "/say resume me\n/tokens 150 50"


async def _start(replica: Replica, run_id: str) -> None:
    await replica.stub.StartRun(
        run_service_pb2.StartRunRequest(run_id=run_id, thread_id=run_id, prompt=PROMPT),
        metadata=replica.md(run_id=run_id, thread_id=run_id),
        timeout=30,
    )


async def _first_new_event(replica: Replica, run_id: str, after_seq: int, since: float) -> float:
    """Seconds from `since` to the first event after `after_seq`. While the server is down the call
    waits for the channel (`wait_for_ready`) instead of retrying: 40 clients retrying every 10 ms
    kept a core busy in this process, which slowed the starting service and inflated the figure."""
    while True:
        try:
            call = replica.stub.StreamRunEvents(
                run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq),
                metadata=replica.md(run_id=run_id),
                timeout=60,
                wait_for_ready=True,
            )
            async for _ in call:
                took = time.perf_counter() - since
                call.cancel()
                return took
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.01)


async def _kill_and_restart(
    replica: Replica, runs: int, survivor: Replica | None, prefix: str
) -> dict[str, float]:
    run_ids = [f"{prefix}-{i:03d}" for i in range(runs)]
    await asyncio.gather(*(_start(replica, r) for r in run_ids))
    await asyncio.sleep(1.0)  # every run is streaming
    replica.kill()
    since, killed_at = time.perf_counter(), time.time()
    cuts = await _last_seqs(replica.database_url, run_ids)  # the dead replica writes nothing more
    target = survivor or replica
    if survivor is None:
        since = time.perf_counter()
        replica.start()
    waits = await asyncio.gather(*(_first_new_event(target, r, cuts[r], since) for r in run_ids))
    redone = []
    commits = []  # the commit time (occurred_at) of each run's first event after the kill
    for r in run_ids:  # StreamRunEvents ends with run.finished: this waits for each run's end
        evs = await run_events(target, r)
        redone.append(
            sum(1 for e in evs if e.type == "step.finished" and e.step_finished.reason == INTERRUPTED)
        )
        commits.append(next(e.occurred_at.ToNanoseconds() / 1e9 for e in evs if e.seq > cuts[r]))
    if survivor is None:
        service = {"serving_to_first_commit_ms": (min(commits) - _serving_at(replica)) * 1e3}
    else:
        service = {"kill_to_first_commit_ms": (min(commits) - killed_at) * 1e3}
    return service | {
        "first_resumed_ms": min(waits) * 1e3,
        "p50_resumed_ms": percentile(waits, 50) * 1e3,
        "all_resumed_ms": max(waits) * 1e3,
        "runs": float(runs),
        "steps_redone_per_run_max": float(max(redone)),
        "steps_redone_per_run_mean": sum(redone) / len(redone),
    }


def _serving_at(replica: Replica) -> float:
    """When the replica's last start logged "serving" (epoch seconds, its clock)."""
    lines = [json.loads(line) for line in replica.log().splitlines() if '"msg": "serving"' in line]
    return datetime.fromisoformat(lines[-1]["ts"]).timestamp()


async def _last_seqs(database_url: str, run_ids: list[str]) -> dict[str, int]:
    if database_url.startswith("sqlite"):
        # The file is free (the replica is dead), but opening it as a store would
        # take its lock; read it plainly instead.
        with sqlite3.connect(sqlite_path(database_url)) as conn:
            marks = ", ".join("?" for _ in run_ids)
            rows = conn.execute(f"SELECT run_id, last_seq FROM runs WHERE run_id IN ({marks})", run_ids)
            return {row[0]: int(row[1]) for row in rows}
    store = open_store(database_url)
    await store.open()
    try:
        return await store.last_seqs(run_ids)
    finally:
        await store.close()


async def _cold_start_s(replica: Replica) -> float:
    replica.kill()
    began = time.perf_counter()
    replica.start()
    await replica.ready(60)
    return time.perf_counter() - began


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, the median over rounds (`steps_redone_per_run_max`: the max)."""
    out = {key: percentile([r[key] for r in rounds], 50) for key in rounds[0]}
    out["steps_redone_per_run_max"] = max(r["steps_redone_per_run_max"] for r in rounds)
    out["rounds"] = float(len(rounds))
    return out


async def _restarts(replica: Replica, runs: int, rounds: int) -> tuple[dict[str, float], float]:
    """`rounds` pairs of (cold start, restart with runs to resume), interleaved so that both
    see the same machine; medians, and the median of the per-round differences."""
    colds: list[float] = []
    figures: list[dict[str, float]] = []
    for i in range(rounds):
        colds.append(await _cold_start_s(replica) * 1e3)
        figures.append(await _kill_and_restart(replica, runs, survivor=None, prefix=f"restart{i}"))
        figures[-1]["restart_over_cold_ms"] = figures[-1]["first_resumed_ms"] - colds[-1]
    return _medians(figures), percentile(colds, 50)


async def _takeovers(replica: Replica, peer: Replica, runs: int, rounds: int) -> dict[str, float]:
    figures: list[dict[str, float]] = []
    for i in range(rounds):
        if i:
            replica.start()  # the killed replica again, to execute the next round's runs
            await replica.ready(60)
        figures.append(await _kill_and_restart(replica, runs, survivor=peer, prefix=f"takeover{i}"))
    return {("takeover_" + k if "resumed" in k else k): v for k, v in _medians(figures).items()}


async def recovery(backend: str, database_url: str, work_dir: Path, runs: int, rounds: int) -> list[Result]:
    results: list[Result] = []
    replica = Replica("bench-a", database_url, work_dir, env=ENV)
    try:
        replica.start()
        await replica.ready(60)
        figures, baseline_ms = await _restarts(replica, runs, rounds)
        results.append(
            Result("recovery", backend, "restart", "first_resumed_ms", figures).against(
                "cold_start_ms", baseline_ms
            )
        )
        if backend == "postgres":
            peer = Replica("bench-b", database_url, work_dir, env=ENV, secret=replica.secret)
            try:
                peer.start()
                await peer.ready(60)
                figures = await _takeovers(replica, peer, runs, rounds)
                results.append(
                    Result("recovery", backend, "takeover", "takeover_first_resumed_ms", figures).against(
                        "cold_start_ms", baseline_ms
                    )
                )
            finally:
                await peer.close()
    finally:
        await replica.close()
    return results
