"""Coverage KPIs of SPEC §7: the SQL aggregates that fill the formulas' counts.

One row per series instance (a series, or one district/zone of a per-district
series) plus a total row over the selection. Every count, distinct count and median
is a SQL aggregate; Python only adds up the aggregated per-instance (and per-month)
numerators and denominators and turns them into rates.

Decisions where SPEC §7 is silent (also in docs/records.md):

- The year of a meeting is the year of its nominal date (``meetings_scheduled``);
  ``meetings_held``, attendance, minutes and discussions count over those meetings.
- Cycle (``held_on_schedule_rate``): the cadence cycle of the occurrence's series
  instance containing its nominal date, fixed when the meeting is recorded held.
  Ad-hoc meetings of a cadence series use that cadence's cycle; meetings of
  event-triggered series (no cadence) use the calendar month of the nominal date.
  A meeting marked held without a recorded date counts as held in its cycle.
- ``agency_attendance_rate`` covers the series' currently required agencies; an
  agency counts once per meeting whether one or several of its people came.
- ``listed_case_discussion_rate``: a case counts once per series instance even when
  relisted; its listing date is its first listing under the rule in the year. A
  discussion is dated by the day the meeting was held. Per-district instances count
  the cases of their district; zones with ``agenda.zone_districts`` the cases of their
  districts. ``median_days_to_discussion`` is over the same (instance, case) pairs.
- ``action_items_closed_on_time_rate``: items of the instance's meetings (of any
  year) whose due date is in the year; closed on or before the due date.
- The seat KPIs (``reply_rate``, ``designated_attendance_rate``,
  ``representative_continuity``): ``meetings.kpis.seat_kpis``.
- ``--as-of`` inside the year cuts the year there: meetings with a later nominal date,
  listings with a later listing date and action items due later were not yet due and
  count nowhere (not as failures). Past the year's end it only extends the discussions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    extract,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.db import (
    ActionItem,
    Agency,
    Attendance,
    CaseDiscussion,
    City,
    HeldMeeting,
    Minutes,
    Occurrence,
    Series,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import gregorian_year
from meetings.kernel.vocabulary import ATTENDED
from meetings.kpis.formulas import KpiReport, MonthCounts, RowCounts, YearCounts, year_bounds
from meetings.kpis.listings import listing_counts
from meetings.kpis.seat_kpis import add_seat_counts, seat_counts, seat_facts
from meetings.kpis.selection import (
    Selection,
    check_district,
    declared_rows,
    held,
    on_schedule,
    withdrawn,
)
from meetings.records.deliverables import Window, on_time_counts, owed
from meetings.schedule.occurrences import get_series


class _Rows:
    """The report's rows by instance key: the declared ones, then any found only in data."""

    def __init__(self, session: Session, rows: list[RowCounts], titles: dict[str, str]) -> None:
        self.session = session
        self.rows = rows
        self.titles = titles
        self.by_key: dict[str, RowCounts] = {r.instance or "": r for r in rows}

    def row_for(self, key: str, series: str, place: str | None, dist: str | None) -> RowCounts:
        """The row of an instance; one is added for an instance no longer declared."""
        row = self.by_key.get(key)
        if row is None:
            row = RowCounts(
                series=series,
                district=place,
                instance=key,
                case_districts=(dist,) if dist else None,
            )
            stored = self.session.get(Series, series)
            if stored is not None:
                self.titles.setdefault(series, stored.title)
                row.required = tuple(stored.spec.get("invite", {}).get("required", []))
                row.listing_rule = (stored.spec.get("agenda") or {}).get("listing_rule")
                row.city_id = stored.city_id
                row.targets = dict(stored.spec.get("targets") or {})
            row.title = self.titles.get(series, series)
            self.by_key[key] = row
            self.rows.append(row)
        return row


def _month() -> ColumnElement[Any]:
    return extract("month", Occurrence.nominal_date)


def _meeting_counts(
    session: Session, rows: _Rows, filters: list[ColumnElement[bool]]
) -> dict[int, MonthCounts]:
    """Meetings scheduled / held / held in their cycle / minutes on time, per instance and
    month (one pass over the year's meetings)."""
    minutes_on_time = and_(
        held(),
        HeldMeeting.occurrence_id.is_not(None),
        Minutes.occurrence_id.is_not(None),
        Minutes.recorded_on <= HeldMeeting.minutes_due_on,
    )
    month = _month()
    q = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            month,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.sum(case((withdrawn(), 0), else_=1)),
            func.sum(case((withdrawn(), 1), else_=0)),
            func.sum(case((held(), 1), else_=0)),
            func.sum(case((on_schedule(), 1), else_=0)),
            func.sum(case((minutes_on_time, 1), else_=0)),
        )
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .outerjoin(Minutes, Minutes.occurrence_id == Occurrence.id)
        .where(*filters)
        .group_by(Occurrence.series_id, Occurrence.instance_key, month)
    )
    monthly = {m: MonthCounts(m) for m in range(1, 13)}
    for sid, key, m, place, dist, n, gone, n_held, on_time, minutes in session.execute(q):
        row = rows.row_for(key, sid, place, dist)
        mc = monthly[int(m)]
        row.scheduled += int(n)
        row.withdrawn += int(gone or 0)
        row.held += int(n_held or 0)
        row.on_schedule += int(on_time or 0)
        row.minutes_on_time += int(minutes or 0)
        mc.scheduled += int(n)
        mc.held += int(n_held or 0)
        mc.on_schedule += int(on_time or 0)
    return monthly


