"""The edge interceptor on a real grpc.aio server over loopback, with the real SQLite
EventStore as the nonce store and the resources (run-1 on thread-1, owned by user 7),
called by a real gRPC client that decodes the ErrorInfo. The access rules cell by cell,
through Envoy, are in tests/e2e_envoy/test_access.py."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from google.api import httpbody_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from oa_runtime.auth import Keyring, ServiceTokenInterceptor, TokenPolicy, current_claims, mint_token
from oa_runtime.auth.resources import RESOURCES
from oa_runtime.core import events as ev
from oa_runtime.core.errors import ERROR_DOMAIN, InvalidArgument
from oa_runtime.core.records import StartRequest
from oa_runtime.core.validation import fingerprint
from oa_runtime.ports import EventStore
from oa_runtime.store import open_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.sql import Done, Flow, command, done
from openagents.runtime.v1 import (
    agent_service_pb2,
    artifact_service_pb2,
    codex_worker_service_pb2,
    health_service_pb2,
    health_service_pb2_grpc,
    memory_service_pb2,
    run_event_pb2,
    run_pb2,
    run_service_pb2,
    run_service_pb2_grpc,
    sync_service_pb2,
)

SECRET = b"interceptor-test-secret"
OLD_SECRET = b"previous-secret"
KEYRING = Keyring(keys={"default": SECRET, "2024-old": OLD_SECRET})


class CannedRunService(run_service_pb2_grpc.RunServiceServicer):  # type: ignore[misc]
    """Answers from the request and the verified claims, and counts what it served."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def GetRun(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.append("GetRun")
        claims = current_claims()
        assert claims is not None
        return run_service_pb2.GetRunResponse(run=run_pb2.Run(run_id=request.run_id, model=claims.nonce))

    async def GetThreadState(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.append("GetThreadState")
        return run_service_pb2.GetThreadStateResponse(thread_id=request.thread_id)

    async def StartRun(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.append("StartRun")
        return run_service_pb2.StartRunResponse(run_id=request.run_id, status="accepted", created=True)

    async def StreamRunSse(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        self.calls.append("StreamRunSse")
        claims = current_claims()
        assert claims is not None
        for data in (b": ok\n\n", f"id: 1\ndata: {claims.nonce}\n\n".encode()):
            yield run_service_pb2.StreamRunSseResponse(
                body=httpbody_pb2.HttpBody(content_type="text/event-stream", data=data)
            )

    async def StreamRunEvents(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        # The other streaming style grpc.aio allows: a coroutine writing to the context.
        self.calls.append("StreamRunEvents")
        event = run_event_pb2.RunEvent(run_id=request.run_id, seq=1, type="run.accepted")
        await context.write(run_service_pb2.StreamRunEventsResponse(event=event))

    async def CancelRun(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        # A domain error raised by a servicer: the interceptor maps it (the one place).
        self.calls.append("CancelRun")
        raise InvalidArgument("reason", "is not accepted by this canned service")

    async def AppendRunEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls.append("AppendRunEvents")
        raise RuntimeError("a bug")


class OpenHealthService(health_service_pb2_grpc.HealthServiceServicer):  # type: ignore[misc]
    async def Healthz(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return health_service_pb2.HealthzResponse(status="ok")


class Runtime:
    """A running server and a client channel to it."""

    def __init__(self, servicer: CannedRunService, channel: grpc.aio.Channel) -> None:
        self.servicer = servicer
        self.channel = channel
        self.runs = run_service_pb2_grpc.RunServiceStub(channel)


@asynccontextmanager
async def serving(store: Any) -> AsyncIterator[Runtime]:
    policy = TokenPolicy(allow_service_scope=True)
    server = grpc.aio.server(interceptors=[ServiceTokenInterceptor(KEYRING, store, policy=policy)])
    servicer = CannedRunService()
    run_service_pb2_grpc.add_RunServiceServicer_to_server(servicer, server)
    health_service_pb2_grpc.add_HealthServiceServicer_to_server(OpenHealthService(), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Runtime(servicer, channel)
    finally:
        await server.stop(None)


@pytest_asyncio.fixture(scope="module")
async def runtime(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('nonces') / 'db.sqlite'}")
    await store.open()
    await create_run(store, "run-1", "thread-1", "7")
    await create_run(store, "run-2", "thread-2", "8")  # another user's run
    await own_bare_thread(store, "thread-col", "9")  # no run nor agent: only its row's owner
    try:
        async with serving(store) as runtime:
            yield runtime
    finally:
        await store.close()


async def create_run(store: EventStore, run_id: str, thread_id: str, user_id: str) -> None:
    request = StartRequest(run_id=run_id, thread_id=thread_id, user_id=user_id, prompt="hi")
    await store.create_run(request, fingerprint(request), ev.run_accepted(thread_id, "scripted", "m"))


async def own_bare_thread(store: EventStore, thread_id: str, user_id: str) -> None:
    assert isinstance(store, SqlStore)
    sql = store.dialect.sql(
        "INSERT INTO threads (thread_id, created_at, user_id) VALUES (?, CURRENT_TIMESTAMP, ?)"
    )

    def insert() -> Flow[Done[None]]:
        yield command(sql, (thread_id, user_id))
        return done(None)

    await store._write(insert)


def signed(
    secret: bytes = SECRET,
    *,
    ttl_s: int = 60,
    now: float | None = None,
    key_id: str | None = None,
    **claims: str | int,
) -> list[tuple[str, str]]:
    """Metadata with a fresh token; with no run/thread/user claim, a service token."""
    if not {"run_id", "thread_id", "user_id"} & set(claims):
        claims.setdefault("scope", "service")
    token = mint_token(secret, ttl_s=ttl_s, now=time.time() if now is None else now, **claims)  # type: ignore[arg-type]
    metadata = [("x-oa-runtime-signature", token)]
    return [*metadata, ("x-oa-runtime-key-id", key_id)] if key_id else metadata


async def rejection(call: Awaitable[Any]) -> tuple[grpc.StatusCode, Any]:
    """The status code and the decoded google.rpc.ErrorInfo of a failed call."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status = rpc_status.from_call(caught.value)
    assert status is not None, "no grpc-status-details-bin trailer"
    info = error_details_pb2.ErrorInfo()
    assert len(status.details) == 1 and status.details[0].Unpack(info)
    assert info.domain == ERROR_DOMAIN
    return caught.value.code(), info


async def stream_messages(call: Any) -> list[Any]:
    return [message async for message in call]


def get_run(runtime: Runtime, metadata: Sequence[tuple[str, str]] | None, run_id: str = "run-1") -> Any:
    return runtime.runs.GetRun(run_service_pb2.GetRunRequest(run_id=run_id), metadata=metadata)


async def assert_invalid_token(
    runtime: Runtime, metadata: Sequence[tuple[str, str]] | None, problem: str
) -> None:
    calls_before = len(runtime.servicer.calls)
    code, info = await rejection(get_run(runtime, metadata))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info.reason == "INVALID_TOKEN" and info.metadata["problem"] == problem
    assert len(runtime.servicer.calls) == calls_before, "the handler ran for a rejected call"


# ----- open methods -----


async def test_health_methods_need_no_token(runtime: Runtime) -> None:
    healthz = await health_service_pb2_grpc.HealthServiceStub(runtime.channel).Healthz(
        health_service_pb2.HealthzRequest()
    )
    assert healthz.status == "ok"
    check = await health_pb2_grpc.HealthStub(runtime.channel).Check(health_pb2.HealthCheckRequest())
    assert check.status == health_pb2.HealthCheckResponse.SERVING


# ----- accepted -----


async def test_valid_token_reaches_the_handler_with_its_claims(runtime: Runtime) -> None:
    response = await get_run(runtime, signed(nonce="nonce-happy", run_id="run-1"))
    assert response.run.run_id == "run-1"
    assert response.run.model == "nonce-happy"  # the handler read current_claims()


async def test_key_id_header_selects_a_rotated_secret(runtime: Runtime) -> None:
    assert await get_run(runtime, signed(OLD_SECRET, key_id="2024-old"))
    await assert_invalid_token(runtime, signed(OLD_SECRET), "bad signature")
    await assert_invalid_token(runtime, signed(OLD_SECRET, key_id="retired"), "unknown key id")


# ----- rejected: UNAUTHENTICATED -----


async def test_missing_token(runtime: Runtime) -> None:
    await assert_invalid_token(runtime, None, "missing")


async def test_bad_mac(runtime: Runtime) -> None:
    await assert_invalid_token(runtime, signed(b"not-the-secret"), "bad signature")


async def test_expired_token(runtime: Runtime) -> None:
    await assert_invalid_token(runtime, signed(now=time.time() - 61), "expired")


async def test_token_from_the_future(runtime: Runtime) -> None:
    await assert_invalid_token(runtime, signed(now=time.time() + 120), "issued in the future")


async def test_lifetime_over_ttl(runtime: Runtime) -> None:
    await assert_invalid_token(runtime, signed(ttl_s=3600), "lifetime over the maximum ttl")


async def test_malformed_and_repeated_headers(runtime: Runtime) -> None:
    await assert_invalid_token(
        runtime, [("x-oa-runtime-signature", "garbage")], "malformed: expected 3 segments"
    )
    twice = signed() + signed()
    await assert_invalid_token(runtime, twice, "malformed: repeated x-oa-runtime-signature")


async def test_reused_nonce(runtime: Runtime) -> None:
    metadata = signed(nonce="once-only")
    assert await get_run(runtime, metadata)
    await assert_invalid_token(runtime, metadata, "nonce already used")


async def test_a_start_runs_nonce_is_spent_after_the_call_when_the_handler_did_not(runtime: Runtime) -> None:
    # StartRun's nonce is left to its handler (create_run's transaction); this canned one
    # spends nothing, so the interceptor spends it after the call: still single-use.
    def start(metadata: list[tuple[str, str]], thread_id: str = "thread-9") -> Any:
        request = run_service_pb2.StartRunRequest(run_id="run-9", thread_id=thread_id)
        return runtime.runs.StartRun(request, metadata=metadata)

    metadata = signed(nonce="start-once")
    assert (await start(metadata)).status == "accepted"
    code, info = await rejection(start(metadata))
    assert (code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")
    # A call refused for another reason spends it too, and its replay is INVALID_TOKEN.
    refused = signed(nonce="start-refused", thread_id="thread-1")
    await assert_claim_mismatch(start(refused), "thread_id")
    code, info = await rejection(start(refused))
    assert (code, dict(info.metadata)) == (grpc.StatusCode.UNAUTHENTICATED, {"problem": "nonce already used"})


# ----- rejected: PERMISSION_DENIED -----


async def assert_claim_mismatch(call: Awaitable[Any], claim: str) -> None:
    code, info = await rejection(call)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "CLAIM_MISMATCH" and dict(info.metadata) == {"claim": claim}


async def test_run_id_claim_binds_the_run_read_from_the_store(runtime: Runtime) -> None:
    await assert_claim_mismatch(get_run(runtime, signed(run_id="run-1"), run_id="run-2"), "run_id")
    await assert_claim_mismatch(get_run(runtime, signed(thread_id="thread-1"), run_id="run-2"), "thread_id")
    await assert_claim_mismatch(get_run(runtime, signed(user_id=7), run_id="run-2"), "user_id")
    code, info = await rejection(get_run(runtime, signed(run_id="run-404"), run_id="run-404"))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "RUN_NOT_FOUND")


async def test_thread_and_user_claims_bind_start_run(runtime: Runtime) -> None:
    def start(metadata: list[tuple[str, str]], user_id: int = 0) -> Any:
        request = run_service_pb2.StartRunRequest(run_id="run-9", thread_id="thread-9", user_id=user_id)
        return runtime.runs.StartRun(request, metadata=metadata)

    await assert_claim_mismatch(start(signed(thread_id="thread-1")), "thread_id")
    # StartRunRequest names its user: the field binds, not the x-oa-user-id header.
    await assert_claim_mismatch(start([*signed(user_id=7), ("x-oa-user-id", "7")]), "user_id")
    # An integer claim and a string one name the same user.
    accepted = await start([*signed(thread_id="thread-9", user_id="7"), ("x-oa-user-id", "7")], user_id=7)
    assert accepted.status == "accepted"
    accepted = await start(signed(thread_id="thread-9", user_id=7), user_id=7)
    assert accepted.status == "accepted"


async def test_user_claim_and_header_bind_the_owner(runtime: Runtime) -> None:
    await assert_claim_mismatch(get_run(runtime, [*signed(user_id=7), ("x-oa-user-id", "8")]), "user_id")
    await assert_claim_mismatch(get_run(runtime, signed(user_id=8)), "user_id")
    # The header alone cannot make a caller someone else: it must be the run's owner too.
    await assert_claim_mismatch(get_run(runtime, [*signed(run_id="run-1"), ("x-oa-user-id", "8")]), "user_id")
    await assert_claim_mismatch(
        get_run(runtime, signed(run_id="run-1", guest_scope="guest-a")), "guest_scope"
    )
    bound = [
        *signed(user_id=7, guest_scope="guest-a"),
        ("x-oa-user-id", "7"),
        ("x-oa-guest-scope", "guest-a"),
    ]
    assert await get_run(runtime, bound)


async def test_a_threads_owner_is_read_from_its_row(runtime: Runtime) -> None:
    """thread-col has no run and no agent: its row alone says user 9 owns it."""
    request = run_service_pb2.GetThreadStateRequest(thread_id="thread-col")
    await assert_claim_mismatch(runtime.runs.GetThreadState(request, metadata=signed(user_id=8)), "user_id")
    listing = run_service_pb2.ListRunsRequest(thread_id="thread-col")
    await assert_claim_mismatch(runtime.runs.ListRuns(listing, metadata=signed(user_id=8)), "user_id")
    allowed = await runtime.runs.GetThreadState(request, metadata=signed(user_id=9))
    assert allowed.thread_id == "thread-col" and runtime.servicer.calls[-1] == "GetThreadState"
    unknown = run_service_pb2.GetThreadStateRequest(thread_id="thread-none")
    code, info = await rejection(runtime.runs.GetThreadState(unknown, metadata=signed(user_id=9)))
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "THREAD_NOT_FOUND")


async def test_a_token_without_binding_claims_needs_the_service_scope(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await store.open()
    await create_run(store, "run-1", "thread-1", "7")
    server = grpc.aio.server(interceptors=[ServiceTokenInterceptor(KEYRING, store)])  # default policy
    run_service_pb2_grpc.add_RunServiceServicer_to_server(CannedRunService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            runs = run_service_pb2_grpc.RunServiceStub(channel)
            for scope, problem in ((None, "no claims"), ("service", "service tokens are not enabled")):
                metadata = [
                    ("x-oa-runtime-signature", mint_token(SECRET, ttl_s=60, now=time.time(), scope=scope))
                ]
                code, info = await rejection(
                    runs.GetRun(run_service_pb2.GetRunRequest(run_id="run-1"), metadata=metadata)
                )
                assert (code, info.reason, info.metadata["problem"]) == (
                    grpc.StatusCode.PERMISSION_DENIED,
                    "UNBOUND_TOKEN",
                    problem,
                )
    finally:
        await server.stop(None)
        await store.close()


# ----- errors raised by servicers: mapped in the interceptor -----


async def test_servicer_errors_are_mapped_once_in_the_interceptor(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    cancel = runtime.runs.CancelRun(run_service_pb2.CancelRunRequest(run_id="run-1"), metadata=signed())
    code, info = await rejection(cancel)
    assert (code, info.reason, info.metadata["field"]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        "reason",
    )
    append = runtime.runs.AppendRunEvents(
        run_service_pb2.AppendRunEventsRequest(run_id="run-1"), metadata=signed()
    )
    with caplog.at_level(logging.ERROR, logger="oa_runtime.auth"):
        code, info = await rejection(append)
    assert (code, info.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == info.metadata["request_id"]]
    assert len(logged) == 1 and "a bug" in caplog.text


async def test_undecodable_request_is_malformed_before_the_token_is_read(runtime: Runtime) -> None:
    # A string field that is not UTF-8 (what Envoy sends for %FF in a path id).
    raw = b"\x0a\x02\xff\xfe"
    get = runtime.channel.unary_unary(
        "/openagents.runtime.v1.RunService/GetRun",
        request_serializer=lambda data: data,
        response_deserializer=run_service_pb2.GetRunResponse.FromString,
    )
    code, info = await rejection(get(raw))  # no token at all
    assert (code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")


# ----- streaming -----


async def test_streaming_method_is_protected_too(runtime: Runtime) -> None:
    def stream(metadata: list[tuple[str, str]] | None, run_id: str = "run-1") -> Any:
        return runtime.runs.StreamRunSse(
            run_service_pb2.StreamRunSseRequest(run_id=run_id), metadata=metadata
        )

    calls_before = runtime.servicer.calls.count("StreamRunSse")
    code, info = await rejection(stream_messages(stream(None)))
    assert (code, info.reason, info.metadata["problem"]) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_TOKEN",
        "missing",
    )
    await assert_claim_mismatch(stream_messages(stream(signed(run_id="run-7"), run_id="run-1")), "run_id")
    assert runtime.servicer.calls.count("StreamRunSse") == calls_before

    messages = await stream_messages(stream(signed(nonce="stream-nonce", run_id="run-1")))
    assert [m.body.data for m in messages] == [b": ok\n\n", b"id: 1\ndata: stream-nonce\n\n"]


async def test_context_writing_stream_handler_is_protected_too(runtime: Runtime) -> None:
    def stream(metadata: list[tuple[str, str]] | None) -> Any:
        request = run_service_pb2.StreamRunEventsRequest(run_id="run-1")
        return runtime.runs.StreamRunEvents(request, metadata=metadata)

    code, info = await rejection(stream_messages(stream(signed(b"wrong"))))
    assert (code, info.metadata["problem"]) == (grpc.StatusCode.UNAUTHENTICATED, "bad signature")
    assert "StreamRunEvents" not in runtime.servicer.calls
    messages = await stream_messages(stream(signed(run_id="run-1")))
    assert [(m.event.run_id, m.event.seq) for m in messages] == [("run-1", 1)]


# ----- failure of the nonce store, and logging -----


async def test_unavailable_nonce_store_fails_closed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await store.open()
    await store.close()  # the database is gone: a replay can no longer be ruled out
    async with serving(store) as broken:
        code, info = await rejection(get_run(broken, signed()))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert info.reason == "DEPENDENCY_UNAVAILABLE" and info.metadata["dependency"] == "database"
    assert broken.servicer.calls == []


async def test_rejections_log_the_problem_but_never_the_token(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = signed(b"leaked-secret?")
    token = metadata[0][1]
    with caplog.at_level(logging.INFO, logger="oa_runtime.auth"):
        await rejection(get_run(runtime, metadata))
    assert "method=/openagents.runtime.v1.RunService/GetRun" in caplog.text
    assert "bad signature" in caplog.text
    for secret_part in (token, *token.split(".")[1:], SECRET.decode(), "leaked-secret"):
        assert secret_part not in caplog.text


def test_every_run_service_method_has_an_access_rule() -> None:
    """A method without a rule is refused to every bound token (fail closed); this keeps the
    table complete, so a new RPC ships with its rule."""
    services = [
        run_service_pb2.DESCRIPTOR.services_by_name["RunService"],
        codex_worker_service_pb2.DESCRIPTOR.services_by_name["CodexWorkerService"],
        sync_service_pb2.DESCRIPTOR.services_by_name["SyncService"],
        artifact_service_pb2.DESCRIPTOR.services_by_name["ArtifactService"],
        agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"],
        memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"],
    ]
    methods = {f"/{service.full_name}/{method.name}" for service in services for method in service.methods}
    # The artifact RPCs are not served yet (issue 14 item 7 moves them to their own service).
    not_served = {f"/openagents.runtime.v1.MemoryService/{m}" for m in ("ListArtifacts", "FetchArtifact")}
    assert methods - not_served == set(RESOURCES)
