"""The running service keeps the Laravel read models: runs started over gRPC show up in
the threads, runs, messages and run_events tables, read the way Laravel reads them
(plain SQL on the database file, or on PostgreSQL's `laravel` schema)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import psycopg

from tests.e2e.helpers import events, start
from tests.support.runtime import RuntimeHandle


def laravel_query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """`{t}` stands for the read models' table prefix: `laravel.` or `laravel_`."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql.format(t="laravel_"), params).fetchall()
    with psycopg.connect(database_url) as pg:
        return pg.execute(sql.format(t="laravel.").replace("?", "%s"), params).fetchall()


async def test_runs_through_the_service_land_in_the_laravel_tables(runtime: RuntimeHandle) -> None:
    await start(runtime, "rm-1", "/say hello read models", thread_id="t-laravel", user_id=42)
    await start(runtime, "rm-2", "/say second run", thread_id="t-laravel", user_id=42)
    first, second = await events(runtime, "rm-1"), await events(runtime, "rm-2")
    url = runtime.database_url

    deadline = time.monotonic() + 20
    while laravel_query(url, "SELECT count(*) FROM {t}run_events")[0][0] < len(first) + len(second):
        assert time.monotonic() < deadline, "the projector did not reach the runs' events"
        await asyncio.sleep(0.1)

    runs = laravel_query(
        url,
        "SELECT run_id, thread_id, user_id, status, model, last_seq, event_count, message_count,"
        " finish_reason"
        " FROM {t}runs ORDER BY run_id",
    )
    assert runs == [
        ("rm-1", "t-laravel", 42, "succeeded", "scripted", len(first), len(first), 1, "stop"),
        ("rm-2", "t-laravel", 42, "succeeded", "scripted", len(second), len(second), 1, "stop"),
    ]
    messages = laravel_query(url, "SELECT run_id, role, content FROM {t}messages ORDER BY run_id, seq")
    assert messages == [("rm-1", "assistant", "hello read models"), ("rm-2", "assistant", "second run")]
    types = laravel_query(url, "SELECT type FROM {t}run_events WHERE run_id = ? ORDER BY seq", ("rm-1",))
    assert [t[0] for t in types] == [e.type for e in first]
    threads = laravel_query(url, "SELECT thread_id, user_id, run_count, last_status FROM {t}threads")
    assert threads == [("t-laravel", 42, 2, "succeeded")]
