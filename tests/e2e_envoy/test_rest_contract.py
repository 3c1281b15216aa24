"""The REST contract (ARCHITECTURE.md §6) through the real Envoy in front of the real service."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e_envoy.conftest import Gateway, error_info, new_id


def laravel_body(run_id: str, thread_id: str, prompt: str = "/say Hello there") -> dict[str, Any]:
    """Every field the product's Laravel side sends, in its JSON spelling."""
    return {
        "runId": run_id,
        "threadId": thread_id,
        "userId": 42,  # a JSON integer, as Laravel sends it
        "autopilotId": "autopilot-7",
        "authenticatedSession": True,
        "prompt": prompt,
        "messages": [
            {"id": "m1", "role": "user", "content": "Earlier question"},
            {"id": "m2", "role": "assistant", "content": "Earlier answer"},
        ],
        "contextFrames": [{"kind": "memory", "text": "likes tea"}, {"kind": "app", "page": "/home"}],
        "toolPolicy": {"allow": ["echo", "clock"], "deny": ["fail"], "guestMode": False},
    }


def assert_invalid_argument(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    info = error_info(response)
    assert info["reason"] == "INVALID_ARGUMENT", info
    assert info["metadata"]["field"] == field, info


async def test_start_run_with_the_laravel_body_is_idempotent_by_run_id(any_gateway: Gateway) -> None:
    gw = any_gateway
    run_id, thread_id = new_id("run"), new_id("thread")
    body = laravel_body(run_id, thread_id)

    first = await gw.http.post(
        "/internal/v1/runs", json=body, headers=gw.auth(run_id=run_id, thread_id=thread_id)
    )
    assert first.status_code == 200, first.text
    started = first.json()
    assert started["runId"] == run_id
    assert started["status"] == "accepted"
    assert started["created"] is True
    assert started["run"]["threadId"] == thread_id
    assert started["run"]["userId"] == "42"  # proto3 JSON writes every int64 as a string
    assert started["run"]["autopilotId"] == "autopilot-7"
    assert started["run"]["authenticatedSession"] is True
    assert started["run"]["toolPolicy"] == {"allow": ["echo", "clock"], "deny": ["fail"], "guestMode": False}

    again = await gw.http.post("/internal/v1/runs", json=body, headers=gw.auth())
    assert again.status_code == 200, again.text
    assert again.json()["runId"] == run_id
    assert again.json()["status"] == "accepted"
    assert again.json()["created"] is False

    conflict = await gw.http.post(
        "/internal/v1/runs", json={**body, "prompt": "/say something else"}, headers=gw.auth()
    )
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"] == "application/json"
    info = error_info(conflict)
    assert info["reason"] == "RUN_ALREADY_EXISTS"
    assert info["metadata"]["run_id"] == run_id

    run = await gw.wait_terminal(run_id)
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    assert run["finishReason"] == "stop"
    assert run["model"] == "scripted"
    assert int(run["lastSeq"]) > 1  # int64 is a JSON string
    assert run["stepCount"] == 1


async def test_get_run_of_an_unknown_id_is_a_json_404(gateway: Gateway) -> None:
    response = await gateway.http.get("/internal/v1/runs/no-such-run", headers=gateway.auth())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    info = error_info(response)
    assert info["reason"] == "RUN_NOT_FOUND"
    assert info["metadata"] == {"run_id": "no-such-run"}


async def test_list_runs_of_a_thread_pages_newest_first(gateway: Gateway) -> None:
    thread_id, other_thread = new_id("thread"), new_id("thread")
    run_ids = [new_id(f"list{n}") for n in range(5)]
    for run_id in run_ids:
        await gateway.start(run_id, "/say hi", thread_id=thread_id)
    await gateway.start(new_id("elsewhere"), "/say hi", thread_id=other_thread)

    seen: list[str] = []
    page_sizes: list[int] = []
    token = ""
    while True:
        params = {"threadId": thread_id, "pageSize": "2", **({"pageToken": token} if token else {})}
        response = await gateway.http.get("/internal/v1/runs", params=params, headers=gateway.auth())
        assert response.status_code == 200, response.text
        page = response.json()
        page_sizes.append(len(page["runs"]))
        seen += [run["runId"] for run in page["runs"]]
        assert all(run["threadId"] == thread_id for run in page["runs"])
        token = page["nextPageToken"]
        if not token:
            break
    assert page_sizes == [2, 2, 1]
    assert seen == list(reversed(run_ids))

    too_big = await gateway.http.get("/internal/v1/runs", params={"pageSize": "501"}, headers=gateway.auth())
    assert_invalid_argument(too_big, "page_size")
    forged = await gateway.http.get(
        "/internal/v1/runs",
        params={"threadId": thread_id, "pageToken": "not-a-token"},
        headers=gateway.auth(),
    )
    assert_invalid_argument(forged, "page_token")


async def test_cancel_run_ends_the_run_canceled_and_is_idempotent(gateway: Gateway) -> None:
    run_id = new_id("cancel")
    await gateway.start(run_id, "/tokens 1000 50")
    response = await gateway.http.post(
        f"/internal/v1/runs/{run_id}/cancel", json={"reason": "user pressed stop"}, headers=gateway.auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["cancelRecorded"] is True
    assert response.json()["run"]["runId"] == run_id

    run = await gateway.wait_terminal(run_id)
    assert run["state"] == "RUN_STATE_CANCELED"

    again = await gateway.http.post(f"/internal/v1/runs/{run_id}/cancel", json={}, headers=gateway.auth())
    assert again.status_code == 200, again.text
    assert again.json().get("cancelRecorded", False) is False
    assert again.json()["run"]["state"] == "RUN_STATE_CANCELED"


async def test_thread_state_holds_the_conversation_and_runs_oldest_first(gateway: Gateway) -> None:
    thread_id = new_id("thread")
    first, second = new_id("first"), new_id("second")
    await gateway.start(first, "/say one", thread_id=thread_id)
    await gateway.wait_terminal(first)
    await gateway.start(second, "/say two", thread_id=thread_id)
    await gateway.wait_terminal(second)

    response = await gateway.http.get(f"/internal/v1/threads/{thread_id}/state", headers=gateway.auth())
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["threadId"] == thread_id
    assert [run["runId"] for run in state["runs"]] == [first, second]
    assert [(m["role"], m["content"]) for m in state["messages"]] == [
        ("user", "/say one"),
        ("assistant", "one"),
        ("user", "/say two"),
        ("assistant", "two"),
    ]
    assert state["activeRunId"] == ""

    unknown = await gateway.http.get("/internal/v1/threads/no-such-thread/state", headers=gateway.auth())
    assert unknown.status_code == 404
    assert error_info(unknown)["reason"] == "THREAD_NOT_FOUND"


async def _current_seq(gateway: Gateway, run_id: str) -> int:
    """The run's latest seq, learned the way a client would: from a deliberate SEQ_CONFLICT."""
    probe = await gateway.http.post(
        f"/internal/v1/runs/{run_id}/events",
        json={"idempotencyKey": new_id("probe"), "expectedPreviousSeq": "0", "events": [{"kind": "x.probe"}]},
        headers=gateway.auth(),
    )
    assert probe.status_code == 409, probe.text
    return int(error_info(probe)["metadata"]["current_seq"])


async def test_append_events_is_idempotent_and_optimistically_concurrent(gateway: Gateway) -> None:
    run_id = new_id("append")
    # The model sleeps, so nothing else appends to the log while the test does.
    await gateway.start(run_id, "/sleep 20000")
    await gateway.wait_run(run_id, lambda run: run["stepCount"] >= 1)
    seq = await _current_seq(gateway, run_id)
    body = {
        "idempotencyKey": "feedback-1",
        "expectedPreviousSeq": str(seq),
        "events": [
            {"kind": "laravel.user_feedback", "data": {"score": 5}},
            {"kind": "laravel.note", "data": {"text": "hello"}},
        ],
    }
    url = f"/internal/v1/runs/{run_id}/events"

    appended = await gateway.http.post(url, json=body, headers=gateway.auth())
    assert appended.status_code == 200, appended.text
    assert appended.json()["seqs"] == [str(seq + 1), str(seq + 2)]
    assert appended.json().get("replayed", False) is False

    replay = await gateway.http.post(url, json=body, headers=gateway.auth())
    assert replay.status_code == 200, replay.text
    assert replay.json() == {"seqs": [str(seq + 1), str(seq + 2)], "replayed": True}

    stale = await gateway.http.post(
        url, json={**body, "idempotencyKey": "feedback-2"}, headers=gateway.auth()
    )
    assert stale.status_code == 409, stale.text
    info = error_info(stale)
    assert info["reason"] == "SEQ_CONFLICT"
    assert info["metadata"]["current_seq"] == str(seq + 2)
    assert info["metadata"]["expected_previous_seq"] == str(seq)

    reused = await gateway.http.post(
        url,
        json={"idempotencyKey": "feedback-1", "events": [{"kind": "laravel.other", "data": {}}]},
        headers=gateway.auth(),
    )
    assert reused.status_code == 409, reused.text
    assert error_info(reused)["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert error_info(reused)["metadata"]["idempotency_key"] == "feedback-1"

    no_events = await gateway.http.post(
        url, json={"idempotencyKey": "feedback-3", "events": []}, headers=gateway.auth()
    )
    assert_invalid_argument(no_events, "events")
    no_key = await gateway.http.post(url, json={"events": [{"kind": "laravel.note"}]}, headers=gateway.auth())
    assert_invalid_argument(no_key, "idempotency_key")

    await gateway.http.post(f"/internal/v1/runs/{run_id}/cancel", json={}, headers=gateway.auth())
    assert (await gateway.wait_terminal(run_id))["state"] == "RUN_STATE_CANCELED"


async def test_bad_input_is_a_400_naming_the_field(gateway: Gateway) -> None:
    def start(**fields: Any) -> Any:
        body = {"runId": new_id("bad"), "threadId": "thread-bad", "prompt": "/say hi", **fields}
        return gateway.http.post("/internal/v1/runs", json=body, headers=gateway.auth())

    assert_invalid_argument(await start(prompt=""), "prompt")
    assert_invalid_argument(await start(prompt="   "), "prompt")
    assert_invalid_argument(await start(runId="has space!"), "run_id")
    assert_invalid_argument(await start(threadId=""), "thread_id")
    assert_invalid_argument(await start(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role")

    unknown_model = await start(model="gpt-nonexistent")
    assert unknown_model.status_code == 400, unknown_model.text
    info = error_info(unknown_model)
    assert info["reason"] == "UNKNOWN_MODEL"
    assert info["metadata"]["model"] == "gpt-nonexistent"

    run_id = new_id("cursor")
    await gateway.start(run_id, "/say hi")
    negative = await gateway.http.get(
        f"/internal/v1/runs/{run_id}/stream", params={"cursor": "-1"}, headers=gateway.auth()
    )
    assert_invalid_argument(negative, "cursor")


async def test_unknown_paths_and_query_parameters_are_json_errors(gateway: Gateway) -> None:
    for method, path in [
        ("GET", "/internal/v1/nothing-here"),
        ("POST", "/internal/v1/runs/x/explode"),
        ("GET", "/"),
    ]:
        response = await gateway.http.request(method, path, headers=gateway.auth())
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == 5  # NOT_FOUND: the one error shape carries gRPC codes
        assert error_info(response)["reason"] == "UNKNOWN_ROUTE"

    run_id = new_id("query")
    await gateway.start(run_id, "/say hi")
    unknown_param = await gateway.http.get(
        f"/internal/v1/runs/{run_id}", params={"verbose": "1"}, headers=gateway.auth()
    )
    assert unknown_param.status_code == 400, unknown_param.text
    assert unknown_param.headers["content-type"] == "application/json"
    assert "verbose" in unknown_param.json()["message"]
    assert error_info(unknown_param)["reason"] == "MALFORMED_REQUEST"


async def test_health_endpoints_answer_without_a_token(gateway: Gateway) -> None:
    healthz = await gateway.http.get("/healthz")
    assert healthz.status_code == 200, healthz.text
    assert healthz.json() == {"status": "ok"}
    readyz = await gateway.http.get("/readyz")
    assert readyz.status_code == 200, readyz.text
    assert readyz.json()["status"] == "ready"
    assert set(readyz.json()["checks"].values()) == {"ok"}


async def test_append_retry_after_the_run_ended_is_replayed_and_new_appends_are_refused(
    gateway: Gateway,
) -> None:
    run_id = new_id("late")
    await gateway.start(run_id, "/sleep 300\n/say done")
    url = f"/internal/v1/runs/{run_id}/events"
    body = {"idempotencyKey": "late-1", "events": [{"kind": "laravel.note", "data": {"n": 1}}]}
    first = await gateway.http.post(url, json=body, headers=gateway.auth())
    assert first.status_code == 200, first.text
    assert (await gateway.wait_terminal(run_id))["state"] == "RUN_STATE_SUCCEEDED"

    # A client retrying after a lost response must get its answer, even once the run has ended.
    retry = await gateway.http.post(url, json=body, headers=gateway.auth())
    assert retry.status_code == 200, retry.text
    assert retry.json() == {"seqs": first.json()["seqs"], "replayed": True}

    late = await gateway.http.post(url, json={**body, "idempotencyKey": "late-2"}, headers=gateway.auth())
    assert late.status_code == 400, late.text
    assert error_info(late)["reason"] == "RUN_FINISHED"
    unknown = await gateway.http.post(
        "/internal/v1/runs/no-such-run/events", json=body, headers=gateway.auth()
    )
    assert unknown.status_code == 404
    assert error_info(unknown)["reason"] == "RUN_NOT_FOUND"
