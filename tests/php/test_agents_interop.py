"""Laravel interop for the agent routes: `agents_flow.php` drives `AgentsClient.php` (Debian's
Illuminate HTTP client on Guzzle, protobuf JSON bodies, user-bound and agent-bound tokens)
against the real stack on SQLite and PostgreSQL: create (idempotent, 409 on another body),
frames (idempotent, 409 on a conflicting frame, 403 for another user), a turn, wake, sleep."""

from __future__ import annotations

import uuid

from tests.e2e_envoy.conftest import start_gateway
from tests.php.test_laravel_interop import SECRET, error, ok, php_or_skip, run_flow


async def test_the_laravel_client_drives_an_agent(database_url_for_php: str) -> None:
    php = php_or_skip()
    env = {"RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}", "RUNTIME_ALLOW_SERVICE_TOKENS": "0"}
    suffix = uuid.uuid4().hex[:10]
    agent_id = f"agent_php_{suffix}"
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url, "agents_flow.php", suffix)

    created = ok(report, "create")
    assert created["status"] == 200 and created["body"]["created"] is True
    agent = created["body"]["agent"]
    assert agent["agentId"] == agent_id and agent["userId"] == "42"
    assert agent["state"] == "AGENT_STATE_SLEEPING" and agent["wakeTime"]  # the cron schedule
    assert agent["schedules"][0]["timeZone"] == "Europe/Berlin"
    assert agent["supervisionPolicy"]["turnDeadline"] == "120s"
    assert ok(report, "createAgain")["body"]["created"] is False
    error(report, "createOther", 409, 6, "AGENT_ALREADY_EXISTS")

    framed = ok(report, "frames")["body"]
    assert framed["acceptedFrameIds"] == ["f1", "f2"] and framed["duplicateFrameIds"] == []
    assert ok(report, "framesAgain")["body"]["duplicateFrameIds"] == ["f1", "f2"]
    error(report, "frameConflict", 409, 6, "FRAME_CONFLICT")
    error(report, "otherUser", 403, 7, "CLAIM_MISMATCH")

    after = ok(report, "afterTurn")["body"]["agent"]
    assert after["turnCount"] == 1 and after["pendingFrameCount"] == 0
    assert ok(report, "wake")["body"]["recorded"] is True
    assert ok(report, "sleep")["status"] == 200
