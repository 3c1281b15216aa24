"""Bad input is a 4xx in the one error shape, always (issue 11, reproductions 4, 7-11), through
the real Envoy on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from oa_runtime.core.errors import InvalidArgument
from oa_runtime.core.validation import parse_cursor
from openagents.runtime.v1 import run_service_pb2

from tests.e2e_envoy.conftest import SIGNATURE_HEADER, Gateway, assert_error_shape, new_id

RUNS = "/internal/v1/runs"
ARABIC_INDIC_FIVE = "\u0665"  # str.isdigit() and int() accept it


async def run_count(gw: Gateway) -> int:
    """How many runs exist (a service token lists them all)."""
    total, token = 0, ""
    while True:
        params = {"pageSize": "500", **({"pageToken": token} if token else {})}
        page = await gw.http.get(RUNS, params=params, headers=gw.auth())
        assert page.status_code == 200, page.text
        total += len(page.json()["runs"])
        token = page.json()["nextPageToken"]
        if not token:
            return total


@pytest.fixture
async def running_run(any_gateway: Gateway) -> str:
    """A run that stays running for the test (it sleeps)."""
    run_id = new_id("bad")
    await any_gateway.start(run_id, "/sleep 20000\n/say late", userId=42)
    return run_id


@pytest.mark.parametrize("run_id", ["nl1\n", "..", ".", " r1", "r1 ", "tab\tid", "a" * 129, "", "ü"])
async def test_ids_match_one_pattern(any_gateway: Gateway, run_id: str) -> None:
    """Reproduction 7: `nl1\\n` was accepted and could then never be streamed."""
    before = await run_count(any_gateway)
    body = {"runId": run_id, "threadId": "thread-ok", "prompt": "/say hi"}
    response = await any_gateway.http.post(RUNS, json=body, headers=any_gateway.auth())
    info = assert_error_shape(response, 400, "INVALID_ARGUMENT")
    assert info["metadata"]["field"] == "run_id"
    thread = await any_gateway.http.post(
        RUNS, json={**body, "runId": new_id("ok"), "threadId": run_id}, headers=any_gateway.auth()
    )
    assert assert_error_shape(thread, 400, "INVALID_ARGUMENT")["metadata"]["field"] == "thread_id"
    assert await run_count(any_gateway) == before


@pytest.mark.parametrize("path_id", ["%2E%2E", "%2e", "nl1%0A", "sp%20", "%00"])
async def test_encoded_path_ids_are_refused(any_gateway: Gateway, path_id: str) -> None:
    for method, suffix in (("GET", ""), ("GET", "/stream"), ("POST", "/cancel")):
        response = await any_gateway.http.request(
            method, f"{RUNS}/{path_id}{suffix}", headers=any_gateway.auth(), content=b"{}"
        )
        assert response.status_code in (400, 404), (path_id, suffix, response.text)
        assert_error_shape(response, response.status_code)


async def test_undecodable_path_and_page_token_are_400_before_authentication(
    any_gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Reproduction 8: `%FF` was a 500 naming an internal class, with a traceback, with no token."""
    with caplog.at_level(logging.INFO):
        for path in (f"{RUNS}/%FF", f"{RUNS}/%FF/stream", "/internal/v1/threads/%FF%FE/state"):
            response = await any_gateway.http.get(path)  # no token at all
            assert_error_shape(response, 400, "MALFORMED_REQUEST")
        raw = await any_gateway.http.get(f"{RUNS}?pageToken=%FF")
        assert_error_shape(raw, 400, "MALFORMED_REQUEST")
        garbage = await any_gateway.http.get(RUNS, params={"pageToken": "!!"}, headers=any_gateway.auth())
        assert assert_error_shape(garbage, 400)["metadata"]["field"] == "page_token"
    assert "Traceback" not in caplog.text


async def test_deep_json_is_400(any_gateway: Gateway, running_run: str) -> None:
    """Reproduction 8: a 90-deep `data` was a 500."""

    async def append_nested(depth: int) -> httpx.Response:
        data: dict[str, Any] = {"leaf": 1}
        for _ in range(depth):
            data = {"d": data}
        body = {"idempotencyKey": f"deep-{depth}", "events": [{"kind": "laravel.deep", "data": data}]}
        return await any_gateway.http.post(
            f"{RUNS}/{running_run}/events", json=body, headers=any_gateway.auth(run_id=running_run)
        )

    assert_error_shape(await append_nested(90), 400)
    # Deeper than the runtime's limit (20 levels), shallow enough for protobuf to decode.
    info = assert_error_shape(await append_nested(25), 400, "INVALID_ARGUMENT")
    assert info["metadata"]["field"] == "events[0].data"


async def test_a_10_mb_body_is_413(any_gateway: Gateway) -> None:
    """Reproduction 10: it was a 429 RESOURCE_EXHAUSTED."""
    before = await run_count(any_gateway)
    body = b'{"runId":"big","threadId":"t","prompt":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    status, headers, payload = await post_while_reading(any_gateway, RUNS, body)
    assert status == 413, payload[:300]
    assert_error_shape(httpx.Response(status, headers=headers, content=payload), 413, "REQUEST_TOO_LARGE")
    assert await run_count(any_gateway) == before


