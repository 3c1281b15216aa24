"""Fixtures of the Laravel interop suites."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def database_url_for_php(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.db'}"
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database(f"php_{uuid.uuid4().hex[:8]}")
    return url
