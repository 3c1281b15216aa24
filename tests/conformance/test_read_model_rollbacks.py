"""Rolled-back runs in the Laravel read models, on both backends: whichever the projector
meets first, a run's messages or its rollback (a later run's `rollback` thread input policy,
in the run's own log; or an agent's rolled-back turn, `agent.turn_finished{rolled_back}` and
the `agent_rollbacks` index), the run ends with no messages rows and `rolled_back` in its run
row, equal to a fresh fold, and a replay from position 0 writes the same rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from oa_runtime.app.reproject import catch_up, reproject
from oa_runtime.core import events as ev
from oa_runtime.core.agent_summary import AgentTouched
from oa_runtime.core.agents import events as aev
from oa_runtime.core.read_models import LARAVEL_READ_MODELS, RunModel, RunRolledBack
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store.read_models import LaravelReadModelsSink
from oa_runtime.store.sql import Done, Flow, command, done

from .helpers import append, new_run
from .test_read_models import assert_equal_to_fold, script, sql_store


async def rolled_back_models(store: EventStore, run_ids: list[str]) -> dict[str, RunModel | None]:
    snapshot = await sql_store(store).read_model_snapshot(run_ids, threads=True)
    for run_id in run_ids:
        model = snapshot.stored[run_id]
        assert model is not None and model.messages == ()
        assert (model.run.status, model.run.finish_reason, model.run.message_count) == (
            "canceled",
            ev.FINISH_ROLLED_BACK,
            0,
        )
        assert len(model.events) == model.run.event_count > 0  # the log's rows stay
    return dict(snapshot.stored)


async def replayed_from_zero(store: EventStore, run_ids: list[str]) -> dict[str, RunModel | None]:
    await store.reset_projection(LARAVEL_READ_MODELS.name)
    await catch_up(sql_store(store), batch=3)
    return dict((await sql_store(store).read_model_snapshot(run_ids, threads=True)).stored)


async def test_a_run_rolled_back_by_a_later_run_loses_its_messages_rows(store: EventStore) -> None:
    run_id = await new_run(store, thread_id="t-rollback")
    await append(store, AppendRequest(run_id, script(run_id, 2, None)))
    await catch_up(sql_store(store))  # its messages are projected first
    projected = (await sql_store(store).read_model_snapshot([run_id], threads=False)).stored[run_id]
    assert projected is not None and len(projected.messages) == 2
    ending = [
        ev.cancel_requested("thread input", by_run_id="later", rollback=True),
        ev.run_finished(ev.OUTCOME_CANCELED, ev.FINISH_ROLLED_BACK),
    ]
    await append(store, AppendRequest(run_id, ending))
    await catch_up(sql_store(store))
    live = await rolled_back_models(store, [run_id])
    await assert_equal_to_fold(store, [run_id])
    assert (await reproject(sql_store(store), thread_id="t-rollback")).found == []
    assert await replayed_from_zero(store, [run_id]) == live  # the rollback met first this time


async def mark_agent_rollback(store: EventStore, run_id: str) -> None:
    """What an agent's rolled-back turn leaves: the `agent_rollbacks` row (written with the
    agent's `agent.turn_finished`) and that event's changes, applied to the read models."""
    s = sql_store(store)
    d = s.dialect
    finished = ev.Event(
        "agent-x", 9, uuid.uuid4().hex, aev.TURN_FINISHED, datetime.now(UTC),
        {"run_id": run_id, "rolled_back": True}, 10**9, aev.STREAM_AGENT,
    )  # fmt: skip
    changes = LARAVEL_READ_MODELS.apply(finished)
    assert changes == (RunRolledBack(run_id, 10**9), AgentTouched("agent-x", 10**9))

    def flow() -> Flow[Done[None]]:
        yield command(
            d.sql("INSERT INTO agent_rollbacks (run_id, thread_id) VALUES (?, ?)"), (run_id, "t-agent")
        )
        yield from LaravelReadModelsSink().write(d, changes)
        return done(None)

    await s._write(flow)


async def test_an_agents_rolled_back_turn_loses_its_messages_rows(store: EventStore) -> None:
    run_id = await new_run(store, thread_id="t-agent")
    await append(store, AppendRequest(run_id, script(run_id, 2, None)))
    await append(store, AppendRequest(run_id, [ev.run_finished(ev.OUTCOME_CANCELED, "canceled")]))
    await catch_up(sql_store(store))  # the turn's messages are projected before the rollback
    await mark_agent_rollback(store, run_id)
    live = await rolled_back_models(store, [run_id])
    await assert_equal_to_fold(store, [run_id])
    assert (await reproject(sql_store(store), thread_id="t-agent")).found == []
    # A replay meets the run's messages when the rollback is already indexed: never written.
    assert await replayed_from_zero(store, [run_id]) == live
    await mark_agent_rollback_again(store, run_id)
    assert dict((await sql_store(store).read_model_snapshot([run_id], threads=True)).stored) == live


async def mark_agent_rollback_again(store: EventStore, run_id: str) -> None:
    """The same changes applied twice change nothing."""
    s = sql_store(store)
    d = s.dialect

    def flow() -> Flow[Done[None]]:
        yield from LaravelReadModelsSink().write(d, [RunRolledBack(run_id, 1)])
        return done(None)

    await s._write(flow)
