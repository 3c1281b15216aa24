"""The ports: one Protocol per outside dependency, with one conformance suite each.

Adapters live in `store/` (every store port, one class per database) and
`models/` (ModelProvider); tests in `tests/conformance/` run each port's suite
against every adapter. The store ports are split by job (event log, run queries,
checkpoints, nonces, leases, change feed, projections); `EventStore` is a
database that serves them all, and code should ask for the narrowest it needs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .core.admission import PlanStart
from .core.agents.record import AgentRecord
from .core.agents.state import AgentStatus
from .core.artifacts import Artifact, ArtifactScope, PageKey
from .core.events import Event, NewEvent
from .core.leases import Lease
from .core.memory.chunks import Level, StreamRef
from .core.memory.context import ChunkPage, ContextPolicy
from .core.memory.records import MemoryQueryRecord, StoredChunk, TurnContext
from .core.memory.tokens import TokenCounter
from .core.messages import ChatMessage, ToolCall
from .core.projections import Projection, ProjectionStep
from .core.read_models import AgentSnapshot, RunModel, Snapshot
from .core.records import (
    AppendResult,
    CancelResult,
    CheckpointRecord,
    CreateResult,
    NonceToSpend,
    RunRecord,
    StartRequest,
)
from .core.run_retention import RetentionCandidate, StreamCandidate, Sweep
from .core.run_state import RunState, RunStatus
from .core.sync import Serving, SinkBatch, SyncDocument, SyncStep
from .core.workers import PriorRequest, WorkerDecision, WorkerEvent, WorkerState, WorkerStatus


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One append of events to one run's log, as the writer batches them.

    Semantics every store implements:
    - The events get dense seqs last_seq+1 .. last_seq+n in one transaction, and
      the run row's summary (status, last_seq, step_count, finish fields) is
      updated from them with the pure `run_state.apply`, which rejects illegal
      events (IllegalTransition, nothing written).
    - `expected_previous_seq`: if set and not equal to the run's last seq,
      SeqConflict(current_seq=…), nothing written.
    - `idempotency_key`: if the key was already used for this run with the same
      `request_hash`, the original seqs come back with replayed=True and nothing
      is written; with a different hash, IdempotencyKeyReused.
    - An unknown run: RunNotFound.
    - `fence`: an executor's lease token; if it is not the run's current token
      (another replica took the run over), FencedOff, nothing written.
    """

    run_id: str
    events: Sequence[NewEvent]
    expected_previous_seq: int | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    fence: int | None = None


class ChangeHandler(Protocol):
    """Receives what other replicas changed (see EventStore.listen)."""

    def on_appended(self, run_id: str, seq: int) -> None:
        """Run `run_id` has durable events up to `seq`."""

    def on_cancel(self, run_id: str) -> None:
        """A cancel was recorded for `run_id`."""

    def on_runnable(self) -> None:
        """Leases were released or runs created that nobody executes yet: claim now."""

    def on_resync(self) -> None:
        """Notifications may have been missed (listener reconnected): poll everything."""


@runtime_checkable
class AgentChangeHandler(ChangeHandler, Protocol):
    """A ChangeHandler that also hears of agents' streams (engine/agent_wake.py)."""

    def on_agent_appended(self, agent_id: str, seq: int, due: bool) -> None:
        """Agent `agent_id` has durable events up to `seq`; `due`: it needs an executor now
        and the writer's transaction left it unleased (claim it)."""


