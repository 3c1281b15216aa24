"""Which resource each RunService, CodexWorkerService, SyncService, ArtifactService,
AgentService and MemoryService method touches, read from the store.

One table for every method: a method missing here is refused (fail closed), so a new
RPC cannot ship without an access rule. Ids are validated before the store is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from ..core.agents.errors import AgentNotFound
from ..core.agents.record import AgentRecord
from ..core.agents.spec import AGENT_ID_PATTERN
from ..core.errors import (
    InternalError,
    InvalidArgument,
    MemoryChunkNotFound,
    MemoryQueryNotFound,
    NotThreadOwner,
    RunNotFound,
    ThreadNotFound,
)
from ..core.memory.records import (
    AGENT,
    THREAD,
    MemoryQueryRecord,
    StoredChunk,
    requested_stream,
    require_query_id,
)
from ..core.records import RunRecord
from ..core.validation import canonical_user_id, require_id, validate_cursor
from ..core.workers import WorkerNotFound, WorkerState
from .access import EVERY_RUN, Target

SERVICE = "/openagents.runtime.v1.RunService/"
WORKER_SERVICE = "/openagents.runtime.v1.CodexWorkerService/"
SYNC_SERVICE = "/openagents.runtime.v1.SyncService/"
# SyncTopic numbers (sync_service.proto): the auth floor sees no wire types, only their values.
_RUN_SUMMARIES, _WORKER_SUMMARIES, _AGENT_SUMMARIES = 1, 2, 3
ARTIFACT_SERVICE = "/openagents.runtime.v1.ArtifactService/"
AGENT_SERVICE = "/openagents.runtime.v1.AgentService/"
MEMORY_SERVICE = "/openagents.runtime.v1.MemoryService/"


class ResourceReader(Protocol):
    """The store reads authorization needs (EventStore implements them)."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def thread_owner(self, thread_id: str) -> str | None: ...


@runtime_checkable
class WorkerReader(Protocol):
    """The Codex worker read authorization needs (WorkerStore implements it)."""

    async def get_worker(self, worker_id: str) -> WorkerState | None: ...


