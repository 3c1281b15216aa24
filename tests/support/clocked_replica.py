"""`python -m tests.support.clocked_replica CLOCK_FILE`: `oa-runtime serve` whose agents decide
by a clock that tests move from outside the process (the injected clock of running_runtime,
shared by replica processes that a test kills -9). The file holds an offset in seconds from
the real clock; it is re-read when it changes, so time keeps flowing between moves."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oa_runtime import logs
from oa_runtime.config import Settings
from oa_runtime.server import serve


class FileClock:
    """The real clock plus the offset written in `path` (seconds, a float)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = (-1, -1)
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        status = self.path.stat()
        stamp = (status.st_ino, status.st_mtime_ns)  # a move replaces the file (a new inode)
        if stamp != self._stamp:
            self._stamp = stamp
            self._offset = timedelta(seconds=float(self.path.read_text() or 0))
        return datetime.now(UTC) + self._offset


def write_offset(path: Path, seconds: float) -> None:
    """Moves every replica's clock (atomically: a reader never sees half a number)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(repr(seconds))
    os.replace(scratch, path)


def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, environ=dict(os.environ), clock=FileClock(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
