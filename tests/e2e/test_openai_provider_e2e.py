"""A run served by the OpenAI-compatible provider, against a loopback server that
speaks the real chat-completions streaming wire format."""

from __future__ import annotations

import json
from pathlib import Path

from openagents.runtime.v1 import run_event_pb2, run_service_pb2

from tests.e2e.helpers import events, start, types
from tests.support.fake_openai import http_error, serve_fake_openai, text_reply, tool_call_reply
from tests.support.runtime import running_runtime


async def test_openai_run_with_a_tool_call_and_thread_history(tmp_path: Path) -> None:
    async with serve_fake_openai() as fake:
        env = {
            "RUNTIME_OPENAI_BASE_URL": fake.base_url,
            "RUNTIME_OPENAI_API_KEY": "sk-test-never-logged",
            "RUNTIME_MODEL": "gpt-test",
        }
        async with running_runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", env) as rt:
            fake.script(text_reply("Hi", " there"))
            await start(rt, "r1", "hello", thread_id="th")
            first = await events(rt, "r1")
            fake.script(
                http_error(429, retry_after="0"),  # retried by the provider, never seen by the client
                tool_call_reply(("call_a", "math", '{"expression": "2+3"}')),
                text_reply("It is 5."),
            )
            await start(rt, "r2", "what is 2+3?", thread_id="th")
            second = await events(rt, "r2")
            run = await rt.stub.GetRun(
                run_service_pb2.GetRunRequest(run_id="r2"), metadata=rt.md(run_id="r2")
            )

    assert "".join(e.message_delta.delta for e in first if e.type == "message.delta") == "Hi there"
    assert second[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert types(second).count("step.started") == 2 and run.run.model == "gpt-test"
    result = next(e.tool_call_result for e in second if e.type == "tool.result")
    assert result.tool_call_id == "call_a" and json.loads(result.output_json) == {"result": 5}
    assert "".join(e.message_delta.delta for e in second if e.type == "message.delta") == "It is 5."

    # What the model saw: the thread's history, then the tool round trip.
    bodies = [r.body for r in fake.requests]
    assert all(b["model"] == "gpt-test" and b["stream"] is True for b in bodies)
    assert {t["function"]["name"] for t in bodies[-1]["tools"]} >= {"echo", "math"}
    last = bodies[-1]["messages"]
    assert [(m["role"], m.get("content")) for m in last[:3]] == [
        ("user", "hello"),
        ("assistant", "Hi there"),
        ("user", "what is 2+3?"),
    ]
    assert last[3]["tool_calls"][0]["id"] == "call_a"
    assert last[4]["role"] == "tool" and last[4]["tool_call_id"] == "call_a"


async def test_openai_persistent_failure_ends_the_run_failed(tmp_path: Path) -> None:
    async with serve_fake_openai() as fake:
        env = {"RUNTIME_OPENAI_BASE_URL": fake.base_url, "RUNTIME_MODEL": "gpt-test"}
        async with running_runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", env) as rt:
            fake.script(*(http_error(400, "bad request from the model") for _ in range(3)))
            await start(rt, "r1", "hello")
            evs = await events(rt, "r1")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_FAILED
    assert evs[-1].run_finished.reason == "model_error"
    assert len(fake.requests) == 1  # a 400 is not retried
