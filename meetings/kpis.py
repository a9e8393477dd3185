"""Coverage KPIs of SPEC §7: the pure formulas, and the SQL aggregates that feed them.

One row per series instance (a series, or one district/zone of a per-district
series) plus a total row over the selection. Every count is a SQL aggregate; Python
only combines the per-instance numerators and denominators.

Decisions where SPEC §7 is silent (also in the README):

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
  relisted; its listing date is its first listing under the rule in the year.
  Per-district instances count the cases of their district.
- ``action_items_closed_on_time_rate``: items of the instance's meetings (of any
  year) whose due date is in the year; closed on or before the due date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, distinct, extract, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.cadence import Cadence, cycle_of
from meetings.models import ActionItem, Agency, Attendance, HeldMeeting, Minutes, Occurrence, Series
from meetings.operations import OperationError, SpecRegistry, get_series
from meetings.rocdate import gregorian_year, roc_year

KEYS = (
    "meetings_scheduled",
    "meetings_held",
    "held_on_schedule_rate",
    "agency_attendance_rate",
    "required_attendance_rate",
    "cases_discussed",
    "case_discussions",
    "listed_case_discussion_rate",
    "median_days_to_discussion",
    "minutes_on_time_rate",
    "action_items_closed_on_time_rate",
)
ATTENDED = ("present", "delegated")

# --- pure formulas -----------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    """numerator ÷ denominator × 100, one decimal (half up); None for a zero denominator."""
    if denominator == 0:
        return None
    value = (Decimal(numerator) * 100 / Decimal(denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return float(value)


def median(values: Sequence[int]) -> float | None:
    """The median of whole numbers (mean of the middle two for an even count); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def meeting_cycle(cadence: Cadence | None, nominal: date) -> tuple[date, date]:
    """The cycle of a meeting: its cadence's cycle, or its calendar month without one."""
    if cadence is not None:
        return cycle_of(cadence, nominal)
    first = nominal.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


def year_bounds(year: int) -> tuple[date, date]:
    """1 Jan and 31 Dec of a year given as ROC (112) or Gregorian (2023)."""
    y = gregorian_year(year)
    return date(y, 1, 1), date(y, 12, 31)


@dataclass
class RowCounts:
    """Numerators and denominators of one KPI row (a series instance or the total)."""

    series: str | None
    district: str | None = None
    instance: str | None = None
    title: str = ""
    required: tuple[str, ...] = ()
    case_district: str | None = None  # per-district rows count that district's cases
    listing_rule: str | None = None
    city_id: int | None = None
    scheduled: int = 0
    held: int = 0
    on_schedule: int = 0
    # agency code → (held meetings attended, held meetings where required)
    agencies: dict[str, tuple[int, int]] = field(default_factory=dict)
    cases_discussed: int = 0
    case_discussions: int = 0
    listed: int = 0
    listed_discussed: int = 0
    days_to_discussion: list[int] = field(default_factory=list)
    minutes_on_time: int = 0
    actions_due: int = 0
    actions_on_time: int = 0

    @property
    def required_attended(self) -> int:
        return sum(n for n, _ in self.agencies.values())

    @property
    def required_slots(self) -> int:
        return sum(d for _, d in self.agencies.values())

    def add(self, other: RowCounts) -> None:
        """Add another row's counts (cases_discussed is not additive: set it after)."""
        self.scheduled += other.scheduled
        self.held += other.held
        self.on_schedule += other.on_schedule
        for code, (n, d) in other.agencies.items():
            n0, d0 = self.agencies.get(code, (0, 0))
            self.agencies[code] = (n0 + n, d0 + d)
        self.case_discussions += other.case_discussions
        self.listed += other.listed
        self.listed_discussed += other.listed_discussed
        self.days_to_discussion.extend(other.days_to_discussion)
        self.minutes_on_time += other.minutes_on_time
        self.actions_due += other.actions_due
        self.actions_on_time += other.actions_on_time

    def as_row(self) -> dict[str, Any]:
        """The row as SPEC §7 names it."""
        return {
            "series": self.series,
            "district": self.district,
            "meetings_scheduled": self.scheduled,
            "meetings_held": self.held,
            "held_on_schedule_rate": rate(self.on_schedule, self.scheduled),
            "agency_attendance_rate": {
                code: rate(n, d) for code, (n, d) in sorted(self.agencies.items())
            },
            "required_attendance_rate": rate(self.required_attended, self.required_slots),
            "cases_discussed": self.cases_discussed,
            "case_discussions": self.case_discussions,
            "listed_case_discussion_rate": rate(self.listed_discussed, self.listed),
            "median_days_to_discussion": median(self.days_to_discussion),
            "minutes_on_time_rate": rate(self.minutes_on_time, self.held),
            "action_items_closed_on_time_rate": rate(self.actions_on_time, self.actions_due),
        }


