"""Runs a real Envoy in front of a test's gRPC server, so suites can speak REST and SSE to it.

    with envoy_gateway(grpc_port) as base_url: ...             # sync suites
    async with async_envoy_gateway(grpc_port) as base_url: ...  # grpc.aio servers on the test loop

Envoy's ports are picked by the OS (port 0) and read back from its admin API, so parallel suites
never race for a port. Without an Envoy binary the test is skipped, or fails when CI=true.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from oa_gateway.config import GatewayConfig, build_descriptor_set, render_config
from oa_gateway.launcher import EnvoyNotFound, EnvoyProcess, find_envoy, start_envoy


def _envoy_binary_or_skip() -> Path:
    try:
        return find_envoy()
    except EnvoyNotFound as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc}: CI must run the gateway tests")
        pytest.skip(str(exc))


def _start(binary: Path, grpc_host: str, grpc_port: int, work_dir: Path) -> tuple[EnvoyProcess, str]:
    descriptor = build_descriptor_set(work_dir / "runtime.pb")
    config = GatewayConfig(
        grpc_host=grpc_host, grpc_port=grpc_port, descriptor_path=descriptor, http_port=0, admin_port=0
    )
    config_path = render_config(config, work_dir / "envoy.yaml")
    envoy = start_envoy(config_path, work_dir=work_dir, envoy_binary=binary)
    try:
        return envoy, f"http://127.0.0.1:{envoy.listener_port()}"
    except BaseException:
        envoy.stop()
        raise


@contextmanager
def envoy_gateway(grpc_port: int, grpc_host: str = "127.0.0.1") -> Iterator[str]:
    """Yields Envoy's base URL (`http://127.0.0.1:<port>`) while Envoy runs; stops it after."""
    with tempfile.TemporaryDirectory(prefix="oa-envoy-") as work_dir:
        envoy, base_url = _start(_envoy_binary_or_skip(), grpc_host, grpc_port, Path(work_dir))
        try:
            yield base_url
        finally:
            envoy.stop()


@asynccontextmanager
async def async_envoy_gateway(grpc_port: int, grpc_host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Like `envoy_gateway`, but starts and stops Envoy off the event loop: Envoy's first
    active health check must reach a grpc.aio server served by this very loop."""
    with tempfile.TemporaryDirectory(prefix="oa-envoy-") as work_dir:
        binary = _envoy_binary_or_skip()
        envoy, base_url = await asyncio.to_thread(_start, binary, grpc_host, grpc_port, Path(work_dir))
        try:
            yield base_url
        finally:
            await asyncio.to_thread(envoy.stop)
