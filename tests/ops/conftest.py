"""The operations suite's stack: the real service (SQLite) with its metrics listener, and a real
Envoy in front of it rendered the way the Kubernetes sidecar is (gateway template + stats listener)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from oa_gateway.config import GatewayConfig, build_descriptor_set, render_config
from oa_gateway.launcher import EnvoyNotFound, EnvoyProcess, find_envoy, start_envoy
from oa_runtime.ops.gateway import with_stats_listener

from tests.support.runtime import RuntimeHandle, running_runtime


def free_port() -> int:
    """A loopback port free right now (for servers that cannot report an OS-picked port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    """The path of a binary `make setup` installs; skipped without it, a failure when CI=true."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(".venv/bin").resolve()))
    if path is None:
        message = f"{name} not found (make setup installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class OpsStack:
    runtime: RuntimeHandle
    metrics_url: str  # the runtime's admin listener: GET /metrics
    base_url: str  # Envoy's REST/SSE listener
    envoy_stats_url: str  # the sidecar's stats listener: GET /stats/prometheus


def start_sidecar(grpc_port: int, work_dir: Path, stats_port: int) -> EnvoyProcess:
    try:
        binary = find_envoy()
    except EnvoyNotFound as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    admin_port = free_port()
    config = GatewayConfig(
        grpc_port=grpc_port,
        descriptor_path=build_descriptor_set(work_dir / "runtime.pb"),
        http_port=0,
        admin_port=admin_port,
    )
    path = render_config(config, work_dir / "envoy.yaml")
    rendered = with_stats_listener(
        path.read_text(), stats_port=stats_port, admin_port=admin_port, stats_host="127.0.0.1"
    )
    path.write_text(rendered)
    return start_envoy(path, work_dir=work_dir, envoy_binary=binary)


@pytest.fixture(scope="module")
async def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpsStack]:
    metrics_port = free_port()
    db = tmp_path_factory.mktemp("ops") / "runtime.db"
    env = {"RUNTIME_METRICS_PORT": str(metrics_port)}
    async with running_runtime(f"sqlite:///{db}", env=env) as runtime:
        with tempfile.TemporaryDirectory(prefix="oa-ops-envoy-") as work_dir:
            stats_port = free_port()
            envoy = await asyncio.to_thread(start_sidecar, runtime.port, Path(work_dir), stats_port)
            try:
                yield OpsStack(
                    runtime,
                    f"http://127.0.0.1:{metrics_port}/metrics",
                    f"http://127.0.0.1:{envoy.listener_port()}",
                    f"http://127.0.0.1:{stats_port}/stats/prometheus",
                )
            finally:
                await asyncio.to_thread(envoy.stop)
