"""Local days across cities: which meetings start on a span of days, each in its city's zone.

A list of meetings may span cities that declare different zones (SPEC §1 ``timezone:``),
so "meetings from 3 March to 8 March" is a window per zone, not one window in UTC. The
pages' "today" is the viewer's: the zone of their own city (their login's, else their
person entry's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from meetings.db import City, Occurrence, Person, Series, User
from meetings.kernel.localtime import DEFAULT_TIMEZONE, day_span, local_today


@dataclass(frozen=True)
class CityZones:
    """The zones the declared cities are in: zone name → the ids of its cities."""

    cities: Mapping[str, tuple[int, ...]]

    @classmethod
    def load(cls, session: Session) -> CityZones:
        by_zone: dict[str, list[int]] = defaultdict(list)
        for city_id, tz in session.execute(select(City.id, City.timezone).order_by(City.id)):
            by_zone[tz or DEFAULT_TIMEZONE].append(city_id)
        return cls({tz: tuple(ids) for tz, ids in by_zone.items()})

    def earliest_today(self, now: datetime) -> date:
        """The earliest local day ``now`` falls on in any city, so no city's today is missed."""
        days = [local_today(now, tz) for tz in self.cities] or [local_today(now, None)]
        return min(days)

    def starting_on(self, first: date, last: date) -> ColumnElement[bool]:
        """Meetings starting on local days ``first``..``last`` (inclusive) in their city's zone."""
        if len(self.cities) <= 1:  # one zone for every meeting: no need to ask whose
            lo, hi = day_span(first, last, next(iter(self.cities), None))
            return and_(Occurrence.start_at >= lo, Occurrence.start_at < hi)
        windows = []
        for tz, ids in self.cities.items():
            lo, hi = day_span(first, last, tz)
            windows.append(
                and_(
                    Occurrence.series_id.in_(select(Series.id).where(Series.city_id.in_(ids))),
                    Occurrence.start_at >= lo,
                    Occurrence.start_at < hi,
                )
            )
        return or_(false(), *windows)


def viewer_timezone(session: Session, email: str) -> str:
    """The zone of the viewer's own city: their login's city, else the city of the person
    with their email (a ministry login has no city); without either, the zone every city
    shares, else the default."""
    email = email.strip().lower()
    # The login is who is looking; a person entry may be missing or in another city.
    own = session.scalar(
        select(City.timezone).join(User, User.city_id == City.id).where(User.email == email)
    )
    own = own or session.scalar(
        select(City.timezone)
        .join(Person, Person.city_id == City.id)
        .where(func.lower(Person.email) == email)
        .order_by(City.id)
        .limit(1)
    )
    if own:
        return own
    zones = set(session.scalars(select(City.timezone).distinct()))
    return zones.pop() if len(zones) == 1 else DEFAULT_TIMEZONE


def viewer_today(session: Session, email: str, now: datetime) -> date:
    """The viewer's calendar day (in their city's zone, see :func:`viewer_timezone`)."""
    return local_today(now, viewer_timezone(session, email))