def _attendance(session: Session, rows: _Rows, filters: list[ColumnElement[bool]]) -> None:
    """Held meetings with each required agency present or delegated, per instance."""
    q = (
        select(
            Occurrence.instance_key,
            Attendance.agency_code,
            func.count(distinct(Attendance.occurrence_id)),
        )
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(*filters, held(), Attendance.status.in_(sorted(ATTENDED)))
        .group_by(Occurrence.instance_key, Attendance.agency_code)
    )
    attended = {(key, code): int(n) for key, code, n in session.execute(q)}
    for row in rows.rows:
        row.agencies = {
            code: (attended.get((row.instance or "", code), 0), row.held) for code in row.required
        }


def _discussions(
    session: Session,
    rows: _Rows,
    filters: list[ColumnElement[bool]],
    monthly: dict[int, MonthCounts],
) -> int:
    """Discussions at the year's held meetings: per instance (records, distinct cases), per
    month, and distinct cases over the whole selection (returned), from one join."""
    disc = (
        select(
            Occurrence.instance_key.label("k"),
            _month().label("m"),
            CaseDiscussion.case_no.label("c"),
        )
        .join(CaseDiscussion, CaseDiscussion.occurrence_uid == Occurrence.uid)
        .where(*filters, held())
        .cte("disc")
    )
    q = union_all(
        select(
            literal("k").label("kind"),
            disc.c.k,
            null().label("m"),
            func.count(),
            func.count(distinct(disc.c.c)),
        ).group_by(disc.c.k),
        select(literal("m"), cast(null(), String), disc.c.m, func.count(), literal(0)).group_by(
            disc.c.m
        ),
        select(
            literal("t"), cast(null(), String), null(), func.count(), func.count(distinct(disc.c.c))
        ),
    )
    total_distinct = 0
    for kind, key, m, n, distinct_cases in session.execute(q):
        if kind == "k" and key in rows.by_key:
            rows.by_key[key].case_discussions = int(n)
            rows.by_key[key].cases_discussed = int(distinct_cases)
        elif kind == "m" and m is not None:
            monthly[int(m)].case_discussions = int(n)
        elif kind == "t":
            total_distinct = int(distinct_cases or 0)
    return total_distinct


def _action_items(session: Session, rows: _Rows, sel: Selection) -> None:
    """Action items due in the year (of the instance's meetings of any year)."""
    closed_on_time = and_(
        ActionItem.closed_on.is_not(None), ActionItem.closed_on <= ActionItem.due_on
    )
    q = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.count(),
            func.sum(case((closed_on_time, 1), else_=0)),
        )
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .where(
            *sel.occurrences(), ActionItem.due_on >= sel.start, ActionItem.due_on <= sel.last_day
        )
        .group_by(Occurrence.series_id, Occurrence.instance_key)
    )
    for sid, key, place, dist, n, closed in session.execute(q):
        row = rows.row_for(key, sid, place, dist)
        row.actions_due, row.actions_on_time = int(n), int(closed or 0)


def _deliverables(session: Session, rows: _Rows, sel: Selection) -> None:
    """Series deliverables due in the year (cut at --as-of), per instance."""
    window = Window(sel.start, sel.last_day, sel.city_id, sel.series_id, sel.district)
    for (sid, key), (on_time, due) in on_time_counts(owed(session, window)).items():
        row = rows.row_for(key, sid, None, None)
        row.deliverables_due, row.deliverables_on_time = due, on_time


def _agency_names(session: Session, city_id: int | None) -> dict[str, str]:
    """The report's city's agency names by code (codes are per city)."""
    q = select(Agency.code, Agency.name)
    if city_id is not None:
        q = q.where(Agency.city_id == city_id)
    return {code: name for code, name in session.execute(q)}


