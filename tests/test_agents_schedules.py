"""Schedules and timers (core/agents/schedules.py): cron instants in a time zone through DST
changes, the catch-up policies, and the exactly-once property across arbitrary split points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oa_runtime.core.agents import events as ev
from oa_runtime.core.agents import schedules as sc
from oa_runtime.core.agents.spec import CatchUp, ScheduleSpec, validate_schedule
from oa_runtime.core.errors import InvalidArgument

from tests.test_agents_lifecycle import Sim, make_spec


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def firings(cron: str, zone: str, start: datetime, count: int) -> list[datetime]:
    return list(islice(sc.instants_after(ScheduleSpec("s", cron, zone), start), count))


def test_instants_are_utc_and_follow_the_zone() -> None:
    got = firings("0 9 * * 1-5", "Europe/Berlin", utc(2026, 11, 27, 12), 3)  # Friday noon UTC
    assert got == [utc(2026, 11, 30, 8), utc(2026, 12, 1, 8), utc(2026, 12, 2, 8)]  # CET = UTC+1
    assert all(i.tzinfo == UTC for i in got)


def test_spring_forward_a_missing_time_fires_once_after_the_gap() -> None:
    # New York, 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 never happens that day.
    got = firings("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 3)
    assert got == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]
    # Every 30 minutes: 02:00 and 02:30 both fall in the gap; 03:00 EDT fires once.
    got = firings("*/30 * * * *", "America/New_York", utc(2026, 3, 8, 6), 4)
    assert got == [utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8)]


def test_fall_back_a_fixed_time_fires_once_a_wildcard_hour_keeps_real_time() -> None:
    # New York, 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    daily = firings("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), 2)
    assert daily == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]  # not 06:30 on Nov 1 too
    in_hour_one = firings("*/20 1 * * *", "America/New_York", utc(2026, 11, 1, 4), 4)
    assert in_hour_one == [
        utc(2026, 11, 1, 5),
        utc(2026, 11, 1, 5, 20),
        utc(2026, 11, 1, 5, 40),
        utc(2026, 11, 2, 6),
    ]
    hourly = firings("0 * * * *", "America/New_York", utc(2026, 11, 1, 4, 30), 4)
    assert hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)]


def test_dst_in_europe() -> None:
    # Berlin 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    assert firings("0 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), 2) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0),
    ]
    assert firings("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def every_minute(catch_up: CatchUp, max_catch_up: int = 10) -> ScheduleSpec:
    return ScheduleSpec("m", "* * * * *", catch_up=catch_up, max_catch_up=max_catch_up)


START = utc(2026, 11, 29, 12)


def test_on_time_instants_fire_whatever_the_policy() -> None:
    for policy in CatchUp:
        plan = sc.plan_firings(every_minute(policy), START, START + timedelta(seconds=90))
        assert plan.fire == (START + timedelta(minutes=1),) and plan.skipped == 0 and not plan.late


@pytest.mark.parametrize(
    ("policy", "fired_minutes", "skipped"),
    [
        (CatchUp.SKIP, [10], 9),  # 1..9 missed (older than the 60 s grace), 10 on time
        (CatchUp.ONCE, [9, 10], 8),
        (CatchUp.ALL, [6, 7, 8, 9, 10], 5),  # at most 4 missed ones, the latest
    ],
)
def test_catch_up_after_an_outage(policy: CatchUp, fired_minutes: list[int], skipped: int) -> None:
    schedule = every_minute(policy, max_catch_up=4)
    now = START + timedelta(minutes=10, seconds=30)
    plan = sc.plan_firings(schedule, START, now)
    assert plan.fire == tuple(START + timedelta(minutes=m) for m in fired_minutes)
    assert plan.skipped == skipped
    assert plan.late == frozenset(i for i in plan.fire if i < START + timedelta(minutes=10))
    assert sc.due_firings(schedule, START, now) == list(plan.fire)
    events = sc.schedule_events(schedule, START, now)
    assert events[0].type == ev.FIRINGS_SKIPPED and events[0].payload["count"] == skipped
    assert [e.payload["frame_id"] for e in events[1:]] == [
        f"cron:m:20261129T12{m:02d}00Z" for m in fired_minutes
    ]


def test_a_long_outage_is_settled_in_bounded_steps() -> None:
    schedule = every_minute(CatchUp.ONCE)
    now = START + timedelta(minutes=sc.MAX_SCAN * 2 + 5)
    sim = Sim(make_spec(schedules=(schedule,)))
    sim.now = now
    steps = 0
    while not any(e.type == ev.TIMER_FIRED for e in sim.log):
        sim.decide()
        steps += 1
    assert steps == 3  # two bounded scans skip, the third fires the latest missed instant
    fired = [e.payload["instant"] for e in sim.log if e.type == ev.TIMER_FIRED]
    assert fired == [ev.ts(now - timedelta(minutes=1)), ev.ts(now)]  # the latest missed one, then on time


def test_a_paused_agent_misses_instants_and_catches_up_after() -> None:
    sim = Sim(make_spec(schedules=(every_minute(CatchUp.ONCE),)))
    sim.append([ev.paused(ev.PAUSE_LOOP_DETECTED, "", sim.now)])
    sim.advance(minutes=30)
    assert sim.decide().events == ()
    sim.append([ev.resumed(ev.RESUME_REQUESTED, sim.now)])
    types = [e.type for e in sim.decide().events]
    assert types[:3] == [ev.FIRINGS_SKIPPED, ev.TIMER_FIRED, ev.TIMER_FIRED]  # catch-up, then on time


@pytest.mark.parametrize(
    ("field", "schedule"),
    [
        ("cron", ScheduleSpec("s", "* * * *")),
        ("cron", ScheduleSpec("s", "0 0 * * * *")),  # 6 fields: seconds are not offered
        ("cron", ScheduleSpec("s", "61 * * * *")),
        ("time_zone", ScheduleSpec("s", "* * * * *", "Mars/Olympus_Mons")),
        ("schedule_id", ScheduleSpec("a:b", "* * * * *")),
        ("max_catch_up", ScheduleSpec("s", "* * * * *", max_catch_up=0)),
        ("misfire_grace", ScheduleSpec("s", "* * * * *", misfire_grace=timedelta(0))),
    ],
)
def test_bad_schedules_are_refused(field: str, schedule: ScheduleSpec) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_schedule("schedules[0]", schedule)
    assert caught.value.field == f"schedules[0].{field}"


CRONS = st.sampled_from(
    ["* * * * *", "*/7 * * * *", "30 1 * * *", "0 * * * *", "*/20 1,2 * * *", "15 2 8 3 *"]
)
ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
# Around both 2026 DST changes in New York and Berlin (and Lord Howe's half-hour ones).
ORIGINS = st.sampled_from(
    [utc(2026, 3, 7, 20), utc(2026, 3, 28, 20), utc(2026, 10, 24, 20), utc(2026, 10, 31, 20)]
)


@settings(max_examples=150, deadline=None)
@given(
    CRONS,
    ZONES,
    ORIGINS,
    st.sampled_from(list(CatchUp)),
    st.integers(1, 5),
    st.lists(st.integers(1, 6 * 3600), min_size=1, max_size=25),
)
def test_due_firings_never_repeat_an_instant_across_split_points(
    cron: str, zone: str, origin: datetime, catch_up: CatchUp, max_catch_up: int, gaps: list[int]
) -> None:
    schedule = ScheduleSpec("s", cron, zone, catch_up, max_catch_up)
    settled, now = origin, origin
    fired: list[datetime] = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        plan = sc.plan_firings(schedule, settled, now)
        assert list(plan.fire) == sc.due_firings(schedule, settled, now)
        fired += plan.fire
        settled = max([settled, *plan.fire, *([plan.skipped_through] if plan.skipped_through else [])])
    every = _all_between(schedule, origin, now)
    assert fired == sorted(set(fired))  # strictly increasing: never twice
    assert set(fired) <= set(every)  # only real instants
    if all(g <= schedule.misfire_grace.total_seconds() for g in gaps):
        assert fired == every  # never late: nothing missed, whatever the policy
    if catch_up == CatchUp.ALL and schedule.max_catch_up >= len(every):
        assert fired == every


def _all_between(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    for instant in sc.instants_after(schedule, start):
        if instant > end:
            return out
        out.append(instant)
    raise AssertionError("unreachable")


@settings(max_examples=60, deadline=None)
@given(ORIGINS, st.lists(st.integers(1, 4 * 3600), min_size=1, max_size=15))
def test_through_the_fold_each_instant_fires_once(origin: datetime, gaps: list[int]) -> None:
    """The same through decide and the fold, the agent's frame ids unique."""
    schedules = (
        ScheduleSpec("a", "*/30 * * * *", "America/New_York", CatchUp.ALL, 3),
        ScheduleSpec("b", "30 1 * * *", "Europe/Berlin", CatchUp.ONCE),
    )
    sim = Sim(replace(make_spec(), schedules=schedules), now=origin)
    for gap in gaps:
        sim.advance(seconds=gap)
        sim.decide()
        if sim.state.turn is not None:
            sim.finish()
    frame_ids = [e.payload["frame_id"] for e in sim.log if e.type == ev.TIMER_FIRED]
    assert len(frame_ids) == len(set(frame_ids))
    for schedule_id in ("a", "b"):
        instants = [e.payload["instant"] for e in sim.log if e.payload.get("source_id") == schedule_id]
        assert instants == sorted(set(instants))
