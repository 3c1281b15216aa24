"""Issue 15's figures: projection lag under the concurrent-runs load, rebuild events/s of the
read models and the sync documents, and documents/s pushed to the test sync sink.

- `projection_lag@R`: at each `concurrent` level R, R runs at 50 tokens/s streamed over gRPC
  (the `concurrent` load) while a sampler reads, every 50 ms, each async projection's
  checkpoint and the commit time
  (`occurred_at`) of the first event past it, on its own connection (sqlite3 / psycopg, like
  Laravel). Lag = sample time minus that commit time (0 when caught up); p50/p99 per projection.
  Goal: p99 <= 1 s (the baseline: the ratio is p99 / 1000 ms).
- `rebuild`: bench/read_model_rebuild.py's measurement (events written straight to the store, the
  projection reset and replayed from position 0) for the read models, and the same for the sync
  documents. Goal: >= 20,000 events/s (ratio: events/s over 20,000).
- `sink`: N finished runs written to the store and projected into documents, then the sink pusher
  (engine/sync_sink.py) against the test sink server (tests/support/sync_sink.py, real HTTP on
  loopback) until the sink holds all N; documents/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime

import psycopg
from oa_runtime.core.read_models import LARAVEL_READ_MODELS
from oa_runtime.core.sync import SYNC_PROJECTION_VERSION
from oa_runtime.engine.sync_projector import SyncFeed, SyncProjector
from oa_runtime.engine.sync_sink import HttpDocumentSink, SinkConfig, SinkPusher
from oa_runtime.store import open_store
from oa_runtime.store.sync import open_sync_store

from tests.conformance.helpers import finish, new_run
from tests.support.sync_sink import serve_sync_sink

from .clients import Target
from .read_model_rebuild import measure
from .report import Result, percentile
from .scenarios import CONCURRENT_RATE, _read, _start, new_id

LAG_GOAL_MS = 1000.0
REBUILD_GOAL_PER_S = 20_000.0
SAMPLE_EVERY_S = 0.05

_CHECKPOINTS = {
    name: f"SELECT position FROM projection_checkpoints WHERE name = '{name}'"
    for name in (LARAVEL_READ_MODELS.name, "thread_messages")
} | {
    "sync_documents": "SELECT position FROM sync_projection WHERE serving = 1",
}
_FIRST_PAST = "SELECT occurred_at FROM events WHERE position > {p} ORDER BY position LIMIT 1"


def _lag_sampler(database_url: str) -> tuple[Callable[[], dict[str, float]], Callable[[], int]]:
    """A function that returns each projection's lag in seconds, and one that returns the log
    head (events appended during the load), read on their own connection."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(
            database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
        )

        def rows(sql: str) -> list[tuple[object, ...]]:
            return conn.execute(sql).fetchall()
    else:
        pg = psycopg.connect(database_url, autocommit=True)

        def rows(sql: str) -> list[tuple[object, ...]]:
            return pg.execute(sql.encode()).fetchall()

    def head() -> int:
        return int(str(rows("SELECT position FROM log_head WHERE id = 1")[0][0]))

    def sample() -> dict[str, float]:
        now = time.time()
        out: dict[str, float] = {}
        for name, sql in _CHECKPOINTS.items():
            found = rows(sql)
            position = int(str(found[0][0])) if found else 0
            past = rows(_FIRST_PAST.format(p=position))
            if not past:
                out[name] = 0.0
                continue
            value = past[0][0]
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            out[name] = max(0.0, now - moment.timestamp())
        return out

    return sample, head


async def projection_lag(t: Target, runs: int, seconds: float) -> list[Result]:
    sample, log_head = _lag_sampler(t.runtime.database_url)
    first = await asyncio.to_thread(log_head)
    samples: dict[str, list[float]] = {name: [] for name in _CHECKPOINTS}
    tokens = int(CONCURRENT_RATE * seconds)

    async def one() -> None:
        run_id = new_id("lag")
        await _start(t, "grpc", run_id, f"/tokens {tokens} {CONCURRENT_RATE:g}")
        await _read(t, "grpc", run_id)

    load = asyncio.gather(*(one() for _ in range(runs)))
    try:
        while not load.done():
            for name, lag in (await asyncio.to_thread(sample)).items():
                samples[name].append(lag)
            await asyncio.sleep(SAMPLE_EVERY_S)
    finally:
        if not load.done():
            load.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load
    figures: dict[str, float] = {
        "runs": runs,
        "samples": len(samples[LARAVEL_READ_MODELS.name]),
        "events": await asyncio.to_thread(log_head) - first,
    }
    for name, values in samples.items():
        figures[f"{name}_p50_ms"] = percentile(values, 50) * 1e3
        figures[f"{name}_p99_ms"] = percentile(values, 99) * 1e3
    headline = f"{LARAVEL_READ_MODELS.name}_p99_ms"
    return [
        Result(f"projection_lag@{runs}", t.backend, "grpc", headline, figures).against(
            "goal_p99_ms", LAG_GOAL_MS
        )
    ]


async def projection_lags(t: Target, levels: tuple[int, ...], seconds: float) -> list[Result]:
    """`projection_lag` at each of the `concurrent` scenario's levels."""
    return [result for runs in levels for result in await projection_lag(t, runs, seconds)]


async def rebuild(backend: str, database_url: str, events: int) -> list[Result]:
    measured = await measure(database_url, events, batch=2000)
    figures = {k: float(v) for k, v in measured.items() if isinstance(v, int | float)}
    return [
        Result("rebuild", backend, "store", "events_per_s", figures).against(
            "goal_events_per_s", REBUILD_GOAL_PER_S
        )
    ]


async def sink_throughput(backend: str, database_url: str, documents: int) -> list[Result]:
    store = open_store(database_url)
    await store.open()
    try:
        for _ in range(documents):
            await finish(store, await new_run(store, thread_id="thread-sink", run_id=new_id("sink")))
        sync = open_sync_store(store)
        projector = SyncProjector(sync, store, SyncFeed(), version=SYNC_PROJECTION_VERSION)
        await projector.catch_up()
        async with serve_sync_sink() as sink:
            config = SinkConfig(sink.url, batch=200, idle_s=0.05)
            pusher = SinkPusher(sync, HttpDocumentSink(config), projector.feed, config, "bench@1")
            began = time.perf_counter()
            task = asyncio.create_task(pusher.run())
            await sink.wait_for(lambda: len(sink.documents) >= documents, timeout_s=600)
            seconds = time.perf_counter() - began
            await pusher.stop(5)
            await task  # run() returns once stopped
    finally:
        await store.close()
    figures = {"documents": float(documents), "push_s": seconds, "documents_per_s": documents / seconds}
    return [Result("sink", backend, "store", "documents_per_s", figures)]
