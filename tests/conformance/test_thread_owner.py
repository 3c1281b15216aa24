"""A thread keeps the user of its first run (or agent), on its row: create_run refuses another
user's run on it (NOT_THREAD_OWNER) in its own transaction, so StartRun reads nothing to
authorize it and two first runs of one thread by two users cannot both be created; authorization
reads the owner from that row (`thread_owner`). Both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from oa_runtime.core import events as ev
from oa_runtime.core.agents import events as aev
from oa_runtime.core.agents.record import AgentRecord
from oa_runtime.core.agents.spec import AgentSpec
from oa_runtime.core.errors import NotThreadOwner
from oa_runtime.core.events import NewEvent
from oa_runtime.core.records import CreateResult, StartRequest
from oa_runtime.ports import AgentDecider, EventStore
from oa_runtime.store.agents import open_agent_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.common import migrations
from oa_runtime.store.sql import Done, Flow, command, done

from .helpers import fingerprint

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _create(store: EventStore, run_id: str, thread_id: str, user_id: str) -> asyncio.Future[CreateResult]:
    request = StartRequest(run_id=run_id, thread_id=thread_id, user_id=user_id, prompt="hi", model="scripted")
    accepted = ev.run_accepted(thread_id, "scripted", f"msg-{run_id}")
    return asyncio.ensure_future(store.create_run(request, fingerprint(request), accepted))


async def test_another_users_run_on_a_thread_is_refused_and_not_written(store: EventStore) -> None:
    assert (await _create(store, "mine-1", "thread-o", "7")).created
    with pytest.raises(NotThreadOwner) as refused:
        await _create(store, "theirs", "thread-o", "8")
    assert refused.value.metadata["thread_id"] == "thread-o"
    assert await store.get_run("theirs") is None
    with pytest.raises(NotThreadOwner):  # no user is not the owner either
        await _create(store, "nobody", "thread-o", "")
    assert (await _create(store, "mine-2", "thread-o", "7")).created


async def test_two_users_starting_one_new_thread_at_once_one_wins(store: EventStore) -> None:
    outcomes = await asyncio.gather(
        _create(store, "race-7", "thread-race", "7"),
        _create(store, "race-8", "thread-race", "8"),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["CreateResult", "NotThreadOwner"]
    winner = next(o for o in outcomes if isinstance(o, CreateResult))
    runs = await store.list_runs(thread_id="thread-race", status=None, limit=10, before=None)
    assert [r.run_id for r in runs] == [winner.record.run_id]


async def test_the_owner_is_read_from_the_threads_row(store: EventStore) -> None:
    """`thread_owner` answers the row's user: a run's, an agent's, or (the only evidence) a
    row written by nothing else; None for a thread nothing was created on."""
    assert (await _create(store, "own-1", "thread-run", "7")).created
    agents = open_agent_store(store)
    await agents.update_agent(
        "own-agent", _creating(AgentSpec("own-agent", "thread-agent", user_id=9)), now=T0
    )
    insert = "INSERT INTO threads (thread_id, created_at, user_id) VALUES (?, CURRENT_TIMESTAMP, ?)"
    await _execute(store, insert, "thread-bare", "11")
    assert await store.thread_owner("thread-run") == "7"
    assert await store.thread_owner("thread-agent") == "9"
    assert await store.thread_owner("thread-bare") == "11"
    assert await store.thread_owner("thread-none") is None


async def test_migration_0015_gives_an_agents_thread_its_agents_user(store: EventStore) -> None:
    """A thread of agents from before agents owned their thread (no row, or no owner on it)
    gets its agents' user back, so authorization never sees it ownerless."""
    agents = open_agent_store(store)
    for agent_id, thread_id in (("old-a", "thread-no-row"), ("old-b", "thread-no-owner")):
        await agents.update_agent(agent_id, _creating(AgentSpec(agent_id, thread_id, user_id=5)), now=T0)
    await _execute(store, "DELETE FROM threads WHERE thread_id = ?", "thread-no-row")
    await _execute(store, "UPDATE threads SET user_id = NULL WHERE thread_id = ?", "thread-no-owner")
    assert await store.thread_owner("thread-no-row") is None
    assert await store.thread_owner("thread-no-owner") is None
    assert isinstance(store, SqlStore)
    (sql,) = [text for version, text in migrations(store.backend) if version == 15]
    for statement in _statements(sql):
        if "memory_chunks" not in statement:  # the owners' part, again (the rest adds a column)
            await _execute(store, statement)
    assert await store.thread_owner("thread-no-row") == "5"
    assert await store.thread_owner("thread-no-owner") == "5"


def _creating(spec: AgentSpec) -> AgentDecider:
    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        return [aev.agent_created(spec.to_json(), T0)]

    return decide


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def _execute(store: EventStore, sql: str, *params: str) -> None:
    assert isinstance(store, SqlStore)
    d = store.dialect

    def flow() -> Flow[Done[None]]:
        yield command(d.sql(sql) if params else sql, params)
        return done(None)

    await store._write(flow)
