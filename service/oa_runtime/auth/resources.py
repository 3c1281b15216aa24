"""Which resource each RunService and CodexWorkerService method touches, read from the store.

One table for every method: a method missing here is refused (fail closed), so a new
RPC cannot ship without an access rule. Ids are validated before the store is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from ..core.errors import InternalError, InvalidArgument, RunNotFound, ThreadNotFound
from ..core.records import RunRecord
from ..core.run_state import RunStatus
from ..core.validation import canonical_user_id, require_id, validate_cursor
from ..core.workers import WorkerNotFound, WorkerState
from .access import EVERY_RUN, Target

SERVICE = "/openagents.runtime.v1.RunService/"
WORKER_SERVICE = "/openagents.runtime.v1.CodexWorkerService/"


class ResourceReader(Protocol):
    """The store reads authorization needs (EventStore implements them)."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]: ...


@runtime_checkable
class WorkerReader(Protocol):
    """The Codex worker read authorization needs (WorkerStore implements it)."""

    async def get_worker(self, worker_id: str) -> WorkerState | None: ...


class AuthReads:
    """The interceptor's store: nonces and run reads from the EventStore, worker reads from
    the WorkerStore (both on the same database)."""

    def __init__(self, store: Any, workers: WorkerReader) -> None:
        self._store = store
        self._workers = workers

    async def use_nonce(self, nonce: str, expires_at_epoch: float) -> bool:
        used: bool = await self._store.use_nonce(nonce, expires_at_epoch)
        return used

    async def get_run(self, run_id: str) -> RunRecord | None:
        record: RunRecord | None = await self._store.get_run(run_id)
        return record

    async def list_runs(
        self,
        *,
        thread_id: str | None,
        status: RunStatus | None,
        limit: int,
        before: tuple[str, str] | None,
    ) -> list[RunRecord]:
        records: list[RunRecord] = await self._store.list_runs(
            thread_id=thread_id, status=status, limit=limit, before=before
        )
        return records

    async def get_worker(self, worker_id: str) -> WorkerState | None:
        return await self._workers.get_worker(worker_id)


async def thread_owner(store: ResourceReader, thread_id: str) -> str | None:
    """The user who owns a thread: every run on it names the same user (StartRun checks),
    so the newest run says. None for a thread with no runs."""
    newest = await store.list_runs(thread_id=thread_id, status=None, limit=1, before=None)
    return newest[0].request.user_id if newest else None


async def _run(store: ResourceReader, request: Any) -> Target:
    run_id = require_id("run_id", request.run_id)
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
    """ListRuns: one thread's runs (an empty list for a thread without runs), or every run."""
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
    worker_id = require_id("worker_id", request.worker_id)
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
}


# Cursor fields a request may carry; a bad one is refused before the store is read, like
# a bad id, so a request that could never succeed costs no database work.
_CURSOR_FIELDS = ("after_seq", "cursor", "expected_previous_seq")


async def resolve_target(store: ResourceReader, method: str, request: Any) -> Target | None:
    """The target of `method` on `request`; None when no rule names the method."""
    resolve = RESOURCES.get(method)
    if resolve is None:
        return None
    for name in _CURSOR_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            validate_cursor(name, value)
    return await resolve(store, request)
