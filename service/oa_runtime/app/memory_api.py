"""Memory's use cases behind MemoryService: list, get, expand, compact now, map/reduce questions.

Streams are threads: a thread's memory summarises its runs. An agent's memory is its thread's
(its turns are runs on that thread): a request by `agent_id` is resolved to the agent's thread
through the AgentStore port (`resolve`); an unknown agent is AGENT_NOT_FOUND.

A map/reduce question is durable: its plan (the chunks mapped over) is recorded as the first
event of its stream (memory_query, <query id>), each finished map as `memory.map_done` and the
answer as `memory.reduce_done`. The runner folds that stream before each batch, so after a
crash (the runner is started again by the next GetMemoryQuery or StartMemoryQuery of the id)
no finished map is redone. Maps run `max_parallel` at a time.

Waiting for an answer (`wait_query`, the `memory_query` tool) is waiting on the question's
stream: the waiter subscribes to the broker under the query id, reads the stream, and sleeps
until an append is announced: by this replica's runner (a poke after each event) or by another
replica's (PostgreSQL NOTIFY at commit, delivered as a poke by the change listener). A slow
re-read (`recheck_s`) covers a missed notification and restarts a runner that died elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.agents.errors import AgentNotFound
from ..core.canonical import canonical_json
from ..core.errors import InvalidArgument, MemoryChunkNotFound, MemoryQueryAlreadyExists, MemoryQueryNotFound
from ..core.memory.chunks import Chunk, Level, StreamRef, Window, from_epoch_ms, to_epoch_ms
from ..core.memory.expand import Expansion
from ..core.memory.mapreduce import (
    MAP_DONE,
    REDUCE_DONE,
    MapReducePlan,
    MapTask,
    ReduceInput,
    fold,
    map_id,
    map_prompt,
    next_batch,
    plan_map_reduce,
    reduce_input,
    reduce_prompt,
)
from ..core.memory.planning import CompactionPlan
from ..core.memory.prompt import SummaryPrompt
from ..core.memory.records import (
    AGENT,
    QUERY_FAILED,
    QUERY_STARTED,
    QUERY_STREAM,
    MemoryQueryRecord,
    StoredChunk,
    thread_stream,
)
from ..engine.broker import Broker
from ..ports import AgentStore, MemoryStore, ModelError, ToolSpec
from ..tools.memory import expand_stored
from ..tools.registry import Tool, ToolContext, ToolFailed
from .memory import Compactor, summarise

log = logging.getLogger(__name__)
Spawn = Callable[[Coroutine[Any, Any, None]], None]
MAX_PAGE = 500
_QUERY_SYSTEM = "You answer questions about an agent's history from its memory summaries. Be brief."
# A waiter re-reads the whole stream when woken, so a poke need not say which seq arrived.
_ANY_SEQ = 1 << 62
QUERY_WAIT_S = 240.0  # how long the `memory_query` tool waits for its answer


@dataclass(frozen=True, slots=True)
class QueryView:
    record: MemoryQueryRecord
    state: str  # pending | mapping | reducing | done | failed
    map_count: int
    maps_done: int
    answer: str
    used_chunk_ids: tuple[str, ...]
    error: str


def page_token(chunk: Chunk) -> str:
    return f"{to_epoch_ms(chunk.window.start)}.{int(chunk.level)}.{chunk.chunk_id}"


def parse_page_token(token: str) -> tuple[int, int, str] | None:
    if not token:
        return None
    try:
        start, level, chunk_id = token.split(".", 2)
        return int(start), -int(level), chunk_id
    except ValueError:
        raise InvalidArgument("page_token", "not a token this list returned") from None


class MemoryApp:
    def __init__(
        self,
        store: MemoryStore,
        compactor: Compactor,
        spawn: Spawn,
        max_parallel_default: int = 4,
        agents: AgentStore | None = None,
        broker: Broker | None = None,
        recheck_s: float = 5.0,
    ) -> None:
        self.store = store
        self.compactor = compactor
        self.spawn = spawn
        self.max_parallel_default = max_parallel_default
        self.agents = agents
        self.broker = broker or Broker()  # the runtime's: other replicas' appends poke it
        self.recheck_s = recheck_s
        self._running: set[str] = set()  # questions whose runner is alive in this process

    async def resolve(self, stream: StreamRef) -> StreamRef:
        """The memory stream a request names: a thread as is, an agent its thread's."""
        if stream.kind != AGENT:
            return stream
        record = None if self.agents is None else await self.agents.get_agent(stream.id)
        if record is None or record.state.spec is None:
            raise AgentNotFound(stream.id)
        return thread_stream(record.state.spec.thread_id)

    # ----- chunks -----

    async def list_chunks(
        self,
        stream: StreamRef,
        level: Level | None,
        ends_after: datetime | None,
        starts_before: datetime | None,
        page_size: int,
        token: str,
    ) -> tuple[list[StoredChunk], str]:
        if not 0 <= page_size <= MAX_PAGE:
            raise InvalidArgument("page_size", f"must be 0-{MAX_PAGE}")
        limit = page_size or 100
        page = await self.store.list_chunks(
            stream,
            level=level,
            ends_after_ms=None if ends_after is None else to_epoch_ms(ends_after),
            starts_before_ms=None if starts_before is None else to_epoch_ms(starts_before),
            after=parse_page_token(token),
            limit=limit + 1,
        )
        more = len(page) > limit
        page = page[:limit]
        return page, page_token(page[-1].chunk) if more else ""

    async def get_chunk(self, chunk_id: str) -> StoredChunk:
        found = (await self.store.get_chunks([chunk_id])).get(chunk_id)
        if found is None:
            raise MemoryChunkNotFound(chunk_id)
        return found

    async def expand(self, chunk_id: str, max_depth: int, max_items: int) -> Expansion:
        """Breadth first from the chunk; one read per level reached (the children of a level)."""
        if not 0 <= max_depth <= 3:
            raise InvalidArgument("max_depth", "must be 0-3")
        if not 0 <= max_items <= 1000:
            raise InvalidArgument("max_items", "must be 0-1000")
        start = await self.get_chunk(chunk_id)
        return await expand_stored(self.store, start.chunk, max_depth, max_items or 100)

    # ----- compaction -----

    async def compact_now(self, stream: StreamRef) -> CompactionPlan:
        """Enables memory for the stream, answers what a forced compaction plans and runs it
        in the background (its chunks appear in the list as they are written)."""
        await self.store.enable_memory(stream, to_epoch_ms(self.compactor.clock()))
        plan, _ = await self.compactor.plan(stream, force=True)
        self.spawn(self._compact(stream))
        return plan

    async def _compact(self, stream: StreamRef) -> None:
        try:
            await self.compactor.compact(stream, force=True)
        except Exception:
            log.exception("memory compaction failed", extra={"stream": str(stream)})

    # ----- map/reduce questions -----

    async def start_query(
        self, query_id: str, stream: StreamRef, question: str, window: Window, max_parallel: int
    ) -> tuple[QueryView, bool]:
        if not 1 <= len(question) <= 4000:
            raise InvalidArgument("question", "must be 1-4000 characters")
        if window.end <= window.start:
            raise InvalidArgument("window_end_time", "must be after window_start_time")
        if not 0 <= max_parallel <= 16:
            raise InvalidArgument("max_parallel", "must be 0-16")
        body = {
            "question": question,
            "window": [to_epoch_ms(window.start), to_epoch_ms(window.end)],
            "max_parallel": max_parallel or self.max_parallel_default,
            "stream": str(stream),
        }
        fingerprint = hashlib.sha256(canonical_json(body).encode()).hexdigest()
        now = to_epoch_ms(self.compactor.clock())
        stored = await self.store.create_query(MemoryQueryRecord(query_id, stream, fingerprint, body, now))
        if stored.fingerprint != fingerprint:
            raise MemoryQueryAlreadyExists(query_id)
        created = stored.created_at_ms == now
        view = await self.get_query(query_id)
        return view, created

    async def get_query(self, query_id: str) -> QueryView:
        """The question's progress; a runner is (re)started for an unfinished one."""
        record = await self.store.get_query(query_id)
        if record is None:
            raise MemoryQueryNotFound(query_id)
        view = _view(record, await self.store.memory_events(QUERY_STREAM, query_id))
        if view.state not in ("done", "failed") and query_id not in self._running:
            self._running.add(query_id)
            self.spawn(self._run_query(record))
        return view

    async def wait_query(self, query_id: str, timeout_s: float) -> QueryView:
        """The question's view once it is done or failed (module docstring: woken by its
        stream's appends, here or on another replica). TimeoutError after `timeout_s`; the
        question itself goes on (a later wait, or GetMemoryQuery, finds its answer)."""
        with self.broker.subscribe(query_id) as sub:  # before the read: no append falls between
            async with asyncio.timeout(timeout_s):
                while True:
                    sub.lagging = False
                    sub.drain()
                    view = await self.get_query(query_id)
                    if view.state in ("done", "failed"):
                        return view
                    if sub.closed:  # shutting down: the caller is cancelled soon
                        await asyncio.sleep(self.recheck_s)
                    else:
                        await sub.wait(self.recheck_s)

    def _appended(self, query_id: str) -> None:
        self.broker.poke(query_id, _ANY_SEQ)

    async def _run_query(self, record: MemoryQueryRecord) -> None:
        try:
            await QueryRunner(self.store, self.compactor, record, self._appended).run()
        except Exception:
            log.exception("memory query failed", extra={"query_id": record.query_id})
        finally:
            self._running.discard(record.query_id)


