"""`python -m tests.support.clocked_replica CLOCK_FILE`: `oa-runtime serve` whose agents decide
by a clock that tests move from outside the process (the injected clock of running_runtime,
shared by replica processes that a test kills -9). The file holds the time (ISO 8601); it is
re-read when it changes. Time stands still between moves, as running_runtime's clocks do: a
slow machine cannot cross an instant the test did not move to."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from oa_runtime import logs
from oa_runtime.config import Settings
from oa_runtime.server import serve


class FileClock:
    """The time written in `path` (by `write_time`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = (-1, -1)
        self._now = datetime.min

    def __call__(self) -> datetime:
        status = self.path.stat()
        stamp = (status.st_ino, status.st_mtime_ns)  # a move replaces the file (a new inode)
        if stamp != self._stamp:
            self._stamp = stamp
            self._now = datetime.fromisoformat(self.path.read_text())
        return self._now


def write_time(path: Path, moment: datetime) -> None:
    """Moves every replica's clock to `moment` (atomically: a reader never sees half a time)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(moment.isoformat())
    os.replace(scratch, path)


def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, environ=dict(os.environ), clock=FileClock(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
