"""A throwaway PostgreSQL server for tests, built from the machine's binaries.

`start_postgres()` yields a URL; `PostgresServer` also lets a test stop and
restart the server (same port, same data) to simulate an outage. The cluster
lives in a temp dir (data, unix socket, log) with fsync off and trust auth,
and is deleted on exit. PostgreSQL refuses to run as root, so when the tests
run as root the server runs as the `postgres` (or `nobody`) user.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

_SEARCH_DIRS = ("/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


def find_postgres_bin() -> Path | None:
    """The directory holding `initdb` and `postgres`, or None."""
    candidates = [os.path.dirname(p) for p in (shutil.which("initdb"),) if p]
    for directory in [*candidates, *_SEARCH_DIRS]:
        if os.access(os.path.join(directory, "initdb"), os.X_OK) and os.access(
            os.path.join(directory, "postgres"), os.X_OK
        ):
            return Path(directory)
    return None


def _missing(reason: str) -> NoReturn:
    """No PostgreSQL here: a CI run must fail loudly, a laptop run skips."""
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, unless we are root (which initdb refuses)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """One temp-dir PostgreSQL cluster on a free loopback port."""

    def __init__(self) -> None:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            _missing("initdb/postgres not found in PATH, /usr/local/bin or /usr/lib/postgresql/*/bin")
        self.bin_dir = bin_dir
        self.port = _free_port()
        self._user = _unprivileged_user()
        # Another user must reach the dir: /tmp is world-traversable, a custom TMPDIR may not be.
        self.root = Path(tempfile.mkdtemp(prefix="oa-pg-", dir="/tmp" if self._user else None))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run_as(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def init(self) -> None:
        result = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "-A", "trust",
                "-E", "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C"},
            capture_output=True,
            check=False,
            **self._run_as(),
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def start(self) -> None:
        """Starts the server (again, after stop()) and waits until it accepts connections."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed below
        try:
            self._process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D", str(self.data_dir),
                    "-p", str(self.port),
                    "-h", "127.0.0.1",
                    "-k", str(self.root),
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                    "-c", "max_connections=200",
                ],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LC_ALL": "C"},
                **self._run_as(),
            )  # fmt: skip
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self._process.returncode}): {self.log_tail()}")
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {self.log_tail()}") from None
                time.sleep(0.05)

    def stop(self, *, discard: bool = False) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, data stays. With `discard` (the
        cluster is about to be deleted) an immediate shutdown (SIGQUIT) skips the final
        checkpoint, which after a whole session of databases takes long on a busy disk."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT if discard else signal.SIGINT)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def create_database(self, dbname: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')  # dbname comes from the test, not input
        return self.database_url(dbname)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def destroy(self) -> None:
        atexit.unregister(self.destroy)
        self.stop(discard=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        atexit.register(self.destroy)  # even if the test session dies without unwinding
        try:
            self.init()
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


@contextmanager
def start_postgres() -> Iterator[str]:
    """A running throwaway PostgreSQL; yields its URL (database `postgres`, user `postgres`)."""
    with PostgresServer() as server:
        yield server.url
