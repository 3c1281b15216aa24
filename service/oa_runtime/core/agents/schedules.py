"""Cron schedules and one-shot timers: which instants are due, and the frame of each firing.

A firing is identified by (schedule id, instant) and its frame id is derived from them, and the
agent's state keeps, per schedule, the instant up to which everything is settled (fired or
skipped): an instant at or before that mark is refused by the fold. So each instant fires at
most once, on any replica, after any restart, by construction.

Instants are computed by croniter in the schedule's IANA time zone (zoneinfo), then kept in
UTC. Daylight saving time: a wall-clock time that does not exist (spring forward) fires at the
first minute after the gap, once; a wall-clock time that happens twice (fall back) fires once,
at its first occurrence, unless the hour field is a wildcard or a step ("*", "*/2"), whose jobs
keep the real-time cadence through the repeated hour (as Vixie cron does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..events import NewEvent
from . import events as ev
from .spec import CatchUp, ScheduleSpec

# Instants enumerated per plan: a long outage is settled over several plans, each bounded.
MAX_SCAN = 1000  # about 0.1 s of croniter in a time zone


def schedule_frame_id(schedule_id: str, instant: datetime) -> str:
    return f"cron:{schedule_id}:{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def timer_frame_id(timer_id: str, set_seq: int) -> str:
    return f"timer:{timer_id}:{set_seq}"


def instants_after(schedule: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """The schedule's instants strictly after `after`, ascending, in UTC (endless)."""
    zone = ZoneInfo(schedule.time_zone)
    from croniter import croniter  # here: a service with no schedule starts without it

    cron = croniter(schedule.cron, after.astimezone(zone))
    wildcard_hour = schedule.cron.split()[1].startswith("*")
    last = after
    while True:
        local: datetime = cron.get_next(datetime)
        instant = local.astimezone(UTC)
        if instant <= last:
            continue
        if local.fold == 1 and not wildcard_hour and _is_repeated(local):
            continue
        last = instant
        yield instant


def _is_repeated(local: datetime) -> bool:
    """A wall-clock time's second occurrence (the fall-back hour)."""
    return local.replace(fold=0).utcoffset() != local.utcoffset()


def next_firing(schedule: ScheduleSpec, after: datetime) -> datetime:
    return next(instants_after(schedule, after))


@dataclass(frozen=True, slots=True)
class FiringPlan:
    fire: tuple[datetime, ...]  # ascending
    late: frozenset[datetime]  # those of `fire` that were missed (older than the grace)
    skipped: int  # missed instants the catch-up policy drops
    skipped_through: datetime | None  # the newest of them


def plan_firings(schedule: ScheduleSpec, settled: datetime, now: datetime) -> FiringPlan:
    """What to do with the instants in (settled, now]: fire the on-time ones (within the grace),
    and the missed ones as the catch-up policy says."""
    edge = now - schedule.misfire_grace
    missed: list[datetime] = []
    on_time: list[datetime] = []
    for n, instant in enumerate(instants_after(schedule, settled)):
        if instant > now:
            break
        if n >= MAX_SCAN:  # settle what was scanned; the next plan goes on from there
            return FiringPlan((), frozenset(), len(missed), missed[-1] if missed else None)
        (missed if instant <= edge else on_time).append(instant)
    if schedule.catch_up == CatchUp.ALL:
        keep = missed[-schedule.max_catch_up :]
    elif schedule.catch_up == CatchUp.ONCE:
        keep = missed[-1:]
    else:
        keep = []
    dropped = missed[: len(missed) - len(keep)]
    return FiringPlan((*keep, *on_time), frozenset(keep), len(dropped), dropped[-1] if dropped else None)


def due_firings(schedule: ScheduleSpec, last_fired_instant: datetime, now: datetime) -> list[datetime]:
    """The instants to fire now, given everything up to `last_fired_instant` is settled."""
    return list(plan_firings(schedule, last_fired_instant, now).fire)


def schedule_events(schedule: ScheduleSpec, settled: datetime, now: datetime) -> list[NewEvent]:
    """The events recording a plan: the skipped instants first, then each firing."""
    plan = plan_firings(schedule, settled, now)
    out: list[NewEvent] = []
    if plan.skipped_through is not None:
        out.append(ev.firings_skipped(schedule.schedule_id, plan.skipped_through, plan.skipped))
    for instant in plan.fire:
        frame_id = schedule_frame_id(schedule.schedule_id, instant)
        out.append(
            ev.timer_fired(
                ev.SOURCE_SCHEDULE,
                schedule.schedule_id,
                instant,
                frame_id,
                late=instant in plan.late,
                text=schedule.text,
            )
        )
    return out
