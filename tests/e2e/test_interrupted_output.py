"""Output cut off by a kill -9 mid-message is said, not repeated silently (issue 11, repro 13).

A real service process streams `/tokens`, is killed -9 mid-message and restarted; the run
finishes with the step redone. Then, on SQLite and PostgreSQL:
- the SSE carries a `data-interrupted` part naming the cut-off text part (why: the executor
  was lost) before the redone step, and the real AI SDK client (ai@6) accepts the stream; the
  README's useChat rule leaves exactly the redone step's text as the answer;
- GetThreadState and the thread history the model sees next hold only the completed text.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import grpc
from oa_runtime.core.context import prompt_message
from oa_runtime.engine.thread_history import thread_history
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_service_pb2

from tests.e2e.helpers import events_so_far, start, types
from tests.support.replica import Replica
from tests.test_aisdk_conformance import SCRIPT, _require_node

PROMPT = "/tokens 150 50"
FULL_TEXT = " ".join(f"t{i}" for i in range(1, 151))


async def _sse(replica: Replica, run_id: str) -> bytes:
    call = replica.stub.StreamRunSse(
        run_service_pb2.StreamRunSseRequest(run_id=run_id), metadata=replica.md(run_id=run_id), timeout=60
    )
    return b"".join([message.body.data async for message in call])


async def _crash_mid_message(replica: Replica, run_id: str) -> None:
    await start(replica, run_id, PROMPT, thread_id="th-cut")  # type: ignore[arg-type]
    for _ in range(500):
        if types(await events_so_far(replica, run_id)).count("message.delta") >= 3:
            break
        await asyncio.sleep(0.02)
    replica.kill()


def _client_report(tmp_path: Path, body: bytes) -> dict[str, object]:
    path = tmp_path / "interrupted.sse"
    path.write_bytes(body)
    node = _require_node()
    proc = subprocess.run([node, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
    report: dict[str, object] = json.loads(proc.stdout.strip())
    return report


async def test_kill_9_mid_message_is_said_and_only_completed_text_is_kept(
    database_url: str, tmp_path: Path
) -> None:
    replica = Replica("cut-1", database_url, tmp_path)
    try:
        replica.start()
        await replica.ready()
        await _crash_mid_message(replica, "cut")
        replica.start()
        await replica.ready()
        body = await _sse(replica, "cut")

        chunks = [json.loads(line[6:]) for line in body.decode().split("\n") if line.startswith("data: {")]
        kinds = [c["type"] for c in chunks]
        cut = kinds.index("data-interrupted")
        first_part = chunks[kinds.index("text-start")]["id"]
        assert chunks[cut] == {
            "type": "data-interrupted",
            "id": first_part,
            "data": {"textPartId": first_part, "messageId": first_part, "reason": "executor_lost"},
        }
        assert kinds[cut - 1 : cut + 3] == ["text-end", "data-interrupted", "finish-step", "start-step"]
        assert kinds.count("data-interrupted") == 1

        report = _client_report(tmp_path, body)
        assert report["ok"], report
        assert report["parts"] == ["step-start", "text:done", "data-interrupted", "step-start", "text:done"]
        assert report["answerText"] == FULL_TEXT
        assert str(report["text"]).endswith(FULL_TEXT) and report["text"] != FULL_TEXT

        state = await replica.stub.GetThreadState(
            run_service_pb2.GetThreadStateRequest(thread_id="th-cut"), metadata=replica.md(thread_id="th-cut")
        )
        assert [(m.role, m.content) for m in state.messages] == [("user", PROMPT), ("assistant", FULL_TEXT)]
    except grpc.aio.AioRpcError as err:
        raise AssertionError(f"{err}\n{replica.log()}") from err
    finally:
        await replica.close()

    store = open_store(database_url)
    await store.open()
    try:
        record = await store.get_run("cut")
        assert record is not None
        history = await thread_history(store, "th-cut", before_run_id="next")
    finally:
        await store.close()
    assert [(m.role, m.content) for m in history] == [
        *[(m.role, m.content) for m in prompt_message(record.request)],
        ("assistant", FULL_TEXT),
    ]
