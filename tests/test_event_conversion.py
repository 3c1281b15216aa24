"""event_to_proto's fast path (plain field assignment, timestamp arithmetic) gives exactly the
message the generic conversion (json_format, Timestamp.FromDatetime) gives, for every event
type, odd payload values included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.api import convert
from oa_runtime.core import events as ev

from tests.test_frames import GOLDEN_CASES, adversarial_runs, load_golden_events, make_events


def _same(event: ev.Event) -> None:
    try:
        expected = convert.event_to_proto(event, fast=False)
    except json_format.ParseError:  # a value proto cannot hold (a lone surrogate): both refuse it
        with pytest.raises(json_format.ParseError):
            convert.event_to_proto(event)
        return
    assert convert.event_to_proto(event) == expected, event


def test_golden_events_convert_as_json_format_does() -> None:
    events = [e for path in GOLDEN_CASES for e in load_golden_events(path)]
    assert len({e.type for e in events}) >= 10
    for event in events:
        _same(event)


# No deadline: the first example pays for imports and warm-up, which on a loaded machine
# has taken 340-390 ms; the property is the round trip, not its speed.
@settings(deadline=None)
@given(adversarial_runs)
def test_generated_events_convert_as_json_format_does(specs: list[tuple[str, dict[str, Any]]]) -> None:
    for event in make_events(specs):
        _same(event)


def test_odd_values_and_times_fall_back_or_convert_alike() -> None:
    moments = [
        datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0),  # naive: UTC, as Timestamp.FromDatetime reads it
    ]
    payloads: list[tuple[str, dict[str, Any]]] = [
        (ev.RUN_STARTED, {"executor_id": "e", "attempt": "3"}),  # a string number: json_format converts it
        (ev.STEP_STARTED, {"step": 2, "unknown_key": [1, 2]}),
        (ev.TOOL_RESULT, {"tool_call_id": "c", "is_error": True, "error_text": "x", "state": "failed"}),
        (
            ev.APPROVAL_REQUESTED,
            {"approval_id": "a", "tool_call_id": "c", "expire_time": "2026-01-01T00:00:00Z"},
        ),
        (ev.EXTERNAL, {"kind": "k", "data": {"n": 1, "nested": {"a": [1, "b"]}}}),
    ]
    for moment in moments:
        for type_, payload in payloads:
            _same(ev.Event("r", 1, "e1", type_, moment, payload))


@given(st.datetimes(timezones=st.just(UTC)))
def test_times_convert_exactly(moment: datetime) -> None:
    _same(ev.Event("r", 1, "e1", ev.CHECKPOINT, moment, {"covers_seq": 1}))
