"""RunState's cheap fold helpers (issue 17 goal 4): `evolve` is `dataclasses.replace` for
RunState, and `scalar_changes` gives what the full snapshot diff would write."""

from __future__ import annotations

import dataclasses

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core import run_state
from oa_runtime.core.messages import ChatMessage
from oa_runtime.core.run_state import RunState, RunStatus, apply, evolve
from oa_runtime.ports import AppendRequest
from oa_runtime.store.common import TRANSCRIPT_FIELD, head_from_values, plan_batch


def _running() -> RunState:
    return RunState(status=RunStatus.RUNNING, last_seq=4, message_id="m", attempt=1, step=1, step_open=True)


def test_evolve_equals_dataclasses_replace_and_refuses_unknown_fields() -> None:
    state = _running()
    transcript = (ChatMessage(role="user", content="hi"),)
    replaced = dataclasses.replace(state, last_seq=5, open_text_id="t", transcript=transcript)
    assert evolve(state, last_seq=5, open_text_id="t", transcript=transcript) == replaced
    assert evolve(state) == state and evolve(state) is not state
    with pytest.raises(TypeError, match="no_such_field"):
        evolve(state, no_such_field=1)


def test_the_field_kinds_cover_every_field_once() -> None:
    names = [f.name for f in dataclasses.fields(RunState)]
    kinds = [*run_state._SCALAR_FIELDS, *run_state._COLLECTION_FIELDS]
    assert sorted(kinds) == sorted(names)


@pytest.mark.parametrize(
    "events",
    [
        [ev.NewEvent(ev.MESSAGE_DELTA, {"message_id": "t1", "delta": "a"})],
        [ev.NewEvent(ev.MESSAGE_DELTA, {"message_id": "t1", "delta": "a"}), ev.step_finished(1, "stop")],
        [ev.NewEvent(ev.MESSAGE_COMPLETED, {"message_id": "t1", "text": "done"})],
        [ev.cancel_requested("stop", rollback=True)],
        [ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")],
    ],
)
def test_a_batch_writes_the_same_fields_as_the_full_snapshot_diff(events: list[ev.NewEvent]) -> None:
    before = _running()
    stored = before.to_json()
    stored.pop(TRANSCRIPT_FIELD)
    [update] = plan_batch([AppendRequest("r", events)], {"r": head_from_values(stored, 0)}, {}).updates
    after = before
    for event in events:
        after = apply(after, event)
    full = after.to_json()
    appended = full.pop(TRANSCRIPT_FIELD)
    assert update.fields == {k: v for k, v in full.items() if k not in stored or stored[k] != v}
    assert update.appended == appended
