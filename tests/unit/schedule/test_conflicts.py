"""Double-booking detection and the greedy placer: pure, hand-computed cases."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from meetings.kernel.localtime import DEFAULT_TIMEZONE
from meetings.schedule.cadence import localize
from meetings.schedule.conflicts import Booking, find_conflicts, seats
from meetings.schedule.placing import Wish, settle, window_days
from meetings.schedule.planning import Placement
from meetings.schedule.workdays import OfficeCalendar

TZ = ZoneInfo(DEFAULT_TIMEZONE)  # the shipped cities declare no other zone
CAL = OfficeCalendar()
TWO_HOURS = timedelta(hours=2)


def at(d: date, hh: int = 14, mm: int = 0) -> datetime:
    return localize(d, time(hh, mm), TZ)


def booking(key: str, d: date, need: set[str], hh: int = 14, movable: bool = False) -> Booking:
    return Booking(key, at(d, hh), at(d, hh) + TWO_HOURS, frozenset(need), movable)


def wish(key: str, d: date, need: set[str], order: int = 0, weekly: bool = False) -> Wish:
    return Wish(
        key=key,
        placement=Placement(at(d), at(d) + TWO_HOURS, None),
        nominal=d,
        start_time=time(14),
        duration=TWO_HOURS,
        seats=frozenset(need),
        weekly=weekly,
        order=(-len(need), key, order),
    )


def days_of(placed: dict[object, Placement]) -> dict[object, date]:
    return {k: p.start_at.astimezone(TZ).date() for k, p in placed.items()}


def test_an_agency_with_a_unit_in_the_district_sits_there_as_the_unit() -> None:
    units = {"POL": frozenset({"中壢區"})}
    assert seats(["POL", "DVPC"], "中壢區", units) == {"POL@中壢區", "DVPC"}
    assert seats(["POL", "DVPC"], "桃園區", units) == {"POL", "DVPC"}
    assert seats(["POL"], None, units) == {"POL"}


def test_a_clash_needs_overlapping_times_and_a_required_seat_in_common() -> None:
    wed = date(2023, 3, 8)
    found = find_conflicts(
        [
            booking("a", wed, {"POL", "EDU"}),
            booking("b", wed, {"EDU"}, hh=15),  # overlaps a, shares EDU
            booking("c", wed, {"EDU"}, hh=9),  # 09:00–11:00: no overlap
            booking("d", wed, {"LABOR"}, hh=14),  # overlaps, shares nothing
            booking("e", wed, {"POL@中壢區"}),  # the 中壢分局 is not the city police
        ]
    )
    assert [(c.first.key, c.second.key, set(c.seats)) for c in found] == [("a", "b", {"EDU"})]
    assert not found[0].avoidable


def test_the_meeting_with_more_agencies_keeps_its_day_the_other_takes_the_next_free_one() -> None:
    wed = date(2023, 3, 8)
    placed = settle(
        [wish("small", wed, {"EDU"}), wish("big", wed, {"EDU", "POL", "DVPC"})],
        [],
        CAL,
        TZ,
        localize,
        {"EDU": "教育局"},
    )
    assert days_of(placed) == {"big": wed, "small": date(2023, 3, 9)}
    assert placed["big"].moved_reason is None
    assert placed["small"].moved_reason == "避開教育局同一時段的其他會議"


def test_fixed_meetings_are_never_moved_and_make_up_saturdays_are_never_offered() -> None:
    # 2023-06-17 (Sat) is a make-up working day for the 6/23 Dragon Boat bridge day.
    assert CAL.is_working_day(date(2023, 6, 17))
    fri = date(2023, 6, 16)
    fixed = [booking("pinned", fri, {"EDU"})]
    placed = settle([wish("free", fri, {"EDU"})], fixed, CAL, TZ, localize, {})
    assert days_of(placed) == {"free": date(2023, 6, 19)}  # Monday, not Saturday the 17th
    assert date(2023, 6, 17) not in window_days(wish("w", fri, set()), CAL, TZ)


def test_with_no_free_day_in_its_month_a_meeting_stays_and_the_clash_is_reported() -> None:
    d = date(2023, 3, 8)
    fixed = [
        booking(f"f{i}", day, {"EDU"})
        for i, day in enumerate(d.replace(day=n) for n in range(1, 32))
        if CAL.is_working_day(day)
    ]
    placed = settle([wish("free", d, {"EDU"})], fixed, CAL, TZ, localize, {})
    assert days_of(placed) == {"free": d} and placed["free"].moved_reason is None


def test_a_weekly_meeting_moves_only_within_its_week() -> None:
    mon = date(2023, 3, 6)
    days = window_days(wish("w", mon, set(), weekly=True), CAL, TZ)
    assert days == [mon + timedelta(days=i) for i in range(5)]


def test_the_result_does_not_depend_on_the_order_of_the_input() -> None:
    wed = date(2023, 3, 8)
    wishes = [wish(f"m{i}", wed, {"EDU", "POL"} if i % 2 else {"EDU"}, i) for i in range(8)]
    first = days_of(settle(wishes, [], CAL, TZ, localize, {}))
    for seed in range(5):
        shuffled = wishes[:]
        random.Random(seed).shuffle(shuffled)
        assert days_of(settle(shuffled, [], CAL, TZ, localize, {})) == first
    assert len(set(first.values())) == 8  # eight meetings, eight different days
    assert not find_conflicts(
        Booking(k, at(d), at(d) + TWO_HOURS, wishes[int(str(k)[1:])].seats)
        for k, d in first.items()
    )


def test_a_meeting_still_to_come_never_moves_into_the_past() -> None:
    # Regenerating on 3/20: every day from 3/20 on is taken, and the free
    # days of March before the 20th are already past — so it stays (a reported clash).
    fri = date(2023, 3, 24)
    fixed = [booking(f"f{n}", fri.replace(day=n), {"EDU"}) for n in range(20, 32)]
    late = replace(wish("late", fri, {"EDU"}), not_before=at(date(2023, 3, 20), 9))
    assert days_of(settle([late], fixed, CAL, TZ, localize, {})) == {"late": fri}
    # As history (generated after the fact) it may take an earlier day of its month.
    assert days_of(settle([wish("late", fri, {"EDU"})], fixed, CAL, TZ, localize, {})) == {
        "late": date(2023, 3, 1)
    }
