"""The running service pushes run and Codex worker summaries to a real HTTP sync sink
(tests/support/sync_sink.py, the protocol in docs/SYNC.md), on SQLite and PostgreSQL: each
document version arrives once across a restart of the runtime (even with the sink's checkpoint
lost in between: acknowledged versions are skipped), 5xx answers are retried with backoff, and
the auth header is sent but never logged."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import pytest
from oa_runtime.core.sync import SYNC_PROJECTION_VERSION
from oa_runtime.observability import metrics

from tests.e2e.helpers import events, start
from tests.e2e.test_workers_grpc import create, report
from tests.support.runtime import running_runtime
from tests.support.sync_sink import SyncSink, serve_sync_sink

AUTH = "Bearer sink-secret-4f9a"


def sink_env(sink: SyncSink) -> dict[str, str]:
    return {
        "RUNTIME_SYNC_SINK_URL": sink.url,
        "RUNTIME_SYNC_SINK_AUTH": AUTH,
        "RUNTIME_SYNC_SINK_LEASE_TTL_S": "3",
    }


def execute(database_url: str, sql: str) -> None:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql)
        return
    with psycopg.connect(database_url) as pg:
        pg.execute(sql)


def run_doc(sink: SyncSink, run_id: str) -> dict[str, Any]:
    return sink.documents.get(f"runtime/run_summary:{run_id}", {})


def finished(sink: SyncSink, run_id: str, last_seq: int) -> bool:
    doc = run_doc(sink, run_id)
    return bool(doc) and doc["envelope"]["seq_range"]["to"] == last_seq


async def test_each_document_version_reaches_the_sink_once_across_a_restart(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve_sync_sink(auth=AUTH) as sink:
        async with running_runtime(database_url, sink_env(sink)) as rt:
            await start(rt, "sink-1", "/say one", thread_id="t-sink", user_id=7)
            await start(rt, "sink-2", "/say two", thread_id="t-sink", user_id=7)
            first, second = await events(rt, "sink-1"), await events(rt, "sink-2")
            await create(rt, "w-sink")
            worker_seq = await report(rt, "w-sink", "worker.started")
            await sink.wait_for(
                lambda: (
                    finished(sink, "sink-1", len(first))
                    and finished(sink, "sink-2", len(second))
                    and sink.documents.get("runtime/codex_worker_summary:w-sink", {}).get("version")
                    == f"{SYNC_PROJECTION_VERSION}.{worker_seq}"
                )
            )
        before = dict(sink.deliveries)
        # The sink's checkpoint is lost while the runtime is down: what it acknowledged is still
        # known per document, so nothing it has is pushed again.
        execute(database_url, "UPDATE sync_sinks SET position = 0")
        async with running_runtime(database_url, sink_env(sink)) as rt:
            await start(rt, "sink-3", "/say three", thread_id="t-sink", user_id=7)
            third = await events(rt, "sink-3")
            await sink.wait_for(lambda: finished(sink, "sink-3", len(third)))

    assert max(sink.deliveries.values()) == 1, [k for k, n in sink.deliveries.items() if n > 1]
    assert {k: n for k, n in sink.deliveries.items() if k in before} == before
    assert all(
        not doc_id.endswith((":sink-1", ":sink-2")) for doc_id, _ in set(sink.deliveries) - set(before)
    )
    doc = run_doc(sink, "sink-1")
    assert doc["payload"]["status"] == "succeeded" and doc["payload"]["thread_id"] == "t-sink"
    assert doc["envelope"]["source_ids"] == {"run_id": "sink-1", "thread_id": "t-sink"}
    assert (
        doc["envelope"]["payload_hash"].startswith("sha256:")
        and doc["envelope"]["projection_version"] == SYNC_PROJECTION_VERSION
    )
    assert all(h.get("authorization") == AUTH for h in sink.headers_seen)
    assert all(h.get("idempotency-key") for h in sink.headers_seen)
    assert AUTH not in caplog.text and "sink-secret" not in caplog.text


async def test_5xx_answers_are_retried_with_backoff_until_acknowledged(database_url: str) -> None:
    failures = metrics.SYNC_SINK_FAILURES.labels("5xx")
    failed_before = failures._value.get()
    async with serve_sync_sink() as sink:
        sink.fail_next(503, 500, 502)
        async with running_runtime(database_url, sink_env(sink)) as rt:
            await start(rt, "retry-1", "/say retried", thread_id="t-retry")
            evs = await events(rt, "retry-1")
            await sink.wait_for(lambda: finished(sink, "retry-1", len(evs)))
    assert sink.statuses[:3] == [503, 500, 502]
    assert 200 in sink.statuses[3:]
    assert failures._value.get() - failed_before >= 3
    assert max(sink.deliveries.values()) == 1  # refused pushes were not applied, the retry was, once
