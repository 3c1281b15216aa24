"""End-to-end over real gRPC on loopback, on SQLite and PostgreSQL: the scripted
model's text, tools, failures, the step limit, idempotent starts and threads."""

from __future__ import annotations

import json

import grpc
import pytest
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2

from tests.e2e.helpers import error_info, events, start, types
from tests.support.runtime import RuntimeHandle, running_runtime


async def test_text_run_streams_words_and_finishes(runtime: RuntimeHandle) -> None:
    response = await start(runtime, "r1", "/say hello big world")
    assert response.status == "accepted" and response.created
    evs = await events(runtime, "r1")
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert types(evs)[:3] == ["run.accepted", "run.started", "step.started"]
    assert types(evs)[-3:] == ["message.completed", "step.finished", "run.finished"]
    text = "".join(e.message_delta.delta for e in evs if e.type == "message.delta")
    assert text == "hello big world"
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    run = (
        await runtime.stub.GetRun(
            run_service_pb2.GetRunRequest(run_id="r1"), metadata=runtime.md(run_id="r1")
        )
    ).run
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert run.last_seq == len(evs) and run.step_count == 1 and run.model == "scripted"


async def test_tool_call_runs_tool_and_continues_next_step(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", '/say before\n/tool math {"expression": "6*7"}\n/say after')
    evs = await events(runtime, "r1")
    requested = [e.tool_call_requested for e in evs if e.type == "tool.call_requested"]
    results = [e.tool_call_result for e in evs if e.type == "tool.result"]
    assert [(r.tool_name, json.loads(r.input_json)) for r in requested] == [("math", {"expression": "6*7"})]
    assert len(results) == 1 and not results[0].is_error
    assert json.loads(results[0].output_json) == {"result": 42}
    assert results[0].tool_call_id == requested[0].tool_call_id
    finished = [e.step_finished.reason for e in evs if e.type == "step.finished"]
    assert finished == [run_event_pb2.STEP_FINISH_REASON_TOOL_CALLS, run_event_pb2.STEP_FINISH_REASON_STOP]
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_tool_error_is_shown_to_the_model_and_run_goes_on(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", '/tool fail {"message": "boom"}\n/say recovered')
    evs = await events(runtime, "r1")
    result = next(e.tool_call_result for e in evs if e.type == "tool.result")
    assert result.is_error and result.error_text == "boom"
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_model_failure_ends_run_failed_with_reason(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/say partial\n/fail the model is down")
    evs = await events(runtime, "r1")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_FAILED
    assert evs[-1].run_finished.reason == "model_error"
    assert "the model is down" in evs[-1].run_finished.error_message
    assert evs[-2].step_finished.reason == run_event_pb2.STEP_FINISH_REASON_ERROR
    run = (
        await runtime.stub.GetRun(
            run_service_pb2.GetRunRequest(run_id="r1"), metadata=runtime.md(run_id="r1")
        )
    ).run
    assert run.state == run_pb2.RUN_STATE_FAILED and run.finish_reason == "model_error"


async def test_step_limit_ends_run_failed(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    async with running_runtime(url, {"RUNTIME_MAX_STEPS": "2"}) as rt:
        await start(rt, "r1", "/tool echo {}\n/tool echo {}\n/tool echo {}\n/say never")
        evs = await events(rt, "r1")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_FAILED
    assert evs[-1].run_finished.reason == "step_limit"
    assert max(e.step_started.step for e in evs if e.type == "step.started") == 2


async def test_start_is_idempotent_by_run_id(runtime: RuntimeHandle) -> None:
    first = await start(runtime, "r1", "/say once")
    again = await start(runtime, "r1", "/say once")
    assert first.created and not again.created and again.run.run_id == "r1"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await start(runtime, "r1", "/say something else")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(caught.value).reason == "RUN_ALREADY_EXISTS"
    evs = await events(runtime, "r1")
    assert types(evs).count("run.accepted") == 1 and types(evs).count("run.finished") == 1


async def test_thread_carries_history_into_the_next_run(runtime: RuntimeHandle) -> None:
    await start(runtime, "r1", "/say first answer", thread_id="th")
    await events(runtime, "r1")
    await start(runtime, "r2", "/say second answer", thread_id="th")
    await events(runtime, "r2")
    state = await runtime.stub.GetThreadState(
        run_service_pb2.GetThreadStateRequest(thread_id="th"), metadata=runtime.md(thread_id="th")
    )
    assert [(m.role, m.content) for m in state.messages] == [
        ("user", "/say first answer"),
        ("assistant", "first answer"),
        ("user", "/say second answer"),
        ("assistant", "second answer"),
    ]
    assert [r.run_id for r in state.runs] == ["r1", "r2"] and state.active_run_id == ""


async def test_list_runs_paginates_and_filters(runtime: RuntimeHandle) -> None:
    for i in range(5):
        await start(runtime, f"r{i}", "/say x", thread_id="a" if i % 2 else "b")
    for i in range(5):
        await events(runtime, f"r{i}")
    seen: list[str] = []
    token = ""
    while True:
        page = await runtime.stub.ListRuns(
            run_service_pb2.ListRunsRequest(page_size=2, page_token=token), metadata=runtime.md()
        )
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == [f"r{i}" for i in range(5)] and len(seen) == 5
    only_a = await runtime.stub.ListRuns(
        run_service_pb2.ListRunsRequest(thread_id="a", state=run_pb2.RUN_STATE_SUCCEEDED),
        metadata=runtime.md(thread_id="a"),
    )
    assert sorted(r.run_id for r in only_a.runs) == ["r1", "r3"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await runtime.stub.ListRuns(
            run_service_pb2.ListRunsRequest(page_size=2, page_token="garbage!"), metadata=runtime.md()
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
