"""`python -m bench.agents [--backend sqlite|postgres] [--frames 100] [--only NAME ...]`: agent figures.

Not part of `make bench` or the test suite (nothing asserts a time). Figures printed:

* `frame_to_turn_ms` p50/p99: SubmitFrames to a sleeping agent, until `agent.turn_started` is
  read from the agent's event stream (opened before), on the replica that took the frame; and
  `frame_to_first_token_ms`: until the turn's first text delta reaches a run stream reader.
* `frame_ack_ms` p50/p99: the SubmitFrames call itself (durable before it answers).
* `frames_per_s`: frames ingested by 16 concurrent clients (batches of 1) to 16 agents whose
  input policy is enqueue (turns run meanwhile).
* `awake_frame_to_turn_ms` p50/p99: a frame to an agent whose turn is running (input policy
  interrupt: the agent's task is live and poked), until the next `agent.turn_started`.
* `cross_replica_wake_ms` p50/p99 (PostgreSQL, two `oa-runtime serve` processes): the same, with
  the frame given to replica A while replica B holds the agent, read from B's agent stream.
  `--before-tree DIR` runs the replicas from another checkout's `service/` (the figure before
  NOTIFY: `git archive 791768c service | tar -x -C DIR`).
* `schedule_fire_s`: `--instants` due cron instants (agents x minutes; one injected clock moved a
  minute at a time, two in-process replicas on PostgreSQL): the time until every agent recorded
  the minute's firing, its p50/max per minute, and duplicates / misses over all of them;
  `schedule_turns_done_s`: until every turn those firings started finished (firing is cheap,
  the turns are the work: past RUNTIME_MAX_AWAKE_AGENTS a due agent fires when a slot frees).
* For `--sleeping` agents created and asleep: `row_bytes_per_agent` (the agent row, its events
  and frame index, divided by the count; PostgreSQL: relation sizes, SQLite: dbstat), the
  claimer's cost (`claim_scan_ms`: one claim query with all of them asleep; `claimer_core_pct`:
  that at one claim a second), and `leases_held` / `tasks` (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
from oa_runtime.app.agents import Agents, create_agent
from oa_runtime.core.agents.spec import AgentSpec
from oa_runtime.ports import EventStore
from oa_runtime.store import open_store
from oa_runtime.store.agents import open_agent_store
from oa_runtime.store.base import SqlStore
from oa_runtime.store.sql import Flow, query
from openagents.runtime.v1 import agent_pb2, run_service_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb
from openagents.runtime.v1 import agent_service_pb2_grpc as pb_grpc

from tests.support.postgres import PostgresServer
from tests.support.replica import replica_pair
from tests.support.runtime import RuntimeHandle, running_runtime

from .report import percentile

ENV = {"RUNTIME_LOG_LEVEL": "WARNING"}


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1e3:.1f} ms, p99 {percentile(values, 99) * 1e3:.1f} ms"


async def _create(rt: RuntimeHandle, agent_id: str, policy: int = agent_pb2.INPUT_POLICY_ENQUEUE) -> None:
    stub = pb_grpc.AgentServiceStub(rt.channel)
    request = pb.CreateAgentRequest(agent_id=agent_id, thread_id=f"t-{agent_id}", input_policy=policy)
    await stub.CreateAgent(request, metadata=rt.md())


async def frame_latency(rt: RuntimeHandle, frames: int) -> None:
    stub = pb_grpc.AgentServiceStub(rt.channel)
    ack, turn, token = [], [], []
    for i in range(frames):
        agent_id = f"lat-{uuid.uuid4().hex[:10]}"
        await _create(rt, agent_id)
        events = stub.StreamAgentEvents(pb.StreamAgentEventsRequest(agent_id=agent_id), metadata=rt.md())
        await events.read()  # agent.created: the stream is open and live
        frame = agent_pb2.Frame(frame_id=f"f{i}", kind=agent_pb2.FRAME_KIND_USER_PROMPT, text="/say hi")
        began = time.perf_counter()
        await stub.SubmitFrames(pb.SubmitFramesRequest(agent_id=agent_id, frames=[frame]), metadata=rt.md())
        ack.append(time.perf_counter() - began)
        run_id = ""
        while not run_id:
            message = await events.read()
            if message.event.type == "agent.turn_started":
                turn.append(time.perf_counter() - began)
                run_id = message.event.turn_started.run_id
        events.cancel()
        token.append(await _first_token(rt, run_id) - began)
    print(f"  frame_ack_ms           {_ms(ack)}")
    print(f"  frame_to_turn_ms       {_ms(turn)}  (asleep, woken on the replica that took the frame)")
    print(f"  frame_to_first_token_ms {_ms(token)}")


async def _first_token(rt: RuntimeHandle, run_id: str) -> float:
    """When the turn's first text delta reached a run stream reader (the run is created just
    after `agent.turn_started` is durable: a reader may have to ask again)."""
    while True:
        run = rt.stub.StreamRunEvents(run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=rt.md())
        try:
            async for item in run:
                if item.event.type == "message.delta":
                    run.cancel()
                    return time.perf_counter()
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.001)
        else:
            raise AssertionError(f"{run_id} ended without text")


LONG_TURN = "/tokens 100000 50"  # streams until interrupted


async def _turn_started(events: grpc.aio.UnaryStreamCall[Any, Any]) -> str:
    while True:
        message = await events.read()
        if message.event.type == "agent.turn_started":
            return str(message.event.turn_started.run_id)


async def _interrupts(
    writer: pb_grpc.AgentServiceStub,
    writer_md: Callable[[], Any],
    reader: pb_grpc.AgentServiceStub,
    reader_md: Callable[[], Any],
    agent_id: str,
    frames: int,
) -> list[float]:
    """Frames given through `writer` to an agent busy with a turn (interrupt policy), each until
    the next turn starts, read from `reader`'s agent stream."""
    events = reader.StreamAgentEvents(pb.StreamAgentEventsRequest(agent_id=agent_id), metadata=reader_md())
    first = agent_pb2.Frame(frame_id="f-first", kind=agent_pb2.FRAME_KIND_USER_PROMPT, text=LONG_TURN)
    await reader.SubmitFrames(pb.SubmitFramesRequest(agent_id=agent_id, frames=[first]), metadata=reader_md())
    await _turn_started(events)  # the reader's replica took the frame: it holds the agent
    out = []
    for i in range(frames):
        await asyncio.sleep(0.05)  # the turn streams
        frame = agent_pb2.Frame(frame_id=f"f{i}", kind=agent_pb2.FRAME_KIND_USER_PROMPT, text=LONG_TURN)
        began = time.perf_counter()
        await writer.SubmitFrames(
            pb.SubmitFramesRequest(agent_id=agent_id, frames=[frame]), metadata=writer_md()
        )
        await _turn_started(events)
        out.append(time.perf_counter() - began)
    events.cancel()
    return out


