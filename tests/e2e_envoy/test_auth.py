"""The service token (`X-OA-RUNTIME-SIGNATURE`) as Laravel sends it, checked through the real Envoy."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from oa_runtime.auth.token import mint_token, sign

from tests.e2e_envoy.conftest import SIGNATURE_HEADER, Gateway, error_info, new_id, start_gateway

KEY_ID_HEADER = "X-OA-RUNTIME-KEY-ID"
USER_ID_HEADER = "X-OA-USER-ID"


def token(gateway: Gateway, *, ttl_s: int = 60, now: float | None = None, **claims: str | int | None) -> str:
    """A token; with no run/thread/user claim a service token (the test runtime accepts them)."""
    if not any(claims.get(name) is not None for name in ("run_id", "thread_id", "user_id")):
        claims.setdefault("scope", "service")
    secret = gateway.runtime.secret.encode()
    return mint_token(secret, ttl_s=ttl_s, now=time.time() if now is None else now, **claims)  # type: ignore[arg-type]


def assert_rejected(response: httpx.Response, status: int, reason: str) -> dict[str, str]:
    """The JSON error of a refused token; its ErrorInfo metadata."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    info = error_info(response)
    assert info["reason"] == reason, info
    metadata: dict[str, str] = info["metadata"]
    return metadata


@pytest.fixture(scope="module")
async def finished_run(gateway: Gateway) -> str:
    """A finished run of user 42 on thread-auth."""
    run_id = new_id("auth")
    await gateway.start(run_id, "/say hi", thread_id="thread-auth", userId=42)
    await gateway.wait_terminal(run_id)
    return run_id


async def test_a_missing_token_is_a_401_on_unary_and_streaming_routes(
    gateway: Gateway, finished_run: str
) -> None:
    for path in [f"/internal/v1/runs/{finished_run}", f"/internal/v1/runs/{finished_run}/stream"]:
        response = await gateway.http.get(path)
        assert assert_rejected(response, 401, "INVALID_TOKEN")["problem"] == "missing"
        assert b"data:" not in response.content
    start = await gateway.http.post(
        "/internal/v1/runs", json={"runId": new_id("anon"), "threadId": "t", "prompt": "x"}
    )
    assert_rejected(start, 401, "INVALID_TOKEN")


@pytest.mark.parametrize(
    ("make_token", "problem"),
    [
        (lambda gw: token(gw).rsplit(".", 1)[0] + "." + token(gw).rsplit(".", 1)[1], "bad signature"),
        (lambda gw: mint_token(b"not-the-secret", ttl_s=60, now=time.time()), "bad signature"),
        (lambda gw: token(gw, now=time.time() - 120), "expired"),
        (lambda gw: token(gw, now=time.time() + 120), "issued in the future"),
        (lambda gw: token(gw, ttl_s=61), "lifetime over the maximum ttl"),
        (lambda gw: token(gw, ttl_s=0), "exp is not after iat"),
        (lambda gw: "v2" + token(gw)[2:], "unsupported version"),
        (lambda gw: "garbage", "malformed: expected 3 segments"),
    ],
    ids=[
        "tampered-mac",
        "wrong-secret",
        "expired",
        "future-iat",
        "over-ttl",
        "exp-before-iat",
        "version",
        "garbage",
    ],
)
async def test_an_invalid_token_is_a_401(
    gateway: Gateway, finished_run: str, make_token: Callable[[Gateway], str], problem: str
) -> None:
    response = await gateway.http.get(
        f"/internal/v1/runs/{finished_run}", headers={SIGNATURE_HEADER: make_token(gateway)}
    )
    assert assert_rejected(response, 401, "INVALID_TOKEN")["problem"] == problem


async def test_a_token_is_single_use(gateway: Gateway, finished_run: str) -> None:
    once = token(gateway, run_id=finished_run)
    url = f"/internal/v1/runs/{finished_run}"
    assert (await gateway.http.get(url, headers={SIGNATURE_HEADER: once})).status_code == 200
    replay = await gateway.http.get(url, headers={SIGNATURE_HEADER: once})
    assert assert_rejected(replay, 401, "INVALID_TOKEN")["problem"] == "nonce already used"


async def test_a_reused_nonce_is_refused_even_in_a_new_token(gateway: Gateway, finished_run: str) -> None:
    nonce = new_id("nonce")
    url = f"/internal/v1/runs/{finished_run}"
    first = token(gateway, nonce=nonce)
    second = token(gateway, ttl_s=30, nonce=nonce)  # different claims and MAC, same nonce
    assert first != second
    assert (await gateway.http.get(url, headers={SIGNATURE_HEADER: first})).status_code == 200
    replay = await gateway.http.get(url, headers={SIGNATURE_HEADER: second})
    assert assert_rejected(replay, 401, "INVALID_TOKEN")["problem"] == "nonce already used"