class EventLog(Protocol):
    """The append-only log: streams of events with dense seqs and a global position."""

    async def create_run(
        self,
        request: StartRequest,
        fingerprint: str,
        accepted: NewEvent,
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 10.0,
        plan_start: PlanStart | None = None,
        nonce: NonceToSpend | None = None,
    ) -> CreateResult:
        """Creates the thread (if new), the run and its seq-1 `accepted` event in one transaction.
        `nonce` (the request token's) is spent in it too: InvalidToken when it is live; marked
        `spent` once the transaction committed (a repeat of an existing run included).
        With `lease_owner`, a run created here is leased to it in the same transaction
        (token 1), so the replica that accepted a run executes it and no peer's claimer
        takes it in between.

        With `plan_start` (core/admission.py), the thread's latest unfinished run is read in
        the same transaction and the plan decides: start now (the lease as above), wait
        behind that run (no lease; claims skip the run until that run has ended), wait for
        an executor slot (no lease), each with a `run.queued` event after `accepted`; or
        refuse (the plan raises, nothing is written). The plan is in the result.

        A run id that exists with the same fingerprint returns it with created=False;
        with a different fingerprint, RunAlreadyExists. A cancel recorded earlier for
        this run id (see `request_cancel`) is appended as seq 2 in the same transaction.
        """

    async def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult | Exception]:
        """Applies many appends (of any runs) in as few transactions as possible (group commit).

        Each request succeeds or fails alone: a failed one writes nothing and its
        slot holds the DomainError; the others commit. Every event written gets the
        next global position, in commit order (see `read_log`).
        """

    async def request_cancel(self, run_id: str, event: NewEvent) -> CancelResult:
        """Records a cancel: appends `event` to a live run that has none yet, or, for
        an unknown run id, remembers it for a later create_run."""

    async def read_events(
        self, run_id: str, after_seq: int, limit: int = 1000, max_chars: int | None = None
    ) -> list[Event]:
        """A run's events with seq > after_seq, in order, at most `limit`. With `max_chars`,
        only as many as fit in that many characters of payload JSON, but always at least one
        (so a stream's page is bounded in memory whatever its events' sizes)."""

    async def oldest_retained_seq(self, run_id: str) -> int:
        """The smallest seq still stored (1 unless history was pruned)."""

    async def read_log(self, after_position: int, limit: int = 1000) -> list[Event]:
        """Events of every stream with position > after_position, in position order.
        Gap-safe: once a reader has seen position p, no event below p commits later."""

    async def log_head(self) -> int:
        """The highest position committed (0 for an empty log)."""


class RunQueries(Protocol):
    """The run rows (the run summary, an inline projection of each run's events)."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]:
        """Runs newest first by (created_at, run_id); `before` is the keyset cursor
        (created_at ISO string, run_id) of the last row of the previous page."""

    async def thread_owner(self, thread_id: str) -> str | None:
        """The canonical user id a thread belongs to ("" for none), kept on its row by the run
        or agent that created it; None for a thread nothing was created on."""

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        """A thread's runs, oldest first, without the agent turns a rollback discarded."""

    async def last_seqs(self, run_ids: Sequence[str]) -> dict[str, int]:
        """The current last seq of each existing run among `run_ids`."""

    async def run_state(self, run_id: str) -> RunState | None:
        """The run's folded state as of its last event (the run row's copy, written in the
        transaction of every append); None for an unknown run."""


class AdmissionQueue(Protocol):
    """Where queued runs stand (store/admission.py)."""

    async def queue_place(self, run_id: str) -> tuple[int, str]:
        """(1-based position among the runs waiting for an executor slot, or 0; the earlier
        unfinished run of its thread that the run waits for, or "")."""

    async def queue_length(self) -> int:
        """How many runs wait for an executor slot, across replicas."""


class Checkpoints(Protocol):
    """A workload's folded state at some seq, so loading it replays only the log after it."""

    async def save_checkpoint(self, run_id: str, covers_seq: int, state: dict[str, object]) -> None:
        """Also resets the run's recovery budget (a completed step is progress)."""

    async def latest_checkpoint(
        self, run_id: str, at_or_before: int | None = None
    ) -> CheckpointRecord | None:
        """The checkpoint with the highest `covers_seq` (at most `at_or_before` when given)."""


class Nonces(Protocol):
    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        """True the first time a nonce is seen; False if it was used and has not expired."""