def _view(record: MemoryQueryRecord, events: Sequence[Any]) -> QueryView:
    plan = next((e.payload for e in events if e.type == QUERY_STARTED), None)
    failed = next((e.payload["error"] for e in events if e.type == QUERY_FAILED), "")
    state = fold((e.type, e.payload) for e in events)
    maps = list(plan["maps"]) if plan else []
    done = sum(1 for m in maps if m[0] in state.answers)
    used = tuple(m[1] for m in maps)
    if failed:
        phase = "failed"
    elif state.answer is not None:
        phase = "done"
    elif plan is None:
        phase = "pending"
    else:
        phase = "reducing" if done == len(maps) else "mapping"
    return QueryView(record, phase, len(maps), done, state.answer or "", used if state.answer else (), failed)


class QueryRunner:
    """Runs one question to its end, resuming from its stream (module docstring)."""

    def __init__(
        self,
        store: MemoryStore,
        compactor: Compactor,
        record: MemoryQueryRecord,
        appended: Callable[[str], None] = lambda query_id: None,
    ) -> None:
        self.store = store
        self.compactor = compactor
        self.record = record
        self.body: Mapping[str, Any] = record.request
        self.appended = appended  # after each event of the question's stream is committed

    async def run(self) -> None:
        key = f"query:{self.record.query_id}"
        owner, clock = self.compactor.owner, self.compactor.clock
        ttl = int(timedelta(minutes=2).total_seconds() * 1000)
        if await self.store.claim_job(key, owner, to_epoch_ms(clock()), ttl) is None:
            return  # another replica runs it
        try:
            plan = await self._plan()
            try:
                await self._map_and_reduce(plan, key, ttl)
            except ModelError as exc:
                await self._append("failed", QUERY_FAILED, {"error": str(exc)})
        finally:
            await self.store.release_job(key, owner)

    async def _plan(self) -> MapReducePlan:
        """The recorded plan, or a new one recorded first (so a resumed run maps the same chunks)."""
        q = self.record
        start, end = (from_epoch_ms(ms) for ms in self.body["window"])
        window = Window(start, end)
        events = await self.store.memory_events(QUERY_STREAM, q.query_id)
        recorded = next((e.payload for e in events if e.type == QUERY_STARTED), None)
        if recorded is None:
            chunks = await self.store.list_chunks(
                q.stream, ends_after_ms=to_epoch_ms(start), starts_before_ms=to_epoch_ms(end), limit=100_000
            )
            plan = plan_map_reduce(
                q.query_id, self.body["question"], window, [s.chunk for s in chunks],
                max_parallel=int(self.body["max_parallel"]),
            )  # fmt: skip
            maps = [[m.map_id, m.chunk_id, int(m.level)] for m in plan.maps]
            await self._append("started", QUERY_STARTED, {"maps": maps})
            return plan
        tasks = []
        for mid, chunk_id, level in recorded["maps"]:
            tasks.append(MapTask(mid, chunk_id, Level(level), window))
        return MapReducePlan(
            q.query_id, self.body["question"], window, tuple(tasks), int(self.body["max_parallel"])
        )

    async def _map_and_reduce(self, plan: MapReducePlan, key: str, ttl: int) -> None:
        while True:
            state = fold(
                (e.type, e.payload) for e in await self.store.memory_events(QUERY_STREAM, plan.query_id)
            )
            if state.answer is not None:
                return
            batch = next_batch(plan, state)
            if not batch:
                data = reduce_input(plan, state)
                assert data is not None
                await self._reduce(data)
                return
            chunks = await self.store.get_chunks([m.chunk_id for m in batch])
            await asyncio.gather(*(self._map(plan.question, m, chunks.get(m.chunk_id)) for m in batch))
            await self.store.claim_job(key, self.compactor.owner, to_epoch_ms(self.compactor.clock()), ttl)

    async def _map(self, question: str, task: MapTask, stored: StoredChunk | None) -> None:
        if stored is None:
            answer = "nothing relevant (the chunk was removed by retention)"
        else:
            prompt = SummaryPrompt(_QUERY_SYSTEM, map_prompt(question, stored.chunk))
            answer, _ = await summarise(*self._model(), prompt, task.map_id, self.compactor.counter)
        await self._append(
            task.map_id, MAP_DONE, {"map_id": task.map_id, "chunk_id": task.chunk_id, "answer": answer}
        )

    async def _reduce(self, data: ReduceInput) -> None:
        prompt = SummaryPrompt(_QUERY_SYSTEM, reduce_prompt(data))
        key = map_id(self.record.query_id, "reduce")
        answer, _ = await summarise(*self._model(), prompt, key, self.compactor.counter)
        used = [chunk_id for chunk_id, _ in data.answers]
        await self._append("reduce", REDUCE_DONE, {"answer": answer, "used_chunk_ids": used})

    def _model(self) -> tuple[Any, str]:
        return self.compactor.models, self.compactor.settings.model

    async def _append(self, part: str, type_: str, payload: Mapping[str, Any]) -> None:
        event_id = "ev_q" + hashlib.sha256(f"{self.record.query_id}\x00{part}".encode()).hexdigest()[:32]
        if await self.store.append_memory_event(QUERY_STREAM, self.record.query_id, event_id, type_, payload):
            self.appended(self.record.query_id)