async def awake_latency(rt: RuntimeHandle, frames: int) -> None:
    stub = pb_grpc.AgentServiceStub(rt.channel)
    agent_id = f"awake-{uuid.uuid4().hex[:10]}"
    await _create(rt, agent_id, agent_pb2.INPUT_POLICY_INTERRUPT)
    took = await _interrupts(stub, rt.md, stub, rt.md, agent_id, frames)
    print(f"  awake_frame_to_turn_ms {_ms(took)}  (turn running, interrupt policy, same replica)")


async def cross_replica(url: str, frames: int, tree: str | None) -> None:
    """Replica A takes the frames, replica B holds the agent (two `oa-runtime serve` processes)."""
    env = {**ENV, **({"PYTHONPATH": str(Path(tree) / "service")} if tree else {})}
    with tempfile.TemporaryDirectory(prefix="oa-bench-replicas-") as logs:
        async with replica_pair(url, Path(logs), env) as (a, b):
            agent_id = f"cross-{uuid.uuid4().hex[:10]}"
            request = pb.CreateAgentRequest(
                agent_id=agent_id, thread_id=f"t-{agent_id}", input_policy=agent_pb2.INPUT_POLICY_INTERRUPT
            )
            b_stub, a_stub = pb_grpc.AgentServiceStub(b.channel), pb_grpc.AgentServiceStub(a.channel)
            await b_stub.CreateAgent(request, metadata=b.md())
            took = await _interrupts(a_stub, a.md, b_stub, b.md, agent_id, frames)
    label = f"service from {tree}" if tree else "this checkout"
    print(f"  cross_replica_wake_ms  {_ms(took)}  (frame on A, turn on B; {label})")


