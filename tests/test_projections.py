"""Property: an async projection rebuilt from zero equals the incrementally built one.

Random logs of several runs; the incremental projector applies them in random
steps and sometimes repeats a step (a crash after commit, before the checkpoint
was seen); the rebuild replays the whole log into empty rows once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core import events as ev
from oa_runtime.core.projections import THREAD_MESSAGES, ThreadMessage, by_run

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENT_KINDS = st.sampled_from([ev.MESSAGE_COMPLETED, ev.MESSAGE_DELTA, ev.STEP_STARTED, ev.TOOL_RESULT])


@st.composite
def logs(draw: st.DrawFn) -> list[ev.Event]:
    """A global log: events of up to 5 runs interleaved, dense seqs per run, positions 1..n."""
    picks = draw(st.lists(st.tuples(st.integers(0, 4), EVENT_KINDS, st.text(max_size=5)), max_size=60))
    seqs: dict[str, int] = {}
    log: list[ev.Event] = []
    for position, (run, kind, text) in enumerate(picks, start=1):
        run_id = f"run-{run}"
        seqs[run_id] = seqs.get(run_id, 0) + 1
        payload = {"message_id": f"m{position}", "text": text, "role": "assistant", "delta": text}
        log.append(ev.Event(run_id, seqs[run_id], f"e{position}", kind, T0, payload, position))
    return log


def project(rows: dict[tuple[str, int], ThreadMessage], events: list[ev.Event]) -> None:
    """What the store's sink does: upsert each change by its key."""
    for event in events:
        for change in THREAD_MESSAGES.apply(event):
            rows[(change.run_id, change.seq)] = change


@given(logs(), st.lists(st.integers(1, 10), min_size=1, max_size=20), st.lists(st.booleans(), max_size=20))
@settings(max_examples=200, deadline=None)
def test_rebuilt_from_zero_equals_incremental(
    log: list[ev.Event], steps: list[int], repeats: list[bool]
) -> None:
    incremental: dict[tuple[str, int], ThreadMessage] = {}
    checkpoint = 0
    for n, size in enumerate(steps * (len(log) // max(1, sum(steps)) + 1)):
        batch = [e for e in log if e.position > checkpoint][:size]
        project(incremental, batch)
        if n < len(repeats) and repeats[n]:
            project(incremental, batch)  # the same step again: harmless
        if batch:
            checkpoint = batch[-1].position
    project(incremental, [e for e in log if e.position > checkpoint])

    rebuilt: dict[tuple[str, int], ThreadMessage] = {}
    project(rebuilt, log)

    assert incremental == rebuilt
    assert by_run(incremental.values()) == by_run(rebuilt.values())
    completed = [e for e in log if e.type == ev.MESSAGE_COMPLETED]
    assert sorted(rebuilt) == sorted((e.run_id, e.seq) for e in completed)