def memory_query_tool(memory: MemoryApp, wait_s: float = QUERY_WAIT_S) -> Tool:
    """`memory_query`: the model asks a question over a time range of its thread's memory; the
    answer of the durable map/reduce. Idempotent by the tool call (the query id is the call's),
    so a call run again after a restart or a retry waits for the same question, which resumes
    where it was; the engine records the call's result once. Waits `wait_s` at most."""

    async def run(args: dict[str, Any], ctx: ToolContext) -> Any:
        try:
            start = datetime.fromisoformat(str(args["window_start"]))
            end = datetime.fromisoformat(str(args["window_end"]))
        except ValueError as err:
            raise ToolFailed(f"window_start/window_end: {err}") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise ToolFailed("window_start and window_end need a UTC offset (e.g. 2026-11-30T10:00:00Z)")
        query_id = "tool." + hashlib.sha256(f"{ctx.run_id}\x00{ctx.tool_call_id}".encode()).hexdigest()[:40]
        window = Window(start.astimezone(UTC), end.astimezone(UTC))
        view, _ = await memory.start_query(
            query_id, thread_stream(ctx.thread_id), str(args["question"]), window, 0
        )
        if view.state not in ("done", "failed"):
            try:
                view = await memory.wait_query(query_id, wait_s)
            except TimeoutError:
                raise ToolFailed(
                    f"the memory query is not answered after {wait_s:g} s",
                    error_class="timeout",
                    retryable=True,
                ) from None
        if view.state == "failed":
            raise ToolFailed(f"the memory query failed: {view.error}")
        return {"answer": view.answer, "used_chunk_ids": list(view.used_chunk_ids)}

    schema = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": 4000},
            "window_start": {"type": "string"},
            "window_end": {"type": "string"},
        },
        "required": ["question", "window_start", "window_end"],
    }
    description = (
        "Answers a question over a time range of this thread's memory (ISO 8601 instants with an "
        "offset), from its summaries; cites the chunk ids used."
    )
    return Tool(ToolSpec("memory_query", description, schema), run, idempotent=True, timeout_s=wait_s + 60)