@runtime_checkable
class AgentReader(Protocol):
    """The agent read authorization needs (AgentStore implements it)."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...


@runtime_checkable
class MemoryReader(Protocol):
    """The memory reads authorization needs (MemoryStore implements them)."""

    async def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]: ...

    async def get_query(self, query_id: str) -> MemoryQueryRecord | None: ...


class AuthReads:
    """The interceptor's store: nonces and run reads from the EventStore, worker reads from
    the WorkerStore, agent reads from the AgentStore, memory reads from the MemoryStore (all on
    the same database)."""

    def __init__(
        self,
        store: Any,
        workers: WorkerReader,
        agents: AgentReader | None = None,
        memory: MemoryReader | None = None,
    ) -> None:
        self._store = store
        self._workers = workers
        self._agents = agents
        self._memory = memory

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        if self._agents is None:
            raise InternalError("authorization has no agent store")
        return await self._agents.get_agent(agent_id)

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        used: bool = await self._store.use_nonce(nonce, expires_at_epoch)
        return used

    async def get_run(self, run_id: str) -> RunRecord | None:
        record: RunRecord | None = await self._store.get_run(run_id)
        return record

    async def thread_owner(self, thread_id: str) -> str | None:
        owner: str | None = await self._store.thread_owner(thread_id)
        return owner

    async def get_worker(self, worker_id: str) -> WorkerState | None:
        return await self._workers.get_worker(worker_id)

    async def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        if self._memory is None:
            raise InternalError("authorization has no memory store")
        return await self._memory.get_chunks(chunk_ids)

    async def get_query(self, query_id: str) -> MemoryQueryRecord | None:
        if self._memory is None:
            raise InternalError("authorization has no memory store")
        return await self._memory.get_query(query_id)


async def thread_owner(store: ResourceReader, thread_id: str) -> str | None:
    """The user who owns a thread, from its row: set by the run or agent that created it and
    checked by every later create in its transaction (store/flows.py `own_thread`). None for a
    thread nothing was created on."""
    return await store.thread_owner(thread_id)


async def _run(store: ResourceReader, request: Any) -> Target:
    return await _run_named(store, require_id("run_id", request.run_id))


async def _run_named(store: ResourceReader, run_id: str) -> Target:
    record = await store.get_run(run_id)
    if record is None:
        raise RunNotFound(run_id)
    return Target(record.run_id, record.thread_id, record.request.user_id)


async def _run_or_pending(store: ResourceReader, request: Any) -> Target:
    """CancelRun is accepted before the run exists (it is recorded and applied on creation)."""
    run_id = require_id("run_id", request.run_id)
    record = await store.get_run(run_id)
    if record is None:
        return Target(run_id=run_id, exists=False)
    return Target(record.run_id, record.thread_id, record.request.user_id)


async def _new_run(store: ResourceReader, request: Any) -> Target:
    run_id = require_id("run_id", request.run_id)
    thread_id = require_id("thread_id", request.thread_id)
    user_id = str(request.user_id) if request.user_id else ""
    if user_id:
        try:
            canonical_user_id(user_id)
        except ValueError as err:
            raise InvalidArgument("user_id", str(err)) from None
    # The thread's owner is checked by the store, in the create's transaction
    # (NOT_THREAD_OWNER): read here, it cost a query per start and left a race open.
    return Target(run_id, thread_id, user_id)


async def _thread(store: ResourceReader, request: Any) -> Target:
    thread_id = require_id("thread_id", request.thread_id)
    owner = await thread_owner(store, thread_id)
    if owner is None:
        raise ThreadNotFound(thread_id)
    return Target(thread_id=thread_id, owner=owner)


async def _thread_or_every_run(store: ResourceReader, request: Any) -> Target:
    """ListRuns and ListAgents: one thread's (its owner's; an empty list for a thread nothing
    was created on), or every run or agent (a service token only)."""
    if not request.thread_id:
        return EVERY_RUN
    thread_id = require_id("thread_id", request.thread_id)
    owner = await thread_owner(store, thread_id)
    return Target(thread_id=thread_id, owner=owner, exists=owner is not None)


def _worker_reader(store: ResourceReader) -> WorkerReader:
    if not isinstance(store, WorkerReader):
        raise InternalError("authorization has no worker store")
    return store


def _request_user(request: Any) -> str:
    """The `user_id` a worker request names ("" for none), canonical."""
    if not request.user_id:
        return ""
    try:
        return canonical_user_id(request.user_id)
    except ValueError as err:
        raise InvalidArgument("user_id", str(err)) from None


def _new_worker_target(worker_id: str | None, user: str) -> Target:
    """A worker not created yet: owned by the request's user if it names one (the token's
    user must then be that user), else by the token's user (nothing to compare)."""
    return Target(worker=True, worker_id=worker_id, owner=user or None, exists=bool(user))


async def _worker(store: ResourceReader, request: Any) -> Target:
    return await _worker_named(store, require_id("worker_id", request.worker_id))


async def _worker_named(store: ResourceReader, worker_id: str) -> Target:
    state = await _worker_reader(store).get_worker(worker_id)
    if state is None:
        raise WorkerNotFound(worker_id)
    return Target(owner=state.owner, worker=True, worker_id=worker_id)


async def _new_or_existing_worker(store: ResourceReader, request: Any) -> Target:
    """CreateCodexWorker: an existing worker is its owner's; a new one is the caller's."""
    user = _request_user(request)
    if not request.worker_id:
        return _new_worker_target(None, user)  # the runtime picks the id: no worker_id claim fits
    worker_id = require_id("worker_id", request.worker_id)
    state = await _worker_reader(store).get_worker(worker_id)
    if state is None:
        return _new_worker_target(worker_id, user)
    return Target(owner=state.owner, worker=True, worker_id=worker_id)


async def _users_workers(store: ResourceReader, request: Any) -> Target:
    """ListCodexWorkers: the workers of the request's user, else of the token's user."""
    return _new_worker_target(None, _request_user(request))


async def _subscription(store: ResourceReader, request: Any) -> Target:
    """Subscribe: one topic filtered to one id touches that run, worker or agent (a token bound
    to it, its thread or its owner may subscribe); anything wider touches every run and worker,
    which only a service token may (a bound token's claims never match an empty target)."""
    topics = list(request.topics)
    if len(topics) != 1 or len(topics[0].ids) != 1:
        return EVERY_RUN
    topic, only = topics[0].topic, require_id("topics[0].ids", topics[0].ids[0])
    if topic == _RUN_SUMMARIES:
        return await _run_named(store, only)
    if topic == _WORKER_SUMMARIES:
        return await _worker_named(store, only)
    if topic == _AGENT_SUMMARIES:
        record = await _agent_reader(store).get_agent(_require_agent_id(only))
        if record is None:
            raise AgentNotFound(only)
        return _agent_target(record)
    return EVERY_RUN


