"""Where agents meet the projections, on SQLite and PostgreSQL, with the service running:

- a rolled-back turn (an agent's `rollback` input policy) and a rolled-back run (StartRun's
  `thread_input_policy=rollback`) leave Laravel's `messages` table, though their messages were
  projected before the rollback; their `runs` rows say `rolled_back`; `reproject` finds no drift
  and a rebuild of the read models from the log gives the same tables;
- agents reach the sync sink (HTTP) and Subscribe (gRPC) as `runtime/agent_summary:<id>`
  documents and the read models' `agents` table, and `reproject` repairs a corrupted row.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import psycopg
import pytest
from oa_runtime.app.reproject import catch_up, reproject
from oa_runtime.core.read_models import LARAVEL_READ_MODELS, SUMMARY_HASH_MISMATCH
from oa_runtime.core.sync import SYNC_PROJECTION_VERSION
from oa_runtime.store import open_store
from oa_runtime.store.base import SqlStore
from openagents.runtime.v1 import agent_pb2, run_service_pb2
from openagents.runtime.v1 import sync_service_pb2 as sync_pb
from openagents.runtime.v1 import sync_service_pb2_grpc as sync_grpc

from tests.e2e.agent_helpers import OWNER, create, events_until, prompt, slept_after_turns, submit
from tests.e2e.helpers import events, start
from tests.support.runtime import RuntimeHandle, running_runtime
from tests.support.sync_sink import SyncSink, serve_sync_sink

# A first step that completes a message (a tool call ends the step), then a second step that
# streams until canceled; an agent's turn with a bounded second step (a rolled-back turn's
# frames run again in the next turn, which has to end), long enough for the next frame to
# arrive while it runs on a loaded machine.
CANCELED_LATER = '/say first words\n/tool echo {"text": "x"}\n/tokens 100000 200'
TURN_CANCELED_LATER = '/say first words\n/tool echo {"text": "x"}\n/sleep 2500'
TABLES = ("threads", "runs", "messages", "run_events", "agents")


def laravel_query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """`{t}` stands for the read models' table prefix: `laravel.` or `laravel_`."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql.format(t="laravel_"), params).fetchall()
    with psycopg.connect(database_url) as pg:
        cursor = pg.execute(sql.format(t="laravel.").replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


async def until_rows(database_url: str, sql: str, done: Callable[[list[tuple[Any, ...]]], bool]) -> None:
    """Until the read models' rows satisfy `done` (the projector runs in the service)."""
    async with asyncio.timeout(20):
        # The rows are another connection's: nothing signals them, so look again.
        while not done(laravel_query(database_url, sql)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def messages_of(database_url: str, run_id: str) -> list[str]:
    rows = laravel_query(
        database_url, "SELECT content FROM {t}messages WHERE run_id = ? ORDER BY seq", (run_id,)
    )
    return [r[0] for r in rows]


def run_rows(database_url: str) -> dict[str, tuple[Any, ...]]:
    rows = laravel_query(database_url, "SELECT run_id, status, finish_reason, message_count FROM {t}runs")
    return {r[0]: tuple(r[1:]) for r in rows}


def dump(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, sorted (a rebuild must give the same)."""
    return {
        name: sorted(laravel_query(database_url, f"SELECT * FROM {{t}}{name}"), key=repr) for name in TABLES
    }


@asynccontextmanager
async def opened_store(database_url: str) -> AsyncIterator[SqlStore]:
    """The database as `oa-runtime reproject` opens it (the service stopped: a SQLite file
    has one writing process)."""
    store = open_store(database_url)
    await store.open()
    try:
        assert isinstance(store, SqlStore)
        yield store
    finally:
        await store.close()


async def first_message(rt: RuntimeHandle, run_id: str) -> None:
    """Until the run's first message completed (read on its live stream). An agent records
    `agent.turn_started` before it creates the turn's run: NOT_FOUND until then is retried."""
    async with asyncio.timeout(20):
        while True:
            call = rt.stub.StreamRunEvents(
                run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md(run_id=run_id)
            )
            try:
                async for message in call:
                    if message.event.type == "message.completed":
                        call.cancel()
                        return
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.02)


async def first_message_projected(rt: RuntimeHandle, run_id: str) -> None:
    """The run's first message completed and is in Laravel's messages table."""
    await first_message(rt, run_id)
    await until_rows(
        rt.database_url,
        f"SELECT content FROM {{t}}messages WHERE run_id = '{run_id}'",
        lambda rows: rows == [("first words",)],
    )


async def test_rolled_back_turns_and_runs_leave_the_laravel_messages(database_url: str) -> None:
    async with running_runtime(database_url) as rt:
        # An agent turn rolled back by the agent's input policy after its first message (whether
        # the projector wrote it before the rollback is up to timing here: the conformance suite
        # covers both orders).
        await create(rt, "rb", input_policy=agent_pb2.INPUT_POLICY_ROLLBACK)
        await submit(rt, "rb", prompt("f1", TURN_CANCELED_LATER))
        await events_until(rt, "rb", lambda es: "agent.turn_started" in [e.type for e in es])
        await first_message(rt, "rb:turn:1")
        await submit(rt, "rb", prompt("f2", "/say kept"))
        seen = await events_until(rt, "rb", slept_after_turns(2))
        finished = [e.turn_finished for e in seen if e.type == "agent.turn_finished"]
        assert finished[0].rolled_back, "f2 came after turn 1 had ended: nothing was rolled back"
        # A run rolled back by a later run's thread input policy after its message was projected.
        await start(rt, "a", CANCELED_LATER, thread_id="t-rb")
        await first_message_projected(rt, "a")
        await start(
            rt,
            "b",
            "/say after",
            thread_id="t-rb",
            thread_input_policy=run_service_pb2.THREAD_INPUT_POLICY_ROLLBACK,
        )
        await events(rt, "b")
        await until_rows(
            database_url,
            "SELECT run_id FROM {t}runs WHERE status = 'succeeded'",
            lambda rows: {r[0] for r in rows} >= {"b", "rb:turn:2"},
        )
        await until_rows(
            database_url,
            "SELECT DISTINCT run_id FROM {t}messages",
            lambda rows: {r[0] for r in rows} == {"b", "rb:turn:2"},
        )
        assert messages_of(database_url, "rb:turn:1") == messages_of(database_url, "a") == []
        # rb:turn:2 ran f1 again (a rolled-back turn's frames go again), then f2.
        assert messages_of(database_url, "b") == ["after"]
        assert messages_of(database_url, "rb:turn:2") == ["first words", "kept"]
        runs = run_rows(database_url)
        assert runs["rb:turn:1"] == ("canceled", "rolled_back", 0)
        assert runs["a"] == ("canceled", "rolled_back", 0)
        assert runs["b"][:2] == ("succeeded", "stop")
    async with opened_store(database_url) as store:
        await catch_up(store)  # the service stopped: what its projector had not reached yet
        before = dump(database_url)
        report = await reproject(store)
        assert report.found == [] and report.runs_checked == 4 and report.agents_checked == 1
        await store.reset_projection(LARAVEL_READ_MODELS.name)  # a rebuild by replay, from position 0
        assert dump(database_url)["messages"] == []
        await catch_up(store, batch=7)
    assert dump(database_url) == before


def agent_docs(sink: SyncSink) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sink.documents.items() if k.startswith("runtime/agent_summary:")}


def subscribe(
    rt: RuntimeHandle, ids: list[str], metadata: tuple[tuple[str, str], ...]
) -> AsyncIterator[sync_pb.SubscribeResponse]:
    topic = sync_pb.TopicSubscription(topic=sync_pb.SYNC_TOPIC_AGENT_SUMMARIES, ids=ids)
    call: AsyncIterator[sync_pb.SubscribeResponse] = sync_grpc.SyncServiceStub(rt.channel).Subscribe(
        sync_pb.SubscribeRequest(topics=[topic]), metadata=metadata
    )
    return call


async def replayed(call: AsyncIterator[sync_pb.SubscribeResponse]) -> dict[str, sync_pb.SyncDocument]:
    docs: dict[str, sync_pb.SyncDocument] = {}
    async with asyncio.timeout(20):
        async for batch in call:
            docs |= {d.id: d for d in batch.documents}
            if batch.replay_complete:
                return docs
    raise AssertionError("the stream ended before replay_complete")


async def two_agents_one_turn(rt: RuntimeHandle, sink: SyncSink) -> int:
    """ag-1 (one turn) and ag-2 (none), both pushed to the sink: ag-1's last seq."""
    await create(rt, "ag-1", model="scripted")
    await create(rt, "ag-2")
    await submit(rt, "ag-1", prompt("f1", "/say hi"))
    last_seq = len(await events_until(rt, "ag-1", slept_after_turns(1)))

    def pushed() -> bool:
        doc = agent_docs(sink).get("runtime/agent_summary:ag-1")
        at_end = doc is not None and doc["envelope"]["seq_range"]["to"] == last_seq
        return at_end and "runtime/agent_summary:ag-2" in agent_docs(sink)

    await sink.wait_for(pushed)
    return last_seq


async def test_agents_reach_the_sync_sink_subscribe_and_the_read_models(database_url: str) -> None:
    async with (
        serve_sync_sink() as sink,
        running_runtime(database_url, {"RUNTIME_SYNC_SINK_URL": sink.url}) as rt,
    ):
        last_seq = await two_agents_one_turn(rt, sink)
        doc = agent_docs(sink)["runtime/agent_summary:ag-1"]
        assert doc["kind"] == "agent_summary" and doc["version"] == f"{SYNC_PROJECTION_VERSION}.{last_seq}"
        assert doc["envelope"]["source_ids"] == {"agent_id": "ag-1", "thread_id": "thread-ag-1"}
        payload = doc["payload"]
        assert {k: payload[k] for k in ("state", "user_id", "model", "turn_count", "last_turn_run_id")} == {
            "state": "sleeping",
            "user_id": OWNER,
            "model": "scripted",
            "turn_count": 1,
            "last_turn_run_id": "ag-1:turn:1",
        }
        assert payload["last_turn_outcome"] == "succeeded" and payload["current_run_id"] == ""
        assert payload["pause_reason"] == "" and payload["wake_at"] is None

        # Subscribe: every agent with a service token; one agent with a token bound to it.
        every = await replayed(subscribe(rt, [], rt.md()))
        assert set(every) == {"runtime/agent_summary:ag-1", "runtime/agent_summary:ag-2"}
        assert every["runtime/agent_summary:ag-1"].payload["turn_count"] == 1
        mine = await replayed(subscribe(rt, ["ag-2"], rt.md(agent_id="ag-2")))
        assert list(mine) == ["runtime/agent_summary:ag-2"]
        assert mine["runtime/agent_summary:ag-2"].payload["state"] == "sleeping"
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await replayed(subscribe(rt, ["ag-1"], rt.md(agent_id="ag-2")))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # The read models' agents table.
        await until_rows(
            database_url,
            "SELECT last_seq FROM {t}agents WHERE agent_id = 'ag-1'",
            lambda rows: rows == [(last_seq,)],
        )
        rows = laravel_query(
            database_url,
            "SELECT agent_id, thread_id, user_id, state, model, turn_count, last_turn_run_id,"
            " last_turn_outcome, pending_frame_count FROM {t}agents ORDER BY agent_id",
        )
        assert rows == [
            ("ag-1", "thread-ag-1", OWNER, "sleeping", "scripted", 1, "ag-1:turn:1", "succeeded", 0),
            ("ag-2", "thread-ag-2", OWNER, "sleeping", "", 0, "", "", 0),
        ]
    assert max(sink.deliveries.values()) == 1

    laravel_query(database_url, "UPDATE {t}agents SET state = 'running' WHERE agent_id = 'ag-2'")
    async with opened_store(database_url) as store:
        await catch_up(store)
        found = await reproject(store, agent_id="ag-2")
        assert [(d.scope, d.id, d.reason) for d in found.found] == [("agent", "ag-2", SUMMARY_HASH_MISMATCH)]
        assert (await reproject(store, reconcile=True)).ok
        assert (await reproject(store)).found == []
    assert laravel_query(database_url, "SELECT state FROM {t}agents WHERE agent_id = 'ag-2'") == [
        ("sleeping",)
    ]
