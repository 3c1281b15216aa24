"""Laravel interop for the Codex worker routes: `codex_workers_flow.php` drives
`CodexWorkersClient.php` (Debian's Illuminate HTTP client on Guzzle, bodies exactly as the
product's controller validates and forwards them: snake_case, `[]` for empty arrays, `stop`
with no data) against the real stack on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e_envoy.conftest import parse_sse, start_gateway
from tests.php.test_laravel_interop import SECRET, error, ok, php_or_skip, run_flow

Report = dict[str, Any]


async def test_the_laravel_client_drives_a_codex_worker(database_url_for_php: str) -> None:
    php = php_or_skip()
    env = {"RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}", "RUNTIME_ALLOW_SERVICE_TOKENS": "0"}
    suffix = uuid.uuid4().hex[:10]
    worker_id = f"codexw_php_{suffix}"
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url, "codex_workers_flow.php", suffix)
    _check_create_and_requests(report, worker_id)
    _check_reads_and_stop(report, worker_id)
    _check_streams_and_reattach(report)


def _check_create_and_requests(report: Report, worker_id: str) -> None:
    created = ok(report, "create")
    assert created["status"] == 202
    assert created["body"]["workerId"] == worker_id and created["body"]["idempotentReplay"] is False
    assert created["body"]["worker"]["userId"] == "42"
    again = ok(report, "createAgain")
    assert again["status"] == 200 and again["body"]["idempotentReplay"] is True
    error(report, "createOther", 409, 6, "WORKER_ALREADY_EXISTS")

    assert ok(report, "started") == {
        "status": 202,
        "body": {"workerId": worker_id, "seq": "2", "eventType": "worker.started", "status": "running"},
    }
    assert ok(report, "handshake")["body"]["seq"] == "3"
    request = ok(report, "request")
    assert request["status"] == 202 and request["body"]["requestId"] == "req_1"
    assert request["body"]["idempotentReplay"] is False
    replay = ok(report, "requestAgain")
    assert replay["status"] == 200 and replay["body"]["idempotentReplay"] is True
    assert replay["body"]["seq"] == request["body"]["seq"] == "4"
    assert ok(report, "requestEmptyParams")["status"] == 202


def _check_reads_and_stop(report: Report, worker_id: str) -> None:
    listed = ok(report, "index")["body"]["workers"]
    assert [w["workerId"] for w in listed] == [worker_id]
    snapshot = ok(report, "show")["body"]["worker"]
    assert snapshot["status"] == "running" and snapshot["heartbeatState"] == "fresh"
    error(report, "otherUser", 403, 7, "CLAIM_MISMATCH")

    stop = ok(report, "stop")
    assert stop["status"] == 202 and stop["body"]["status"] == "stopping"
    assert ok(report, "stopAgain")["status"] == 200
    assert ok(report, "stopped")["body"]["status"] == "stopped"
    conflict = error(report, "eventWhenStopped", 409, 10, "WORKER_STATE_CONFLICT")
    assert conflict["metadata"]["status"] == "stopped"
    assert "create or reattach to resume" in conflict["message"]
    error(report, "requestWhenStopped", 409, 10, "WORKER_STATE_CONFLICT")


def _check_streams_and_reattach(report: Report) -> None:
    streamed = [e for e in parse_sse(ok(report, "stream").encode()) if e.comment is None]
    assert [e.id for e in streamed] == [3, 4, 5, 6, 7]
    assert [e.chunk["type"] for e in streamed if e.chunk] == [
        "worker.event",
        "worker.request.received",
        "worker.request.received",
        "worker.stop_requested",
        "worker.stopped",
    ]
    by_header = [e for e in parse_sse(ok(report, "streamByHeader").encode()) if e.comment is None]
    assert [e.id for e in by_header] == [7]

    reattached = ok(report, "reattach")
    assert reattached["status"] == 202 and reattached["body"]["worker"]["reattachCount"] == "1"
