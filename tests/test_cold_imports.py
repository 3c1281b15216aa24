"""A SQLite service with nothing configured starts without the libraries only some setups
need (issue 17 goal 6, cold start): they load where they are used. A fresh interpreter, since
this test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys

# Each is a few per cent of the service's import time (measured in bench/README.md).
LOADED_ON_USE = (
    "psycopg",  # the PostgreSQL store
    "psycopg_pool",
    "httpx",  # the sync sink and `oa-runtime smoke` (httpx also pulls click, rich, pygments)
    "croniter",  # agents' schedules
    "tiktoken",  # a configured memory encoding
    "opentelemetry.sdk",  # tracing, when an OTLP endpoint is configured
)


def test_starting_the_server_does_not_import_what_only_some_setups_use() -> None:
    probe = (
        "import sys, oa_runtime.cli, oa_runtime.server\n"
        f"print(' '.join(m for m in {LOADED_ON_USE!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []
