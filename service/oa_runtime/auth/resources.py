"""Which resource each RunService method touches, read from the store.

One table for every method: a method missing here is refused (fail closed), so a new
RPC cannot ship without an access rule. Ids are validated before the store is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..core.errors import InvalidArgument, NotThreadOwner, RunNotFound, ThreadNotFound
from ..core.records import RunRecord
from ..core.run_state import RunStatus
from ..core.validation import canonical_user_id, require_id, validate_cursor
from .access import EVERY_RUN, Target

SERVICE = "/openagents.runtime.v1.RunService/"


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
    owner = await thread_owner(store, thread_id)
    if owner is not None and owner != user_id:
        raise NotThreadOwner(thread_id)
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
