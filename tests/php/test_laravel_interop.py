"""Laravel interop (issue 11, build 11): the PHP RuntimeClient in this directory, on Debian's
Illuminate HTTP client and Guzzle, with tokens from PHP's hash_hmac (integer user_id), run
against the real stack (Envoy + service) on SQLite and PostgreSQL. `laravel_flow.php` prints a
JSON report of each step; every error in it was decoded by PHP from the one error shape.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_envoy.conftest import parse_sse, start_gateway

HERE = Path(__file__).resolve().parent
PHP_LIBRARIES = (
    Path("/usr/share/php/Illuminate/Http/autoload.php"),
    Path("/usr/share/php/GuzzleHttp/autoload.php"),
)
SECRET = "laravel-runtime-v1-secret"


def php_or_skip() -> str:
    php = shutil.which("php")
    if php and all(path.exists() for path in PHP_LIBRARIES):
        return php
    message = "php-cli, php-laravel-framework and php-guzzlehttp-guzzle are needed (make setup)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def run_flow(
    php: str, base_url: str, script: str = "laravel_flow.php", suffix: str | None = None, *extra: str
) -> dict[str, Any]:
    """Runs a flow script (`<script> <base url> <secret> <unique suffix> [extra...]`); its JSON report."""
    # A subprocess the event loop waits on: the service under test runs on this loop.
    process = await asyncio.create_subprocess_exec(
        php,
        str(HERE / script),
        base_url,
        SECRET,
        suffix or uuid.uuid4().hex[:10],
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()[-3000:]
    report: dict[str, Any] = json.loads(stdout)
    return report


def ok(report: dict[str, Any], step: str) -> Any:
    assert "ok" in report[step], (step, report[step])
    return report[step]["ok"]


def error(report: dict[str, Any], step: str, status: int, code: int, reason: str) -> dict[str, Any]:
    assert "error" in report[step], (step, report[step])
    decoded: dict[str, Any] = report[step]["error"]
    assert (decoded["httpStatus"], decoded["code"], decoded["reason"]) == (status, code, reason), decoded
    assert decoded["domain"] == "runtime.openagents.dev"
    return decoded


async def test_the_laravel_client_runs_the_whole_flow(database_url_for_php: str) -> None:
    php = php_or_skip()
    # Laravel signs with key id runtime-v1 (X-OA-RUNTIME-KEY-ID); service tokens stay off.
    env = {"RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}", "RUNTIME_ALLOW_SERVICE_TOKENS": "0"}
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url)

    started = ok(report, "start")
    assert started["status"] == "accepted" and started["created"] is True
    assert started["run"]["userId"] == "42"

    stream = ok(report, "stream")
    assert stream["contentType"] == "text/event-stream"
    chunks = stream["chunks"]
    body = "".join(chunk["bytes"] for chunk in chunks).encode()
    assert body.endswith(b"data: [DONE]\n\n")
    texts = [e.chunk["delta"] for e in parse_sse(body) if e.chunk and e.chunk.get("type") == "text-delta"]
    assert "".join(texts) == "Hello from Laravelafter a pause"  # two text parts, one per /say
    # Proxied as they arrive: bytes before the 400 ms pause came well before the last ones.
    assert len(chunks) > 2 and chunks[-1]["atMs"] - chunks[0]["atMs"] >= 300, [c["atMs"] for c in chunks]

    resumed = ok(report, "resume")
    cursor = int(resumed["lastEventId"])
    resumed_events = parse_sse(resumed["bytes"].encode())
    assert resumed["bytes"].endswith("data: [DONE]\n\n")
    assert all(e.id is None or e.id > cursor for e in resumed_events)
    whole_after_cursor = body[body.index(f"id: {cursor}\n".encode()) :].split(b"\n\n", 1)[1]
    assert resumed["bytes"].encode().endswith(whole_after_cursor)  # exactly the rest, once

    assert ok(report, "getRun")["run"]["state"] == "RUN_STATE_SUCCEEDED"
    thread = ok(report, "getThreadState")
    assert [m["role"] for m in thread["messages"]][:2] == ["user", "assistant"]

    assert ok(report, "appendEvents")["replayed"] is False
    canceled = ok(report, "cancel")  # Http::post($url) without data sent `[]`
    assert canceled["cancelRecorded"] is True

    assert ok(report, "firstUse")["run"]["runId"] == started["runId"]
    replay = error(report, "replayedToken", 401, 16, "INVALID_TOKEN")
    assert replay["metadata"]["problem"] == "nonce already used"
    other = error(report, "otherUsersRun", 403, 7, "CLAIM_MISMATCH")
    assert other["metadata"]["claim"] == "user_id"
    error(report, "unknownRun", 404, 5, "RUN_NOT_FOUND")
    error(report, "conflictingStart", 409, 6, "RUN_ALREADY_EXISTS")
