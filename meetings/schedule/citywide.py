"""A city's meetings seen together: the conflict-aware plan, and the clashes that remain.

``city_plan`` plans every active cadence series of a city over whole years and lets
``placing.settle`` move the free meetings off each other and off what is fixed in
the database. ``generate_schedule`` applies the part of it the caller asked for; the
rest is computed only so that generating one series gives the days generating all
of them would. ``city_conflicts`` lists the clashes in the stored schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, City, Occurrence, Series
from meetings.kernel.localtime import zone
from meetings.kernel.vocabulary import OccurrenceStatus, Origin
from meetings.schedule.cadence import Cadence
from meetings.schedule.conflicts import Booking, Conflict, find_conflicts, seats
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.placing import Wish, settle
from meetings.schedule.planning import Placement, PlannedOccurrence, localize_cached, plan_series
from meetings.schedule.registry import SpecRegistry
from meetings.schedule.workdays import HolidayPolicy, OfficeCalendar

LIVE = (OccurrenceStatus.SCHEDULED, OccurrenceStatus.HELD)


def agency_units(session: Session, city_id: int) -> dict[str, frozenset[str]]:
    """Agency code → the districts where it has a unit (``agencies.units``)."""
    rows = session.execute(select(Agency.code, Agency.units).where(Agency.city_id == city_id)).all()
    return {code: frozenset(units or {}) for code, units in rows}


def agency_names(session: Session, city_id: int) -> dict[str, str]:
    rows = session.execute(select(Agency.code, Agency.name).where(Agency.city_id == city_id))
    return {code: name for code, name in rows}


def required_of(spec_json: Mapping[str, Any]) -> list[str]:
    """The required agency codes of a stored series declaration."""
    return list((spec_json.get("invite") or {}).get("required") or ())


@dataclass
class _CityWindow:
    """One city over [lo, hi]: its series, calendar and what the database fixes."""

    session: Session
    city: City
    registry: SpecRegistry
    lo: date
    hi: date
    now: datetime

    def __post_init__(self) -> None:
        self.tz = zone(self.city.timezone)
        self.calendar: OfficeCalendar = self.registry.calendar(self.city.id)
        self.units = agency_units(self.session, self.city.id)
        self._rows: list[tuple[Occurrence, Series]] | None = None

    def rows(self) -> list[tuple[Occurrence, Series]]:
        """The city's meetings around the window, of every status (cached)."""
        if self._rows is None:
            self._rows = self._query()
        return self._rows

    def _query(self) -> list[tuple[Occurrence, Series]]:
        lo = datetime.combine(self.lo - timedelta(days=7), time(), UTC)
        hi = datetime.combine(self.hi + timedelta(days=8), time(), UTC)
        q = (
            select(Occurrence, Series)
            .join(Series, Series.id == Occurrence.series_id)
            .where(
                Series.city_id == self.city.id,
                Occurrence.start_at < hi,
                Occurrence.end_at > lo,
            )
        )
        return [(o, s) for o, s in self.session.execute(q).all()]

    def is_history(self, occ: Occurrence) -> bool:
        return occ.status == OccurrenceStatus.HELD or occ.start_at <= self.now

    def live(self) -> list[tuple[Occurrence, Series]]:
        return [(o, s) for o, s in self.rows() if o.status in LIVE]

    def booking(self, occ: Occurrence, series: Series, movable: bool = False) -> Booking:
        need = seats(required_of(series.spec), occ.district, self.units)
        return Booking(occ.uid, occ.start_at, occ.end_at, need, movable)


def _day_is_free(spec: SeriesSpec, cadence: Cadence | None) -> bool:
    """Whether the cadence leaves the meeting's day to the planner: no pinned day, a
    monthly-or-longer or weekly cycle, and not 照常舉行 (a deliberate choice of day)."""
    if cadence is None or cadence.pins_day or spec.policy == HolidayPolicy.KEEP:
        return False
    return cadence.period_days is None or cadence.period_days % 7 == 0


def _wish(
    spec: SeriesSpec, p: PlannedOccurrence, need: frozenset[str], index: int, now: datetime
) -> Wish:
    assert p.placement is not None and p.instance.cadence is not None
    # Still to come: it may move within its month, but not to a day already past.
    # (A past meeting generated as history may take any day of its month.)
    future = p.placement.start_at > now
    reviews_cases = spec.decl.agenda.listing_rule is not None
    return Wish(
        key=(p.instance.key, p.nominal_date),
        placement=p.placement,
        nominal=p.nominal_date,
        start_time=spec.start_time,
        duration=spec.duration,
        seats=need,
        weekly=p.instance.cadence.period_days is not None,
        order=(_cycle_days(p.instance.cadence), not reviews_cases, -len(need), spec.id, index),
        not_before=now if future else None,
    )