@dataclass
class MonthCounts:
    month: int
    scheduled: int = 0
    held: int = 0
    on_schedule: int = 0
    case_discussions: int = 0


@dataclass
class KpiReport:
    """A year's KPIs over a selection of series instances."""

    year: int  # Gregorian
    as_of: date
    rows: list[RowCounts]
    total: RowCounts
    monthly: list[MonthCounts]
    agency_names: dict[str, str] = field(default_factory=dict)
    series_titles: dict[str, str] = field(default_factory=dict)
    series_filter: str | None = None
    district_filter: str | None = None

    @property
    def roc_year(self) -> int:
        return roc_year(self.year)

    def as_json(self) -> dict[str, Any]:
        return {
            "year": self.roc_year,
            "as_of": self.as_of.isoformat(),
            "rows": [r.as_row() for r in self.rows] + [self.total.as_row()],
        }


# --- SQL aggregates --------------------------------------------------------------------


@dataclass
class _Selection:
    start: date
    end: date
    series_id: str | None
    district: str | None

    def occurrences(self) -> list[ColumnElement[bool]]:
        """Filters on Occurrence for the selected series/district (no date filter)."""
        out: list[ColumnElement[bool]] = []
        if self.series_id is not None:
            out.append(Occurrence.series_id == self.series_id)
        if self.district is not None:
            out.append(or_(Occurrence.district == self.district, Occurrence.zone == self.district))
        return out

    def in_year(self) -> list[ColumnElement[bool]]:
        return [Occurrence.nominal_date >= self.start, Occurrence.nominal_date <= self.end]


def _held() -> ColumnElement[bool]:
    return Occurrence.status == "held"


def _declared_rows(session: Session, sel: _Selection) -> tuple[list[RowCounts], dict[str, str]]:
    """A row for each instance of each selected active series, in declaration order."""
    q = select(Series).order_by(Series.city_id, Series.id)
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
        for inst in spec.instances:
            place = inst.district or inst.zone
            if sel.district is not None and place != sel.district:
                continue
            rows.append(
                RowCounts(
                    series=series.id,
                    district=place,
                    instance=inst.key,
                    title=inst.title,
                    required=tuple(spec.decl.invite.required),
                    case_district=inst.district,
                    listing_rule=spec.decl.agenda.listing_rule,
                    city_id=series.city_id,
                )
            )
    return rows, titles


