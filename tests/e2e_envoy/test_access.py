"""Authorization by resource (issue 11, reproductions 3 and 5): every cell of the README's
rules table, for every REST route, through the real Envoy on SQLite and PostgreSQL.

The resource is read from the store: run R on thread T, owned by user 42. A token is
allowed when each run/thread/user claim it carries matches what the route touches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e_envoy.conftest import (
    SIGNATURE_HEADER,
    Gateway,
    assert_error_shape,
    new_id,
    start_gateway,
)

OWNER = 42


@dataclass(frozen=True)
class Resource:
    run_id: str
    thread_id: str


@dataclass(frozen=True)
class Route:
    name: str
    kind: str  # start | run | thread | every-run
    call: Callable[[Gateway, Resource, str, dict[str, str]], Any]


def _get(path: str) -> Callable[[Gateway, Resource, str, dict[str, str]], Any]:
    async def call(gw: Gateway, res: Resource, run_id: str, headers: dict[str, str]) -> httpx.Response:
        return await gw.http.get(path.format(run=run_id, thread=res.thread_id), headers=headers)

    return call


def _post(path: str, body: dict[str, Any]) -> Callable[[Gateway, Resource, str, dict[str, str]], Any]:
    async def call(gw: Gateway, res: Resource, run_id: str, headers: dict[str, str]) -> httpx.Response:
        return await gw.http.post(path.format(run=run_id), json=body, headers=headers)

    return call


async def _start(gw: Gateway, res: Resource, run_id: str, headers: dict[str, str]) -> httpx.Response:
    body = {"runId": run_id, "threadId": res.thread_id, "userId": OWNER, "prompt": "/say hi"}
    return await gw.http.post("/internal/v1/runs", json=body, headers=headers)


async def _stream(gw: Gateway, res: Resource, run_id: str, headers: dict[str, str]) -> httpx.Response:
    # The run is still running: read the status (and an error's body), then hang up.
    async with gw.http.stream("GET", f"/internal/v1/runs/{run_id}/stream", headers=headers) as response:
        body = await response.aread() if response.status_code != 200 else b""
    return httpx.Response(response.status_code, headers=response.headers, content=body)


RUN = "/internal/v1/runs/{run}"
ROUTES = [
    Route("StartRun", "start", _start),
    Route("GetRun", "run", _get(RUN)),
    Route("StreamRunSse", "run", _stream),
    Route(
        "AppendRunEvents", "run", _post(RUN + "/events", {"idempotencyKey": "k", "events": [{"kind": "x.y"}]})
    ),
    Route("ListToolTasks", "run", _get(RUN + "/tool-tasks")),
    Route("GetToolTask", "run", _get(RUN + "/tool-tasks/call-1")),
    Route("DecideApproval", "run", _post(RUN + "/approvals/a-1", {"approved": True})),
    Route("AnswerQuestion", "run", _post(RUN + "/questions/q-1", {"answer": "yes"})),
    Route("CancelRun", "run", _post(RUN + "/cancel", {})),
    Route("GetThreadState", "thread", _get("/internal/v1/threads/{thread}/state")),
    Route("ListRuns(threadId)", "thread", _get("/internal/v1/runs?threadId={thread}")),
    Route("ListRuns", "every-run", _get("/internal/v1/runs")),
]

ALLOW = "allow"
# token → (claims for (target run id, thread id), extra headers, expected per route kind).
# A refusal is (reason, claim or None). The README's "Authorization" table says the same.
Claims = Callable[[str, str], dict[str, Any]]
TOKENS: dict[str, tuple[Claims, dict[str, str], dict[str, Any]]] = {
    "run=R": (
        lambda r, t: {"run_id": r},
        {},
        {
            "start": ALLOW,
            "run": ALLOW,
            "thread": ("CLAIM_MISMATCH", "run_id"),
            "every-run": ("CLAIM_MISMATCH", "run_id"),
        },
    ),
    "run=other": (
        lambda r, t: {"run_id": "run-other"},
        {},
        dict.fromkeys(["start", "run", "thread", "every-run"], ("CLAIM_MISMATCH", "run_id")),
    ),
    "thread=T": (
        lambda r, t: {"thread_id": t},
        {},
        {"start": ALLOW, "run": ALLOW, "thread": ALLOW, "every-run": ("CLAIM_MISMATCH", "thread_id")},
    ),
    "thread=other": (
        lambda r, t: {"thread_id": "thread-other"},
        {},
        dict.fromkeys(["start", "run", "thread", "every-run"], ("CLAIM_MISMATCH", "thread_id")),
    ),
    "user=42 (int)": (
        lambda r, t: {"user_id": OWNER},
        {},
        {"start": ALLOW, "run": ALLOW, "thread": ALLOW, "every-run": ("CLAIM_MISMATCH", "user_id")},
    ),
    "user='42' (string)": (
        lambda r, t: {"user_id": str(OWNER)},
        {"X-OA-USER-ID": str(OWNER)},
        {"start": ALLOW, "run": ALLOW, "thread": ALLOW, "every-run": ("CLAIM_MISMATCH", "user_id")},
    ),
    "user=43": (
        lambda r, t: {"user_id": 43},
        {"X-OA-USER-ID": "43"},
        dict.fromkeys(["start", "run", "thread", "every-run"], ("CLAIM_MISMATCH", "user_id")),
    ),
    "laravel turn (run, thread, user)": (
        lambda r, t: {"run_id": r, "thread_id": t, "user_id": OWNER},
        {"X-OA-USER-ID": str(OWNER)},
        {
            "start": ALLOW,
            "run": ALLOW,
            "thread": ("CLAIM_MISMATCH", "run_id"),
            "every-run": ("CLAIM_MISMATCH", "run_id"),
        },
    ),
    "run=R, X-OA-USER-ID=43": (
        lambda r, t: {"run_id": r},
        {"X-OA-USER-ID": "43"},
        {
            "start": ("CLAIM_MISMATCH", "user_id"),
            "run": ("CLAIM_MISMATCH", "user_id"),
            "thread": ("CLAIM_MISMATCH", "user_id"),
            "every-run": ("CLAIM_MISMATCH", "run_id"),  # every run has no one owner
        },
    ),
    "no claims": (
        lambda r, t: {},
        {},
        dict.fromkeys(["start", "run", "thread", "every-run"], ("UNBOUND_TOKEN", None)),
    ),
    "scope=service": (
        lambda r, t: {"scope": "service"},
        {},
        dict.fromkeys(["start", "run", "thread", "every-run"], ALLOW),
    ),
}


def headers_for(gw: Gateway, claims: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
    import time

    from oa_runtime.auth.token import mint_token  # the test token factory, claims as given

    return {
        SIGNATURE_HEADER: mint_token(gw.runtime.secret.encode(), ttl_s=60, now=time.time(), **claims),
        **extra,
    }


@pytest.fixture
async def resource(any_gateway: Gateway) -> Resource:
    """User 42's run, still running (it sleeps), on its own thread."""
    run_id, thread_id = new_id("acl"), new_id("acl-thread")
    await any_gateway.start(run_id, "/sleep 60000", thread_id=thread_id, userId=OWNER)
    # Running before the test acts on it: on a loaded machine the executor may not have
    # started it yet, and a test that checks "nothing was canceled" compares with RUNNING.
    await any_gateway.wait_run(run_id, lambda run: run["state"] == "RUN_STATE_RUNNING")
    return Resource(run_id, thread_id)


