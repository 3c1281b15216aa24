"""A run cut off by a service stop resumes from its log on the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openagents.runtime.v1 import run_event_pb2

from tests.e2e.helpers import events, events_so_far, start, types
from tests.support.runtime import running_runtime


async def test_unfinished_run_resumes_after_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    secret = "restart-secret"
    prompt = '/tool echo {"n": 1}\n/tokens 400 200\n/say end'
    async with running_runtime(url, secret=secret) as rt:
        await start(rt, "r1", prompt)
        for _ in range(200):  # until the second step is streaming
            evs = await events_so_far(rt, "r1")
            if types(evs).count("message.delta") >= 2:
                break
            await asyncio.sleep(0.02)
        before = await events_so_far(rt, "r1")
    assert "run.finished" not in types(before)

    async with running_runtime(url, secret=secret) as rt:
        evs = await events(rt, "r1")
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert [e.SerializeToString() for e in evs[: len(before)]] == [e.SerializeToString() for e in before]
    assert evs[-1].run_finished.outcome == run_event_pb2.RUN_OUTCOME_SUCCEEDED
    started = [e.run_started.attempt for e in evs if e.type == "run.started"]
    assert started == [1, 2]
    interrupted = [
        e
        for e in evs
        if e.type == "step.finished"
        and e.step_finished.reason == run_event_pb2.STEP_FINISH_REASON_INTERRUPTED
    ]
    assert len(interrupted) == 1
    # The recorded tool result is reused, never produced again.
    assert types(evs).count("tool.result") == 1
    assert types(evs).count("tool.call_requested") == 1
