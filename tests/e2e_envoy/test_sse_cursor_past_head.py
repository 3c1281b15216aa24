"""SSE resumed with a cursor past the head of a running run (issue 11, repro 6), through the
real Envoy on SQLite and PostgreSQL: the stream sends the frames of the events after the
cursor once they exist, and ends with `[DONE]` when the run finishes, also when the run's
last event is at or below the cursor (before: keep-alives forever)."""

from __future__ import annotations

from tests.e2e_envoy.conftest import Gateway, SseEvent, event_seqs, frames, new_id

SLOW_PROMPT = "/tokens 40 20"


def _frame_bytes(events: list[SseEvent]) -> list[bytes]:
    return [e.raw for e in frames(events)]


async def test_last_event_id_far_past_the_head_ends_with_done(any_gateway: Gateway) -> None:
    gw = any_gateway
    run_id = new_id("far")
    await gw.start(run_id, SLOW_PROMPT)
    assert (await gw.get_run(run_id))["state"] in ("RUN_STATE_QUEUED", "RUN_STATE_RUNNING")
    resumed = await gw.stream(run_id, last_event_id=1_000_000)
    assert resumed.status == 200
    assert [e.data for e in resumed.frames] == ["[DONE]"]
    assert (await gw.get_run(run_id))["state"] == "RUN_STATE_SUCCEEDED"


async def test_cursor_just_past_the_head_sends_the_later_frames_then_done(any_gateway: Gateway) -> None:
    gw = any_gateway
    run_id = new_id("near")
    await gw.start(run_id, SLOW_PROMPT)
    cursor = int((await gw.get_run(run_id))["lastSeq"]) + 5
    resumed = await gw.stream(run_id, cursor=cursor)
    assert resumed.status == 200
    full = frames((await gw.stream(run_id)).events)
    expected = [e.raw for e, seq in zip(full, event_seqs(full), strict=True) if seq is None or seq > cursor]
    assert len(expected) > 2
    assert _frame_bytes(resumed.events) == expected
    assert resumed.frames[-1].data == "[DONE]"
