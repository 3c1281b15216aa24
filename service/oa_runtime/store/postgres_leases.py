"""Leases, liveness and change notifications on PostgreSQL (the multi-replica parts).

Lease times come from the database clock (`clock_timestamp()`), so replicas
with skewed clocks still agree on expiry. A replica proves it is alive by
holding a session advisory lock keyed by its executor id on its LISTEN
connection: PostgreSQL drops the lock the moment that connection dies (a kill,
a crash, a partition), so peers can take its leases over without waiting for
them to expire. Appends publish `(run id, seq)` with NOTIFY; other replicas'
streams then read the events from the table, and poll when a notification may
have been missed.

Noticing a death fast: the claimer's regular round (`claim_interval_s`, 1 s)
would bound a takeover. So each replica also watches its peers' listener
connections (they carry the application name `LIVENESS_APP`) in
`pg_stat_activity`, every `peer_watch_s` (50 ms) on a connection of its own,
and wakes the claimer when one disappears. PostgreSQL releases a dying
backend's advisory locks before it removes its `pg_stat_activity` entry
(`ShutdownPostgres` runs in `before_shmem_exit`, the backend status entry is
cleared in `on_shmem_exit`), so when the entry is gone the liveness lock is
free and the claim's try-lock sees the owner dead. Why a poll: one query per
replica per 50 ms on one connection, whatever the number of peers (measured here:
0.2 ms round trip, 0.07 ms of it in PostgreSQL, ~120 µs of client CPU: about 0.25 %
of a core per replica);
blocking on each peer's lock (`pg_advisory_lock`) would wake at once but needs a
connection per peer and would hold a restarting peer's lock. A peer's listener
that merely reconnects also wakes the claimer: a claim round that finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from ..core.leases import (
    AGENT_PREFIX,
    CANCEL_PREFIX,
    CLAIMABLE_STATUSES,
    CONTROL_CHANNEL,
    EVENTS_CHANNEL,
    WAITING_STATUS,
    Lease,
    parse_agent_payload,
    parse_notify_payload,
)
from ..ports import AgentChangeHandler, ChangeHandler
from .admission import PREDECESSOR_ENDED
from .common import CLAIM_RETURNING

Conn = AsyncConnection[TupleRow]
log = logging.getLogger(__name__)

_RUNNABLE = "runnable"
# The application name of every replica's listener connection (which holds its liveness lock).
LIVENESS_APP = "oa-runtime-liveness"
_PEER_WATCH_APP = "oa-runtime-peer-watch"
# Backends of one dead replica exit one by one; rows still locked by a dying transaction
# are skipped by the claim (SKIP LOCKED), so the claimer is woken again on the next polls.
_WAKES_AFTER_DEATH = 3

_CLAIMABLE = (
    f"(status IN ({', '.join(repr(s) for s in CLAIMABLE_STATUSES)})"
    f" OR (status = '{WAITING_STATUS}' AND wake_at <= clock_timestamp()))"
)


def _owner_key(owner: str) -> tuple[str]:
    return (f"oa-executor:{owner}",)


_OWNER_LOCK_KEY = "hashtextextended(%s, 0)"


def identity_of(owner: str) -> str:
    """`replica-a@3f2c…` -> `replica-a` (the name the liveness lock is held under)."""
    return owner.rsplit("@", 1)[0]


async def dead_owners(conn: Conn, owner: str) -> list[str]:
    """Owners of unexpired leases on live runs that are gone: an earlier instance of
    our own identity (we hold its liveness lock, so it cannot be alive), or an
    identity whose liveness lock is free. The try-lock is transaction-scoped, so it
    is given back when the claim commits."""
    cur = await conn.execute(
        "SELECT DISTINCT lease_owner FROM runs WHERE lease_owner IS NOT NULL AND lease_owner <> %s"
        f" AND lease_expires_at > clock_timestamp() AND {_CLAIMABLE}",
        (owner,),
    )
    dead: list[str] = []
    alive: dict[str, bool] = {identity_of(owner): False}
    for (other,) in await cur.fetchall():
        identity = identity_of(other)
        if identity not in alive:
            cur = await conn.execute(
                f"SELECT pg_try_advisory_xact_lock({_OWNER_LOCK_KEY})", _owner_key(identity)
            )
            row = await cur.fetchone()
            alive[identity] = not (row is not None and row[0])
        if not alive[identity]:
            dead.append(other)
    return dead


async def claim(
    conn: Conn,
    owner: str,
    ttl_s: float,
    *,
    run_ids: Sequence[str] | None,
    exclude: Sequence[str],
    limit: int,
    reclaim: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    dead = await dead_owners(conn, owner)
    only = "" if run_ids is None else " AND run_id = ANY(%(run_ids)s)"
    cur = await conn.execute(
        "UPDATE runs SET lease_owner = %(owner)s, lease_token = lease_token + 1,"
        " lease_expires_at = clock_timestamp() + make_interval(secs => %(ttl)s),"
        " recovery_attempts = recovery_attempts + CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END"
        " WHERE run_id IN (SELECT run_id FROM runs"
        f"  WHERE {_CLAIMABLE}{only} AND {PREDECESSOR_ENDED} AND run_id <> ALL(%(exclude)s)"
        "   AND (lease_owner IS NULL OR lease_expires_at <= clock_timestamp()"
        "        OR lease_owner = ANY(%(dead)s)"
        "        OR (lease_owner = %(owner)s AND run_id = ANY(%(reclaim)s)))"
        "  ORDER BY created_at, run_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        f" RETURNING {CLAIM_RETURNING}",
        {
            "owner": owner,
            "ttl": ttl_s,
            "dead": dead,
            "exclude": list(exclude),
            "reclaim": list(reclaim),
            "run_ids": list(run_ids or ()),
            "limit": limit,
        },
    )
    return await cur.fetchall()  # the store decodes them (flows.claimed_lease)


# Row locks in run id order, as append_many takes them, so the two never deadlock.
_HELD = (
    "SELECT runs.run_id FROM runs JOIN unnest(%(ids)s::text[], %(tokens)s::bigint[]) AS held(run_id, token)"
    " ON runs.run_id = held.run_id AND runs.lease_token = held.token"
    " WHERE runs.lease_owner = %(owner)s ORDER BY runs.run_id FOR UPDATE OF runs"
)


def _held_params(owner: str, leases: Sequence[Lease]) -> dict[str, Any]:
    ids = [lease.run_id for lease in leases]
    return {"owner": owner, "ids": ids, "tokens": [lease.token for lease in leases]}


async def renew(conn: Conn, owner: str, leases: Sequence[Lease], ttl_s: float) -> dict[str, str]:
    cur = await conn.execute(
        "UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)"
        f" WHERE run_id IN ({_HELD}) RETURNING run_id, status",
        {**_held_params(owner, leases), "ttl": ttl_s},
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def release(conn: Conn, owner: str, leases: Sequence[Lease]) -> None:
    cur = await conn.execute(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL"
        f" WHERE run_id IN ({_HELD}) RETURNING status",
        _held_params(owner, leases),
    )
    statuses = [row[0] for row in await cur.fetchall()]
    if any(s in CLAIMABLE_STATUSES for s in statuses):
        await conn.execute("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, _RUNNABLE))


async def listen(
    url: str,
    sender: str,
    owner: str,
    handler: ChangeHandler,
    ready: Callable[[], None],
    *,
    connect_timeout_s: int = 5,
    lock_wait_s: float = 10.0,
    peer_watch_s: float = 0.05,
) -> None:
    """The LISTEN loop with reconnects, and the peer watch beside it; see the module docstring."""
    try:
        async with asyncio.TaskGroup() as tasks:
            if peer_watch_s > 0:
                tasks.create_task(watch_peers(url, handler, peer_watch_s, connect_timeout_s))
            await _listen_loop(url, sender, owner, handler, ready, connect_timeout_s, lock_wait_s)
    except BaseExceptionGroup as group:  # the watch never ends on its own: the listener's error
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def _listen_loop(
    url: str,
    sender: str,
    owner: str,
    handler: ChangeHandler,
    ready: Callable[[], None],
    connect_timeout_s: int,
    lock_wait_s: float,
) -> None:
    first = True
    backoff = 0.2
    while True:
        try:
            conn = await AsyncConnection.connect(url, **_listen_kwargs(connect_timeout_s))
            async with conn:
                await _hold_owner_lock(conn, identity_of(owner), lock_wait_s, first)
                await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                await conn.execute(f"LISTEN {CONTROL_CHANNEL}")
                backoff = 0.2
                if first:
                    first = False
                    ready()
                else:
                    handler.on_resync()  # anything sent while we were away was missed
                async for note in conn.notifies():
                    _dispatch(note.channel, note.payload, sender, handler)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            log.warning("change listener lost its connection", extra={"error": str(exc)})
        if not first:
            handler.on_resync()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)


async def watch_peers(url: str, handler: ChangeHandler, interval_s: float, connect_timeout_s: int) -> None:
    """Wakes the claimer when a peer's listener connection is gone (see the module docstring)."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"
    while True:
        try:
            conn = await AsyncConnection.connect(
                url, **_listen_kwargs(connect_timeout_s, application_name=_PEER_WATCH_APP)
            )
            async with conn:
                known: set[int] | None = None
                wakes = 0
                while True:
                    cur = await conn.execute(query, (LIVENESS_APP,))
                    listeners = {int(row[0]) for row in await cur.fetchall()}
                    if known is not None and known - listeners:
                        wakes = _WAKES_AFTER_DEATH
                    if wakes:
                        wakes -= 1
                        handler.on_runnable()
                    known = listeners
                    await asyncio.sleep(interval_s)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            log.warning("peer watch lost its connection", extra={"error": str(exc)})
        await asyncio.sleep(1.0)  # the listener's reconnect wakes a claim round meanwhile


