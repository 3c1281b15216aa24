"""The projectors' pacing (engine/projector.py `Pacer`) and the broker's commit watchers that
wake them: a local commit starts the next round after `min_gap_s`, not after the idle wait."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from oa_runtime.core import events as ev
from oa_runtime.engine.broker import Broker
from oa_runtime.engine.projector import Pacer


def committed_event(run_id: str) -> ev.Event:
    delta = ev.message_delta("t", "x")
    return ev.Event(run_id, 1, "e-1", delta.type, datetime.now(UTC), delta.payload)


async def test_a_wake_ends_the_wait_after_the_minimum_gap() -> None:
    pacer = Pacer(idle_s=30.0, min_gap_s=0.2)
    pacer.round_begins()
    asyncio.get_running_loop().call_later(0.05, pacer.wake)
    began = time.monotonic()
    await asyncio.wait_for(pacer.wait(), 10)
    assert 0.15 <= time.monotonic() - began < 10  # the gap since the round began, not the idle wait


async def test_a_wake_during_the_round_asks_for_another() -> None:
    pacer = Pacer(idle_s=30.0, min_gap_s=0.0)
    pacer.round_begins()
    pacer.wake()  # events committed while the round ran
    await asyncio.wait_for(pacer.wait(), 10)


async def test_without_a_wake_the_round_waits_the_idle_time() -> None:
    pacer = Pacer(idle_s=0.2, min_gap_s=0.0)
    pacer.round_begins()
    began = time.monotonic()
    await pacer.wait()
    assert time.monotonic() - began >= 0.15


async def test_the_broker_tells_its_watchers_of_each_publish() -> None:
    broker = Broker()
    calls: list[int] = []
    broker.watch(lambda: calls.append(1))
    broker.publish([committed_event("run-a"), committed_event("run-b")])
    broker.publish([committed_event("run-a")])
    assert calls == [1, 1]  # once per commit, not per event
