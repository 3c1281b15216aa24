"""Laravel interop for artifacts: `artifacts_flow.php` drives `ArtifactsClient.php` (Debian's
Illuminate HTTP client on Guzzle, tokens from PHP's hash_hmac) against the real stack on SQLite
and PostgreSQL: list a run's and a thread's artifacts, fetch the bytes whole and by range, and
decode the errors from the one error shape."""

from __future__ import annotations

import base64
import hashlib
import uuid

from tests.e2e.tool_helpers import TOOL_ENV
from tests.e2e_envoy.conftest import start_gateway
from tests.php.test_laravel_interop import SECRET, error, ok, php_or_skip, run_flow


async def test_the_laravel_client_lists_and_fetches_artifacts(database_url_for_php: str) -> None:
    php = php_or_skip()
    env = {
        **TOOL_ENV,
        "RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}",
        "RUNTIME_ALLOW_SERVICE_TOKENS": "0",
        "RUNTIME_ARTIFACT_INLINE_MAX_BYTES": "65536",
    }
    suffix = uuid.uuid4().hex[:10]
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url, "artifacts_flow.php", suffix)
    assert "data: [DONE]" in ok(report, "stream")
    (artifact,) = ok(report, "listRun")["artifacts"]
    assert artifact["runId"] == f"run-php-art-{suffix}" and artifact["producer"] == "tool:big_output"
    assert ok(report, "listThread")["artifacts"] == [artifact]
    fetched = ok(report, "fetch")
    body = base64.b64decode(fetched["body"])
    assert hashlib.sha256(body).hexdigest() == artifact["sha256"] == fetched["sha256"]
    assert str(len(body)) == artifact["sizeBytes"] == fetched["size"]
    assert fetched["contentType"] == "application/json"
    assert fetched["disposition"] == f'attachment; filename="{artifact["name"]}"'
    assert base64.b64decode(ok(report, "fetchRange")["body"]) == body[100:120]
    missing = error(report, "fetchUnknown", 404, 5, "ARTIFACT_NOT_FOUND")
    assert missing["metadata"] == {"sha256": "0" * 64}
    error(report, "fetchOtherUser", 403, 7, "CLAIM_MISMATCH")
