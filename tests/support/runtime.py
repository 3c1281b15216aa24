"""Runs the real service in-process on a loopback port, for end-to-end tests."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
import grpc.aio
from oa_runtime.auth.token import mint_token
from oa_runtime.config import Settings
from oa_runtime.server import serve
from openagents.runtime.v1 import run_service_pb2_grpc


@dataclass
class RuntimeHandle:
    port: int
    secret: str
    database_url: str
    channel: grpc.aio.Channel
    stub: run_service_pb2_grpc.RunServiceStub

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def token(self, **claims: str | int | None) -> str:
        """A fresh single-use token. Without run/thread/user claims it is a service token
        (`scope: "service"`, which test runtimes accept: RUNTIME_ALLOW_SERVICE_TOKENS=1),
        so suites about other things can act on any run; the access rules have their own
        suites (tests/e2e_envoy/test_access.py)."""
        binding = ("run_id", "thread_id", "user_id", "worker_id", "agent_id")
        if not any(claims.get(name) is not None for name in binding):
            claims.setdefault("scope", "service")
        return mint_token(self.secret.encode(), ttl_s=60, now=time.time(), **claims)  # type: ignore[arg-type]

    def md(self, **claims: str | int | None) -> tuple[tuple[str, str], ...]:
        """Call metadata with a fresh single-use token (claims bind to what the call touches)."""
        return (("x-oa-runtime-signature", self.token(**claims)),)


@asynccontextmanager
async def running_runtime(
    database_url: str,
    env: Mapping[str, str] | None = None,
    secret: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[RuntimeHandle]:
    secret = secret or secrets.token_hex(16)
    environ = {
        "RUNTIME_DATABASE_URL": database_url,
        "RUNTIME_GRPC_PORT": "0",
        "RUNTIME_SIGNING_SECRET": secret,
        "RUNTIME_SHUTDOWN_GRACE_S": "2",
        "RUNTIME_ALLOW_SERVICE_TOKENS": "1",
        **(env or {}),
    }
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(Settings.from_env(environ), environ=environ, stop=stop, on_ready=ready.set_result, clock=clock)
    )
    waiters: list[asyncio.Future[Any]] = [task, ready]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        await task
        raise RuntimeError("the service stopped before it was ready")
    port = ready.result()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RuntimeHandle(port, secret, database_url, channel, run_service_pb2_grpc.RunServiceStub(channel))
    finally:
        await channel.close()
        stop.set()
        await asyncio.wait_for(task, 30)