def _cycle_days(cadence: Cadence) -> int:
    """About how many days apart the cadence's meetings are (for precedence only)."""
    if cadence.period_days is not None:
        return cadence.period_days
    if cadence.period_months is not None:
        return 30 * cadence.period_months
    return 30 * (12 // len(cadence.months)) if cadence.months else 30


def _plan_city(w: _CityWindow, series: Iterable[Series]) -> dict[str, list[PlannedOccurrence]]:
    stored = {
        (o.instance_key, o.nominal_date): o for o, _ in w.rows() if o.origin == Origin.CADENCE
    }
    fixed = [w.booking(o, s) for o, s in w.live() if o.origin != Origin.CADENCE or w.is_history(o)]
    plans: dict[str, list[PlannedOccurrence]] = {}
    wishes: list[Wish] = []
    kept: dict[tuple[str, date], Placement] = {}
    for s in series:
        spec = w.registry.spec(s)
        if spec.cadence is None:
            continue
        plans[s.id] = plan_series(spec, w.lo, w.hi, w.calendar, w.tz)
        index = {inst.key: i for i, inst in enumerate(spec.instances)}
        for p in plans[s.id]:
            if p.placement is None:
                continue
            row = stored.get((p.instance.key, p.nominal_date))
            if row is not None and w.is_history(row):
                # History stays where it is (booked above, unless cancelled).
                if row.status != OccurrenceStatus.CANCELLED:
                    kept[(p.instance.key, p.nominal_date)] = Placement(
                        row.start_at, row.end_at, row.moved_reason
                    )
                continue
            need = seats(spec.decl.invite.required, p.instance.district, w.units)
            if not _day_is_free(spec, p.instance.cadence):
                fixed.append(
                    Booking(
                        (p.instance.key, p.nominal_date),
                        p.placement.start_at,
                        p.placement.end_at,
                        need,
                    )
                )
            else:
                wishes.append(_wish(spec, p, need, index[p.instance.key], w.now))
    names = agency_names(w.session, w.city.id)
    settled = settle(wishes, fixed, w.calendar, w.tz, localize_cached, names) | kept
    return {
        sid: [
            replace(p, placement=settled.get((p.instance.key, p.nominal_date), p.placement))
            for p in planned
        ]
        for sid, planned in plans.items()
    }


def city_plan(
    session: Session,
    registry: SpecRegistry,
    city: City,
    start: date,
    end: date,
    now: datetime,
) -> dict[str, list[PlannedOccurrence]]:
    """Every active cadence series of ``city``, planned over the whole years of
    [start, end] with its free meetings placed off each other (series id → meetings)."""
    lo, hi = date(start.year, 1, 1), date(end.year, 12, 31)
    window = _CityWindow(session, city, registry, lo, hi, now)
    active = session.scalars(
        select(Series).where(Series.city_id == city.id, Series.active).order_by(Series.id)
    )
    return _plan_city(window, active)


def city_conflicts(
    session: Session,
    registry: SpecRegistry,
    city: City,
    start: date,
    end: date,
    now: datetime,
) -> list[Conflict]:
    """The clashes among the city's scheduled and held meetings starting in [start, end].

    A clash is *avoidable* when one of the two is a future cadence meeting whose day
    the cadence leaves free (``liaison schedule generate`` would move it)."""
    window = _CityWindow(session, city, registry, start, end, now)
    lo = datetime.combine(start, time(), window.tz)
    hi = datetime.combine(end + timedelta(days=1), time(), window.tz)
    bookings = []
    for occ, series in window.live():
        if not (lo <= occ.start_at < hi):
            continue
        movable = occ.origin == Origin.CADENCE and not window.is_history(occ)
        if movable:
            movable = _free_day(registry.spec(series), occ)
        bookings.append(window.booking(occ, series, movable))
    return find_conflicts(bookings)


def _free_day(spec: SeriesSpec, occ: Occurrence) -> bool:
    try:
        return _day_is_free(spec, spec.instance(occ.instance_key).cadence)
    except KeyError:
        return False
