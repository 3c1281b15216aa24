"""The pure parts of artifacts: when an output is offloaded and what stands in for it, previews
that never cut a character, the reference in events and receipts, the index projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from oa_runtime.core import events as ev
from oa_runtime.core.artifacts import (
    ARTIFACT_INDEX,
    PREVIEW_BYTES,
    READ_TOOL,
    ArtifactRef,
    digest,
    offload,
    preview,
    ref_of,
)
from oa_runtime.core.tool_tasks import fold_receipts
from oa_runtime.tools.builtin import _utf8_prefix

AT = datetime(2026, 11, 30, tzinfo=UTC)


def test_only_outputs_over_the_limit_are_offloaded() -> None:
    output = json.dumps({"text": "é" * 100})
    size = len(output.encode())
    assert offload("echo", "c1", output, size) is None
    stand_in = offload("echo", "c1", output, size - 1)
    assert stand_in is not None
    assert stand_in.ref == ArtifactRef(digest(output.encode()), size, "application/json", "echo-c1.json")
    assert stand_in.data == output.encode()
    value = json.loads(stand_in.output_json)
    assert value["artifact"] == stand_in.ref.to_json() and value["truncated"] is True
    assert READ_TOOL in value["note"]
    assert offload(READ_TOOL, "c2", output, 1) is None  # a read is never offloaded itself


def test_a_preview_never_cuts_a_character() -> None:
    data = ("a" + "€" * 600).encode()  # 3-byte characters across the limit
    text = preview(data)
    assert data.startswith(text.encode()) and PREVIEW_BYTES - 3 < len(text.encode()) <= PREVIEW_BYTES
    assert _utf8_prefix("x€".encode()[:3]) == ("x", 1)
    assert _utf8_prefix("x€".encode()) == ("x€", 4)


def test_the_reference_travels_in_events_and_receipts() -> None:
    stand_in = offload("echo", "c1", json.dumps({"big": "x" * 50}), 10)
    assert stand_in is not None
    payload = {"artifact": stand_in.ref.to_json(), "output_json": stand_in.output_json}
    assert ref_of(payload) == stand_in.ref
    assert ref_of({"artifact": {"sha256": "x"}}) is None and ref_of({}) is None
    events = [
        ev.Event(
            "r1",
            1,
            "e1",
            ev.TOOL_CALL_REQUESTED,
            AT,
            {"tool_call_id": "c1", "tool_name": "echo", "input_json": ""},
        ),
        ev.Event(
            "r1",
            2,
            "e2",
            ev.TOOL_RESULT,
            AT,
            {"tool_call_id": "c1", "tool_name": "echo", "state": "succeeded", **payload},
        ),
    ]
    (receipt,) = fold_receipts("r1", events)
    assert receipt.artifact == stand_in.ref
    (indexed,) = ARTIFACT_INDEX.apply(events[1])
    assert (indexed.seq, indexed.run_id, indexed.producer) == (2, "r1", "tool:echo")
    assert indexed.preview == json.loads(stand_in.output_json)["preview"]
    other_stream = ev.Event("w1", 2, "e3", ev.TOOL_RESULT, AT, events[1].payload, stream_kind="worker")
    assert ARTIFACT_INDEX.apply(other_stream) == () and ARTIFACT_INDEX.apply(events[0]) == ()
