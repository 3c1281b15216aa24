"""Leases on SQLite. One process owns the file (flock), so there are no peers:
every lease found at open() belonged to a process that is gone and is expired
at once, and the same claim/fence rules as PostgreSQL then apply (one executor
per run, recovery budget, fenced appends), with this process's clock."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from ..core.leases import CLAIMABLE_STATUSES, WAITING_STATUS, Lease
from .admission import PREDECESSOR_ENDED
from .common import CLAIM_RETURNING

_CLAIMABLE = (
    f"(status IN ({', '.join(repr(s) for s in CLAIMABLE_STATUSES)})"
    f" OR (status = '{WAITING_STATUS}' AND wake_at <= :now))"
)


def expire_all(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE runs SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL")


def claim(
    conn: sqlite3.Connection,
    owner: str,
    ttl_s: float,
    *,
    run_ids: Sequence[str] | None,
    exclude: Sequence[str],
    limit: int,
    reclaim: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    now = time.time()
    params: dict[str, object] = {"owner": owner, "now": now, "expires": now + ttl_s, "limit": limit}
    only = ""
    if run_ids is not None:
        only = " AND run_id IN (SELECT value FROM json_each(:run_ids))"
        params["run_ids"] = _json_list(run_ids)
    params["exclude"] = _json_list(exclude)
    params["reclaim"] = _json_list(reclaim)
    rows = conn.execute(
        "UPDATE runs SET lease_owner = :owner, lease_token = lease_token + 1, lease_expires_at = :expires,"
        " recovery_attempts = recovery_attempts + CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END"
        " WHERE run_id IN (SELECT run_id FROM runs"
        f"  WHERE {_CLAIMABLE}{only} AND {PREDECESSOR_ENDED}"
        "   AND run_id NOT IN (SELECT value FROM json_each(:exclude))"
        "   AND (lease_owner IS NULL OR lease_expires_at <= :now"
        "        OR (lease_owner = :owner AND run_id IN (SELECT value FROM json_each(:reclaim))))"
        "  ORDER BY created_at, run_id LIMIT :limit)"
        f" RETURNING {CLAIM_RETURNING}",
        params,
    ).fetchall()
    return rows  # the store decodes them (flows.claimed_lease)


def renew(conn: sqlite3.Connection, owner: str, leases: Sequence[Lease], ttl_s: float) -> dict[str, str]:
    held: dict[str, str] = {}
    expires = time.time() + ttl_s
    for lease in leases:
        row = conn.execute(
            "UPDATE runs SET lease_expires_at = ? WHERE run_id = ? AND lease_token = ? AND lease_owner = ?"
            " RETURNING status",
            (expires, lease.run_id, lease.token, owner),
        ).fetchone()
        if row is not None:
            held[lease.run_id] = row[0]
    return held


def release(conn: sqlite3.Connection, owner: str, leases: Sequence[Lease]) -> None:
    conn.executemany(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE run_id = ? AND lease_token = ? AND lease_owner = ?",
        [(lease.run_id, lease.token, owner) for lease in leases],
    )


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))