async def _artifact_scope(store: ResourceReader, request: Any) -> Target:
    """A run's artifacts are the run's (a token for the run reads them), a thread's are the
    thread's, an agent's the agent's (a token bound to it, its thread or its owner)."""
    named = [n for n in ("run_id", "thread_id", "agent_id") if getattr(request, n)]
    if len(named) != 1:
        raise InvalidArgument("run_id", "name exactly one of run_id, thread_id and agent_id")
    if named[0] == "run_id":
        return await _run(store, request)
    if named[0] == "thread_id":
        return await _thread(store, request)
    return await _agent(store, request)


def _agent_reader(store: ResourceReader) -> AgentReader:
    if not isinstance(store, AgentReader):
        raise InternalError("authorization has no agent store")
    return store


def _agent_target(record: AgentRecord) -> Target:
    spec = record.state.spec
    assert spec is not None
    owner = str(spec.user_id) if spec.user_id else ""
    return Target(thread_id=spec.thread_id, owner=owner, agent_id=spec.agent_id)


async def _agent(store: ResourceReader, request: Any) -> Target:
    agent_id = _require_agent_id(request.agent_id)
    record = await _agent_reader(store).get_agent(agent_id)
    if record is None:
        raise AgentNotFound(agent_id)
    return _agent_target(record)


async def _new_or_existing_agent(store: ResourceReader, request: Any) -> Target:
    """CreateAgent: an existing agent is its owner's; a new one is the request's user's, on a
    thread that user owns (or a new thread), like StartRun."""
    agent_id = _require_agent_id(request.agent_id)
    record = await _agent_reader(store).get_agent(agent_id)
    if record is not None:
        return _agent_target(record)
    thread_id = require_id("thread_id", request.thread_id)
    user = _request_user(request)
    owner = await thread_owner(store, thread_id)
    if owner is not None and owner != user:
        raise NotThreadOwner(thread_id)
    return Target(thread_id=thread_id, owner=user, agent_id=agent_id)


def _require_agent_id(agent_id: str) -> str:
    if not AGENT_ID_PATTERN.match(agent_id):
        raise InvalidArgument("agent_id", "must be 1-100 characters from [A-Za-z0-9._:-]")
    return agent_id


def _memory_reader(store: ResourceReader) -> MemoryReader:
    if not isinstance(store, MemoryReader):
        raise InternalError("authorization has no memory store")
    return store


async def _thread_memory(store: ResourceReader, thread_id: str) -> Target:
    """A thread's memory: its owner's, and that of every agent on it (`bind_thread_agent`)."""
    owner = await thread_owner(store, thread_id)
    if owner is None:
        raise ThreadNotFound(thread_id)
    return Target(thread_id=thread_id, owner=owner, thread_agents=True)


async def bind_thread_agent(store: ResourceReader, target: Target, agent_claim: str | None) -> Target:
    """A token bound to an agent touches a thread's memory when the agent lives on that thread
    (a thread can host several agents, each with its own token): the target then names the
    agent, so the agent_id claim matches. Any other agent (unknown, or on another thread) is
    left to `authorize`, which refuses the claim (CLAIM_MISMATCH)."""
    if not target.thread_agents or agent_claim is None or target.thread_id is None:
        return target
    if not AGENT_ID_PATTERN.match(agent_claim):
        return target
    record = await _agent_reader(store).get_agent(agent_claim)
    spec = None if record is None else record.state.spec
    if spec is None or spec.thread_id != target.thread_id:
        return target
    return replace(target, agent_id=agent_claim)


async def _memory_owner(store: ResourceReader, request: Any) -> Target:
    """A memory request by thread (its owner) or by agent (a token bound to the agent, its
    thread or its owner; an unknown agent is AGENT_NOT_FOUND)."""
    stream = requested_stream(request.agent_id, request.thread_id)
    if stream.kind == AGENT:
        return await _agent(store, request)
    return await _thread_memory(store, stream.id)