def report_city(session: Session, city_id: int | None, series_id: str | None) -> int | None:
    """The one city a report counts: ``city_id``, the series' city, or the only city.

    Figures are never pooled across cities: agency codes are per city, so one city's
    agency names would label another's figures.
    """
    if series_id is not None:
        # Another city's series is unknown here, and only this city's are named as known.
        scope = None if city_id is None else [city_id]
        return get_series(session, series_id, scope).city_id
    if city_id is not None:
        return city_id
    cities = list(session.scalars(select(City.id).limit(2)))
    if len(cities) > 1:
        raise OperationError("several cities are loaded: give --city (KPIs are per city)")
    return cities[0] if cities else None


def _selection(
    session: Session,
    year: int,
    series_id: str | None,
    district: str | None,
    as_of: date | None,
    city_id: int | None = None,
) -> tuple[Selection, date]:
    """The checked request: what to count, and the day discussions count up to."""
    if not (1 <= year <= 300 or 1912 <= year <= 2300):
        raise OperationError(f"year {year} is neither an ROC nor a Gregorian year")
    start, end = year_bounds(year)
    as_of = as_of or end
    if as_of < start:
        raise OperationError(f"--as-of {as_of} is before the year ({start} … {end})")
    city = report_city(session, city_id, series_id)
    if district is not None:
        check_district(session, district, city)
    return Selection(start, end, series_id, district, city, as_of), as_of


def compute_kpis(
    session: Session,
    year: int,
    *,
    series_id: str | None = None,
    district: str | None = None,
    as_of: date | None = None,
    city_id: int | None = None,
) -> KpiReport:
    """Every SPEC §7 key for a year (ROC or Gregorian) of one city (``city_id``; may be
    left out when one city is loaded or a series is given), per series instance and in
    total."""
    sel, as_of = _selection(session, year, series_id, district, as_of, city_id)
    rows = _Rows(session, *declared_rows(session, sel))
    filters = sel.occurrences() + sel.in_year()
    # The order matters: rows found only in the data are added by the meeting and
    # action item counts, and get attendance only from the first.
    monthly = _meeting_counts(session, rows, filters)
    _attendance(session, rows, filters)
    add_seat_counts(rows.by_key, seat_counts(seat_facts(session, sel)))
    total_distinct = _discussions(session, rows, filters, monthly)
    _action_items(session, rows, sel)
    _deliverables(session, rows, sel)
    total = RowCounts(series=None, district=district)
    total.median_days = listing_counts(session, rows.rows, sel.start, sel.last_day, as_of)
    for row in rows.rows:
        total.add(row)
    total.cases_discussed = total_distinct
    return KpiReport(
        year=sel.start.year,
        as_of=as_of,
        rows=rows.rows,
        total=total,
        monthly=list(monthly.values()),
        agency_names=_agency_names(session, sel.city_id),
        series_titles=rows.titles,
        series_filter=series_id,
        district_filter=district,
        city_id=sel.city_id,
        targets=_report_targets(session, sel.city_id, series_id),
    )


def _report_targets(session: Session, city_id: int | None, series_id: str | None) -> dict[str, Any]:
    """What the total row is judged by: the one series' own targets when the report is
    of a series that declares some, else the city's."""
    if series_id is not None:
        series = session.get(Series, series_id)
        if series is not None and series.spec.get("targets"):
            return dict(series.spec["targets"])
    city = session.get(City, city_id) if city_id is not None else None
    return dict(city.targets or {}) if city is not None else {}


# --- grant-report counts over several years -------------------------------------------


def grant_counts(
    session: Session,
    year: int,
    *,
    years: int = 5,
    series_id: str | None = None,
    district: str | None = None,
    city_id: int | None = None,
) -> list[YearCounts]:
    """Meetings held, discussion records and distinct cases discussed per year.

    The ``years`` years up to and including ``year`` (ROC or Gregorian), oldest first;
    same counting rules as the KPI report (year of the nominal date, held meetings).
    """
    last = gregorian_year(year)
    city = report_city(session, city_id, series_id)
    sel = Selection(date(last - years + 1, 1, 1), date(last, 12, 31), series_id, district, city)
    y = extract("year", Occurrence.nominal_date)
    filters = [*sel.occurrences(), *sel.in_year(), held()]
    n_held = {
        int(k): int(n)
        for k, n in session.execute(select(y, func.count()).where(*filters).group_by(y))
    }
    disc = {
        int(k): (int(n), int(c))
        for k, n, c in session.execute(
            select(y, func.count(), func.count(distinct(CaseDiscussion.case_no)))
            .join(CaseDiscussion, CaseDiscussion.occurrence_uid == Occurrence.uid)
            .where(*filters)
            .group_by(y)
        )
    }
    return [
        YearCounts(g, n_held.get(g, 0), *disc.get(g, (0, 0)))
        for g in range(last - years + 1, last + 1)
    ]