class Leases(Protocol):
    """One executor per run across replicas, with fencing (see core/leases.py)."""

    async def claim_runs(
        self,
        owner: str,
        ttl_s: float,
        *,
        run_ids: Sequence[str] | None,
        exclude: Sequence[str],
        limit: int,
        reclaim: Sequence[str] = (),
    ) -> list[Lease]:
        """Takes the leases of live runs nobody holds: never leased, released,
        expired, held by an owner that is provably dead, or held by `owner`
        itself for a run in `reclaim` (its task stopped without releasing it).
        Runs in `exclude` (executing here) are never taken. Each claim bumps the
        fencing token; taking an unreleased lease counts a recovery attempt.
        `run_ids` restricts the claim to those runs (None: any, oldest first).

        An owner is `<identity>@<instance>`: the identity is what a replica's
        liveness lock is named by (see `ChangeFeed.listen`), the instance tells one
        process of that identity from its previous incarnations, which are dead."""

    async def renew_leases(self, owner: str, leases: Sequence[Lease], ttl_s: float) -> dict[str, str]:
        """Extends the leases `owner` still holds; returns run_id -> status for
        those (a lease missing from the answer was lost)."""

    async def release_leases(self, owner: str, leases: Sequence[Lease]) -> None:
        """Gives leases up so another replica can claim them at once."""


class ChangeFeed(Protocol):
    async def listen(self, owner: str, handler: ChangeHandler, ready: Callable[[], None]) -> None:
        """Delivers other replicas' changes to `handler` until cancelled, and
        holds `owner`'s liveness lock meanwhile (peers take a dead owner's leases
        without waiting for expiry). Calls `ready` once listening. A store that
        is single-node by construction (SQLite) just waits."""


class ProjectionStore(Protocol):
    """Async projections (core/projections.py): their rows and checkpoints."""

    async def project(self, projection: Projection[Any], limit: int = 500) -> ProjectionStep | None:
        """One projector step: applies up to `limit` log events after the projection's
        checkpoint and writes its changes and the new checkpoint in one transaction.
        A stored checkpoint of another version is reset first (a rebuild from zero).
        None when another replica is projecting it right now (one writer at a time)."""

    async def project_together(
        self, projections: Sequence[Projection[Any]], limit: int = 500
    ) -> list[ProjectionStep | None]:
        """A step of each projection (in order) in one transaction, as `project` would take
        them, but those of the current version share one read of up to `limit` log events
        and move to one new checkpoint: the projector's round, in fewer statements."""

    async def reset_projection(self, name: str) -> None:
        """Drops the projection's rows and checkpoint: the next steps rebuild it by replay."""

    async def projection_position(self, name: str) -> int:
        """The position the projection has applied up to (0 if never run)."""

    async def thread_messages(self, thread_id: str) -> dict[str, list[ChatMessage]]:
        """The completed messages of each of the thread's runs (run id -> messages in
        seq order), from the thread messages projection topped up from the log past
        its checkpoint: a run that finished before this call is always complete."""


class ReadModels(Protocol):
    """Laravel's read-model tables (core/read_models.py), kept by their async projection;
    read and rewritten by `reproject` and the drift sampler (app/reproject.py)."""

    async def read_model_scope(self, *, run_id: str | None, thread_id: str | None) -> list[tuple[str, str]]:
        """(run_id, thread_id) of the runs a reproject covers (both None: every run)."""

    async def read_model_sample(self, size: int) -> list[tuple[str, str]]:
        """A random sample of (run_id, thread_id), for the periodic drift check."""

    async def read_model_snapshot(self, run_ids: Sequence[str], *, threads: bool) -> Snapshot:
        """The read-model rows of these runs (and their threads), with the projection's
        checkpoint and version, to compare with a fresh fold."""

    async def replace_read_models(self, run_ids: Sequence[str], models: Sequence[RunModel]) -> bool:
        """Rewrites these runs' rows from their fold under the projection's lock; False when
        the lock is held elsewhere this instant."""

    async def read_model_agent_scope(self, agent_id: str | None) -> list[str]:
        """The agent ids a reproject covers (None: every agent)."""

    async def read_model_agent_snapshot(self, agent_ids: Sequence[str]) -> AgentSnapshot:
        """These agents' read-model rows, their runtime rows and latest event positions,
        with the projection's checkpoint."""

    async def replace_read_model_agents(self, agent_ids: Sequence[str]) -> bool:
        """Rewrites these agents' rows from their runtime rows under the projection's lock;
        False when the lock is held elsewhere this instant."""