async def test_a_start_run_token_is_single_use_through_the_service(gateway: Gateway) -> None:
    # StartRun's nonce is spent in create_run's transaction: a replay is refused before
    # anything is written, even a replay that would only repeat the run (idempotent start).
    run_id = new_id("once")
    body = {"runId": run_id, "threadId": new_id("thread-once"), "prompt": "/say hi"}
    once = token(gateway, nonce=new_id("nonce"))
    assert (
        await gateway.http.post("/internal/v1/runs", json=body, headers={SIGNATURE_HEADER: once})
    ).status_code == 200
    replay = await gateway.http.post("/internal/v1/runs", json=body, headers={SIGNATURE_HEADER: once})
    assert assert_rejected(replay, 401, "INVALID_TOKEN")["problem"] == "nonce already used"
    other = {**body, "runId": new_id("once-other")}
    replay = await gateway.http.post("/internal/v1/runs", json=other, headers={SIGNATURE_HEADER: once})
    assert assert_rejected(replay, 401, "INVALID_TOKEN")["problem"] == "nonce already used"
    missing = await gateway.http.get(f"/internal/v1/runs/{other['runId']}", headers=gateway.auth())
    assert missing.status_code == 404


async def test_run_and_thread_claims_bind_the_request(gateway: Gateway, finished_run: str) -> None:
    url = f"/internal/v1/runs/{finished_run}"
    assert (
        await gateway.http.get(url, headers={SIGNATURE_HEADER: token(gateway, run_id=finished_run)})
    ).status_code == 200
    wrong_run = await gateway.http.get(url, headers={SIGNATURE_HEADER: token(gateway, run_id="another-run")})
    assert assert_rejected(wrong_run, 403, "CLAIM_MISMATCH")["claim"] == "run_id"
    stream = await gateway.http.get(
        f"{url}/stream", headers={SIGNATURE_HEADER: token(gateway, run_id="another-run")}
    )
    assert assert_rejected(stream, 403, "CLAIM_MISMATCH")["claim"] == "run_id"

    state_url = "/internal/v1/threads/thread-auth/state"
    ok = await gateway.http.get(
        state_url, headers={SIGNATURE_HEADER: token(gateway, thread_id="thread-auth")}
    )
    assert ok.status_code == 200, ok.text
    wrong_thread = await gateway.http.get(
        state_url, headers={SIGNATURE_HEADER: token(gateway, thread_id="other")}
    )
    assert assert_rejected(wrong_thread, 403, "CLAIM_MISMATCH")["claim"] == "thread_id"

    # On a run's routes a thread claim is compared with the run's own thread (Laravel
    # mints one token per chat turn with run, thread and user, and streams with it).
    turn_token = token(gateway, run_id=finished_run, thread_id="thread-auth", user_id=42)
    same_thread = await gateway.http.get(url, headers={SIGNATURE_HEADER: turn_token})
    assert same_thread.status_code == 200, same_thread.text
    other_thread = await gateway.http.get(
        url, headers={SIGNATURE_HEADER: token(gateway, thread_id="thread-other")}
    )
    assert assert_rejected(other_thread, 403, "CLAIM_MISMATCH")["claim"] == "thread_id"


