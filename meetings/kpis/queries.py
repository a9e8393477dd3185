"""Coverage KPIs of SPEC §7: the pure formulas, and the SQL aggregates that feed them.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    distinct,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.db import (
    ActionItem,
    Agency,
    Attendance,
    Case,
    CaseDiscussion,
    CaseListing,
    District,
    HeldMeeting,
    ListingRule,
    Minutes,
    Occurrence,
    Series,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import gregorian_year, roc_year
from meetings.schedule.cycles import HELD_AT_MAX_SHIFT
from meetings.schedule.occurrences import get_series
from meetings.schedule.operations import SpecRegistry

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


def median(values: list[int] | tuple[int, ...]) -> float | None:
    """The median of whole numbers (mean of the middle two for an even count); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


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
    # Districts whose cases this row's BC3.1 counts; None = every district.
    case_districts: tuple[str, ...] | None = None
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
    median_days: float | None = None
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
        """Add another row's counts (distinct cases and the median are not additive)."""
        self.scheduled += other.scheduled
        self.held += other.held
        self.on_schedule += other.on_schedule
        for code, (n, d) in other.agencies.items():
            n0, d0 = self.agencies.get(code, (0, 0))
            self.agencies[code] = (n0 + n, d0 + d)
        self.case_discussions += other.case_discussions
        self.listed += other.listed
        self.listed_discussed += other.listed_discussed
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
            "median_days_to_discussion": self.median_days,
            "minutes_on_time_rate": rate(self.minutes_on_time, self.held),
            "action_items_closed_on_time_rate": rate(self.actions_on_time, self.actions_due),
        }


@dataclass
class MonthCounts:
    """One month of the trend chart (by nominal date)."""

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


def _on_schedule() -> ColumnElement[bool]:
    """Held inside the cycle (a held meeting without a recorded date counts as on time)."""
    return and_(
        _held(),
        or_(
            HeldMeeting.occurrence_id.is_(None),
            HeldMeeting.held_on.between(HeldMeeting.cycle_first, HeldMeeting.cycle_last),
        ),
    )


def _held_day() -> ColumnElement[Any]:
    """The day a held meeting took place (its nominal date when none was recorded)."""
    return func.coalesce(HeldMeeting.held_on, Occurrence.nominal_date)


def _days_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Whole days from ``earlier`` to ``later`` (dates), on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    return cast(later - earlier, Integer)


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
        zone_districts = spec.decl.agenda.zone_districts or {}
        for inst in spec.instances:
            place = inst.district or inst.zone
            if sel.district is not None and place != sel.district:
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
                )
            )
    return rows, titles


def _check_district(session: Session, district: str) -> None:
    known = set(session.scalars(select(District.name)))
    known |= {z for z in session.scalars(select(Occurrence.zone).distinct()) if z}
    if district not in known:
        raise OperationError(
            f"unknown district or zone {district!r}"
            + (f" (known: {', '.join(sorted(known))})" if known else "")
        )


