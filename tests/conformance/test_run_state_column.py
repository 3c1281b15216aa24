"""The run row's `state` column is the fold of the run's events, whatever path wrote it.

Appends plan from the stored state (and request_cancel reads it), so it must stay
complete, transcript included, through batched appends of several requests per run,
failed requests, idempotent replays and the per-request fallback taken when an event
id is re-sent. Runs on SQLite and PostgreSQL and reads the column directly.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import psycopg
from oa_runtime.core import events as ev
from oa_runtime.core.errors import FencedOff, IllegalTransition, RunNotFound, SeqConflict
from oa_runtime.core.records import AppendResult
from oa_runtime.core.run_state import RunState, RunStatus, fold
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import sqlite_path

from .helpers import append, new_run


def stored_state(store_url: str, run_id: str) -> RunState:
    if store_url.startswith("sqlite:"):
        with sqlite3.connect(sqlite_path(store_url)) as conn:
            row = conn.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        data: dict[str, Any] = json.loads(row[0])
    else:
        with psycopg.connect(store_url) as pg:
            found = pg.execute("SELECT state FROM runs WHERE run_id = %s", (run_id,)).fetchone()
            assert found is not None
            data = found[0]
    return RunState.from_json(data)


async def assert_state_is_the_fold(store: EventStore, store_url: str, run_id: str) -> RunState:
    events = await store.read_events(run_id, 0, 10_000)
    expected = fold(events)
    assert stored_state(store_url, run_id) == expected
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.status, record.last_seq, record.step_count) == (
        expected.status,
        expected.last_seq,
        expected.step,
    )
    assert (record.finish_reason, record.error_message) == (expected.finish_reason, expected.error_message)
    return expected


def step_with_tool(step: int, call_id: str) -> list[ev.NewEvent]:
    return [
        ev.step_started(step),
        ev.message_delta(f"t{step}", "thinking"),
        ev.message_completed(f"t{step}", f"text of step {step}"),
        ev.tool_call_requested(call_id, "echo", '{"x": 1}'),
        ev.step_finished(step, ev.STEP_TOOL_CALLS),
    ]


async def test_batched_appends_keep_the_whole_state_with_its_transcript(
    store: EventStore, store_url: str
) -> None:
    run_a, run_b = await new_run(store), await new_run(store)
    await append(store, AppendRequest(run_a, [ev.run_started("x", 1)]))
    await append(store, AppendRequest(run_b, [ev.run_started("x", 1)]))
    results = await store.append_many(
        [
            AppendRequest(run_a, step_with_tool(1, "call-a1")),
            AppendRequest(run_b, step_with_tool(1, "call-b1")),
            AppendRequest(run_a, [ev.tool_result("call-a1", "echo", output_json='{"ok": true}')]),
            AppendRequest(run_a, [ev.step_started(9)], expected_previous_seq=2),  # stale: nothing written
            AppendRequest(run_b, [ev.run_accepted("t", "m", "x")]),  # illegal: nothing written
            AppendRequest("no-such-run", [ev.step_started(1)]),
            AppendRequest(run_a, [*step_with_tool(2, "call-a2"), ev.external("k", {"i": 1})]),
            AppendRequest(run_b, [ev.tool_result("call-b1", "echo", error_text="boom")]),
        ]
    )
    assert [type(r) for r in results] == [
        AppendResult, AppendResult, AppendResult, SeqConflict, IllegalTransition, RunNotFound, AppendResult,
        AppendResult,
    ]  # fmt: skip
    state_a = await assert_state_is_the_fold(store, store_url, run_a)
    state_b = await assert_state_is_the_fold(store, store_url, run_b)
    assert len(state_a.transcript) == 5 and [c.id for c in state_a.pending_tool_calls] == ["call-a2"]
    assert len(state_b.transcript) == 3 and state_b.pending_tool_calls == ()

    # More batches on top of a stored transcript, then the end of the run.
    await append(store, AppendRequest(run_a, [ev.tool_result("call-a2", "echo", output_json="{}")]))
    await append(store, AppendRequest(run_a, [ev.step_started(3), ev.message_completed("t3", "done")]))
    await append(store, AppendRequest(run_a, [ev.step_finished(3, ev.STEP_STOP)]))
    await append(store, AppendRequest(run_a, [ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop")]))
    final = await assert_state_is_the_fold(store, store_url, run_a)
    assert final.status == RunStatus.SUCCEEDED and len(final.transcript) == 7


async def test_replays_fences_and_resent_event_ids_keep_the_state(store: EventStore, store_url: str) -> None:
    run_id = await new_run(store)
    completed = ev.message_completed("m1", "hello")
    first = await append(
        store, AppendRequest(run_id, [ev.step_started(1), completed], idempotency_key="k1", request_hash="h1")
    )
    # The same key in one batch twice, a fenced request, and a re-sent event id (the
    # per-request path): each resolved as alone, the state still the fold.
    results = await store.append_many(
        [
            AppendRequest(run_id, [ev.external("a", {})], idempotency_key="k2", request_hash="h2"),
            AppendRequest(run_id, [ev.external("a", {})], idempotency_key="k2", request_hash="h2"),
            AppendRequest(run_id, [ev.external("b", {})], fence=99),
            AppendRequest(run_id, [completed]),
            AppendRequest(run_id, [ev.message_completed("m2", "again")]),
        ]
    )
    assert isinstance(results[0], AppendResult) and not results[0].replayed
    assert isinstance(results[1], AppendResult) and results[1].replayed and results[1].seqs == results[0].seqs
    assert isinstance(results[2], FencedOff)
    assert isinstance(results[3], AppendResult) and results[3].replayed
    assert results[3].seqs == (first.seqs[1],)
    assert isinstance(results[4], AppendResult) and not results[4].replayed
    state = await assert_state_is_the_fold(store, store_url, run_id)
    assert [m.content for m in state.transcript] == ["hello", "again"]

    replay = await append(
        store, AppendRequest(run_id, [ev.step_started(1), completed], idempotency_key="k1", request_hash="h1")
    )
    assert replay.replayed and replay.seqs == first.seqs
    cancel = await store.request_cancel(run_id, ev.cancel_requested("stop"))
    assert cancel.recorded
    state = await assert_state_is_the_fold(store, store_url, run_id)
    assert state.cancel_requested and len(state.transcript) == 2
