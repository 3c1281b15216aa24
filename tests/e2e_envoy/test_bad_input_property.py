"""A property test (issue 11, build 4): generated bad requests at every route through the real
Envoy, on SQLite and PostgreSQL. Whatever they carry -- undecodable paths, ids outside the
pattern, bodies that are not the message, bad cursors and page tokens, odd headers, bad or
missing tokens -- the answer is never a 5xx, every error has the one shape, and nothing is
written.

The service runs as its own process (`oa-runtime serve`) so this synchronous test can call
it from hypothesis without sharing an event loop with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oa_runtime.auth.token import mint_token
from oa_runtime.core.validation import is_valid_id

from tests.e2e_envoy.conftest import SIGNATURE_HEADER, assert_error_shape
from tests.support.envoy import envoy_gateway
from tests.support.postgres import PostgresServer
from tests.support.replica import free_port

SECRET = "property-test-secret"
ID = "{id}"
ROUTES = [
    ("POST", "/internal/v1/runs"),
    ("GET", "/internal/v1/runs"),
    ("GET", f"/internal/v1/runs/{ID}"),
    ("POST", f"/internal/v1/runs/{ID}/cancel"),
    ("GET", f"/internal/v1/runs/{ID}/stream"),
    ("POST", f"/internal/v1/runs/{ID}/events"),
    ("GET", f"/internal/v1/threads/{ID}/state"),
    ("GET", f"/internal/v1/runs/{ID}/tool-tasks"),
    ("GET", f"/internal/v1/runs/{ID}/tool-tasks/{ID}"),
    ("POST", f"/internal/v1/runs/{ID}/approvals/{ID}"),
    ("POST", f"/internal/v1/runs/{ID}/questions/{ID}"),
]


class Stack:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def token(self, **claims: Any) -> str:
        return mint_token(SECRET.encode(), ttl_s=60, now=time.time(), **claims)

    def census(self) -> tuple[int, int]:
        """(number of runs, the sentinel run's last seq): what a write would change."""
        runs = self.http.get(
            "/internal/v1/runs",
            params={"pageSize": "500"},
            headers={SIGNATURE_HEADER: self.token(scope="service")},
        )
        assert runs.status_code == 200, runs.text
        sentinel = [r for r in runs.json()["runs"] if r["runId"] == "sentinel"]
        return len(runs.json()["runs"]), int(sentinel[0]["lastSeq"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("property")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'runtime.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database(f"property_{os.getpid()}")
    grpc_port = free_port()
    env = {
        **os.environ,
        "RUNTIME_DATABASE_URL": url,
        "RUNTIME_GRPC_PORT": str(grpc_port),
        "RUNTIME_SIGNING_SECRET": SECRET,
        "RUNTIME_ALLOW_SERVICE_TOKENS": "1",
        "RUNTIME_LOG_LEVEL": "WARNING",
    }
    log = tmp / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "oa_runtime.cli", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        with envoy_gateway(grpc_port) as base_url:
            stack = Stack(base_url)
            deadline = time.monotonic() + 30
            while stack.http.get("/readyz").status_code != 200:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            body = {"runId": "sentinel", "threadId": "sentinel-thread", "userId": 42, "prompt": "/say hi"}
            started = stack.http.post(
                "/internal/v1/runs", json=body, headers={SIGNATURE_HEADER: stack.token(scope="service")}
            )
            assert started.status_code == 200, started.text
            while (
                stack.http.get(
                    "/internal/v1/runs/sentinel", headers={SIGNATURE_HEADER: stack.token(run_id="sentinel")}
                ).json()["run"]["state"]
                != "RUN_STATE_SUCCEEDED"
            ):
                assert time.monotonic() < deadline + 30
                time.sleep(0.05)
            yield stack
            assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
    finally:
        process.terminate()
        process.wait(30)


# ----- strategies: every request carries at least one thing that makes it bad -----

bad_ids = st.one_of(
    st.text(min_size=0, max_size=40).filter(lambda s: not is_valid_id(s)),
    st.sampled_from([".", "..", "nl1\n", " r1", "r1 ", "a" * 129, "é", "a/b", "a?b", "%"]),
    st.text(alphabet="abc", min_size=129, max_size=300),
)
raw_path_segments = st.one_of(
    # Not empty: `/internal/v1/runs/` is ListRuns, a good request.
    # Dots encoded too: an HTTP client resolves a bare `.` or `..` segment before sending.
    bad_ids.filter(bool).map(lambda s: quote(s, safe="").replace(".", "%2E")),
    st.sampled_from(["%FF", "%C0%AF", "%2E%2E", "%00", "%E2%82", "a%ZZ", "%FFabc%FE"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"runId": bad_ids, "threadId": st.text(max_size=10)},
        optional={
            "userId": json_values,
            "prompt": json_values,
            "messages": json_values,
            "events": json_values,
            "toolPolicy": json_values,
            "expectedPreviousSeq": json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)
# What an HTTP/1.1 client can send (h11 refuses whitespace at the ends), non-ASCII included.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
).map(lambda s: s.strip(" \t"))
tokens = st.one_of(
    st.just("service"),
    st.just("bound"),
    st.just("missing"),
    header_text,
)
bad_queries = st.one_of(
    st.fixed_dictionaries({"pageToken": st.text(min_size=1, max_size=30)}),
    st.fixed_dictionaries(
        {
            "pageSize": st.one_of(
                st.integers(max_value=-1), st.integers(min_value=501), st.text(min_size=1, max_size=5)
            )
        }
    ),
    st.fixed_dictionaries({"threadId": bad_ids.filter(bool)}),
    st.fixed_dictionaries({"state": st.text(alphabet="xyz_", min_size=1, max_size=10)}),
    st.fixed_dictionaries({"cursor": st.text(min_size=1, max_size=25)}),
    st.dictionaries(
        st.text(alphabet="abcxyz", min_size=1, max_size=8), st.text(max_size=8), min_size=1, max_size=3
    ),
)


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], list[tuple[str, str]], bytes | None]:
    method, template = draw(st.sampled_from(ROUTES))
    path = template
    while ID in path:
        path = path.replace(ID, draw(raw_path_segments), 1)
    query: dict[str, str] = {}
    if ID not in template and method == "GET":
        query = {k: str(v) for k, v in draw(bad_queries).items()}  # ListRuns: the query is bad
    body = draw(bodies) if method == "POST" else None
    if method == "POST" and ID not in template:
        body = draw(st.one_of(bodies.filter(lambda b: b"runId" not in b), bodies))
        if b'"runId"' not in body:
            body = (
                json.dumps({"runId": draw(bad_ids)}).encode()
                if draw(st.booleans())
                else draw(st.binary(max_size=32)) + b"{"
            )
    headers: list[tuple[str, str]] = []
    token = draw(tokens)
    headers.append(("x-token-kind", token if token in ("service", "bound", "missing") else "garbage"))
    if token not in ("service", "bound", "missing"):
        headers.append((SIGNATURE_HEADER, token))
    for name in draw(
        st.lists(st.sampled_from(["Last-Event-ID", "X-OA-USER-ID", "X-OA-GUEST-SCOPE"]), max_size=3)
    ):
        headers.append((name, draw(header_text)))
    return method, path, query, headers, body


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@given(request=bad_requests())
def test_bad_requests_are_4xx_in_the_one_shape_and_write_nothing(
    stack: Stack, request: tuple[str, str, dict[str, str], list[tuple[str, str]], bytes | None]
) -> None:
    method, path, query, headers, body = request
    kind = dict(headers).pop("x-token-kind")
    sent = [(k, v) for k, v in headers if k != "x-token-kind"]
    if kind == "service":
        sent.append((SIGNATURE_HEADER, stack.token(scope="service")))
    elif kind == "bound":
        sent.append((SIGNATURE_HEADER, stack.token(run_id="sentinel", user_id=42)))
    if body is not None:
        sent.append(("content-type", "application/json"))
    before = stack.census()
    url = path + ("?" + httpx.QueryParams(query).__str__() if query else "")
    encoded = [(k.encode(), v.encode("latin-1")) for k, v in sent]
    response = stack.http.request(method, url, headers=encoded, content=body)
    assert response.status_code < 500, (method, url, response.status_code, response.text[:300])
    assert response.status_code >= 400, (method, url, response.status_code, response.text[:300])
    assert_error_shape(response, response.status_code)
    assert stack.census() == before, (method, url, body)
