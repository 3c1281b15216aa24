"""Tool tasks over real gRPC on SQLite and PostgreSQL: parallel calls, timeouts, cancel,
policy, input checks, retries, receipts, approvals and questions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping

import grpc
import pytest
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2

from tests.e2e.helpers import error_info, events, start, types
from tests.e2e.tool_helpers import (
    TOOL_ENV,
    TS,
    canonical,
    decide,
    get_run,
    results,
    running,
    sha256,
    tool_tasks,
    uid,
    wait_event,
    wait_state,
)
from tests.support import tool_kit
from tests.support.runtime import RuntimeHandle, running_runtime


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[RuntimeHandle]:
    async with running_runtime(database_url, TOOL_ENV) as handle:
        yield handle


def _calls(*calls: tuple[str, Mapping[str, object]]) -> str:
    return "/tools " + json.dumps([{"name": n, "input": i} for n, i in calls])


async def test_parallel_calls_of_one_step_run_concurrently(rt: RuntimeHandle) -> None:
    await start(rt, "par", _calls(*[("sleep", {"ms": 400})] * 3) + "\n/say done")
    evs = await events(rt, "par")
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    tasks = await tool_tasks(rt, "par")
    assert [t.tool_call_id for t in tasks] == ["call_1_0_0", "call_1_0_1", "call_1_0_2"]
    assert all(t.state == TS.TOOL_TASK_STATE_SUCCEEDED and t.attempts == 1 for t in tasks)
    starts = [t.start_time.ToDatetime() for t in tasks]
    finishes = [t.finish_time.ToDatetime() for t in tasks]
    # Every task started before any finished, and the three 400 ms sleeps took well under 1.2 s.
    assert max(starts) < min(finishes)
    assert (max(finishes) - min(starts)).total_seconds() < 1.0
    transitions = [(e.tool_task.tool_call_id, e.tool_task.state) for e in evs if e.type == "tool.task"]
    assert [s for _, s in transitions] == [TS.TOOL_TASK_STATE_QUEUED] * 3 + [TS.TOOL_TASK_STATE_RUNNING] * 3


async def test_a_tool_past_its_timeout_ends_timed_out(rt: RuntimeHandle) -> None:
    await start(rt, "slow", '/tool stall {"ms": 5000}\n/say after')
    evs = await events(rt, "slow")
    (result,) = results(evs).values()
    assert result.state == TS.TOOL_TASK_STATE_TIMED_OUT and result.error_class == "timeout"
    assert result.is_error and "timed out after 0.3 s" in result.error_text
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED  # the model saw the error
    (task,) = await tool_tasks(rt, "slow")
    assert task.state == TS.TOOL_TASK_STATE_TIMED_OUT and 250 <= task.latency_ms < 2000


async def test_cancel_stops_a_sleep_60000_tool_within_a_second(rt: RuntimeHandle) -> None:
    await start(rt, "cx", '/tool sleep {"ms": 60000}\n/say never')
    await wait_event(rt, "cx", running("sleep"))
    began = time.monotonic()
    await rt.stub.CancelRun(run_service_pb2.CancelRunRequest(run_id="cx"), metadata=rt.md(run_id="cx"))
    evs = await events(rt, "cx")
    assert time.monotonic() - began < 1.0
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_CANCELED
    (result,) = results(evs).values()
    assert result.state == TS.TOOL_TASK_STATE_CANCELED and result.error_class == "canceled"
    assert types(evs).index("run.cancel_requested") < types(evs).index("tool.result")
    (task,) = await tool_tasks(rt, "cx")
    assert task.state == TS.TOOL_TASK_STATE_CANCELED and task.latency_ms < 60000


async def test_a_denied_tool_is_recorded_and_never_executed(rt: RuntimeHandle) -> None:
    deny = uid("deny")
    policy = run_pb2.ToolPolicy(deny=["record"])
    await start(rt, deny, '/tool record {"value": "x"}\n/say after', tool_policy=policy)
    evs = await events(rt, deny)
    (result,) = results(evs).values()
    assert result.state == TS.TOOL_TASK_STATE_FAILED and result.error_class == "policy_denied"
    assert "denied by this run's tool policy" in result.error_text
    assert "tool.task" not in types(evs)  # no task was ever created
    assert tool_kit.executed(deny) == []
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED

    guest = run_pb2.ToolPolicy(guest_mode=True)
    await start(rt, "guest", _calls(("sleep", {"ms": 1}), ("echo", {"a": 1})), tool_policy=guest)
    by_call = results(await events(rt, "guest"))
    assert by_call["call_1_0_0"].error_class == "policy_denied"  # sleep is not guest-safe
    assert by_call["call_1_0_1"].state == TS.TOOL_TASK_STATE_SUCCEEDED


async def test_invalid_input_and_unknown_tools_are_errors_the_model_sees(rt: RuntimeHandle) -> None:
    await start(rt, "bad", _calls(("math", {"expression": 5}), ("nope", {}), ("sleep", {"ms": -1})))
    evs = await events(rt, "bad")
    by_call = results(evs)
    assert by_call["call_1_0_0"].error_class == "invalid_input"
    assert "$.expression: expected string" in by_call["call_1_0_0"].error_text
    assert by_call["call_1_0_1"].error_class == "unknown_tool"
    assert "$.ms: must be at least 0" in by_call["call_1_0_2"].error_text
    assert "tool.task" not in types(evs)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_only_idempotent_tools_are_retried(rt: RuntimeHandle) -> None:
    retry = uid("retry")
    await start(rt, retry, _calls(("flaky", {}), ("flaky_once", {})))
    evs = await events(rt, retry)
    by_call = results(evs)
    assert by_call["call_1_0_0"].state == TS.TOOL_TASK_STATE_SUCCEEDED
    assert json.loads(by_call["call_1_0_0"].output_json) == {"attempt": 3}
    assert by_call["call_1_0_1"].state == TS.TOOL_TASK_STATE_FAILED
    assert by_call["call_1_0_1"].error_class == "unavailable" and by_call["call_1_0_1"].attempt == 1
    assert [a for *_, a in tool_kit.executed(retry, "flaky")] == [1, 2, 3]
    assert [a for *_, a in tool_kit.executed(retry, "flaky_once")] == [1]


async def test_receipts_hash_the_recorded_params_and_outputs(rt: RuntimeHandle) -> None:
    await start(
        rt,
        "rcpt",
        '/tool record {"value": "héllo", "z": [1, 2.5]}\n'
        + _calls(("math", {"expression": "6*7"}), ("echo", {"b": {"y": 1, "x": 2}}), ("fail", {}))
        + "\n/say done",
    )
    evs = await events(rt, "rcpt")
    requested = {
        e.tool_call_requested.tool_call_id: e.tool_call_requested
        for e in evs
        if e.type == "tool.call_requested"
    }
    recorded = results(evs)
    tasks = await tool_tasks(rt, "rcpt", page_size=1)  # one per page: the tokens chain
    assert [t.tool_call_id for t in tasks] == ["call_1_0", "call_2_1_0", "call_2_1_1", "call_2_1_2"]
    for task in tasks:
        result = recorded[task.tool_call_id]
        params = json.loads(requested[task.tool_call_id].input_json)
        assert task.params_sha256 == sha256(canonical(params)) == result.params_sha256
        assert task.output_json == result.output_json
        assert task.output_sha256 == result.output_sha256
        if task.state == TS.TOOL_TASK_STATE_SUCCEEDED:
            assert task.output_sha256 == sha256(canonical(json.loads(result.output_json)))
        else:
            assert task.output_sha256 == "" and task.error_class == "tool_error"
        assert task.attempts == 1 and task.finish_seq > task.request_seq
        assert task.latency_ms >= 0 and task.finish_time.ToDatetime() >= task.start_time.ToDatetime()
    assert tasks[0].tool_version == "2.1" and tasks[1].tool_version == "1"
    assert json.loads(tasks[1].output_json) == {"result": 42}

    got = await rt.stub.GetToolTask(
        run_service_pb2.GetToolTaskRequest(run_id="rcpt", tool_call_id="call_2_1_1"), metadata=rt.md()
    )
    assert got.tool_task == tasks[2]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await rt.stub.GetToolTask(
            run_service_pb2.GetToolTaskRequest(run_id="rcpt", tool_call_id="call_9"), metadata=rt.md()
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(missing.value).reason == "TOOL_TASK_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await rt.stub.ListToolTasks(
            run_service_pb2.ListToolTasksRequest(run_id="rcpt", page_token="garbage"), metadata=rt.md()
        )
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_approved_call_runs_and_a_denied_one_never_does(rt: RuntimeHandle) -> None:
    apr, apr_no = uid("apr"), uid("apr-no")
    await start(rt, apr, '/tool guarded {"value": "ok"}\n/say after')
    await wait_state(rt, apr, run_pb2.RUN_STATE_WAITING)
    (task,) = await tool_tasks(rt, apr)
    assert task.state == TS.TOOL_TASK_STATE_QUEUED and task.approval_state == TS.APPROVAL_STATE_REQUESTED
    assert tool_kit.executed(apr) == []

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await decide(rt, apr, "apr_nope", True)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(unknown.value).reason == "APPROVAL_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as no_verdict:
        await rt.stub.DecideApproval(
            run_service_pb2.DecideApprovalRequest(run_id=apr, approval_id=task.approval_id),
            metadata=rt.md(),
        )
    assert no_verdict.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    response = await decide(rt, apr, task.approval_id, True, "looks fine")
    assert response.recorded and response.tool_task.approval_state == TS.APPROVAL_STATE_APPROVED
    evs = await events(rt, apr)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert [n for _, n, *_ in tool_kit.executed(apr)] == ["guarded"]
    again = await decide(rt, apr, task.approval_id, True)
    assert not again.recorded  # idempotent
    with pytest.raises(grpc.aio.AioRpcError) as flip:
        await decide(rt, apr, task.approval_id, False)
    assert flip.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(flip.value).reason == "ALREADY_DECIDED"

    await start(rt, apr_no, '/tool guarded {"value": "rm -rf"}\n/say after')
    await wait_state(rt, apr_no, run_pb2.RUN_STATE_WAITING)
    (task,) = await tool_tasks(rt, apr_no)
    await decide(rt, apr_no, task.approval_id, False, "too risky")
    evs = await events(rt, apr_no)
    (result,) = results(evs).values()
    assert result.error_class == "approval_denied" and "too risky" in result.error_text
    assert tool_kit.executed(apr_no) == []
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED


async def test_a_question_waits_for_the_answer(rt: RuntimeHandle) -> None:
    await start(rt, "ask", '/tool ask_user {"question": "Which colour?"}\n/say thanks')
    await wait_state(rt, "ask", run_pb2.RUN_STATE_WAITING)
    (task,) = await tool_tasks(rt, "ask")
    assert task.question == "Which colour?" and task.question_id
    response = await rt.stub.AnswerQuestion(
        run_service_pb2.AnswerQuestionRequest(run_id="ask", question_id=task.question_id, answer="blue"),
        metadata=rt.md(),
    )
    assert response.recorded
    evs = await events(rt, "ask")
    (result,) = results(evs).values()
    assert json.loads(result.output_json) == {"answer": "blue"}
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await rt.stub.AnswerQuestion(
            run_service_pb2.AnswerQuestionRequest(run_id="ask", question_id=task.question_id, answer="red"),
            metadata=rt.md(),
        )
    assert error_info(other.value).reason == "ALREADY_DECIDED"


async def test_cancel_of_a_waiting_run_ends_it_at_once(rt: RuntimeHandle) -> None:
    await start(rt, "wcx", '/tool guarded {"value": "x"}')
    await wait_state(rt, "wcx", run_pb2.RUN_STATE_WAITING)
    await rt.stub.CancelRun(run_service_pb2.CancelRunRequest(run_id="wcx"), metadata=rt.md())
    run = await wait_state(rt, "wcx", run_pb2.RUN_STATE_CANCELED, timeout_s=2.0)
    assert run.finish_reason == "canceled"
    (task,) = await tool_tasks(rt, "wcx")
    assert task.state == TS.TOOL_TASK_STATE_CANCELED
    assert (await get_run(rt, "wcx")).state == run_pb2.RUN_STATE_CANCELED
    await asyncio.sleep(0)


async def test_plain_calls_run_while_an_approval_waits(rt: RuntimeHandle) -> None:
    run_id = uid("mixed")
    await start(rt, run_id, _calls(("guarded", {"value": "g"}), ("record", {"value": "r"})) + "\n/say end")
    await wait_state(rt, run_id, run_pb2.RUN_STATE_WAITING)
    guarded, record = await tool_tasks(rt, run_id)
    assert record.state == TS.TOOL_TASK_STATE_SUCCEEDED  # ran without waiting for the approval
    assert guarded.state == TS.TOOL_TASK_STATE_QUEUED
    await decide(rt, run_id, guarded.approval_id, True)
    evs = await events(rt, run_id)
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    assert sorted(n for _, n, *_ in tool_kit.executed(run_id)) == ["guarded", "record"]
    assert types(evs).count("step.started") == 2