async def schedule_instants(urls: list[str], instants: int, minutes: int = 5) -> None:
    """`instants` cron instants: instants/minutes agents with an every-minute schedule, the clock
    moved a minute at a time; one replica per url (in-process, one clock)."""
    count = max(1, instants // minutes)
    clock = _Clock(datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC))
    fast = {**ENV, "RUNTIME_CLAIM_INTERVAL_S": "0.05"}
    schedule = agent_pb2.Schedule(schedule_id="tick", cron="* * * * *", text="/say tick")
    fired_sql = "SELECT count(*) FROM events WHERE stream_kind = 'agent' AND type = 'agent.timer_fired'"
    finished_sql = fired_sql.replace("agent.timer_fired", "agent.turn_finished")
    async with contextlib.AsyncExitStack() as stack:
        secret = uuid.uuid4().hex
        rts = [
            await stack.enter_async_context(
                running_runtime(
                    url, {**fast, "RUNTIME_EXECUTOR_ID": f"replica-{n}"}, secret=secret, clock=clock
                )
            )
            for n, url in enumerate(urls)
        ]
        for i in range(count):
            rt = rts[i % len(rts)]
            await pb_grpc.AgentServiceStub(rt.channel).CreateAgent(
                pb.CreateAgentRequest(
                    agent_id=f"cron-{i:04d}", thread_id=f"t-cron-{i:04d}", schedules=[schedule]
                ),
                metadata=rt.md(),
            )
        took: list[float] = []
        done: list[float] = []  # until every turn of the minute finished (the work, not its start)
        for minute in range(1, minutes + 1):
            clock.now += timedelta(minutes=1)
            began = time.perf_counter()  # the claimers look every 50 ms
            while (await _sql(urls[0], fired_sql))[0][0] < count * minute:  # noqa: ASYNC110 (the database is the truth)
                await asyncio.sleep(0.005)
            took.append(time.perf_counter() - began)
            while (await _sql(urls[0], finished_sql))[0][0] < count * minute:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            done.append(time.perf_counter() - began)
        await asyncio.sleep(1.0)  # late duplicates would show now
        rows = await _sql(urls[0], fired_sql.replace("count(*)", "stream_id, payload"))
        fired = Counter((str(a), str(_json(p)["frame_id"])) for a, p in rows)
        total, distinct = sum(fired.values()), len(fired)
    print(
        f"  schedule_fire_s        {sum(took):.2f} for {count * minutes} instants"
        f" ({count} agents x {minutes} min, {len(urls)} replica(s)); per minute p50"
        f" {statistics.median(took):.2f} s, max {max(took):.2f} s;"
        f" duplicates {total - distinct}, misses {count * minutes - distinct}"
    )
    print(
        f"  schedule_turns_done_s  {sum(done):.2f} until every turn finished; per minute p50"
        f" {statistics.median(done):.2f} s, max {max(done):.2f} s"
    )


