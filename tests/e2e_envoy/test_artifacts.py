"""Artifacts through the real Envoy on SQLite and PostgreSQL: a large tool output reaches the
AI SDK client as a reference plus preview (the real `ai` client accepts the stream); REST lists
a run's and a thread's artifacts; FetchArtifact answers the bytes with their media type,
streamed (an artifact bigger than the gateway's 4 MiB body buffer), by range; errors in the one
JSON shape; tokens bound to another run are refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.tool_helpers import TOOL_ENV
from tests.e2e_envoy.conftest import Gateway, assert_error_shape, new_id, start_gateway
from tests.e2e_envoy.test_recorded_streams_aisdk import SCRIPT, _require_node

BIG_BYTES = 5 * 1024 * 1024  # over Envoy's max_response_body_size (4 MiB): only a stream passes
ENV = {**TOOL_ENV, "RUNTIME_ARTIFACT_INLINE_MAX_BYTES": "4096"}


@pytest.fixture
async def gw(database_url: str) -> AsyncIterator[Gateway]:
    """A fresh database of each backend behind its own runtime and Envoy."""
    async with start_gateway(database_url, ENV) as gateway:
        yield gateway


def expected_output(size: int) -> bytes:
    text = "".join(f"line {i:07d}\n" for i in range(size // 13 + 1))
    return json.dumps({"text": text}, separators=(",", ":")).encode()


async def aisdk_report(body: bytes, tmp: Path) -> dict[str, Any]:
    node = _require_node()
    path = tmp / "artifact.sse"
    path.write_bytes(body)
    proc = await asyncio.to_thread(
        subprocess.run,
        [node, str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report: dict[str, Any] = json.loads(proc.stdout.strip().split("\n")[-1])
    return report


async def test_a_large_output_travels_as_a_reference_and_is_fetched_whole(gw: Gateway, tmp_path: Any) -> None:
    run_id, thread_id = new_id("art"), new_id("thread")
    await gw.start(run_id, f'/tool big_output {{"bytes": {BIG_BYTES}}}\n/say got it', thread_id=thread_id)
    stream = await gw.stream(run_id)
    outputs = [c for c in (e.chunk for e in stream.frames) if c and c["type"] == "tool-output-available"]
    (output,) = [o["output"] for o in outputs]
    whole = expected_output(BIG_BYTES)
    sha = hashlib.sha256(whole).hexdigest()
    assert output["artifact"] == {
        "sha256": sha,
        "size_bytes": len(whole),
        "media_type": "application/json",
        "name": output["artifact"]["name"],
    }
    assert whole.startswith(output["preview"].encode()) and len(stream.body) < 64 * 1024
    report = await aisdk_report(stream.body, tmp_path)
    assert report["ok"], report
    assert "tool-big_output:output-available" in report["parts"]

    listed = await gw.http.get(f"/internal/v1/runs/{run_id}/artifacts", headers=gw.auth(run_id=run_id))
    assert listed.status_code == 200, listed.text
    (artifact,) = listed.json()["artifacts"]
    assert (artifact["sha256"], artifact["sizeBytes"], artifact["threadId"]) == (
        sha,
        str(len(whole)),
        thread_id,
    )
    assert artifact["producer"] == "tool:big_output" and artifact["mediaType"] == "application/json"
    by_thread = await gw.http.get(f"/internal/v1/threads/{thread_id}/artifacts", headers=gw.auth())
    assert by_thread.json()["artifacts"] == [artifact]

    url = f"/internal/v1/runs/{run_id}/artifacts/{sha}"
    fetched = await gw.http.get(url, headers=gw.auth(run_id=run_id))
    assert fetched.status_code == 200, fetched.text[:300]
    assert fetched.headers["content-type"] == "application/json"
    assert fetched.headers["x-oa-artifact-sha256"] == sha
    assert fetched.headers["x-oa-artifact-size"] == str(len(whole))
    assert fetched.headers["content-disposition"] == f'attachment; filename="{artifact["name"]}"'
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert not any(h.startswith("grpc-") for h in fetched.headers)
    assert hashlib.sha256(fetched.content).hexdigest() == sha
    ranged = await gw.http.get(url, params={"offset": "1000", "length": "50"}, headers=gw.auth())
    assert ranged.content == whole[1000:1050]


async def test_artifact_errors_have_the_one_shape(gw: Gateway) -> None:
    run_id, other = new_id("err"), new_id("other")
    await gw.start(run_id, '/tool big_output {"bytes": 10000}')
    await gw.start(other, "/say hi")
    await gw.wait_terminal(run_id)
    listed = await gw.http.get(f"/internal/v1/runs/{run_id}/artifacts", headers=gw.auth())
    (artifact,) = listed.json()["artifacts"]
    sha = artifact["sha256"]
    cases = [
        (f"/internal/v1/runs/{run_id}/artifacts/NOT-A-DIGEST", gw.auth(), 400, "INVALID_ARGUMENT"),
        (f"/internal/v1/runs/{run_id}/artifacts/{'0' * 64}", gw.auth(), 404, "ARTIFACT_NOT_FOUND"),
        (f"/internal/v1/runs/{other}/artifacts/{sha}", gw.auth(), 404, "ARTIFACT_NOT_FOUND"),
        (f"/internal/v1/runs/missing-run/artifacts/{sha}", gw.auth(), 404, "RUN_NOT_FOUND"),
        (f"/internal/v1/runs/{run_id}/artifacts/{sha}", gw.auth(run_id=other), 403, "CLAIM_MISMATCH"),
        (f"/internal/v1/runs/{run_id}/artifacts", gw.auth(run_id=other), 403, "CLAIM_MISMATCH"),
        (f"/internal/v1/runs/{run_id}/artifacts?pageToken=zzz", gw.auth(), 400, "INVALID_ARGUMENT"),
        (f"/internal/v1/runs/{run_id}/artifacts/{sha}", {}, 401, "INVALID_TOKEN"),
    ]
    for path, headers, status, reason in cases:
        assert_error_shape(await gw.http.get(path, headers=headers), status, reason)
