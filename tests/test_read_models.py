"""The pure parts of the Laravel read models: the fold, the drift comparison and its
reasons, Laravel's integer user ids, and reproject's chunking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from oa_runtime.app.reproject import chunks
from oa_runtime.config import Settings
from oa_runtime.core import events as ev
from oa_runtime.core.artifacts import ARTIFACT_INDEX
from oa_runtime.core.projections import THREAD_MESSAGES
from oa_runtime.core.read_models import (
    EVENT_COUNT_MISMATCH,
    LARAVEL_READ_MODELS,
    MESSAGE_COUNT_MISMATCH,
    PROJECTION_VERSION_CHANGED,
    SUMMARY_HASH_MISMATCH,
    WATERMARK_BEHIND,
    Checkpoint,
    MessageRow,
    RunEventRow,
    RunFacts,
    RunModel,
    compare,
    compare_run,
    expected_threads,
    fold_run,
    laravel_user_id,
    summary_hash,
)
from oa_runtime.server import async_projections

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def facts(run_id: str = "r1", thread_id: str = "t1", user_id: int | None = 7) -> RunFacts:
    return RunFacts(run_id, thread_id, user_id, "scripted", "queued", 0, "", "", T0)


def log(run_id: str = "r1", *, first_position: int = 1, finished: bool = True) -> list[ev.Event]:
    new = [
        ev.run_accepted("t1", "scripted", "m"),
        ev.run_started("x", 1),
        ev.step_started(1),
        ev.message_completed("m1", "hello"),
        ev.step_finished(1, ev.STEP_STOP),
    ]
    if finished:
        new.append(ev.run_finished(ev.OUTCOME_SUCCEEDED, "stop"))
    return [
        ev.Event(run_id, i + 1, e.event_id, e.type, T0 + timedelta(seconds=i), e.payload, first_position + i)
        for i, e in enumerate(new)
    ]


def folded(run_id: str = "r1", **kwargs: bool) -> RunModel:
    model = fold_run(facts(run_id), log(run_id, **kwargs))
    assert model is not None
    return model


def test_laravel_user_ids_are_integers_or_null() -> None:
    assert laravel_user_id("123") == 123
    assert laravel_user_id(" 42 ") == 42
    assert laravel_user_id("user-1") is None
    assert laravel_user_id("") is None
    assert laravel_user_id("9" * 30) is None  # beyond BIGINT


def test_the_fold_makes_the_rows_laravel_reads() -> None:
    model = folded()
    assert model.events[0].type == ev.RUN_ACCEPTED and len(model.events) == 6
    assert model.messages == (
        MessageRow("r1", 4, 4, "t1", "m1", "assistant", "hello", T0 + timedelta(seconds=3)),
    )
    run = model.run
    assert (run.status, run.step_count, run.finish_reason) == ("succeeded", 1, "stop")
    assert (run.user_id, run.last_seq, run.event_count, run.message_count) == (7, 6, 6, 1)
    assert run.finished_at == T0 + timedelta(seconds=5) and run.updated_at == run.finished_at
    unfinished = folded(finished=False).run
    assert unfinished.status == "running" and unfinished.finished_at is None


def test_the_projection_makes_the_folds_event_and_message_rows() -> None:
    events = log()
    model = fold_run(facts(), events)
    assert model is not None
    changes = [c for e in events for c in LARAVEL_READ_MODELS.apply(e)]
    assert [c for c in changes if isinstance(c, RunEventRow)] == list(model.events)
    [message] = [c for c in changes if isinstance(c, MessageRow)]
    assert replace(message, thread_id="t1") == model.messages[0]  # the sink knows the thread


def test_each_reason() -> None:
    model = folded()
    assert compare_run("r1", model, model, watermark=6) == []
    behind = compare_run("r1", model, model, watermark=5)
    assert [(d.reason, d.expected, d.actual) for d in behind] == [(WATERMARK_BEHIND, 6, 5)]
    dropped = replace(model, events=model.events[:-2])
    assert [(d.reason, d.expected, d.actual) for d in compare_run("r1", model, dropped, 6)] == [
        (EVENT_COUNT_MISMATCH, 6, 4)
    ]
    miscounted = replace(model, run=replace(model.run, event_count=9))
    assert [(d.reason, d.actual) for d in compare_run("r1", model, miscounted, 6)] == [
        (EVENT_COUNT_MISMATCH, 9)
    ]
    no_message = replace(model, messages=())
    assert [d.reason for d in compare_run("r1", model, no_message, 6)] == [MESSAGE_COUNT_MISMATCH]
    wrong_status = replace(model, run=replace(model.run, status="running"))
    [drift] = compare_run("r1", model, wrong_status, 6)
    assert drift.reason == SUMMARY_HASH_MISMATCH
    assert (drift.expected, drift.actual) == (summary_hash(model), summary_hash(wrong_status))
    assert [d.reason for d in compare_run("r1", model, None, 6)] == [EVENT_COUNT_MISMATCH]


def test_another_version_is_one_drift_for_everything() -> None:
    model = folded()
    drifts = compare({"r1": model}, {"r1": None}, {}, {}, Checkpoint(LARAVEL_READ_MODELS.version + 1, 0), 1)
    assert [(d.scope, d.reason) for d in drifts] == [("projection", PROJECTION_VERSION_CHANGED)]
    never_ran = compare({"r1": model}, {"r1": None}, {}, {}, Checkpoint(None, 0), 1)
    assert [d.reason for d in never_ran] == [WATERMARK_BEHIND]


def test_thread_rows_follow_their_latest_run() -> None:
    first = folded("r1")
    second = fold_run(
        replace(facts("r2", user_id=8), created_at=T0 + timedelta(hours=1)), log("r2", first_position=7)
    )
    assert second is not None
    [(thread_id, row)] = expected_threads({"r1": first, "r2": second}).items()
    assert row is not None and thread_id == "t1"
    assert (row.run_count, row.last_run_id, row.user_id, row.created_at) == (2, "r2", 8, T0)
    stale = replace(row, run_count=1)
    drifts = compare(
        {"r1": first, "r2": second},
        {"r1": first, "r2": second},
        {"t1": row},
        {"t1": stale},
        Checkpoint(1, 12),
        1,
    )
    assert [(d.scope, d.id, d.reason) for d in drifts] == [("thread", "t1", SUMMARY_HASH_MISMATCH)]


def test_chunks_never_split_a_thread() -> None:
    scope = [("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C"), ("c2", "C"), ("c3", "C")]
    assert chunks(scope, size=3) == [["a1", "a2", "b1"], ["c1", "c2", "c3"]]
    assert chunks(scope, size=2) == [["a1", "a2"], ["b1"], ["c1", "c2", "c3"]]
    assert chunks([], size=2) == []


def test_the_read_models_projection_is_on_by_default_and_can_be_turned_off() -> None:
    assert async_projections(Settings.from_env({})) == [THREAD_MESSAGES, ARTIFACT_INDEX, LARAVEL_READ_MODELS]
    assert async_projections(Settings.from_env({"RUNTIME_READ_MODELS": "0"})) == [
        THREAD_MESSAGES,
        ARTIFACT_INDEX,
    ]