def _listen_kwargs(connect_timeout_s: int, application_name: str = LIVENESS_APP) -> dict[str, Any]:
    # Keepalives notice a silently dead connection (a partition), so the
    # listener reconnects and the liveness lock does not outlive a lost peer.
    return {
        "application_name": application_name,
        "autocommit": True,
        "connect_timeout": connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }


class OwnerInUse(RuntimeError):
    """Another live process holds this executor id."""


async def _hold_owner_lock(conn: Conn, owner: str, wait_s: float, fatal: bool) -> None:
    """Takes the session lock that says `owner` is alive. A peer probing it holds
    it for an instant, so retry for a while; a live process with the same id
    holds it for good, which is a configuration error at start-up."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        cur = await conn.execute(f"SELECT pg_try_advisory_lock({_OWNER_LOCK_KEY})", _owner_key(owner))
        row = await cur.fetchone()
        if row is not None and row[0]:
            return
        if asyncio.get_running_loop().time() >= deadline:
            message = (
                f"executor id {owner!r} is held by another live process (RUNTIME_EXECUTOR_ID must be unique)"
            )
            if fatal:
                raise OwnerInUse(message)
            log.error(message)
            deadline = asyncio.get_running_loop().time() + wait_s
        await asyncio.sleep(0.2)


def _dispatch(channel: str, payload: str, sender: str, handler: ChangeHandler) -> None:
    if channel == EVENTS_CHANNEL:
        origin, positions = parse_notify_payload(payload)
        if origin == sender:
            return  # our own writer already published these
        for run_id, seq in positions:
            handler.on_appended(run_id, seq)
    elif channel == CONTROL_CHANNEL:
        if payload == _RUNNABLE:
            handler.on_runnable()
        elif payload.startswith(CANCEL_PREFIX):
            handler.on_cancel(payload[len(CANCEL_PREFIX) :])
        elif payload.startswith(AGENT_PREFIX) and isinstance(handler, AgentChangeHandler):
            parsed = parse_agent_payload(payload)
            if parsed is not None and parsed[0] != sender:  # our own writes poked our agents already
                handler.on_agent_appended(*parsed[1:])