def compute_kpis(
    session: Session,
    year: int,
    *,
    series_id: str | None = None,
    district: str | None = None,
    as_of: date | None = None,
) -> KpiReport:
    """Every SPEC §7 key for a year (ROC or Gregorian), per series instance and in total."""
    if not (1 <= year <= 300 or 1912 <= year <= 2300):
        raise OperationError(f"year {year} is neither an ROC nor a Gregorian year")
    start, end = year_bounds(year)
    as_of = as_of or end
    if as_of < start:
        raise OperationError(f"--as-of {as_of} is before the year ({start} … {end})")
    if series_id is not None:
        get_series(session, series_id)
    if district is not None:
        _check_district(session, district)
    sel = _Selection(start, end, series_id, district)
    rows, titles = _declared_rows(session, sel)
    by_key: dict[str, RowCounts] = {r.instance or "": r for r in rows}

    def row_for(key: str, series: str, place: str | None, dist: str | None) -> RowCounts:
        """The row of an instance found in the data but no longer declared."""
        row = by_key.get(key)
        if row is None:
            row = RowCounts(
                series=series,
                district=place,
                instance=key,
                case_districts=(dist,) if dist else None,
            )
            stored = session.get(Series, series)
            if stored is not None:
                titles.setdefault(series, stored.title)
                row.required = tuple(stored.spec.get("invite", {}).get("required", []))
                row.listing_rule = (stored.spec.get("agenda") or {}).get("listing_rule")
                row.city_id = stored.city_id
            row.title = titles.get(series, series)
            by_key[key] = row
            rows.append(row)
        return row

    occ_filters = sel.occurrences() + sel.in_year()
    month = extract("month", Occurrence.nominal_date)

    # 1. meetings scheduled / held / held in their cycle / minutes on time, per instance
    #    and month (one pass over the year's meetings).
    minutes_on_time = and_(
        _held(),
        HeldMeeting.occurrence_id.is_not(None),
        Minutes.occurrence_id.is_not(None),
        Minutes.recorded_on <= HeldMeeting.minutes_due_on,
    )
    q1 = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            month,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.count(),
            func.sum(case((_held(), 1), else_=0)),
            func.sum(case((_on_schedule(), 1), else_=0)),
            func.sum(case((minutes_on_time, 1), else_=0)),
        )
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .outerjoin(Minutes, Minutes.occurrence_id == Occurrence.id)
        .where(*occ_filters)
        .group_by(Occurrence.series_id, Occurrence.instance_key, month)
    )
    monthly = {m: MonthCounts(m) for m in range(1, 13)}
    for sid, key, m, place, dist, n, held, on_time, minutes in session.execute(q1):
        row = row_for(key, sid, place, dist)
        mc = monthly[int(m)]
        row.scheduled += int(n)
        row.held += int(held or 0)
        row.on_schedule += int(on_time or 0)
        row.minutes_on_time += int(minutes or 0)
        mc.scheduled += int(n)
        mc.held += int(held or 0)
        mc.on_schedule += int(on_time or 0)

    # 2. attendance: held meetings with the agency present or delegated, per instance
    q2 = (
        select(
            Occurrence.instance_key,
            Attendance.agency_code,
            func.count(distinct(Attendance.occurrence_id)),
        )
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(*occ_filters, _held(), Attendance.status.in_(ATTENDED))
        .group_by(Occurrence.instance_key, Attendance.agency_code)
    )
    attended = {(key, code): int(n) for key, code, n in session.execute(q2)}
    for row in rows:
        row.agencies = {
            code: (attended.get((row.instance or "", code), 0), row.held) for code in row.required
        }

    # 3. discussions at the year's held meetings: per instance (records, distinct cases),
    #    per month, and distinct cases over the whole selection, from one join.
    disc = (
        select(
            Occurrence.instance_key.label("k"),
            month.label("m"),
            CaseDiscussion.case_no.label("c"),
        )
        .join(CaseDiscussion, CaseDiscussion.occurrence_uid == Occurrence.uid)
        .where(*occ_filters, _held())
        .cte("disc")
    )
    q3 = union_all(
        select(
            literal("k").label("kind"),
            disc.c.k,
            null().label("m"),
            func.count(),
            func.count(distinct(disc.c.c)),
        ).group_by(disc.c.k),
        select(
            literal("m"),
            cast(null(), String),
            disc.c.m,
            func.count(),
            literal(0),
        ).group_by(disc.c.m),
        select(
            literal("t"),
            cast(null(), String),
            null(),
            func.count(),
            func.count(distinct(disc.c.c)),
        ),
    )
    total = RowCounts(series=None, district=district)
    total_distinct = 0
    for kind, key, m, n, distinct_cases in session.execute(q3):
        if kind == "k" and key in by_key:
            by_key[key].case_discussions = int(n)
            by_key[key].cases_discussed = int(distinct_cases)
        elif kind == "m" and m is not None:
            monthly[int(m)].case_discussions = int(n)
        elif kind == "t":
            total_distinct = int(distinct_cases or 0)

    # 4. action items due in the year (of the instance's meetings of any year)
    closed_on_time = and_(
        ActionItem.closed_on.is_not(None), ActionItem.closed_on <= ActionItem.due_on
    )
    q4 = (
        select(
            Occurrence.series_id,
            Occurrence.instance_key,
            func.max(func.coalesce(Occurrence.district, Occurrence.zone)),
            func.max(Occurrence.district),
            func.count(),
            func.sum(case((closed_on_time, 1), else_=0)),
        )
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .where(*sel.occurrences(), ActionItem.due_on >= start, ActionItem.due_on <= end)
        .group_by(Occurrence.series_id, Occurrence.instance_key)
    )
    for sid, key, place, dist, n, closed in session.execute(q4):
        row = row_for(key, sid, place, dist)
        row.actions_due, row.actions_on_time = int(n), int(closed or 0)

    # 5. BC3.1 listed cases, discussed cases and median days
    total.median_days = _listing_counts(session, rows, start, end, as_of)

    for row in rows:
        total.add(row)
    total.cases_discussed = total_distinct
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
        monthly=list(monthly.values()),
        agency_names=names,
        series_titles=titles,
        series_filter=series_id,
        district_filter=district,
    )