def compute_kpis(
    session: Session,
    year: int,
    *,
    series_id: str | None = None,
    district: str | None = None,
    as_of: date | None = None,
) -> KpiReport:
    """Every SPEC §7 key for a year, per series instance and in total."""
    start, end = year_bounds(year)
    as_of = as_of or end
    if as_of < start:
        raise OperationError(f"--as-of {as_of} is before the year ({start} … {end})")
    if series_id is not None:
        get_series(session, series_id)
    sel = _Selection(start, end, series_id, district)
    rows, titles = _declared_rows(session, sel)
    by_key: dict[str, RowCounts] = {r.instance or "": r for r in rows}

    def row_for(key: str, series: str, place: str | None, district: str | None) -> RowCounts:
        row = by_key.get(key)
        if row is None:
            row = RowCounts(series=series, district=place, instance=key, case_district=district)
            if series not in titles:
                titles[series] = (
                    session.scalar(select(Series.title).where(Series.id == series)) or ""
                )
            row.title = titles[series]
            spec_series = session.get(Series, series)
            if spec_series is not None:
                row.required = tuple(spec_series.spec.get("invite", {}).get("required", []))
                row.listing_rule = (spec_series.spec.get("agenda") or {}).get("listing_rule")
                row.city_id = spec_series.city_id
            by_key[key] = row
            rows.append(row)
        return row

    occ_filters = sel.occurrences() + sel.in_year()

    # meetings scheduled / held / held within their cycle
    on_schedule = and_(
        _held(),
        or_(
            HeldMeeting.occurrence_id.is_(None),
            HeldMeeting.held_on.between(HeldMeeting.cycle_first, HeldMeeting.cycle_last),
        ),
    )
    q1 = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.count(),
            func.sum(case((_held(), 1), else_=0)),
            func.sum(case((on_schedule, 1), else_=0)),
        )
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(*occ_filters)
        .group_by(Occurrence.series_id, Occurrence.instance_key)
    )
    for sid, key, place, dist, n, held, on_time in session.execute(q1):
        row = row_for(key, sid, place, dist)
        row.scheduled, row.held, row.on_schedule = int(n), int(held or 0), int(on_time or 0)

    # attendance of required agencies: held meetings with the agency present or delegated
    q2 = (
        select(
            Occurrence.instance_key,
            Attendance.agency_code,
            func.count(distinct(Attendance.occurrence_id)),
        )
        .join(Occurrence, Occurrence.id == Attendance.occurrence_id)
        .where(*occ_filters, _held(), Attendance.status.in_(ATTENDED))
        .group_by(Occurrence.instance_key, Attendance.agency_code)
    )
    attended: dict[tuple[str, str], int] = {
        (key, code): int(n) for key, code, n in session.execute(q2)
    }
    for row in rows:
        row.agencies = {
            code: (attended.get((row.instance or "", code), 0), row.held) for code in row.required
        }

    # minutes recorded by their due date
    q3 = (
        select(Occurrence.instance_key, func.count())
        .select_from(Occurrence)
        .join(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .join(Minutes, Minutes.occurrence_id == Occurrence.id)
        .where(*occ_filters, _held(), Minutes.recorded_on <= HeldMeeting.minutes_due_on)
        .group_by(Occurrence.instance_key)
    )
    for key, n in session.execute(q3):
        if key in by_key:
            by_key[key].minutes_on_time = int(n)

    # action items due in the year
    q5 = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.count(),
            func.sum(
                case(
                    (
                        and_(
                            ActionItem.closed_on.is_not(None),
                            ActionItem.closed_on <= ActionItem.due_on,
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .where(*sel.occurrences(), ActionItem.due_on >= start, ActionItem.due_on <= end)
        .group_by(Occurrence.series_id, Occurrence.instance_key)
    )
    for sid, key, place, dist, n, closed in session.execute(q5):
        row = row_for(key, sid, place, dist)
        row.actions_due, row.actions_on_time = int(n), int(closed or 0)

    monthly = _monthly(session, occ_filters)
    total = RowCounts(series=None, district=district)

    from meetings import case_tables

    case_tables.discussion_counts(session, occ_filters, by_key, monthly)
    case_tables.listing_counts(session, rows, start, end, as_of)

    for row in rows:
        total.add(row)
    total.cases_discussed = case_tables.distinct_cases(session, occ_filters)
    names = {
        code: name
        for code, name in session.execute(
            select(Agency.code, func.max(Agency.name)).group_by(Agency.code)
        )
    }
    return KpiReport(
        year=start.year,
        as_of=as_of,
        rows=rows,
        total=total,
        monthly=monthly,
        agency_names=names,
        series_titles=titles,
        series_filter=series_id,
        district_filter=district,
    )


def _monthly(session: Session, occ_filters: Iterable[ColumnElement[bool]]) -> list[MonthCounts]:
    month = extract("month", Occurrence.nominal_date)
    on_schedule = and_(
        _held(),
        or_(
            HeldMeeting.occurrence_id.is_(None),
            HeldMeeting.held_on.between(HeldMeeting.cycle_first, HeldMeeting.cycle_last),
        ),
    )
    q = (
        select(
            month,
            func.count(),
            func.sum(case((_held(), 1), else_=0)),
            func.sum(case((on_schedule, 1), else_=0)),
        )
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(*occ_filters)
        .group_by(month)
    )
    out = {m: MonthCounts(m) for m in range(1, 13)}
    for m, n, held, on_time in session.execute(q):
        mc = out[int(m)]
        mc.scheduled, mc.held, mc.on_schedule = int(n), int(held or 0), int(on_time or 0)
    return list(out.values())