async def _memory_chunk(store: ResourceReader, request: Any) -> Target:
    """A chunk is its thread's: the caller must be allowed on that thread (its owner, or a
    token bound to the thread or to an agent on it)."""
    chunk_id = require_id("chunk_id", request.chunk_id)
    stored = (await _memory_reader(store).get_chunks([chunk_id])).get(chunk_id)
    if stored is None or stored.chunk.stream.kind != THREAD:
        raise MemoryChunkNotFound(chunk_id)
    return await _thread_memory(store, stored.chunk.stream.id)


async def _memory_query(store: ResourceReader, request: Any) -> Target:
    query_id = require_query_id(request.query_id)
    record = await _memory_reader(store).get_query(query_id)
    if record is None or record.stream.kind != THREAD:
        raise MemoryQueryNotFound(query_id)
    return await _thread_memory(store, record.stream.id)


Resolve = Callable[[ResourceReader, Any], Awaitable[Target]]

RESOURCES: dict[str, Resolve] = {
    SERVICE + "StartRun": _new_run,
    SERVICE + "GetRun": _run,
    SERVICE + "ListRuns": _thread_or_every_run,
    SERVICE + "CancelRun": _run_or_pending,
    SERVICE + "StreamRunSse": _run,
    SERVICE + "StreamRunEvents": _run,
    SERVICE + "AppendRunEvents": _run,
    SERVICE + "GetThreadState": _thread,
    SERVICE + "ListToolTasks": _run,
    SERVICE + "GetToolTask": _run,
    SERVICE + "DecideApproval": _run,
    SERVICE + "AnswerQuestion": _run,
    WORKER_SERVICE + "CreateCodexWorker": _new_or_existing_worker,
    WORKER_SERVICE + "ListCodexWorkers": _users_workers,
    WORKER_SERVICE + "GetCodexWorkerSnapshot": _worker,
    WORKER_SERVICE + "ControlCodexWorker": _worker,
    WORKER_SERVICE + "StopCodexWorker": _worker,
    WORKER_SERVICE + "IngestCodexWorkerEvent": _worker,
    WORKER_SERVICE + "StreamCodexWorkerSse": _worker,
    WORKER_SERVICE + "StreamCodexWorkerEvents": _worker,
    SYNC_SERVICE + "Subscribe": _subscription,
    ARTIFACT_SERVICE + "ListArtifacts": _artifact_scope,
    ARTIFACT_SERVICE + "FetchArtifact": _artifact_scope,
    AGENT_SERVICE + "CreateAgent": _new_or_existing_agent,
    AGENT_SERVICE + "GetAgent": _agent,
    AGENT_SERVICE + "ListAgents": _thread_or_every_run,
    AGENT_SERVICE + "WakeAgent": _agent,
    AGENT_SERVICE + "SleepAgent": _agent,
    AGENT_SERVICE + "SubmitFrames": _agent,
    AGENT_SERVICE + "StreamAgentEvents": _agent,
    AGENT_SERVICE + "StreamAgentSse": _agent,
    MEMORY_SERVICE + "ListMemoryChunks": _memory_owner,
    MEMORY_SERVICE + "GetMemoryChunk": _memory_chunk,
    MEMORY_SERVICE + "ExpandMemoryChunk": _memory_chunk,
    MEMORY_SERVICE + "CompactMemoryNow": _memory_owner,
    MEMORY_SERVICE + "StartMemoryQuery": _memory_owner,
    MEMORY_SERVICE + "GetMemoryQuery": _memory_query,
}


# Cursor fields a request may carry; a bad one is refused before the store is read, like
# a bad id, so a request that could never succeed costs no database work.
_CURSOR_FIELDS = ("after_seq", "cursor", "expected_previous_seq")


async def resolve_target(
    store: ResourceReader, method: str, request: Any, agent_claim: str | None = None
) -> Target | None:
    """The target of `method` on `request`; None when no rule names the method. `agent_claim`
    is the token's agent_id claim (a thread's memory admits the agents on the thread)."""
    resolve = RESOURCES.get(method)
    if resolve is None:
        return None
    for name in _CURSOR_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            validate_cursor(name, value)
    return await bind_thread_agent(store, await resolve(store, request), agent_claim)
