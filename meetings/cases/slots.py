"""The first slot of a ``within`` window that fits the invitees.

「5個工作日內召開」 asks for the meeting as soon as it can be held, not on the last
allowed day: the first working weekday after the event whose slot puts none of the
series' required agencies in another meeting at the same time. Make-up Saturdays
(補行上班) are working days, but no one plans a case meeting on one. Pure apart from
the one query for the city's meetings in the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Occurrence, Series
from meetings.kernel.vocabulary import OccurrenceStatus
from meetings.schedule.citywide import agency_units, required_of
from meetings.schedule.conflicts import Booking, Diary, seats
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.planning import Placement
from meetings.schedule.workdays import OfficeCalendar


def candidate_days(after: date, deadline: date, calendar: OfficeCalendar) -> list[date]:
    """Working weekdays after ``after`` up to ``deadline``, in order."""
    days: list[date] = []
    day = after
    while True:
        day = calendar.add_working_days(day, 1)
        if day > deadline:
            return days
        if day.weekday() < 5:
            days.append(day)


def first_fit(
    spec: SeriesSpec,
    days: Iterable[date],
    busy: list[Booking],
    needed: frozenset[str],
    tz: tzinfo,
    now: datetime,
) -> Placement | None:
    """The first of ``days`` whose slot (series time and duration) is still to come and
    clashes with no meeting requiring one of the ``needed`` seats; None if none."""
    diary = Diary(busy)
    for day in days:
        start = datetime.combine(day, spec.start_time, tz).astimezone(UTC)
        if start <= now:
            continue
        trial = Booking(None, start, start + spec.duration, needed)
        if diary.is_free(trial):
            return Placement(trial.start_at, trial.end_at, None)
    return None


def busy_between(session: Session, city_id: int, start: datetime, end: datetime) -> list[Booking]:
    """The city's scheduled meetings overlapping [start, end), with the seats they require."""
    units = agency_units(session, city_id)
    rows = session.execute(
        select(
            Occurrence.uid, Occurrence.start_at, Occurrence.end_at, Occurrence.district, Series.spec
        )
        .join(Series, Series.id == Occurrence.series_id)
        .where(
            Series.city_id == city_id,
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.start_at < end,
            Occurrence.end_at > start,
        )
    ).all()
    return [
        Booking(uid, s, e, seats(required_of(spec), district, units))
        for uid, s, e, district, spec in rows
    ]