def _listing_counts(
    session: Session, rows: list[RowCounts], start: date, end: date, as_of: date
) -> float | None:
    """BC3.1 numerator, denominator and median days for every row with a listing rule.

    Three statements whatever the number of series: listed cases per (rule, district);
    then the (instance, case) pairs discussed in time, aggregated per instance and in
    total with the median taken by window functions. Returns the total's median.
    """
    members = [
        r
        for r in rows
        if r.instance is not None and r.listing_rule is not None and r.city_id is not None
    ]
    if not members:
        return None
    pairs = {(r.city_id, r.listing_rule) for r in members}
    rule_match = or_(
        *(and_(ListingRule.city_id == c, ListingRule.rule_id == rid) for c, rid in pairs)
    )
    fl = (
        select(
            ListingRule.city_id.label("city_id"),
            ListingRule.rule_id.label("rule"),
            Case.case_no.label("case_no"),
            Case.district.label("district"),
            func.min(CaseListing.listed_at).label("listed_on"),
        )
        .select_from(CaseListing)
        .join(Case, Case.id == CaseListing.case_id)
        .join(ListingRule, ListingRule.id == CaseListing.rule_id)
        .where(
            rule_match,
            Case.city_id == ListingRule.city_id,
            CaseListing.listed_at >= start,
            CaseListing.listed_at <= end,
        )
        .group_by(ListingRule.city_id, ListingRule.rule_id, Case.case_no, Case.district)
        .cte("first_listing")
    )
    listed = {
        (city_id, rule, district): int(n)
        for city_id, rule, district, n in session.execute(
            select(fl.c.city_id, fl.c.rule, fl.c.district, func.count()).group_by(
                fl.c.city_id, fl.c.rule, fl.c.district
            )
        )
    }
    for row in members:
        row.listed = sum(
            n
            for (city_id, rule, district), n in listed.items()
            if city_id == row.city_id
            and rule == row.listing_rule
            and (row.case_districts is None or district in row.case_districts)
        )

    # Which rule and which districts' cases each selected instance counts (a VALUES table).
    mapping = (
        values(
            column("k", String),
            column("city_id", Integer),
            column("rule", String),
            column("district", String),
            name="instance_rules",
            literal_binds=True,  # inline: hundreds of bind parameters cost more to compile
        )
        .data(
            [
                (r.instance, r.city_id, r.listing_rule, d)
                for r in members
                for d in (r.case_districts if r.case_districts is not None else (None,))
            ]
        )
        .cte("instance_rules")
    )
    held_day = _held_day()
    first = (
        select(
            Occurrence.instance_key.label("k"),
            fl.c.case_no.label("case_no"),
            _days_between(session, func.min(held_day), func.min(fl.c.listed_on)).label("days"),
        )
        .select_from(fl)
        .join(
            CaseDiscussion,
            and_(
                CaseDiscussion.case_no == fl.c.case_no,
                # An index-friendly bound: mark_held keeps the day held within
                # HELD_AT_MAX_SHIFT of the scheduled day that discussed_on records.
                CaseDiscussion.discussed_on >= start - HELD_AT_MAX_SHIFT,
                CaseDiscussion.discussed_on <= as_of + HELD_AT_MAX_SHIFT,
            ),
        )
        .join(Occurrence, Occurrence.uid == CaseDiscussion.occurrence_uid)
        .join(
            mapping,
            and_(
                mapping.c.k == Occurrence.instance_key,
                mapping.c.city_id == fl.c.city_id,
                mapping.c.rule == fl.c.rule,
                or_(mapping.c.district.is_(None), mapping.c.district == fl.c.district),
            ),
        )
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(_held(), held_day >= fl.c.listed_on, held_day <= as_of)
        .group_by(Occurrence.instance_key, fl.c.case_no)
        .subquery("first_discussion")
    )
    ranked = select(
        first.c.k,
        first.c.days,
        func.row_number().over(partition_by=first.c.k, order_by=first.c.days).label("rn_k"),
        func.count().over(partition_by=first.c.k).label("n_k"),
        func.row_number().over(order_by=first.c.days).label("rn_all"),
        func.count().over().label("n_all"),
    ).cte("ranked")

    def middle(rn: Any, n: Any) -> Any:
        """avg() of the middle value(s): the median."""
        return func.avg(case((rn.in_([(n + 1) // 2, (n + 2) // 2]), ranked.c.days), else_=null()))

    q = union_all(
        select(ranked.c.k, func.count(), middle(ranked.c.rn_k, ranked.c.n_k)).group_by(ranked.c.k),
        select(cast(null(), String), func.count(), middle(ranked.c.rn_all, ranked.c.n_all)),
    )
    by_key = {r.instance: r for r in members}
    total_median: float | None = None
    for key, n, mid in session.execute(q):
        if key is None:
            total_median = None if mid is None else float(mid)
        elif key in by_key:
            by_key[key].listed_discussed = int(n)
            by_key[key].median_days = None if mid is None else float(mid)
    return total_median


# --- grant-report counts over several years -------------------------------------------


@dataclass(frozen=True)
class YearCounts:
    """Grant-report counts (補助成果) of one year: meetings held, 個案研討次數, cases."""

    year: int  # Gregorian
    meetings_held: int
    case_discussions: int
    cases_discussed: int

    @property
    def roc_year(self) -> int:
        return roc_year(self.year)


def grant_counts(
    session: Session,
    year: int,
    *,
    years: int = 5,
    series_id: str | None = None,
    district: str | None = None,
) -> list[YearCounts]:
    """Meetings held, discussion records and distinct cases discussed per year.

    The ``years`` years up to and including ``year`` (ROC or Gregorian), oldest first;
    same counting rules as the KPI report (year of the nominal date, held meetings).
    """
    last = gregorian_year(year)
    sel = _Selection(date(last - years + 1, 1, 1), date(last, 12, 31), series_id, district)
    y = extract("year", Occurrence.nominal_date)
    filters = [*sel.occurrences(), *sel.in_year(), _held()]
    held = {
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
        YearCounts(g, held.get(g, 0), *disc.get(g, (0, 0)))
        for g in range(last - years + 1, last + 1)
    ]