@pytest.mark.parametrize("token", list(TOKENS))
async def test_every_cell_of_the_rules_table(any_gateway: Gateway, resource: Resource, token: str) -> None:
    make_claims, extra, expected = TOKENS[token]
    for route in ROUTES:
        run_id = new_id("acl-new") if route.kind == "start" else resource.run_id
        headers = headers_for(any_gateway, make_claims(run_id, resource.thread_id), extra)
        response = await route.call(any_gateway, resource, run_id, headers)
        outcome = expected[route.kind]
        where = f"{token} on {route.name}: {response.status_code} {response.text[:300]}"
        if outcome == ALLOW:
            # Allowed: whatever the route answers, it is not an authorization refusal.
            assert response.status_code not in (401, 403), where
            assert response.status_code in (200, 400, 404), where
        else:
            reason, claim = outcome
            info = assert_error_shape(response, 403, reason)
            if claim is not None:
                assert info["metadata"]["claim"] == claim, where


async def test_start_run_on_another_users_thread_is_refused(any_gateway: Gateway, resource: Resource) -> None:
    """Whatever the token says, a thread keeps the owner of its first run."""
    run_id = new_id("acl-steal")
    body = {"runId": run_id, "threadId": resource.thread_id, "userId": 43, "prompt": "/say mine"}
    for claims in ({"run_id": run_id, "thread_id": resource.thread_id, "user_id": 43}, {"scope": "service"}):
        response = await any_gateway.http.post(
            "/internal/v1/runs", json=body, headers=headers_for(any_gateway, claims, {})
        )
        info = assert_error_shape(response, 403, "NOT_THREAD_OWNER")
        assert info["metadata"]["thread_id"] == resource.thread_id
    missing = await any_gateway.http.get(f"/internal/v1/runs/{run_id}", headers=any_gateway.auth())
    assert_error_shape(missing, 404, "RUN_NOT_FOUND")


async def test_the_user_header_cannot_make_a_caller_someone_else(
    any_gateway: Gateway, resource: Resource
) -> None:
    """Reproduction 5: `user_id=alice` and `X-OA-USER-ID: alice` read and canceled bob's run."""
    for path, method in (
        (f"/internal/v1/runs/{resource.run_id}", "GET"),
        (f"/internal/v1/threads/{resource.thread_id}/state", "GET"),
        (f"/internal/v1/runs/{resource.run_id}/cancel", "POST"),
    ):
        headers = headers_for(any_gateway, {"user_id": 43}, {"X-OA-USER-ID": "43"})
        response = await any_gateway.http.request(
            method, path, headers=headers, json={} if method == "POST" else None
        )
        assert assert_error_shape(response, 403, "CLAIM_MISMATCH")["metadata"]["claim"] == "user_id"
    run = await any_gateway.get_run(resource.run_id)
    assert run["state"] == "RUN_STATE_RUNNING"  # nothing was canceled


async def test_service_tokens_are_off_unless_the_deployment_turns_them_on(sqlite_url: str) -> None:
    async with start_gateway(sqlite_url, {"RUNTIME_ALLOW_SERVICE_TOKENS": "0"}) as gw:
        for path in ("/internal/v1/runs", "/internal/v1/runs/any"):
            response = await gw.http.get(path, headers=headers_for(gw, {"scope": "service"}, {}))
            info = assert_error_shape(response, 403, "UNBOUND_TOKEN")
            assert info["metadata"]["problem"] == "service tokens are not enabled"
