"""The token flush window widens when appends are slow (the service is behind) and stays at its
base when they are fast: a run whose appends keep waiting sends fewer, larger deltas than the
same run with the window pinned, and the text is the same. Real service on PostgreSQL, where a
row lock held by another connection delays each append without limiting how many commits
happen; on SQLite the equivalent stall (the write lock) is polled by the busy handler with
growing sleeps, which caps the commits per second and so coalesces a pinned window as much."""

from __future__ import annotations

import asyncio
import time

import psycopg
from oa_runtime.engine.model_step import flush_window

from tests.e2e.helpers import events, start
from tests.support.postgres import PostgresServer
from tests.support.runtime import running_runtime

TOKENS = 120
RATE = 60  # tokens/s: two seconds of tokens


def test_the_window_is_twice_the_append_time_within_its_bounds() -> None:
    assert flush_window(0.02, 0.1, 0.001) == 0.02  # a fast append keeps the base window
    assert flush_window(0.02, 0.1, 0.03) == 0.06
    assert flush_window(0.02, 0.1, 1.0) == 0.1  # never past the ceiling
    assert flush_window(0.02, 0.0, 1.0) == 0.02  # a ceiling under the base: no widening
    assert flush_window(0.0, 0.1, 1.0) == 0.0  # no window: every chunk its own event


def _hold_run_row(database_url: str, run_id: str, hold_s: float) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))  # appends lock it
        time.sleep(hold_s)
        conn.rollback()


async def _stall_until(done: asyncio.Event, database_url: str, run_id: str) -> None:
    """Holds the run's row 60 ms out of every 70 until `done`: each append waits for it."""
    while not done.is_set():
        await asyncio.to_thread(_hold_run_row, database_url, run_id, 0.06)
        await asyncio.sleep(0.01)


async def _stalled_run(database_url: str, run_id: str, max_window_ms: str) -> list[str]:
    """The run's delta texts, its appends stalled from its start to its end."""
    env = {"RUNTIME_FLUSH_WINDOW_MS": "20", "RUNTIME_FLUSH_WINDOW_MAX_MS": max_window_ms}
    async with running_runtime(database_url, env) as rt:
        done = asyncio.Event()
        await start(rt, run_id, f"/tokens {TOKENS} {RATE}", thread_id=run_id)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_stall_until(done, database_url, run_id))
            try:
                evs = await events(rt, run_id)
            finally:
                done.set()
    return [e.message_delta.delta for e in evs if e.type == "message.delta"]


async def test_slow_appends_widen_the_window(postgres_server: PostgresServer) -> None:
    database_url = postgres_server.create_database("adaptive_coalescing")
    pinned = await _stalled_run(database_url, "pinned", "20")
    widened = await _stalled_run(database_url, "widened", "200")
    expected = "".join(f" t{i}" for i in range(1, TOKENS + 1)).lstrip()
    assert "".join(pinned) == "".join(widened) == expected
    # Pinned, most commits carry a token or two; widened, several tokens each.
    assert len(widened) < 0.75 * len(pinned), (len(widened), len(pinned))
