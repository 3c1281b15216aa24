"""Large tool outputs become artifacts, end to end over gRPC on both backends: the tool.result
event carries the reference and a preview (not the bytes), the model reads the rest with the
built-in `artifact_read`, and the bytes are stored once per digest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from oa_runtime.core.artifacts import PREVIEW_BYTES
from oa_runtime.core.canonical import canonical_json
from openagents.runtime.v1 import run_event_pb2, tool_task_pb2

from tests.e2e.helpers import events, start
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