async def post_while_reading(gw: Gateway, path: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """POSTs `body` over a raw HTTP/1.1 connection and reads the answer while still sending,
    as curl and Guzzle do: Envoy answers 413 as soon as the body passes its limit."""
    url = httpx.URL(gw.base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {url.host}\r\ncontent-type: application/json\r\n"
        f"{SIGNATURE_HEADER}: {gw.runtime.token()}\r\ncontent-length: {len(body)}\r\n\r\n"
    )

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode())
            for start in range(0, len(body), 65536):
                writer.write(body[start : start + 65536])
                await writer.drain()

    sender = asyncio.create_task(send())
    try:
        status_line = await reader.readline()
        headers: list[tuple[str, str]] = []
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers.append((name.strip().lower(), value.strip()))
        length = int(dict(headers).get("content-length", "0"))
        payload = await reader.readexactly(length)
    finally:
        sender.cancel()
        writer.close()
    return int(status_line.split()[1]), headers, payload


@pytest.mark.parametrize("length", [200, 4000, 7000, 7800, 9000, 10000, 12000])
async def test_long_path_ids_answer_consistently(any_gateway: Gateway, length: int) -> None:
    """Reproduction 10: 9,000-12,000 characters were 400 or 429 at random, listing header sizes."""
    expected = (400, "INVALID_ARGUMENT") if length <= 7800 else (431, "HEADERS_TOO_LARGE")
    for _ in range(10):
        response = await any_gateway.http.get(f"{RUNS}/{'a' * length}", headers=any_gateway.auth())
        assert_error_shape(response, *expected)
        assert "size" not in response.json()["message"].lower() or expected[0] == 431


@pytest.mark.parametrize(
    "value",
    [ARABIC_INDIC_FIVE, "99999999999999999999", "9223372036854775808", "-1", "1e3", "0x5", "5 5", "+5"],
)
async def test_cursor_headers_are_ascii_digits_within_int64(
    any_gateway: Gateway, running_run: str, value: str
) -> None:
    """Reproduction 9: an Arabic-Indic 5 was read as 5; 99999999999999999999 failed in-band."""
    headers: list[tuple[bytes, bytes]] = [
        *((k.encode(), v.encode()) for k, v in any_gateway.auth(run_id=running_run).items()),
        (b"Last-Event-ID", value.encode()),
    ]
    async with any_gateway.http.stream("GET", f"{RUNS}/{running_run}/stream", headers=headers) as response:
        await response.aread()
    # Envoy refuses header values that are not ASCII before they reach the service.
    reason = "INVALID_CURSOR" if value.isascii() else "MALFORMED_REQUEST"
    assert_error_shape(response, 400, reason)
    if not value.isascii():
        # gRPC metadata is ASCII: no gRPC client can send it; the parser refuses it anyway.
        with pytest.raises(InvalidArgument):
            parse_cursor("Last-Event-ID", value)
        return
    # The service parses the cursor itself too (gRPC callers reach it without Envoy).
    call = any_gateway.runtime.stub.StreamRunSse(
        run_service_pb2.StreamRunSseRequest(run_id=running_run),
        metadata=(*any_gateway.runtime.md(run_id=running_run), ("last-event-id", value)),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call:
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Last-Event-ID" in (refused.value.details() or "")


@pytest.mark.parametrize("value", [ARABIC_INDIC_FIVE, "99999999999999999999", "-1", "x"])
async def test_cursor_parameters_are_int64_too(any_gateway: Gateway, running_run: str, value: str) -> None:
    response = await any_gateway.http.get(
        f"{RUNS}/{running_run}/stream", params={"cursor": value}, headers=any_gateway.auth(run_id=running_run)
    )
    assert_error_shape(response, 400)


async def test_two_cursor_headers_are_refused(any_gateway: Gateway, running_run: str) -> None:
    headers = httpx.Headers([(SIGNATURE_HEADER, any_gateway.runtime.token(run_id=running_run))])
    headers.update({"Last-Event-ID": "1"})
    raw_headers = [*headers.multi_items(), ("Last-Event-ID", "2")]
    response = await any_gateway.http.get(f"{RUNS}/{running_run}/stream", headers=raw_headers)
    assert_error_shape(response, 400, "INVALID_CURSOR")


@pytest.mark.parametrize("body", [None, b"{}", b"[]", b" [ ] "], ids=["none", "object", "array", "spaced"])
async def test_cancel_takes_no_body_an_empty_object_or_an_empty_array(
    any_gateway: Gateway, running_run: str, body: bytes | None
) -> None:
    """Reproduction 4: Laravel's `Http::post($url)` sends `[]`, which was a 400."""
    headers = any_gateway.auth(run_id=running_run)
    if body is not None:
        headers["content-type"] = "application/json"
    response = await any_gateway.http.post(f"{RUNS}/{running_run}/cancel", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["run"]["runId"] == running_run


async def test_an_array_is_not_a_start_run_body(any_gateway: Gateway) -> None:
    response = await any_gateway.http.post(
        RUNS, content=b"[]", headers={**any_gateway.auth(), "content-type": "application/json"}
    )
    assert_error_shape(response, 400, "MALFORMED_REQUEST")
