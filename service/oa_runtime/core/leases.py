"""Run leases: which replica executes a run, and the fencing token that proves it.

A lease is a few columns of the run row (owner, token, expiry, recovery
attempts). The token grows by one on every claim, and every executor append
carries the token it was given: the store refuses an append whose token is not
the run's current one, so an owner that was paused or partitioned past its
expiry can never write again once another replica took over.

`recovery_attempts` counts claims that took a lease from an owner that did not
release it (a crash, a kill, a lost database connection) since the run last
made progress (a completed step). Past the budget the run ends
`failed{executor_recovery_exhausted}` instead of crashing replicas forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .run_state import RunState, RunStatus

if TYPE_CHECKING:
    from .records import RunRecord  # records.py imports this module

RECOVERY_EXHAUSTED: Final = "executor_recovery_exhausted"

# Run statuses an executor works on. A waiting run (human approval) is only
# claimable once its wake-up time has passed.
WAITING_STATUS: Final = RunStatus.WAITING.value
CLAIMABLE_STATUSES: Final = tuple(
    s.value for s in RunStatus if not s.is_terminal and s is not RunStatus.WAITING
)


@dataclass(frozen=True, slots=True)
class Lease:
    run_id: str
    token: int
    recovery_attempts: int = 0  # unreleased takeovers since the run last made progress
    # The run row as claimed (from the claim's RETURNING): a resume needs no other read of it.
    record: RunRecord | None = field(default=None, compare=False)
    state: RunState | None = field(default=None, compare=False)

    def exhausted(self, budget: int) -> bool:
        """True when this claim is one recovery more than the budget allows."""
        return self.recovery_attempts > budget


# PostgreSQL notification channels (store/postgres_leases.py listens, dialect.py sends):
# appended events, and control messages such as a cancel (`CANCEL_PREFIX` + run id).
EVENTS_CHANNEL: Final = "oa_events"
CONTROL_CHANNEL: Final = "oa_control"
CANCEL_PREFIX: Final = "cancel "
# An agent's stream moved: "agent <sender> <seq> <due 0|1> <agent id>" (agent ids have no spaces).
AGENT_PREFIX: Final = "agent "


def notify_payload(sender: str, positions: list[tuple[str, int]], limit: int = 7900) -> list[str]:
    """`(run_id, seq)` pairs as NOTIFY payloads under PostgreSQL's 8000-byte limit.

    Each payload is the sender's id on the first line, then one `seq run_id` per
    line, so a replica can skip its own notifications.
    """
    payloads: list[str] = []
    lines: list[str] = [sender]
    size = len(sender)
    for run_id, seq in positions:
        line = f"{seq} {run_id}"
        if len(lines) > 1 and size + len(line) + 1 > limit:
            payloads.append("\n".join(lines))
            lines, size = [sender], len(sender)
        lines.append(line)
        size += len(line) + 1
    if len(lines) > 1:
        payloads.append("\n".join(lines))
    return payloads


def parse_notify_payload(payload: str) -> tuple[str, list[tuple[str, int]]]:
    """The inverse of `notify_payload`: (sender, [(run_id, seq), ...]); bad lines are skipped."""
    sender, _, rest = payload.partition("\n")
    positions: list[tuple[str, int]] = []
    for line in rest.splitlines():
        seq, _, run_id = line.partition(" ")
        if seq.isdigit() and run_id:
            positions.append((run_id, int(seq)))
    return sender, positions


def agent_notify_payload(sender: str, agent_id: str, seq: int, due: bool) -> str:
    """What an agent update publishes: its new last seq, and whether it is due with nobody
    holding it (so a peer should claim it now)."""
    return f"{AGENT_PREFIX}{sender} {seq} {int(due)} {agent_id}"


def parse_agent_payload(payload: str) -> tuple[str, str, int, bool] | None:
    """The inverse of `agent_notify_payload`: (sender, agent id, seq, due); None if malformed."""
    parts = payload[len(AGENT_PREFIX) :].split(" ", 3)
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ("0", "1") or not parts[3]:
        return None
    return parts[0], parts[3], int(parts[1]), parts[2] == "1"
