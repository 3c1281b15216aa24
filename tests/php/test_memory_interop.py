"""Laravel interop for memory: `memory_flow.php` drives `MemoryClient.php` (Debian's Illuminate
HTTP client on Guzzle, tokens from PHP's hash_hmac) against the real stack on SQLite and
PostgreSQL over a thread seeded with two past hours: compact now, list chunks by level and page,
get one, expand an hour, ask a question until answered, and decode the errors from the one
error shape."""

from __future__ import annotations

import uuid

from tests.e2e_envoy.conftest import start_gateway
from tests.php.test_laravel_interop import SECRET, error, ok, php_or_skip, run_flow
from tests.support.memory import seed_past_thread


async def test_the_laravel_client_compacts_lists_expands_and_asks(database_url_for_php: str) -> None:
    php = php_or_skip()
    suffix = uuid.uuid4().hex[:10]
    thread = f"thread-php-mem-{suffix}"
    await seed_past_thread(database_url_for_php, thread, f"run-php-mem-{suffix}")  # user 42's
    env = {"RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}", "RUNTIME_ALLOW_SERVICE_TOKENS": "0"}
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url, "memory_flow.php", suffix, thread)
    planned = ok(report, "compact")["planned"]
    assert len(planned) == 12 and {p["level"] for p in planned} == {"MEMORY_LEVEL_L1"}
    assert ok(report, "settled").get("planned", []) == []
    page = ok(report, "listL1")
    assert len(page["chunks"]) == 5 and page["nextPageToken"]
    l1 = page["chunks"] + ok(report, "listL1Rest")["chunks"]
    assert len(l1) == 12 and all(c["streamId"] == thread for c in l1)
    assert l1[0]["seqRange"] == {"firstSeq": "1", "lastSeq": "3"}
    hours = ok(report, "listL2")["chunks"]
    assert len(hours) == 2 and hours[0]["inputChunkIds"] == [c["chunkId"] for c in l1[:6]]
    assert ok(report, "get")["chunk"] == l1[0]
    expanded = ok(report, "expand")
    assert [c["depth"] for c in expanded["chunks"]] == [0, 1, 1] and expanded["truncated"] is True
    assert ok(report, "ask")["created"] is True
    query = ok(report, "answer")["query"]
    assert query["state"] == "MEMORY_QUERY_STATE_DONE" and query["usedChunkIds"] == [
        h["chunkId"] for h in hours
    ]
    missing = error(report, "getUnknown", 404, 5, "MEMORY_CHUNK_NOT_FOUND")
    assert missing["metadata"] == {"chunk_id": "mc1_" + "0" * 32}
    error(report, "getOtherUser", 403, 7, "CLAIM_MISMATCH")
    error(report, "askOtherUser", 403, 7, "CLAIM_MISMATCH")
