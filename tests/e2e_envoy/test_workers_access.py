"""Authorization of the Codex worker routes through the real Envoy, on SQLite and PostgreSQL.

A worker belongs to the user who created it (the token's `user_id`). Every worker route is
allowed to a token whose `user_id` is the owner or whose `worker_id` names the worker, and
refused (403) to another user, another worker, a run- or thread-bound token, an
X-OA-USER-ID of someone else, and a token bound to nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from oa_runtime.auth.token import mint_token

from tests.e2e_envoy.conftest import SIGNATURE_HEADER, Gateway, assert_error_shape, new_id

WORKERS = "/internal/v1/codex/workers"
OWNER = 42
Call = Callable[[Gateway, str, dict[str, str]], Awaitable[httpx.Response]]


def _get(suffix: str) -> Call:
    async def call(gw: Gateway, worker_id: str, headers: dict[str, str]) -> httpx.Response:
        return await gw.http.get(f"{WORKERS}/{worker_id}/{suffix}", headers=headers)

    return call


def _post(suffix: str, body: dict[str, Any]) -> Call:
    async def call(gw: Gateway, worker_id: str, headers: dict[str, str]) -> httpx.Response:
        return await gw.http.post(f"{WORKERS}/{worker_id}/{suffix}", json=body, headers=headers)

    return call


async def _reattach(gw: Gateway, worker_id: str, headers: dict[str, str]) -> httpx.Response:
    return await gw.http.post(WORKERS, json={"worker_id": worker_id}, headers=headers)


async def _stream(gw: Gateway, worker_id: str, headers: dict[str, str]) -> httpx.Response:
    return await gw.http.get(
        f"{WORKERS}/{worker_id}/stream", params={"cursor": "1", "tail_ms": "50"}, headers=headers
    )


ROUTES: dict[str, Call] = {
    "create (replay)": _reattach,
    "snapshot": _get("snapshot"),
    "stream": _stream,
    "requests": _post("requests", {"request": {"request_id": "r1", "method": "thread/list"}}),
    "events": _post("events", {"event": {"event_type": "worker.heartbeat"}}),
    "stop": _post("stop", {}),
}


def token(gw: Gateway, **claims: str | int) -> str:
    """A token with exactly these claims (no service scope added)."""
    return mint_token(gw.runtime.secret.encode(), ttl_s=60, now=time.time(), **claims)  # type: ignore[arg-type]


async def new_worker(gw: Gateway) -> str:
    worker_id = new_id("codexw")
    response = await gw.http.post(
        WORKERS, json={"worker_id": worker_id}, headers={SIGNATURE_HEADER: token(gw, user_id=OWNER)}
    )
    assert response.status_code == 202, response.text
    return worker_id


ALLOWED: dict[str, Callable[[str], dict[str, str | int]]] = {
    "owner": lambda w: {"user_id": OWNER},
    "owner as a string": lambda w: {"user_id": str(OWNER)},
    "the worker": lambda w: {"worker_id": w},
    "the worker and its owner": lambda w: {"worker_id": w, "user_id": OWNER},
}
REFUSED: dict[str, tuple[Callable[[str], dict[str, str | int]], str]] = {
    "another user": (lambda w: {"user_id": OWNER + 1}, "CLAIM_MISMATCH"),
    "another worker": (lambda w: {"worker_id": w + "x"}, "CLAIM_MISMATCH"),
    "a run of the owner": (lambda w: {"run_id": "r1", "user_id": OWNER}, "CLAIM_MISMATCH"),
    "a thread of the owner": (lambda w: {"thread_id": "t1", "user_id": OWNER}, "CLAIM_MISMATCH"),
    "nothing": (lambda w: {}, "UNBOUND_TOKEN"),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("cell", list(ALLOWED))
async def test_allowed(any_gateway: Gateway, route: str, cell: str) -> None:
    gw = any_gateway
    worker_id = await new_worker(gw)
    headers = {SIGNATURE_HEADER: token(gw, **ALLOWED[cell](worker_id)), "X-OA-USER-ID": str(OWNER)}
    response = await ROUTES[route](gw, worker_id, headers)
    assert response.status_code in (200, 202), response.text


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("cell", list(REFUSED))
async def test_refused(any_gateway: Gateway, route: str, cell: str) -> None:
    gw = any_gateway
    worker_id = await new_worker(gw)
    claims, reason = REFUSED[cell]
    response = await ROUTES[route](gw, worker_id, {SIGNATURE_HEADER: token(gw, **claims(worker_id))})
    assert_error_shape(response, 403, reason)


@pytest.mark.parametrize("route", list(ROUTES))
async def test_x_oa_user_id_of_someone_else_is_refused(gateway: Gateway, route: str) -> None:
    worker_id = await new_worker(gateway)
    headers = {SIGNATURE_HEADER: token(gateway, worker_id=worker_id), "X-OA-USER-ID": str(OWNER + 1)}
    assert_error_shape(await ROUTES[route](gateway, worker_id, headers), 403, "CLAIM_MISMATCH")


async def test_workers_are_listed_to_their_owner_only(any_gateway: Gateway) -> None:
    gw = any_gateway
    worker_id = await new_worker(gw)

    async def listed(**claims: str | int) -> httpx.Response:
        return await gw.http.get(
            WORKERS, params={"limit": "200"}, headers={SIGNATURE_HEADER: token(gw, **claims)}
        )

    mine = await listed(user_id=OWNER)
    assert worker_id in [w["workerId"] for w in mine.json()["workers"]]
    theirs = await listed(user_id=OWNER + 1)
    assert worker_id not in [w["workerId"] for w in theirs.json()["workers"]]
    assert_error_shape(await listed(worker_id=worker_id), 403, "CLAIM_MISMATCH")
    assert_error_shape(await listed(thread_id="t1"), 403, "CLAIM_MISMATCH")
    named = await gw.http.get(
        WORKERS, params={"user_id": str(OWNER + 1)}, headers={SIGNATURE_HEADER: token(gw, user_id=OWNER)}
    )
    assert_error_shape(named, 403, "CLAIM_MISMATCH")


async def test_a_new_worker_belongs_to_the_token_s_user(gateway: Gateway) -> None:
    gw = gateway
    worker_id = new_id("codexw")
    other = await gw.http.post(
        WORKERS,
        json={"worker_id": worker_id, "user_id": OWNER + 1},
        headers={SIGNATURE_HEADER: token(gw, user_id=OWNER)},
    )
    assert_error_shape(other, 403, "CLAIM_MISMATCH")
    ownerless = await gw.http.post(
        WORKERS, json={"worker_id": worker_id}, headers={SIGNATURE_HEADER: token(gw, worker_id=worker_id)}
    )
    assert_error_shape(ownerless, 400, "INVALID_ARGUMENT")
    by_header = await gw.http.post(
        WORKERS,
        json={"worker_id": worker_id},
        headers={SIGNATURE_HEADER: token(gw, worker_id=worker_id), "X-OA-USER-ID": str(OWNER)},
    )
    assert by_header.status_code == 202, by_header.text
    assert by_header.json()["worker"]["userId"] == str(OWNER)
    taken = await gw.http.post(
        WORKERS, json={"worker_id": worker_id}, headers={SIGNATURE_HEADER: token(gw, user_id=OWNER + 1)}
    )
    assert_error_shape(taken, 403, "CLAIM_MISMATCH")
