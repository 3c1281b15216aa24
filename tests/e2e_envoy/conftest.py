"""The real service on a fresh database behind the real Envoy, spoken to over HTTP with httpx.

`gateway` (sqlite) is shared by a module: one runtime and one Envoy per test module, each test
using its own run and thread ids. `any_gateway` runs a test on sqlite and on PostgreSQL.
`start_gateway(database_url, env)` gives a test its own runtime (for settings such as the heartbeat
or the signing keys).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.envoy import async_envoy_gateway
from tests.support.postgres import PostgresServer
from tests.support.runtime import RuntimeHandle, running_runtime

SIGNATURE_HEADER = "X-OA-RUNTIME-SIGNATURE"
TERMINAL_STATES = frozenset({"RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED", "RUN_STATE_CANCELED"})
_pg_databases = itertools.count(1)


@dataclass(frozen=True)
class SseEvent:
    """One SSE event block: an `id:` line and/or `data:` lines, or a comment."""

    id: int | None
    data: str | None
    comment: str | None
    raw: bytes

    @property
    def chunk(self) -> dict[str, Any] | None:
        """The JSON chunk, or None for a comment or `[DONE]`."""
        if self.data is None or self.data == "[DONE]":
            return None
        value: dict[str, Any] = json.loads(self.data)
        return value


def parse_sse(body: bytes) -> list[SseEvent]:
    """SSE blocks in order. Strict on purpose: every block ends in a blank line."""
    assert body == b"" or body.endswith(b"\n\n"), body[-200:]
    events: list[SseEvent] = []
    for block in body.split(b"\n\n")[:-1]:
        event_id: int | None = None
        data: list[str] = []
        comment: str | None = None
        for line in block.decode("utf-8").split("\n"):
            if line.startswith(":"):
                comment = line[1:].strip()
            elif line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data.append(line[6:])
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        events.append(SseEvent(event_id, "\n".join(data) if data else None, comment, block + b"\n\n"))
    return events


def frames(events: list[SseEvent]) -> list[SseEvent]:
    """The events that are not comments (the frames a client acts on, `[DONE]` included)."""
    return [e for e in events if e.comment is None]


def event_seqs(blocks: list[SseEvent]) -> list[int | None]:
    """The run-event seq each frame belongs to: the id of the nearest frame at or after
    it that carries one (only an event's last frame has `id:`); None for `[DONE]`."""
    out: list[int | None] = []
    current: int | None = None
    for block in reversed(blocks):
        if block.data == "[DONE]":
            out.append(None)
            continue
        if block.id is not None:
            current = block.id
        assert current is not None, "a frame after the last id"
        out.append(current)
    return out[::-1]


def cut_stream(received: bytes) -> tuple[list[SseEvent], int]:
    """What a client whose connection dropped after `received` keeps, and where it resumes.

    Only the last frame of each run event carries an `id:`, so the client's
    Last-Event-ID is the newest id it received, and the frames it keeps are the
    complete events up to that id; a partly received event is sent again whole.
    """
    blocks = parse_sse(received[: received.rfind(b"\n\n") + 2])
    with_id = [i for i, e in enumerate(blocks) if e.id is not None]
    assert with_id, received
    last = with_id[-1]
    cursor = blocks[last].id
    assert cursor is not None
    return blocks[: last + 1], cursor


@dataclass
class SseResponse:
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def events(self) -> list[SseEvent]:
        return parse_sse(self.body)

    @property
    def frames(self) -> list[SseEvent]:
        return frames(self.events)


@dataclass
class Gateway:
    """The runtime and the Envoy in front of it, with an HTTP client for Envoy."""

    runtime: RuntimeHandle
    base_url: str
    http: httpx.AsyncClient

    def auth(self, **claims: str | int | None) -> dict[str, str]:
        """Headers with a fresh single-use service token (claims bind to the request)."""
        return {SIGNATURE_HEADER: self.runtime.token(**claims)}

    async def start(
        self, run_id: str, prompt: str, thread_id: str | None = None, **body: Any
    ) -> httpx.Response:
        response = await self.http.post(
            "/internal/v1/runs",
            json={"runId": run_id, "threadId": thread_id or f"thread-{run_id}", "prompt": prompt, **body},
            headers=self.auth(),
        )
        assert response.status_code == 200, response.text
        return response

    async def get_run(self, run_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/internal/v1/runs/{run_id}", headers=self.auth())
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()["run"]
        return run

    async def wait_run(
        self, run_id: str, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0
    ) -> dict[str, Any]:
        """The run, polled over REST until `ready(run)` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = await self.get_run(run_id)
            if ready(run):
                return run
            assert time.monotonic() < deadline, f"run {run_id} never got ready: {run}"
            await asyncio.sleep(0.02)

    async def wait_terminal(self, run_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        return await self.wait_run(run_id, lambda run: run.get("state") in TERMINAL_STATES, timeout_s)

    async def stream(
        self,
        run_id: str,
        *,
        last_event_id: int | str | None = None,
        cursor: int | str | None = None,
        timeout_s: float = 30.0,
    ) -> SseResponse:
        """The whole SSE response of one GET (the stream ends after the run's `[DONE]`)."""
        headers = self.auth()
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        params = {"cursor": str(cursor)} if cursor is not None else None
        async with asyncio.timeout(timeout_s):
            async with self.http.stream(
                "GET", f"/internal/v1/runs/{run_id}/stream", headers=headers, params=params
            ) as response:
                body = await response.aread()
        return SseResponse(response.status_code, response.headers, body)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def error_info(response: httpx.Response) -> dict[str, Any]:
    """The google.rpc.ErrorInfo of a JSON error body (Envoy's transcoding of the gRPC status)."""
    body = response.json()
    infos = [d for d in body.get("details", []) if d.get("@type", "").endswith("google.rpc.ErrorInfo")]
    assert len(infos) == 1, body
    info: dict[str, Any] = infos[0]
    return info


# The gRPC codes an HTTP status may carry in the one error shape.
GRPC_CODES_OF_STATUS = {
    400: {3, 9, 11},  # INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
    401: {16},
    403: {7},
    404: {5},
    405: {12},
    409: {6, 10},  # ALREADY_EXISTS, ABORTED
    410: {9},  # FAILED_PRECONDITION STALE_CURSOR: a cursor below the retention floor
    413: {8},
    429: {8},
    431: {8},
    500: {13},
    501: {12},  # UNIMPLEMENTED (a documented binding whose engine is not built yet)
    503: {14},
    504: {4},
}


def assert_error_shape(response: httpx.Response, status: int, reason: str | None = None) -> dict[str, Any]:
    """A non-2xx answer in the one error shape, google.rpc.Status JSON with one ErrorInfo,
    whoever produced it (service, transcoder, Envoy). Returns the ErrorInfo."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] in GRPC_CODES_OF_STATUS[status], body
    assert isinstance(body["message"], str)
    [info] = body["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo", info
    assert info["domain"] == "runtime.openagents.dev", info
    assert isinstance(info["reason"], str) and info["reason"], info
    # ErrorInfo.metadata is map<string, string>: a strict protobuf JSON decoder needs strings.
    assert all(isinstance(value, str) for value in info.get("metadata", {}).values()), info
    if reason is not None:
        assert info["reason"] == reason, info
    assert "Traceback" not in response.text and "Error'" not in response.text
    return dict(info)


@asynccontextmanager
async def start_gateway(
    database_url: str, env: Mapping[str, str] | None = None, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Gateway]:
    """The service on `database_url` (with extra `env`, and the injected `clock` agents and
    memory go by) behind a fresh Envoy."""
    async with (
        running_runtime(database_url, env, clock=clock) as runtime,
        async_envoy_gateway(runtime.port) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30.0) as http,
    ):
        yield Gateway(runtime, base_url, http)


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """One sqlite-backed runtime + Envoy for the whole test module."""
    db = tmp_path_factory.mktemp("e2e-sqlite") / "runtime.db"
    async with start_gateway(f"sqlite:///{db}") as gw:
        yield gw


@pytest.fixture(scope="module")
async def postgres_gateway(postgres_server: PostgresServer) -> AsyncIterator[Gateway]:
    """One PostgreSQL-backed runtime + Envoy for the whole test module."""
    url = postgres_server.create_database(f"e2e_envoy_{next(_pg_databases)}_{uuid.uuid4().hex[:6]}")
    async with start_gateway(url) as gw:
        yield gw


@pytest.fixture(params=["sqlite", "postgres"])
def any_gateway(request: pytest.FixtureRequest) -> Gateway:
    """The module's gateway on each backend."""
    name = "gateway" if request.param == "sqlite" else "postgres_gateway"
    gw: Gateway = request.getfixturevalue(name)
    return gw


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runtime.db'}"
