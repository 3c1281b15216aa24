"""Laravel reading the read models (issue 15, tests): a run and an agent through the REST API
(Envoy + service), then `read_models_flow.php` reads `threads`, `runs`, `messages`,
`run_events` and `agents` with Laravel's query builder (Debian's illuminate/database over
PDO), configured as a Laravel app would be: on PostgreSQL the `laravel` schema
(RUNTIME_READ_MODEL_SCHEMA), on SQLite the same database file with the `laravel_` table
prefix. What PHP read must match what the API answered.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from tests.e2e_envoy.conftest import start_gateway
from tests.php.test_laravel_interop import SECRET, php_or_skip, run_flow

SCHEMA = "laravel"


def laravel_connection(database_url: str) -> dict[str, Any]:
    """The `config/database.php` connection a Laravel app would use for the read models."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        return {"driver": "sqlite", "database": url.path, "prefix": f"{SCHEMA}_"}
    return {
        "driver": "pgsql",
        "host": url.hostname,
        "port": url.port,
        "database": url.path.lstrip("/"),
        "username": url.username,
        "password": url.password or "",
        "schema": SCHEMA,
    }


def assistant_messages(thread_state: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, text) of each assistant message GetThreadState answered."""
    return [(m["id"], m["content"]) for m in thread_state["messages"] if m["role"] == "assistant"]


async def test_laravel_reads_the_read_models_the_api_describes(database_url_for_php: str) -> None:
    php = php_or_skip()
    env = {
        "RUNTIME_SIGNING_KEYS": f"runtime-v1:{SECRET}",
        "RUNTIME_ALLOW_SERVICE_TOKENS": "0",
        "RUNTIME_READ_MODEL_SCHEMA": SCHEMA,
    }
    connection = json.dumps(laravel_connection(database_url_for_php))
    async with start_gateway(database_url_for_php, env) as gw:
        report = await run_flow(php, gw.base_url, "read_models_flow.php", None, connection)

    api, read = report["api"], report["readModels"]
    run = api["run"]
    assert run["state"] == "RUN_STATE_SUCCEEDED"
    [row] = read["runs"]
    assert (row["run_id"], row["thread_id"], int(row["user_id"])) == (run["runId"], run["threadId"], 42)
    assert row["status"] == "succeeded" and row["finished_at"] is not None
    assert int(row["last_seq"]) == int(run["lastSeq"]) and int(row["step_count"]) == run["stepCount"]

    # Every event once, seqs dense from 1, as many as the API's last seq.
    events = read["runEvents"]
    assert read["eventCount"] == int(row["event_count"]) == len(events) == int(run["lastSeq"])
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.accepted" and events[-1]["type"] == "run.finished"
    assert len({e["event_id"] for e in events}) == len(events)

    answered = assistant_messages(api["thread"])
    assert [text for _, text in answered] == ["Hello from the read models", "after a tool"]
    assert [(m["message_id"], m["content"]) for m in read["messages"]] == answered
    assert int(row["message_count"]) == len(read["messages"])
    assert all(m["role"] == "assistant" and m["run_id"] == run["runId"] for m in read["messages"])

    [thread] = read["threads"]
    assert thread["last_run_id"] == run["runId"] and thread["last_status"] == "succeeded"
    assert int(thread["run_count"]) == 1 and read["userThreads"] == [run["threadId"]]

    # The agent's row in the `agents` table.
    agent, agent_row = api["agent"], read["agent"]
    assert agent["state"] == "AGENT_STATE_SLEEPING" and agent["turnCount"] == 1
    assert (agent_row["agent_id"], agent_row["thread_id"]) == (agent["agentId"], agent["threadId"])
    assert int(agent_row["user_id"]) == 42 and int(agent_row["last_seq"]) == int(agent["lastSeq"])
    assert agent_row["state"] == "sleeping" and int(agent_row["turn_count"]) == 1
    assert agent_row["last_turn_run_id"] == f"{agent['agentId']}:turn:1"
    assert agent_row["last_turn_outcome"] == "succeeded" and agent_row["current_run_id"] == ""
    assert agent_row["pause_reason"] == "" and agent_row["wake_at"] is None
    assert read["userAgents"] == [agent["agentId"]]
    assert read["turnMessages"] == ["hello from the agents table"]
