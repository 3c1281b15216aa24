"""Authorization by resource: what a verified token may touch. Pure: no I/O.

Each request touches a Target read from the store (`resources.py`): a run (its id,
its thread, its owner), a thread (its id and owner), a run about to be created
(StartRun: the body's ids and user), or every run (ListRuns without a thread).
Every binding claim the token carries must match that target; the README's
"Authorization" table is this function, cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ClaimMismatch, InvalidArgument, RunNotFound, UnboundToken
from ..core.validation import canonical_user_id
from .token import SERVICE_SCOPE, Claims


@dataclass(frozen=True, slots=True)
class Target:
    """What a request touches.

    A field that is None is something the request does not touch (a claim on it is a
    mismatch). `exists=False` is a run or thread nothing has been written for yet (a
    cancel that arrives before its StartRun, a thread without runs): it has no thread or
    owner to compare with, so only the run id and thread id it is named by are checked.
    """

    run_id: str | None = None
    thread_id: str | None = None
    owner: str | None = None  # the owner's canonical user id; "" when the run has no user
    exists: bool = True
    # A Codex worker (or, with worker_id None, the caller's workers): no run or thread
    # claim can match it; a `worker_id` claim must name it.
    worker: bool = False
    worker_id: str | None = None
    # A long-lived agent: it lives on `thread_id` and belongs to `owner`; an `agent_id` claim
    # must name it (and no run claim matches it).
    agent_id: str | None = None
    # Memory of a thread: a token bound to an agent that lives on `thread_id` may touch it too
    # (resources.py reads the claimed agent's thread and sets `agent_id` when it matches).
    thread_agents: bool = False


EVERY_RUN = Target()


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified token and the principal headers that came with it."""

    claims: Claims
    user_header: str | None = None  # X-OA-USER-ID
    guest_scope_header: str | None = None  # X-OA-GUEST-SCOPE


def authorize(caller: Caller, target: Target, *, allow_service_scope: bool) -> None:
    """Raises the DomainError that refuses `caller` on `target`; returns when allowed."""
    claims = caller.claims
    require_binding(claims, allow_service_scope=allow_service_scope)
    if claims.guest_scope is not None and claims.guest_scope != (caller.guest_scope_header or None):
        raise ClaimMismatch("guest_scope")
    _check_user_header(caller, target)
    if not claims.bound:
        return  # an accepted service token
    if not target.exists and target.run_id is not None and claims.run_id is None:
        # A run that does not exist yet can only be named by a token minted for it.
        raise RunNotFound(target.run_id)
    if claims.run_id is not None and claims.run_id != target.run_id:
        raise ClaimMismatch("run_id")
    if claims.worker_id is not None and claims.worker_id != target.worker_id:
        raise ClaimMismatch("worker_id")
    if claims.agent_id is not None and claims.agent_id != target.agent_id:
        raise ClaimMismatch("agent_id")
    # A run not created yet has no thread to compare with; a worker never has one.
    comparable_thread = target.exists or target.thread_id is not None or target.worker
    if claims.thread_id is not None and comparable_thread and claims.thread_id != target.thread_id:
        raise ClaimMismatch("thread_id")
    if claims.user_id is not None and target.exists and claims.user_id != target.owner:
        raise ClaimMismatch("user_id")


def require_binding(claims: Claims, *, allow_service_scope: bool) -> None:
    """UnboundToken unless the token names a run, thread or user, or is an accepted service
    token. Checked before anything is read for the request."""
    if claims.bound or (claims.scope == SERVICE_SCOPE and allow_service_scope):
        return
    problem = "service tokens are not enabled" if claims.scope == SERVICE_SCOPE else "no claims"
    raise UnboundToken(problem)


def _check_user_header(caller: Caller, target: Target) -> None:
    """X-OA-USER-ID names who Laravel acts for. It can only narrow what the token allows:
    it must agree with the token's user and with the owner of what the request touches."""
    if caller.user_header is None:
        return
    try:
        user = canonical_user_id(caller.user_header)
    except ValueError as err:
        raise InvalidArgument("X-OA-USER-ID", str(err)) from None
    if caller.claims.user_id is not None and user != caller.claims.user_id:
        raise ClaimMismatch("user_id")
    if target.exists and target.owner is not None and user != target.owner:
        raise ClaimMismatch("user_id")
