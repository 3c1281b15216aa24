"""The store operations both adapters share: each runs one flow (flows.py).

An adapter supplies the Dialect and three ways to run a flow: `_write` (one
transaction), `_read` (a read), `_single` (a flow whose statements are each
atomic on their own: no transaction needed). What an adapter adds beyond that is
only what its database does differently (append_many's fallback, leases, the
change feed, the lifecycle).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..core import events as ev
from ..core.admission import PlanStart
from ..core.messages import ChatMessage
from ..core.projections import Projection, ProjectionStep
from ..core.read_models import AgentSnapshot, RunModel, Snapshot
from ..core.records import CancelResult, CheckpointRecord, CreateResult, NonceToSpend, RunRecord, StartRequest
from ..core.run_state import RunState, RunStatus
from . import admission, agent_read_models, flows, read_models
from .dialect import Dialect
from .sql import Done, Flow, done

T = TypeVar("T")
_NONCE_PRUNE_EVERY = 256


class SqlStore(ABC):
    dialect: Dialect
    # Tags this process's notifications, so its own listener can skip them (PostgreSQL).
    sender: str = ""

    def __init__(self) -> None:
        self._nonce_calls = 0
        # Reads so far: statements run and rows they returned (tests bound a read's cost).
        self.read_statements = 0
        self.rows_read = 0

    def _counted(self, flow: Flow[T]) -> Flow[T]:
        rows: list[Any] | None = None
        while True:
            try:
                stmt = flow.send(rows)  # type: ignore[arg-type]  # None starts the generator
            except StopIteration as end:
                return end.value  # type: ignore[no-any-return]
            rows = yield stmt
            self.read_statements += 1
            self.rows_read += len(rows)

    @abstractmethod
    async def _write(self, make: Callable[[], Flow[Done[T]]], *, pipeline: bool = False) -> T:
        """Runs the flow in one transaction; its result once committed. `make` builds a
        fresh flow per attempt (SQLite may run a write again alone)."""

    @abstractmethod
    async def _read(self, flow: Flow[T]) -> T: ...

    @abstractmethod
    async def _single(self, make: Callable[[], Flow[T]]) -> T:
        """Runs a flow whose statements need no transaction around them."""

    async def ping(self) -> None:
        """Raises DependencyUnavailable when the database does not answer."""
        await self._read(flows.ping())

    # ----- event log -----

    async def create_run(
        self,
        request: StartRequest,
        fingerprint: str,
        accepted: ev.NewEvent,
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 10.0,
        plan_start: PlanStart | None = None,
        nonce: NonceToSpend | None = None,
    ) -> CreateResult:
        d = self.dialect
        prune = nonce is not None and self._count_nonce()
        result = await self._write(
            lambda: flows.create_run(
                d,
                request,
                fingerprint,
                accepted,
                lease_owner,
                lease_ttl_s,
                plan_start,
                self.sender,
                nonce,
                prune,
            ),
            pipeline=True,
        )
        if nonce is not None:
            nonce.spent = True
        return result

    async def request_cancel(self, run_id: str, event: ev.NewEvent) -> CancelResult:
        d = self.dialect
        return await self._write(lambda: flows.request_cancel(d, run_id, event, self.sender))

    async def read_events(
        self, run_id: str, after_seq: int, limit: int = 1000, max_chars: int | None = None
    ) -> list[ev.Event]:
        return await self._read(flows.read_events(self.dialect, run_id, after_seq, limit, max_chars))

    async def oldest_retained_seq(self, run_id: str) -> int:
        return await self._read(flows.oldest_retained_seq(self.dialect, run_id))

    # ----- run queries -----

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self._read(flows.get_run(self.dialect, run_id))

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]:
        return await self._read(
            flows.list_runs(self.dialect, thread_id=thread_id, status=status, limit=limit, before=before)
        )

    async def queue_place(self, run_id: str) -> tuple[int, str]:
        return await self._read(admission.queue_place(self.dialect, run_id))

    async def queue_length(self) -> int:
        return await self._read(admission.queue_length(self.dialect))

    async def thread_owner(self, thread_id: str) -> str | None:
        return await self._read(flows.thread_owner(self.dialect, thread_id))

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        return await self._read(flows.thread_runs(self.dialect, thread_id))

    async def run_state(self, run_id: str) -> RunState | None:
        return await self._read(flows.run_state(self.dialect, run_id))

    async def last_seqs(self, run_ids: Sequence[str]) -> dict[str, int]:
        if not run_ids:
            return {}
        return await self._read(flows.last_seqs(self.dialect, run_ids))

    async def read_log(self, after_position: int, limit: int = 1000) -> list[ev.Event]:
        return await self._read(flows.read_log(self.dialect, after_position, limit))

    async def log_head(self) -> int:
        return await self._read(flows.log_head(self.dialect))

    # ----- projections -----

    async def project(self, projection: Projection[Any], limit: int = 500) -> ProjectionStep | None:
        d = self.dialect
        return await self._write(lambda: flows.project(d, projection, limit))

    async def project_together(
        self, projections: Sequence[Projection[Any]], limit: int = 500
    ) -> list[ProjectionStep | None]:
        d = self.dialect
        # Pipelined on PostgreSQL: the sinks' upserts and the checkpoint cost no round trip of
        # their own (only the reads do, and the commit).
        return await self._write(lambda: flows.project_together(d, projections, limit), pipeline=True)

    async def reset_projection(self, name: str) -> None:
        d = self.dialect
        await self._write(lambda: flows.reset_projection(d, name))

    async def projection_position(self, name: str) -> int:
        return await self._read(flows.projection_position(self.dialect, name))

    async def read_model_scope(self, *, run_id: str | None, thread_id: str | None) -> list[tuple[str, str]]:
        return await self._read(read_models.scope_run_ids(self.dialect, run_id=run_id, thread_id=thread_id))

    async def read_model_sample(self, size: int) -> list[tuple[str, str]]:
        return await self._read(read_models.sample_run_ids(self.dialect, size))

    async def read_model_snapshot(self, run_ids: Sequence[str], *, threads: bool) -> Snapshot:
        return await self._read(read_models.snapshot(self.dialect, run_ids, threads=threads))

    async def replace_read_models(self, run_ids: Sequence[str], models: Sequence[RunModel]) -> bool:
        d = self.dialect

        def flow() -> Flow[Done[bool]]:
            return done((yield from read_models.replace_runs(d, run_ids, models)))

        return await self._write(flow)

    async def read_model_agent_scope(self, agent_id: str | None) -> list[str]:
        return await self._read(agent_read_models.agent_scope(self.dialect, agent_id))

    async def read_model_agent_snapshot(self, agent_ids: Sequence[str]) -> AgentSnapshot:
        return await self._read(agent_read_models.agent_snapshot(self.dialect, agent_ids))

    async def replace_read_model_agents(self, agent_ids: Sequence[str]) -> bool:
        d = self.dialect

        def flow() -> Flow[Done[bool]]:
            return done((yield from agent_read_models.replace_agents(d, agent_ids)))

        return await self._write(flow)

    async def thread_messages(self, thread_id: str) -> dict[str, list[ChatMessage]]:
        return await self._read(flows.thread_messages(self.dialect, thread_id))

    # ----- checkpoints -----

    async def save_checkpoint(self, run_id: str, covers_seq: int, state: dict[str, object]) -> None:
        d = self.dialect
        await self._single(lambda: flows.save_checkpoint(d, run_id, covers_seq, state))

    async def latest_checkpoint(
        self, run_id: str, at_or_before: int | None = None
    ) -> CheckpointRecord | None:
        return await self._read(flows.latest_checkpoint(self.dialect, run_id, at_or_before))

    # ----- nonces -----

    def _count_nonce(self) -> bool:
        """Counts a nonce spent; True when it is time to prune the expired ones."""
        self._nonce_calls += 1
        return self._nonce_calls % _NONCE_PRUNE_EVERY == 0

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        prune = self._count_nonce()
        d = self.dialect
        return await self._single(lambda: flows.use_nonce(d, nonce, expires_at_epoch, prune))
