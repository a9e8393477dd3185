"""What a KPI report covers: the selected series instances and the SQL filters for them.

``Selection`` is a year (or several) and an optional series and district; the
expressions below are the shared pieces of every KPI aggregate (held, held on
schedule, the day held).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.db import District, HeldMeeting, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import CancelCause, OccurrenceStatus
from meetings.kpis.formulas import RowCounts
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.registry import SpecRegistry


@dataclass
class Selection:
    """The meetings a report counts: nominal dates in [start, end], a series, a district."""

    start: date
    end: date
    series_id: str | None
    district: str | None
    city_id: int | None = None  # one city's meetings (None: every city, one loaded)
    # ``--as-of`` inside the year: nothing after it was due yet, so it is not counted.
    as_of: date | None = None

    @property
    def last_day(self) -> date:
        """The last day whose meetings, listings and due action items count."""
        return min(self.end, self.as_of) if self.as_of else self.end

    def occurrences(self) -> list[ColumnElement[bool]]:
        """Filters on Occurrence for the selected city/series/district (no date filter)."""
        out: list[ColumnElement[bool]] = []
        if self.city_id is not None:
            out.append(
                Occurrence.series_id.in_(select(Series.id).where(Series.city_id == self.city_id))
            )
        if self.series_id is not None:
            out.append(Occurrence.series_id == self.series_id)
        if self.district is not None:
            out.append(or_(Occurrence.district == self.district, Occurrence.zone == self.district))
        return out

    def in_year(self) -> list[ColumnElement[bool]]:
        return [Occurrence.nominal_date >= self.start, Occurrence.nominal_date <= self.last_day]


def held() -> ColumnElement[bool]:
    return Occurrence.status == OccurrenceStatus.HELD


def withdrawn() -> ColumnElement[bool]:
    """An event meeting cancelled because its reason went (the case closed, a newer event
    superseded it): it was never owed, so it is no failure to hold it."""
    return and_(
        Occurrence.status == OccurrenceStatus.CANCELLED,
        Occurrence.cancel_cause.in_([CancelCause.CASE_CLOSED, CancelCause.SUPERSEDED]),
    )


def on_schedule() -> ColumnElement[bool]:
    """Held inside the cycle (a held meeting without a recorded date counts as on time)."""
    return and_(
        held(),
        or_(
            HeldMeeting.occurrence_id.is_(None),
            HeldMeeting.held_on.between(HeldMeeting.cycle_first, HeldMeeting.cycle_last),
        ),
    )


def held_day() -> ColumnElement[Any]:
    """The day a held meeting took place (its nominal date when none was recorded)."""
    return func.coalesce(HeldMeeting.held_on, Occurrence.nominal_date)


def days_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Whole days from ``earlier`` to ``later`` (dates), on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    return cast(later - earlier, Integer)


def check_district(session: Session, district: str, city_id: int | None = None) -> None:
    """Refuse a district or zone the city (``city_id``; None: any) neither declares nor
    has a meeting in; the message names only that city's."""
    names = select(District.name)
    zones = select(Occurrence.zone).distinct()
    if city_id is not None:
        names = names.where(District.city_id == city_id)
        zones = zones.where(
            Occurrence.series_id.in_(select(Series.id).where(Series.city_id == city_id))
        )
    known = set(session.scalars(names))
    known |= {z for z in session.scalars(zones) if z}
    if district not in known:
        raise OperationError(
            f"unknown district or zone {district!r}"
            + (f" (known: {', '.join(sorted(known))})" if known else "")
        )


def _instance_rows(series: Series, spec: SeriesSpec, district: str | None) -> list[RowCounts]:
    """The rows of one series' instances (only ``district``'s when one is selected)."""
    zone_districts = spec.decl.agenda.zone_districts or {}
    rows: list[RowCounts] = []
    for inst in spec.instances:
        place = inst.district or inst.zone
        if district is not None and place != district:
            continue
        districts: tuple[str, ...] | None = None
        if inst.district is not None:
            districts = (inst.district,)
        elif inst.zone is not None and inst.zone in zone_districts:
            districts = tuple(zone_districts[inst.zone])
        rows.append(
            RowCounts(
                series=series.id,
                district=place,
                instance=inst.key,
                title=inst.title,
                required=tuple(spec.decl.invite.required),
                case_districts=districts,
                listing_rule=spec.decl.agenda.listing_rule,
                city_id=series.city_id,
                targets=dict(spec.decl.targets or {}),
            )
        )
    return rows


def declared_rows(session: Session, sel: Selection) -> tuple[list[RowCounts], dict[str, str]]:
    """A row for each instance of each selected active series, in declaration order;
    and the series' titles."""
    q = select(Series).order_by(Series.city_id, Series.id)
    if sel.city_id is not None:
        q = q.where(Series.city_id == sel.city_id)
    if sel.series_id is not None:
        q = q.where(Series.id == sel.series_id)
    else:
        q = q.where(Series.active.is_(True))
    registry = SpecRegistry(session)
    rows: list[RowCounts] = []
    titles: dict[str, str] = {}
    for series in session.scalars(q):
        titles[series.id] = series.title
        try:
            spec = registry.spec(series)
        except ValueError:
            continue  # a stored declaration that no longer resolves: rows come from data
        rows += _instance_rows(series, spec, sel.district)
    return rows, titles
