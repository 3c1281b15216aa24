"""The yardsticks the runtime's figures are divided by.

- `raw_grpc_stream`: a bare grpc.aio server-streaming handler in this process that yields the
  very delta texts the runtime delivered (same messages, same sizes) as StreamRunEventsResponse:
  what a Python gRPC stream costs with no store, broker or run loop behind it.
- `raw_sqlite_inserts` / `raw_postgres_inserts`: the same event rows inserted with plain
  executemany, one transaction per 100 rows, into a scratch table of the events table's shape.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence

import grpc
import grpc.aio
import psycopg
from openagents.runtime.v1 import run_event_pb2, run_service_pb2

_METHOD = "/bench.RawStream/Stream"
Row = tuple[str, int, str, str, str, str]  # run_id, seq, event_id, type, occurred_at, payload


async def raw_grpc_stream(texts: Sequence[str]) -> tuple[float, float]:
    """(tokens/s, seconds) for streaming `texts` as message.delta events over loopback gRPC."""

    async def stream(
        _request: bytes, _context: grpc.aio.ServicerContext
    ) -> AsyncIterator[run_service_pb2.StreamRunEventsResponse]:
        for seq, text in enumerate(texts, 1):
            yield run_service_pb2.StreamRunEventsResponse(
                event=run_event_pb2.RunEvent(
                    run_id="raw", seq=seq, type="message.delta",
                    message_delta=run_event_pb2.MessageDelta(message_id="m", delta=text),
                )
            )  # fmt: skip

    handler = grpc.method_handlers_generic_handler(
        "bench.RawStream",
        {
            "Stream": grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=None,
                response_serializer=run_service_pb2.StreamRunEventsResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_stream(
                _METHOD,
                request_serializer=lambda b: b,
                response_deserializer=run_service_pb2.StreamRunEventsResponse.FromString,
            )
            tokens = 0
            started = time.perf_counter()
            async for message in call(b""):
                tokens += message.event.message_delta.delta.count("t")
            elapsed = time.perf_counter() - started
    finally:
        await server.stop(None)
    return tokens / elapsed, elapsed


_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_raw_events (run_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, occurred_at TEXT NOT NULL,"
    " payload TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID"
)
_PG_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_raw_events (run_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, occurred_at TIMESTAMPTZ NOT NULL,"
    " payload JSONB NOT NULL, PRIMARY KEY (run_id, seq))"
)
_INSERT = "INSERT INTO bench_raw_events VALUES ({0}, {0}, {0}, {0}, {0}, {0})"
BATCH = 100


def _sqlite_inserts(path: str, rows: Sequence[Row]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # what the store's connection uses
        conn.execute(_SQLITE_TABLE)
        sql = _INSERT.format("?")
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows[i : i + BATCH])
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def _postgres_inserts(url: str, rows: Sequence[Row]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_PG_TABLE)
        sql = _INSERT.format("%s")
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows[i : i + BATCH])
        return time.perf_counter() - started


async def raw_inserts(database_url: str, rows: Sequence[Row]) -> float:
    """Rows/s of plain batched inserts (run in a thread; nothing else runs meanwhile)."""
    if database_url.startswith("sqlite:///"):
        elapsed = await asyncio.to_thread(_sqlite_inserts, database_url.removeprefix("sqlite:///"), rows)
    else:
        elapsed = await asyncio.to_thread(_postgres_inserts, database_url, rows)
    return len(rows) / elapsed
