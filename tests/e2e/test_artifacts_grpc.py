"""Large tool outputs become artifacts, end to end over gRPC on both backends: the tool.result
event carries the reference and a preview (not the bytes), the model reads the rest with the
built-in `artifact_read`, and the bytes are stored once per digest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from oa_runtime.core.artifacts import PREVIEW_BYTES
from oa_runtime.core.canonical import canonical_json
from openagents.runtime.v1 import artifact_service_pb2 as artifact_pb
from openagents.runtime.v1 import artifact_service_pb2_grpc as artifact_pb_grpc
from openagents.runtime.v1 import run_event_pb2, tool_task_pb2

from tests.e2e.helpers import error_info, events, start
from tests.e2e.tool_helpers import results, sha256
from tests.support.runtime import RuntimeHandle, running_runtime

INLINE_MAX = 512
BIG = {"text": "".join(f"line {i:04d}: ünïcödé\n" for i in range(300))}  # ~7 KB of JSON
BIG_JSON = canonical_json(BIG)
BIG_SHA = sha256(BIG_JSON)


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[RuntimeHandle]:
    env = {"RUNTIME_ARTIFACT_INLINE_MAX_BYTES": str(INLINE_MAX)}
    async with running_runtime(database_url, env) as handle:
        yield handle


def prompt(run_id: str) -> str:
    read = {"sha256": BIG_SHA, "offset": 100, "length": 200}
    return f"/tool echo {json.dumps(BIG)}\n/tool artifact_read {json.dumps(read)}\n/say done"


async def test_a_large_output_is_an_artifact_the_model_reads_on(rt: RuntimeHandle) -> None:
    await start(rt, "big-1", prompt("big-1"))
    evs = await events(rt, "big-1")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    echo, read = results(evs).values()
    # The event has the reference and a preview, not the bytes.
    assert echo.state == tool_task_pb2.TOOL_TASK_STATE_SUCCEEDED
    assert echo.artifact.sha256 == BIG_SHA == echo.output_sha256
    assert echo.artifact.size_bytes == len(BIG_JSON.encode())
    assert echo.artifact.media_type == "application/json"
    assert echo.artifact.name == f"echo-{echo.tool_call_id}.json"
    stand_in = json.loads(echo.output_json)
    assert stand_in["artifact"]["sha256"] == BIG_SHA and stand_in["truncated"] is True
    assert BIG_JSON.encode().startswith(stand_in["preview"].encode())
    assert len(stand_in["preview"].encode()) <= PREVIEW_BYTES
    assert len(echo.output_json.encode()) < 2 * PREVIEW_BYTES  # the 7 KB are not in the log
    # artifact_read gave the model the bytes it asked for (whole characters only).
    slice_ = json.loads(read.output_json)
    whole = BIG_JSON.encode()
    assert slice_["offset"] == 100 and 196 <= slice_["length"] <= 200
    assert slice_["text"].encode() == whole[100 : 100 + slice_["length"]]
    assert slice_["next_offset"] == 100 + slice_["length"]
    assert read.artifact.sha256 == ""  # a read is never offloaded itself


async def test_artifact_read_refuses_another_runs_artifact(rt: RuntimeHandle) -> None:
    await start(rt, "owner", f"/tool echo {json.dumps(BIG)}")
    await events(rt, "owner")
    await start(rt, "other", f"/tool artifact_read {json.dumps({'sha256': BIG_SHA})}", thread_id="t2")
    (read,) = results(await events(rt, "other")).values()
    assert read.is_error and read.error_class == "artifact_not_found"


# ----- ArtifactService -----


def artifacts_stub(rt: RuntimeHandle) -> artifact_pb_grpc.ArtifactServiceStub:
    return artifact_pb_grpc.ArtifactServiceStub(rt.channel)


async def fetch(rt: RuntimeHandle, md: tuple[tuple[str, str], ...], **fields: Any) -> tuple[bytes, list[str]]:
    """The bytes of a FetchArtifact and the content type of each message."""
    call = artifacts_stub(rt).FetchArtifact(artifact_pb.FetchArtifactRequest(**fields), metadata=md)
    data, types_ = b"", []
    async for message in call:
        data += message.body.data
        types_.append(message.body.content_type)
    return data, types_


async def test_list_and_fetch_by_run_and_thread(rt: RuntimeHandle) -> None:
    await start(
        rt, "lf-1", f"/tool echo {json.dumps(BIG)}\n/tool echo {json.dumps({'n': 1})}", thread_id="th"
    )
    await events(rt, "lf-1")
    await start(rt, "lf-2", f"/tool echo {json.dumps({'text': 'x' * 2000})}", thread_id="th")
    await events(rt, "lf-2")
    stub = artifacts_stub(rt)
    by_run = await stub.ListArtifacts(
        artifact_pb.ListArtifactsRequest(run_id="lf-1"), metadata=rt.md(run_id="lf-1")
    )
    (only,) = by_run.artifacts  # the small echo stayed inline
    assert (only.sha256, only.run_id, only.thread_id, only.producer) == (BIG_SHA, "lf-1", "th", "tool:echo")
    assert only.size_bytes == len(BIG_JSON.encode()) and only.media_type == "application/json"
    assert only.seq > 0 and by_run.next_page_token == ""
    by_thread = await stub.ListArtifacts(artifact_pb.ListArtifactsRequest(thread_id="th"), metadata=rt.md())
    assert [a.run_id for a in by_thread.artifacts] == ["lf-1", "lf-2"]
    page = await stub.ListArtifacts(
        artifact_pb.ListArtifactsRequest(thread_id="th", page_size=1), metadata=rt.md()
    )
    rest = await stub.ListArtifacts(
        artifact_pb.ListArtifactsRequest(thread_id="th", page_size=1, page_token=page.next_page_token),
        metadata=rt.md(),
    )
    assert [*page.artifacts, *rest.artifacts] == list(by_thread.artifacts) and rest.next_page_token == ""
    # The bytes, whole and by range, with the media type; a run-scoped token reads its run's.
    data, content_types = await fetch(rt, rt.md(run_id="lf-1"), run_id="lf-1", sha256=BIG_SHA)
    assert data == BIG_JSON.encode() and set(content_types) == {"application/json"}
    part, _ = await fetch(rt, rt.md(), thread_id="th", sha256=BIG_SHA, offset=10, length=25)
    assert part == BIG_JSON.encode()[10:35]
    empty, content_types = await fetch(rt, rt.md(), run_id="lf-1", sha256=BIG_SHA, offset=10**9)
    assert empty == b"" and content_types == ["application/json"]


async def test_artifact_requests_are_validated_and_bound(rt: RuntimeHandle) -> None:
    await start(rt, "vb-1", f"/tool echo {json.dumps(BIG)}", thread_id="tv")
    await events(rt, "vb-1")
    await start(rt, "vb-2", "/say hi", thread_id="tv2")
    await events(rt, "vb-2")
    stub = artifacts_stub(rt)
    cases: list[tuple[Any, grpc.StatusCode, str]] = [
        (artifact_pb.ListArtifactsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (
            artifact_pb.ListArtifactsRequest(run_id="vb-1", thread_id="tv"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            artifact_pb.ListArtifactsRequest(run_id="vb-1", page_token="nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            artifact_pb.ListArtifactsRequest(run_id="vb-1", page_size=501),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (artifact_pb.ListArtifactsRequest(run_id="nope"), grpc.StatusCode.NOT_FOUND, "RUN_NOT_FOUND"),
    ]
    for request, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListArtifacts(request, metadata=rt.md())
        assert (err.value.code(), error_info(err.value).reason) == (code, reason), request
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    fetches: list[tuple[dict[str, Any], grpc.StatusCode, str]] = [
        ({"run_id": "vb-1", "sha256": "ABC"}, invalid, "INVALID_ARGUMENT"),
        (
            {"run_id": "vb-1", "sha256": BIG_SHA, "offset": -1},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        ({"run_id": "vb-2", "sha256": BIG_SHA}, grpc.StatusCode.NOT_FOUND, "ARTIFACT_NOT_FOUND"),
        ({"run_id": "vb-1", "sha256": "0" * 64}, grpc.StatusCode.NOT_FOUND, "ARTIFACT_NOT_FOUND"),
    ]
    for fields, code, reason in fetches:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await fetch(rt, rt.md(), **fields)
        assert (err.value.code(), error_info(err.value).reason) == (code, reason), fields
    # A token for another run, thread or user reads nothing of this run.
    for claims in ({"run_id": "vb-2"}, {"thread_id": "tv2"}, {"user_id": 7}):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await fetch(rt, rt.md(**claims), run_id="vb-1", sha256=BIG_SHA)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, claims
    # An agent's artifacts are the agent's: an agent that does not exist is not found, for
    # any token (tests/e2e/test_agents_grpc.py binds tokens to agents that do).
    for metadata in (rt.md(user_id=7), rt.md()):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListArtifacts(artifact_pb.ListArtifactsRequest(agent_id="a1"), metadata=metadata)
        found = (err.value.code(), error_info(err.value).reason)
        assert found == (grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND")
