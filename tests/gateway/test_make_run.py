"""`make run` (`oa-runtime up`) is private and parallel-safe (issue 11, reproduction 14): two
instances side by side, each with its own Envoy files outside the checkout, on loopback,
with request-header and idle timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.replica import free_port

REPO = Path(__file__).resolve().parents[2]


def _start_up(tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    http_port = free_port()
    log = tmp / f"{name}.log"
    env = {
        **os.environ,
        "RUNTIME_DATABASE_URL": f"sqlite:///{tmp / name}.db",
        "RUNTIME_GRPC_PORT": str(free_port()),
        "RUNTIME_HTTP_PORT": str(http_port),
        "RUNTIME_ENVOY_ADMIN_PORT": str(free_port()),
        "RUNTIME_SIGNING_SECRET": "make-run-test-secret",
        "RUNTIME_LOG_FORMAT": "text",
        "TMPDIR": str(tmp),  # so this test can see each instance's private work directory
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "oa_runtime.cli", "up"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    return process, http_port, log


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not healthy in time:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_two_instances_run_side_by_side_privately(tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "envoy").exists() and os.environ.get("CI") != "true":
        pytest.skip("no envoy")
    checkout_gateway = REPO / "var" / "gateway"
    before = set(checkout_gateway.iterdir()) if checkout_gateway.exists() else set()
    instances = [_start_up(tmp_path, name) for name in ("a", "b")]
    try:
        for process, port, log in instances:
            _wait_healthy(port, process, log)
        work_dirs = sorted(tmp_path.glob("oa-runtime-up-*"))
        assert len(work_dirs) == 2, "each instance has its own work directory"
        for work in work_dirs:
            config = (work / "envoy.yaml").read_text()
            assert 'address: "127.0.0.1"' in config and "0.0.0.0" not in config
            assert "request_headers_timeout: 10s" in config and "idle_timeout: 60s" in config
        # Nothing of Envoy's is written into the checkout.
        after = set(checkout_gateway.iterdir()) if checkout_gateway.exists() else set()
        assert after == before
        # Loopback only: the listener is not reachable on another local address.
        for _, port, _ in instances:
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=1)
    finally:
        for process, _, _ in instances:
            process.send_signal(signal.SIGINT)
        for process, _, log in instances:
            assert process.wait(30) == 0, log.read_text()[-3000:]
    assert list(tmp_path.glob("oa-runtime-up-*")) == [], "work directories are removed on exit"
