"""`python -m bench.read_model_rebuild [--events N] [--backend sqlite|postgres]`: how
fast the Laravel read models rebuild by replay (issue 15's goal: >= 20,000 events/s).

Writes N events over runs of 50 events each (a step with deltas and a message, then
the next), then resets the projection and times the catch-up from position 0, the
way a version bump rebuilds; then the same for the sync documents. Prints one JSON
line per backend (`python -m bench --only rebuild` records the same figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from oa_runtime.app.reproject import catch_up, reproject
from oa_runtime.core import events as ev
from oa_runtime.core.read_models import LARAVEL_READ_MODELS
from oa_runtime.engine.sync_projector import SyncFeed, SyncProjector
from oa_runtime.ports import AppendRequest
from oa_runtime.store import open_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.sync import open_sync_store

from tests.conformance.helpers import new_run
from tests.support.postgres import PostgresServer

EVENTS_PER_RUN = 50


def run_events(run_id: str) -> list[ev.NewEvent]:
    """49 events after run.accepted: steps of 4 deltas and a message, a finish."""
    out: list[ev.NewEvent] = [ev.run_started("bench", 1)]
    step = 0
    while len(out) < EVENTS_PER_RUN - 2 - 7:
        step += 1
        message_id = f"{run_id}-{step}"
        out.append(ev.step_started(step))
        out += [ev.message_delta(message_id, "token ") for _ in range(4)]
        out.append(ev.message_completed(message_id, "token " * 4))
        out.append(ev.step_finished(step, ev.STEP_STOP))
    out += [ev.external("bench", {"i": i}) for i in range(EVENTS_PER_RUN - 2 - len(out))]
    out.append(ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop"))
    return out


async def measure(url: str, events: int, batch: int) -> dict[str, object]:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    await store.open()
    try:
        runs = max(1, events // EVENTS_PER_RUN)
        for start in range(0, runs, 50):
            chunk = range(start, min(runs, start + 50))
            ids = [await new_run(store, thread_id=f"thread-{i % 97}") for i in chunk]
            for result in await store.append_many([AppendRequest(r, run_events(r)) for r in ids]):
                assert not isinstance(result, Exception), result
        head = await store.log_head()
        await store.reset_projection(LARAVEL_READ_MODELS.name)
        began = time.perf_counter()
        await catch_up(store, batch=batch)
        seconds = time.perf_counter() - began
        drift = (await reproject(store)).found
        sync = open_sync_store(store)
        await sync.reset_sync()
        began = time.perf_counter()
        await SyncProjector(sync, store, SyncFeed(), batch=batch).catch_up()
        sync_seconds = time.perf_counter() - began
    finally:
        await store.close()
    return {
        "backend": url.split(":")[0],
        "events": head,
        "runs": runs,
        "batch": batch,
        "rebuild_s": round(seconds, 3),
        "events_per_s": round(head / seconds),
        "drift_after": len(drift),
        "sync_rebuild_s": round(sync_seconds, 3),
        "sync_events_per_s": round(head / sync_seconds),
    }


async def main(backends: list[str], events: int, batch: int) -> None:
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                print(json.dumps(await measure(url, events, batch)), flush=True)
        else:
            with PostgresServer() as server:
                url = server.create_database("read_model_rebuild")
                print(json.dumps(await measure(url, events, batch)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2000, help="events per projector step")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    args = parser.parse_args()
    asyncio.run(main(args.backend or ["sqlite", "postgres"], args.events, args.batch))