class EventStore(
    EventLog,
    RunQueries,
    AdmissionQueue,
    Checkpoints,
    Nonces,
    Leases,
    ChangeFeed,
    ProjectionStore,
    ReadModels,
    Protocol,
):
    """One database (SQLite or PostgreSQL) serving every store port."""

    backend: str  # "sqlite" | "postgres"
    # One process per database (SQLite's file lock): every change is made, and
    # published, by this process, so there is nothing to listen for or poll.
    single_node: bool

    async def open(self) -> None:
        """Connects and applies pending migrations (idempotent)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raises DependencyUnavailable when the database does not answer."""


# ----- Model providers -----


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    input_schema: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelRequest:
    run_id: str
    model: str
    step: int
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """What a model call cost, as the provider itself counted it."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class FinishChunk:
    reason: str  # events.STEP_STOP | STEP_TOOL_CALLS | STEP_LENGTH
    usage: TokenUsage | None = None  # None: the provider did not report its usage


ModelChunk = TextChunk | ToolCallChunk | FinishChunk


class ModelError(Exception):
    """A model call failed. `retryable` errors (429, 5xx, disconnects) may be retried."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class ModelProvider(Protocol):
    """Streams one model step. Text arrives as TextChunks, tool calls as whole
    ToolCallChunks, and the stream ends with exactly one FinishChunk, carrying the
    provider's token usage when it reports one. Failures raise ModelError. Closing the
    iterator (aclose) must release the request."""

    name: str

    def serves(self, model: str) -> bool: ...

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]: ...


# ----- Codex workers (core/workers.py) -----


@dataclass(frozen=True, slots=True)
class WorkerUpdate:
    """What `WorkerStore.update_worker` did: the worker after it, the events it appended
    (none for an idempotent replay) and the decision they came from."""

    state: WorkerState
    events: Sequence[WorkerEvent]
    decision: WorkerDecision


WorkerDecider = Callable[[WorkerState | None, PriorRequest | None], WorkerDecision]


