"""The service as a real OS process (`oa-runtime serve`), for chaos tests that
kill -9, SIGSTOP or SIGTERM a replica. Talks to it over gRPC on loopback."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import grpc.aio
from oa_runtime.auth.token import mint_token
from openagents.runtime.v1 import health_service_pb2, health_service_pb2_grpc, run_service_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Replica:
    """One replica process. `start` again after `kill` restarts it on the same port."""

    def __init__(
        self,
        name: str,
        database_url: str,
        log_dir: Path,
        *,
        secret: str | None = None,
        env: dict[str, str] | None = None,
        python: str = sys.executable,  # another venv's interpreter runs another checkout's service
        args: tuple[str, ...] = ("-m", "oa_runtime.cli", "serve"),  # or a test's launcher (clocked_replica)
    ) -> None:
        self.args = args
        self.name = name
        self.python = python
        self.database_url = database_url
        self.secret = secret or secrets.token_hex(16)
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            **os.environ,
            "RUNTIME_DATABASE_URL": database_url,
            "RUNTIME_GRPC_PORT": str(self.port),
            "RUNTIME_SIGNING_SECRET": self.secret,
            "RUNTIME_EXECUTOR_ID": name,
            "RUNTIME_SHUTDOWN_GRACE_S": "3",
            "RUNTIME_ALLOW_SERVICE_TOKENS": "1",
            "RUNTIME_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        # Reconnect quickly while the replica restarts (gRPC's default backoff
        # starts at 1 s, which would hide how fast the service is back).
        options = [
            ("grpc.initial_reconnect_backoff_ms", 20),
            ("grpc.min_reconnect_backoff_ms", 20),
            ("grpc.max_reconnect_backoff_ms", 100),
        ]
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}", options=options)
        self.stub = run_service_pb2_grpc.RunServiceStub(self.channel)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.python, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within_s: float = 30.0) -> None:
        """Waits until /readyz answers OK (the replica listens and has claimed its runs)."""
        stub = health_service_pb2_grpc.HealthServiceStub(self.channel)
        deadline = time.monotonic() + within_s
        while True:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                await stub.Readyz(health_service_pb2.ReadyzRequest(), timeout=1)
                return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready within {within_s} s\n{self.log()}") from None
                await asyncio.sleep(0.01)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """kill -9: no handoff, no flush, leases left behind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self, within_s: float = 30.0) -> int:
        """SIGTERM and wait for a graceful exit."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(within_s)

    def md(self, **claims: str | None) -> tuple[tuple[str, str], ...]:
        """A fresh token; without run/thread/user claims a service token (see RuntimeHandle.token)."""
        if not any(claims.get(name) is not None for name in ("run_id", "thread_id", "user_id")):
            claims.setdefault("scope", "service")
        token = mint_token(self.secret.encode(), ttl_s=60, now=time.time(), **claims)
        return (("x-oa-runtime-signature", token),)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        await self.channel.close()


@asynccontextmanager
async def replica_pair(
    database_url: str, log_dir: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two ready replicas (`replica-a`, `replica-b`, one signing secret) on one database."""
    a = Replica("replica-a", database_url, log_dir, env=env)
    b = Replica("replica-b", database_url, log_dir, env=env, secret=a.secret)
    try:
        a.start()
        b.start()
        await asyncio.gather(a.ready(), b.ready())
        yield a, b
    finally:
        await a.close()
        await b.close()