async def test_start_run_claims_must_match_the_body(gateway: Gateway) -> None:
    run_id = new_id("claims")
    body = {"runId": run_id, "threadId": "thread-claims", "userId": 7, "prompt": "/say hi"}

    wrong_thread = await gateway.http.post(
        "/internal/v1/runs",
        json=body,
        headers={SIGNATURE_HEADER: token(gateway, run_id=run_id, thread_id="other")},
    )
    assert assert_rejected(wrong_thread, 403, "CLAIM_MISMATCH")["claim"] == "thread_id"
    wrong_user = await gateway.http.post(
        "/internal/v1/runs",
        json=body,
        # StartRun binds the body's userId; the header cannot stand in for it.
        headers={SIGNATURE_HEADER: token(gateway, user_id=8), USER_ID_HEADER: "8"},
    )
    assert assert_rejected(wrong_user, 403, "CLAIM_MISMATCH")["claim"] == "user_id"
    missing = await gateway.http.get(f"/internal/v1/runs/{run_id}", headers=gateway.auth())
    assert missing.status_code == 404  # refused requests wrote nothing

    accepted = await gateway.http.post(
        "/internal/v1/runs",
        json=body,
        headers={SIGNATURE_HEADER: token(gateway, run_id=run_id, thread_id="thread-claims", user_id=7)},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["created"] is True


async def test_the_user_claim_binds_the_owner_and_the_header(gateway: Gateway, finished_run: str) -> None:
    url = f"/internal/v1/runs/{finished_run}"
    matching = await gateway.http.get(
        url, headers={SIGNATURE_HEADER: token(gateway, user_id=42), USER_ID_HEADER: "42"}
    )
    assert matching.status_code == 200, matching.text
    no_header = await gateway.http.get(url, headers={SIGNATURE_HEADER: token(gateway, user_id="42")})
    assert no_header.status_code == 200, no_header.text
    other = await gateway.http.get(
        url, headers={SIGNATURE_HEADER: token(gateway, user_id=42), USER_ID_HEADER: "43"}
    )
    assert assert_rejected(other, 403, "CLAIM_MISMATCH")["claim"] == "user_id"
    # Reproduction 5: a user claim and a header that agree with each other but not with
    # the run's owner read nothing.
    alice = await gateway.http.get(
        url, headers={SIGNATURE_HEADER: token(gateway, user_id=43), USER_ID_HEADER: "43"}
    )
    assert assert_rejected(alice, 403, "CLAIM_MISMATCH")["claim"] == "user_id"


async def test_a_token_refused_for_its_claims_is_spent(gateway: Gateway, finished_run: str) -> None:
    spent = token(gateway, run_id=finished_run, user_id=42)
    url = f"/internal/v1/runs/{finished_run}"
    first = await gateway.http.get(url, headers={SIGNATURE_HEADER: spent, USER_ID_HEADER: "43"})
    assert_rejected(first, 403, "CLAIM_MISMATCH")
    retry = await gateway.http.get(url, headers={SIGNATURE_HEADER: spent, USER_ID_HEADER: "42"})
    assert assert_rejected(retry, 401, "INVALID_TOKEN")["problem"] == "nonce already used"


async def test_health_endpoints_are_open_even_with_a_bad_token(gateway: Gateway) -> None:
    for path in ["/healthz", "/readyz"]:
        assert (await gateway.http.get(path)).status_code == 200
        assert (await gateway.http.get(path, headers={SIGNATURE_HEADER: "v1.bogus.bogus"})).status_code == 200


async def test_key_rotation_selects_the_secret_by_key_id(sqlite_url: str) -> None:
    keys = {"old": "old-secret-0123456789", "new": "new-secret-9876543210"}
    env = {"RUNTIME_SIGNING_KEYS": ",".join(f"{k}:{v}" for k, v in keys.items())}
    async with start_gateway(sqlite_url, env) as gw:

        def signed(key_id: str, secret: str) -> dict[str, str]:
            minted = mint_token(secret.encode(), ttl_s=60, now=time.time(), scope="service")
            return {SIGNATURE_HEADER: minted, KEY_ID_HEADER: key_id}

        url = "/internal/v1/runs"
        for key_id, secret in keys.items():
            response = await gw.http.get(url, headers=signed(key_id, secret))
            assert response.status_code == 200, (key_id, response.text)
        # No key id: the default key (here RUNTIME_SIGNING_SECRET, which the test harness sets).
        assert (await gw.http.get(url, headers=gw.auth())).status_code == 200

        crossed = await gw.http.get(url, headers=signed("old", keys["new"]))
        assert assert_rejected(crossed, 401, "INVALID_TOKEN")["problem"] == "bad signature"
        unknown = await gw.http.get(url, headers=signed("retired", keys["old"]))
        assert assert_rejected(unknown, 401, "INVALID_TOKEN")["problem"] == "unknown key id"
        no_key_id = await gw.http.get(
            url, headers={SIGNATURE_HEADER: signed("new", keys["new"])[SIGNATURE_HEADER]}
        )
        assert assert_rejected(no_key_id, 401, "INVALID_TOKEN")["problem"] == "bad signature"
        # A MAC forged with a made-up secret under a real key id.
        forged = mint_token(b"x", ttl_s=60, now=time.time())
        segment = forged.split(".")[1]
        tampered = f"v1.{segment}.{sign(b'guess', segment)}"
        refused = await gw.http.get(url, headers={SIGNATURE_HEADER: tampered, KEY_ID_HEADER: "new"})
        assert_rejected(refused, 401, "INVALID_TOKEN")
