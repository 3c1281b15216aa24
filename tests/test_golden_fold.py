"""The golden event logs folded through the pure state machine (core/run_state.py `apply`).

Each tests/golden/NAME.events.json has a NAME.state.json beside it: what every event changed
in the run state, the final state, and the event `apply` refused if it refused one. A change to
`apply` therefore shows up as a diff of these files, reviewed like code.
`UPDATE_GOLDEN=1 pytest tests/test_golden_fold.py` rewrites them deliberately (the same flag
rewrites the golden SSE bytes in test_frames.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from oa_runtime.core.errors import IllegalTransition
from oa_runtime.core.events import Event
from oa_runtime.core.run_state import RunState, apply

from tests.test_frames import GOLDEN_CASES, load_golden_events


def _expected_path(events_path: Path) -> Path:
    return events_path.with_name(events_path.name.removesuffix(".events.json") + ".state.json")


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields an event changed; a list that only grew shows just its new items (`name+`)."""
    changed: dict[str, Any] = {}
    for name, new in after.items():
        old = before.get(name)
        if name == "last_seq" or new == old:
            continue
        if isinstance(new, list) and isinstance(old, list) and new[: len(old)] == old:
            changed[f"{name}+"] = new[len(old) :]
        else:
            changed[name] = new
    return changed


def _folded(events: list[Event]) -> tuple[RunState, dict[str, Any]]:
    state = RunState()
    steps: list[dict[str, Any]] = []
    refused: dict[str, Any] | None = None
    for event in events:
        try:
            after = apply(state, event)
        except IllegalTransition as exc:
            refused = {"seq": event.seq, "type": event.type, "error": str(exc)}
            break
        steps.append({"seq": event.seq, "type": event.type, **_changes(state.to_json(), after.to_json())})
        state = after
    return state, {"steps": steps, "refused": refused, "final": state.to_json()}


@pytest.mark.parametrize("events_path", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".events.json"))
def test_a_golden_history_folds_to_its_reviewed_state(events_path: Path) -> None:
    _, got = _folded(load_golden_events(events_path))
    expected_path = _expected_path(events_path)
    text = json.dumps(got, indent=1, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(text, encoding="utf-8")
    assert expected_path.exists(), f"{expected_path.name} is missing: run UPDATE_GOLDEN=1 and review it"
    assert json.loads(expected_path.read_text(encoding="utf-8")) == got


@pytest.mark.parametrize("events_path", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".events.json"))
def test_a_golden_history_is_a_log_apply_accepts_whole(events_path: Path) -> None:
    """Golden logs are what the runtime writes (tool_roundtrip.events.json is recorded by
    tests/support/golden_recording.py), so `apply` refuses none of their events."""
    _, folded = _folded(load_golden_events(events_path))
    assert folded["refused"] is None


def test_every_expected_state_has_its_golden_history() -> None:
    orphans = {p.name for p in GOLDEN_CASES[0].parent.glob("*.state.json")} - {
        _expected_path(p).name for p in GOLDEN_CASES
    }
    assert not orphans


@pytest.mark.parametrize("events_path", GOLDEN_CASES, ids=lambda p: p.name.removesuffix(".events.json"))
def test_a_checkpoint_after_any_event_resumes_to_the_same_state(events_path: Path) -> None:
    """What recovery relies on: the JSON snapshot plus the rest of the log is the whole fold."""
    events = load_golden_events(events_path)
    final, folded = _folded(events)
    accepted = events[: len(folded["steps"])]
    for cut in range(len(accepted) + 1):
        prefix, _ = _folded(accepted[:cut])
        state = RunState.from_json(json.loads(json.dumps(prefix.to_json())))
        for event in accepted[cut:]:
            state = apply(state, event)
        assert state == final, f"resumed after seq {cut}"
