"""The import contracts of .importlinter (run by `make lint`) bite: each one fails on a scratch
copy of the service with one violating import added, and the untouched copy passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    only = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache", "--no-logo", *only],
        cwd=root,
        # The copy comes first on the path; the editable install's finder only answers after it.
        env={**os.environ, "PYTHONPATH": str(root / "service"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("import-contracts")
    shutil.copytree(
        REPO / "service" / "oa_runtime",
        root / "service" / "oa_runtime",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


def test_the_service_as_it_is_keeps_every_contract(scratch: Path) -> None:
    result = _lint_imports(scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("core/canonical.py", "import grpc", "pure-core"),
        ("core/run_state.py", "from google.protobuf import struct_pb2", "pure-core"),
        ("core/events.py", "from openagents.runtime.v1 import run_event_pb2", "pure-core"),
        ("core/records.py", "import sqlite3", "pure-core"),
        ("core/frames.py", "import psycopg", "pure-core"),
        ("core/leases.py", "import asyncio", "pure-core"),
        ("store/common.py", "from ..api import convert", "store-below-edge"),
        ("store/sqlite.py", "from ..engine import executor", "store-below-edge"),
        ("store/postgres.py", "from openagents.runtime.v1 import run_pb2", "store-below-edge"),
        ("engine/run_loop.py", "from ..api import errors", "engine-below-api"),
        ("engine/executor.py", "import grpc", "engine-below-api"),
        ("app/runs.py", "from google.protobuf import struct_pb2", "app-without-wire-types"),
        ("app/waits.py", "from ..api import convert", "app-without-wire-types"),
        ("engine/broker.py", "from ..app import runs", "floors"),
        ("ports.py", "from .engine import executor", "floors"),
        ("models/scripted.py", "from ..store import common", "floors"),
        ("core/messages.py", "from .. import ports", "floors"),
    ],
)
def test_a_violating_import_breaks_its_contract(
    scratch: Path, module: str, violation: str, contract: str
) -> None:
    path = scratch / "service" / "oa_runtime" / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{violation}  # the violation under test\n")
        result = _lint_imports(scratch, contract)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "1 broken" in result.stdout, result.stdout