async def _sql(url: str, sql: str) -> list[Any]:
    """Rows of a read on a database a runtime has open (SQLite: beside its writer, read-only)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(
            sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        ) as db:
            return db.execute(sql).fetchall()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await (await conn.execute(sql)).fetchall()


def _json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def ingest_rate(rt: RuntimeHandle, seconds: float = 3.0, clients: int = 16) -> None:
    stub = pb_grpc.AgentServiceStub(rt.channel)
    ids = [f"rate-{uuid.uuid4().hex[:10]}" for _ in range(clients)]
    await asyncio.gather(*(_create(rt, a) for a in ids))
    count = 0
    stop = time.perf_counter() + seconds

    async def client(agent_id: str) -> None:
        nonlocal count
        n = 0
        while time.perf_counter() < stop:
            frame = agent_pb2.Frame(frame_id=f"f{n}", kind=agent_pb2.FRAME_KIND_SIGNAL, text="/say x")
            await stub.SubmitFrames(
                pb.SubmitFramesRequest(agent_id=agent_id, frames=[frame]), metadata=rt.md()
            )
            n += 1
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(client(a) for a in ids))
    rate = count / (time.perf_counter() - began)
    print(f"  frames_per_s           {rate:.0f}  ({clients} clients, turns running)")


async def sleeping(database_url: str, backend: str, count: int) -> None:
    store = open_store(database_url)
    await store.open()
    try:
        agents = Agents(open_agent_store(store), lambda: datetime.now(UTC))
        began = time.perf_counter()
        for i in range(count):
            await create_agent(agents, AgentSpec(f"sleep-{i:05d}", f"t-sleep-{i:05d}", user_id=42))
        created_s = time.perf_counter() - began
        scans = []
        for _ in range(50):
            t0 = time.perf_counter()
            claimed = await agents.store.claim_agents("bench@x", 10, now=datetime.now(UTC), limit=100)
            scans.append(time.perf_counter() - t0)
            assert not claimed
        scan_ms = statistics.median(scans) * 1e3
        row, events = await _bytes(store, backend)
        leases = await _scalar(store, backend, "SELECT count(*) FROM agents WHERE lease_owner IS NOT NULL")
        print(f"  sleeping agents        {count} (created in {created_s:.1f} s)")
        print(f"  row_bytes_per_agent    {row / count:.0f}  (the agents row with its indexes)")
        print(f"  event_bytes_per_agent  {events / count:.0f}  (its agent.created event, in the log)")
        print(f"  claim_scan_ms          {scan_ms:.2f}  claimer_core_pct {scan_ms / 10:.3f} at 1 claim/s")
        print(f"  leases_held            {leases}  tasks 0 (no executor runs here: nothing is held)")
    finally:
        await store.close()


async def _scalar(store: EventStore, backend: str, sql: str) -> int:
    assert isinstance(store, SqlStore)

    def flow() -> Flow[object]:
        rows = yield query(sql)
        return rows[0][0]

    value = await store._read(flow())
    return int(str(value or 0))


async def _bytes(store: EventStore, backend: str) -> tuple[int, int]:
    """(bytes of the agents table with its indexes, bytes of the agents' events)."""
    if backend == "postgres":
        row_sql = "SELECT pg_total_relation_size('agents')"
        event_sql = "SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM events e WHERE stream_kind = 'agent'"
    else:
        names = (
            "'agents', 'agents_created', 'agents_status_created', 'agents_wake', 'sqlite_autoindex_agents_1'"
        )
        row_sql = f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({names})"
        event_sql = (
            "SELECT sum(length(payload) + length(event_id) + length(stream_id) + length(type) + 48)"
            " FROM events WHERE stream_kind = 'agent'"
        )
    return await _scalar(store, backend, row_sql), await _scalar(store, backend, event_sql)


async def bench(backend: str, urls: list[str], args: argparse.Namespace) -> None:
    """`urls`: fresh databases (the sleeping agents, the schedules and the replicas get their own)."""
    print(f"[{backend}]")
    only = set(args.only or ["latency", "awake", "ingest", "sleeping", "schedules", "cross"])
    if only & {"latency", "awake", "ingest"}:
        async with running_runtime(urls[0], ENV) as rt:
            if "latency" in only:
                await frame_latency(rt, args.frames)
            if "awake" in only:
                await awake_latency(rt, args.frames)
            if "ingest" in only:
                await ingest_rate(rt)
    if "sleeping" in only:
        await sleeping(urls[1], backend, args.sleeping)
    if "schedules" in only:  # two replicas on PostgreSQL (one database), one on SQLite
        await schedule_instants([urls[2]] * (2 if backend == "postgres" else 1), args.instants)
    if "cross" in only and backend == "postgres":
        await cross_replica(urls[3], args.frames, args.before_tree)


async def main(args: argparse.Namespace) -> None:
    backends = args.backend or ["sqlite", "postgres"]
    with tempfile.TemporaryDirectory(prefix="oa-bench-agents-") as tmp:
        if "sqlite" in backends:
            urls = [f"sqlite:///{Path(tmp) / f'{n}.db'}" for n in range(4)]
            await bench("sqlite", urls, args)
        if "postgres" in backends:
            with PostgresServer() as server:
                urls = [server.create_database(f"agents_{uuid.uuid4().hex[:8]}") for _ in range(4)]
                await bench("postgres", urls, args)


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agents", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sleeping", type=int, default=10_000)
    parser.add_argument("--instants", type=int, default=1_000)
    parser.add_argument("--before-tree", help="run the replicas of the cross-replica figure from DIR/service")
    parser.add_argument(
        "--only", action="append", choices=["latency", "awake", "ingest", "sleeping", "schedules", "cross"]
    )
    asyncio.run(main(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