class WorkerStore(Protocol):
    """Each Codex worker is a stream of its own: events with dense seqs from 1, and a summary
    row that is the fold of those events (an inline projection, written in the same
    transaction). One conformance suite (tests/conformance/test_worker_store.py) for all adapters.
    """

    async def update_worker(
        self, worker_id: str, decide: WorkerDecider, *, request_id: str | None = None
    ) -> WorkerUpdate:
        """In one transaction, serialized per worker: reads the worker (None if new) and, with
        `request_id`, the control request recorded under that id; calls `decide`; appends its
        events with the next seqs, folds them (`core.workers.apply`) into the summary row, and
        remembers `decision.request`. A DomainError from `decide` writes nothing. A decision
        with events for a new worker must start with `worker.created`."""

    async def get_worker(self, worker_id: str) -> WorkerState | None: ...

    async def list_workers(
        self,
        *,
        owner: str | None,
        status: WorkerStatus | None,
        workspace_ref: str | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[WorkerState]:
        """Workers newest first by (created_at, worker_id); `before` is the keyset cursor
        (created_at ISO string, worker_id) of the last row of the previous page."""

    async def read_worker_events(
        self, worker_id: str, after_seq: int, limit: int = 1000
    ) -> list[WorkerEvent]:
        """Events with seq > after_seq, in order, at most `limit`."""


# ----- Sync documents (core/sync.py) -----


class SyncStore(Protocol):
    """The sync documents, the sink pusher's lease and checkpoint (store/sync.py; tables 0008)."""

    async def project_sync(self, version: int, limit: int = 500) -> SyncStep | None:
        """One projection step of `version` (documents and checkpoint in one transaction; the
        switch to `version` when it caught up). None when another replica projects right now
        or a newer version serves."""

    async def sync_serving(self) -> Serving | None: ...

    async def sync_changes(
        self, version: int, kind: str, ids: Sequence[str], after: int, limit: int
    ) -> list[SyncDocument]:
        """Documents of `kind` (of `ids` when given) changed after `after`, in position order."""

    async def sync_position(self, version: int) -> int: ...

    async def claim_sink(self, sink: str, owner: str, ttl_s: float) -> int | None:
        """The sink's lease if free or expired: its new fencing token."""

    async def renew_sink(self, sink: str, token: int, ttl_s: float) -> bool: ...

    async def release_sink(self, sink: str, token: int) -> None: ...

    async def sink_batch(self, sink: str, token: int, limit: int) -> SinkBatch | None:
        """Raises SinkLeaseLost when `token` is not the sink's current one."""

    async def ack_sink(self, sink: str, token: int, batch: SinkBatch) -> bool:
        """Records `batch` as acknowledged and moves the checkpoint; False: the lease was lost."""

    async def sink_pending_since(self, sink: str) -> dict[str, float]: ...


# ----- artifacts (core/artifacts.py) -----


class ArtifactStore(Protocol):
    """Blobs stored once per SHA-256 in the database (every replica reads them), and the index
    of where each appeared. One conformance suite (tests/conformance/test_artifact_store.py)."""

    async def put_content(self, data: bytes) -> str:
        """Stores `data` (once: a digest already stored is not written again); its hex SHA-256."""

    async def read_content(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes | None:
        """Bytes [offset, offset+length) of a stored blob (fewer at its end; all the rest when
        `length` is None); None when no blob has this digest. Reads only the chunks needed."""

    async def index_artifacts(self, artifacts: Sequence[Artifact]) -> None:
        """Records artifacts their producer indexes itself (an agent's own; memory summaries
        are indexed by MemoryStore.write_chunk, with their chunk); a run's are indexed from its
        `tool.result` events (the artifact_index projection). Idempotent by (owner, seq,
        sha256). The content must be stored first."""

    async def list_artifacts(
        self, scope: ArtifactScope, *, limit: int, after: PageKey | None = None
    ) -> list[Artifact]:
        """A run's artifacts in (seq, sha256) order; a thread's or agent's by (created_at,
        owner_id, seq, sha256). `after` is `page_key` of the previous page's last artifact.
        Includes a run's `tool.result` references the projection has not indexed yet."""

    async def find_artifact(self, scope: ArtifactScope, sha256: str) -> Artifact | None:
        """The scope's first artifact with this digest (by the list order), or None."""


# ----- retention (core/run_retention.py) -----


class RetentionStore(Protocol):
    """What each stream's log may lose, the trims, and the collector of unreferenced artifact
    bytes. One conformance suite (tests/conformance/test_retention_store.py) for all adapters."""

    async def retention_candidates(
        self, finished_before: datetime, *, limit: int, after_run_id: str = ""
    ) -> list[RetentionCandidate]:
        """Finished runs that finished before the instant and have a checkpoint at or past
        their floor, by run id after `after_run_id`; with what covers their log (on a memory
        thread, the latest checkpoint within what L1 chunks cover)."""

    async def trim_run(self, run_id: str, floor: int) -> int | None:
        """In one transaction: indexes the artifacts of the removed `tool.result` events,
        removes the run's events below `floor`, the checkpoints below `floor - 1`, and moves
        its floor (`oldest_retained_seq`) up to `floor`. The events removed; None (nothing
        done) when an async projection has not applied them yet."""

    async def stream_candidates(
        self, stream_kind: str, occurred_before: datetime, *, limit: int, after_id: str = ""
    ) -> list[StreamCandidate]:
        """Agents' ("agent") or Codex workers' ("worker") streams whose oldest retained event
        occurred before the instant, by id after `after_id`."""

    async def trim_stream(self, stream_kind: str, stream_id: str, floor: int) -> int | None:
        """Removes the agent's or worker's events below `floor` (an agent's, never past a frame
        its fold holds at that moment). The events removed; None when an async projection has
        not applied them yet."""

    async def collect_artifacts(
        self, stored_before: datetime, *, limit: int, after_sha256: str = "", dry_run: bool = False
    ) -> Sweep:
        """One page (by sha256 after `after_sha256`) of blobs last stored before the instant
        that no index row and no unindexed `tool.result` event references: removed (or only
        listed, dry). A put of the same bytes after `stored_before` always wins."""


# ----- Long-lived agents (core/agents/) -----


@dataclass(frozen=True, slots=True)
class AgentUpdate:
    """What `AgentStore.update_agent` did: the agent after it and the events it appended."""

    record: AgentRecord | None
    events: Sequence[Event]
    lease: AgentLease | None = None  # taken in the same transaction (`claim`)


@dataclass(frozen=True, slots=True)
class AgentLease:
    agent_id: str
    token: int  # the fence: the store refuses an executor's update with an older token


# Decides, inside the update's transaction, the events to append: given the agent row (None
# for an unknown agent) and the digests the frame index holds for the frame ids asked about.
# A DomainError it raises writes nothing.
AgentDecider = Callable[[AgentRecord | None, Mapping[str, str]], Sequence[NewEvent]]


class AgentStore(Protocol):
    """Each agent is a stream of its own (stream kind "agent", dense seqs from 1); its row is
    the fold of that stream, written in the same transaction; its frames are indexed unique
    per (agent, frame id). One conformance suite (tests/conformance/test_agent_store.py)."""

    async def update_agent(
        self,
        agent_id: str,
        decide: AgentDecider,
        *,
        now: datetime,
        frame_ids: Sequence[str] = (),
        fence: AgentLease | None = None,
        claim: tuple[str, float] | None = None,
    ) -> AgentUpdate:
        """In one transaction, serialized per agent: reads the row and the frame index entries
        of `frame_ids`, calls `decide`, appends its events with the next seqs, folds them
        (`core.agents.state.apply`, IllegalTransition: nothing written) into the row with
        `wake_at` = `decide.claim_at(state, now)`, and indexes every frame they record. With
        `fence`, FencedOff unless the lease is still the agent's current one. With `claim`
        (owner, ttl_s): an existing agent that is now due and unleased (or whose lease expired)
        is leased to owner in the same transaction (`AgentUpdate.lease`). An unknown agent
        whose first event is not `agent.created`: AgentNotFound."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def list_agents(
        self,
        *,
        status: AgentStatus | None,
        thread_id: str | None,
        limit: int,
        before: tuple[str, str] | None,
        parent_agent_id: str | None = None,
    ) -> list[AgentRecord]:
        """Agents newest first by (created_at, agent_id); `before` is the keyset cursor
        (created_at ISO string, agent_id) of the last row of the previous page;
        `parent_agent_id`: only that agent's children."""

    async def read_agent_events(self, agent_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        """The agent's events with seq > after_seq, in order (stream_kind "agent")."""

    async def claim_agents(
        self,
        owner: str,
        ttl_s: float,
        *,
        now: datetime,
        agent_ids: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        limit: int = 100,
    ) -> list[AgentLease]:
        """Takes the leases of agents due (`wake_at` <= now) that nobody holds (never leased,
        released, or expired), earliest due first; each claim bumps the token. `agent_ids`
        restricts the claim to those agents; `exclude` (executing here) are never taken."""

    async def renew_agent_leases(self, owner: str, leases: Sequence[AgentLease], ttl_s: float) -> set[str]:
        """Extends the leases `owner` still holds; returns their agent ids (others were lost)."""

    async def release_agent(self, owner: str, lease: AgentLease, seen_seq: int | None) -> bool:
        """Gives the lease up if the agent has no event after `seen_seq` (False: it has, or
        the lease is gone; the executor decides again or stops). Atomic with that check, so
        a frame that lands meanwhile is never left without an executor. `seen_seq` None:
        unconditionally (a lease taken by mistake)."""

    async def agent_seqs(self, agent_ids: Sequence[str]) -> dict[str, int]:
        """The last seq of each existing agent among `agent_ids`."""


# ----- Memory (core/memory/, docs/MEMORY.md) -----


class MemoryStore(Protocol):
    """Memory's rows beside the log: chunks (insert-if-absent by their deterministic id, each
    with its `memory.chunk_written` event in the same transaction), the streams that keep
    memory, one holder per memory job, and map/reduce questions whose progress is a stream of
    the log. One conformance suite (tests/conformance/test_memory_store.py) for all adapters."""

    async def thread_events(self, thread_id: str, after_position: int, limit: int) -> list[Event]:
        """The memory-visible events (records.INVISIBLE_TYPES left out) of the thread's runs
        with position > after_position, in position order, at most `limit`."""

    async def thread_events_between(
        self, thread_id: str, first_position: int, last_position: int, limit: int
    ) -> list[Event]:
        """The same, for positions first..last inclusive."""

    async def run_prompts(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Each run's prompt (its request's `prompt`), by run id."""

    async def runs_marked_after(self, thread_id: str, position: int) -> bool:
        """Whether a run mark of the thread lies after `position` (see `mark_thread_runs`)."""

    async def mark_thread_runs(self, thread_id: str, used_from: int) -> None:
        """Records which of the thread's runs can hold events after the log's head now (a run
        mark), unless a mark after `used_from` exists; drops marks no read from `used_from` on
        uses. `thread_events` from a position at or after a mark walks only those runs."""

    async def write_chunk(self, stored: StoredChunk) -> bool:
        """Writes the chunk, its event and its summary as an artifact of the thread (bytes and
        index row), in one transaction, unless a chunk with its id exists: True when new."""

    async def get_chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]: ...

    async def list_chunks(
        self,
        stream: StreamRef,
        *,
        level: Level | None = None,
        ends_after_ms: int | None = None,
        starts_before_ms: int | None = None,
        after: tuple[int, int, str] | None = None,
        limit: int = 100,
    ) -> list[StoredChunk]:
        """Oldest window first (coarser level first at one start), keyset-paged after
        (window start ms, -level, chunk id)."""

    async def newest_chunk(self, stream: StreamRef, level: Level) -> StoredChunk | None:
        """The chunk of `level` with the latest window (for L1: the highest thread seqs, where
        compaction resumes)."""

    async def chunk_page(self, stream: StreamRef, page: ChunkPage) -> list[StoredChunk]:
        """The chunks `page` asks for (its level, newest window first, its bounds and limit),
        as one indexed range read (context assembly, core/memory/context.py)."""

    async def read_turn_context(
        self, thread_id: str, run_id: str, instructions: str, counter: TokenCounter, policy: ContextPolicy
    ) -> TurnContext | None:
        """A turn of `run_id`'s context in one read: None when the thread keeps no memory; else
        `plan_context` over the thread's events of earlier runs from the newest L1 chunk's first
        on, answered with `chunk_page` reads (engine/memory_context.py)."""

    async def enable_memory(self, stream: StreamRef, now_ms: int) -> None: ...

    async def memory_enabled(self, stream: StreamRef) -> bool: ...

    async def memory_streams(self) -> list[StreamRef]: ...

    async def claim_job(self, job_key: str, owner: str, now_ms: int, ttl_ms: int) -> int | None:
        """Holds the job until now+ttl unless another owner holds it unexpired (None);
        the answer is a token that grows whenever the job changes hands."""

    async def release_job(self, job_key: str, owner: str) -> None: ...

    async def create_query(self, record: MemoryQueryRecord) -> MemoryQueryRecord:
        """Stores the question unless its id exists; answers the stored one either way."""

    async def get_query(self, query_id: str) -> MemoryQueryRecord | None: ...

    async def append_memory_event(
        self, kind: str, stream_id: str, event_id: str, type_: str, payload: Mapping[str, Any]
    ) -> bool:
        """Appends to a memory stream of the log unless `event_id` exists: True when appended."""

    async def memory_events(self, kind: str, stream_id: str, after_seq: int = 0) -> list[Event]:
        """A memory stream's events with seq > after_seq, in seq order."""
