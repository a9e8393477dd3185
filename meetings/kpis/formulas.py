"""The KPI formulas of SPEC §7 and the report's numbers: pure (no database).

A ``RowCounts`` holds the numerators and denominators of one row (a series instance,
or the total); ``as_row`` turns them into the rates SPEC §7 names. The queries that
fill them are in ``meetings.kpis.queries``; the decisions where SPEC §7 is silent are
in its module docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from meetings.kernel.rocdate import gregorian_year, roc_year
from meetings.kpis.targets import Figure, TargetResult, compare, per_month, results_json

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
    "meetings_withdrawn",
    "deliverables_on_time_rate",
    "reply_rate",
    "designated_attendance_rate",
    "representative_continuity",
)


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
    # The series' own targets (``targets:`` on the series), compared with this row.
    targets: dict[str, Any] = field(default_factory=dict)
    scheduled: int = 0
    # Event meetings cancelled because their reason went (case closed, superseded): not
    # meetings that should have been held, so in neither ``scheduled`` nor any rate.
    withdrawn: int = 0
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
    # Series deliverables (成效檢核表 …) due in the year, and those handed in by the due date.
    deliverables_due: int = 0
    deliverables_on_time: int = 0
    # Stored seats of held meetings (meetings.kpis.seat_kpis): answered before the
    # meeting; naming who comes (designated, deputy), and of those the agency came.
    seats: int = 0
    seats_answered: int = 0
    seats_named: int = 0
    named_present: int = 0
    # agency code → (same person as at its previous named seat, meetings after the first)
    continuity: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def required_attended(self) -> int:
        return sum(n for n, _ in self.agencies.values())

    @property
    def required_slots(self) -> int:
        return sum(d for _, d in self.agencies.values())

    def add(self, other: RowCounts) -> None:
        """Add another row's counts (distinct cases and the median are not additive)."""
        self.scheduled += other.scheduled
        self.withdrawn += other.withdrawn
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
        self.deliverables_due += other.deliverables_due
        self.deliverables_on_time += other.deliverables_on_time
        self.seats += other.seats
        self.seats_answered += other.seats_answered
        self.seats_named += other.seats_named
        self.named_present += other.named_present
        for code, (n, d) in other.continuity.items():
            n0, d0 = self.continuity.get(code, (0, 0))
            self.continuity[code] = (n0 + n, d0 + d)

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
            "meetings_withdrawn": self.withdrawn,
            "deliverables_on_time_rate": rate(self.deliverables_on_time, self.deliverables_due),
            "reply_rate": rate(self.seats_answered, self.seats),
            "designated_attendance_rate": rate(self.named_present, self.seats_named),
            "representative_continuity": {
                code: rate(n, d) for code, (n, d) in sorted(self.continuity.items())
            },
        }

    def figures(self, months: int) -> dict[str, Figure]:
        """The row's figures that targets may name, with their numerators and
        denominators (``months``: the months of the year counted, for the averages)."""
        return {
            "held_on_schedule_rate": _ratio(self.on_schedule, self.scheduled),
            "required_attendance_rate": _ratio(self.required_attended, self.required_slots),
            "listed_case_discussion_rate": _ratio(self.listed_discussed, self.listed),
            "minutes_on_time_rate": _ratio(self.minutes_on_time, self.held),
            "action_items_closed_on_time_rate": _ratio(self.actions_on_time, self.actions_due),
            "deliverables_on_time_rate": _ratio(self.deliverables_on_time, self.deliverables_due),
            "meetings_held": Figure(self.held, self.held),
            "cases_discussed": Figure(self.cases_discussed, self.cases_discussed),
            "case_discussions": Figure(self.case_discussions, self.case_discussions),
            "meetings_per_month": per_month(self.held, months),
            "case_discussions_per_month": per_month(self.case_discussions, months),
            # The median is over the listed cases discussed: that many values.
            "median_days_to_discussion": Figure(self.median_days, None, self.listed_discussed),
        }


def _ratio(numerator: int, denominator: int) -> Figure:
    return Figure(rate(numerator, denominator), numerator, denominator)


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
    city_id: int | None = None  # the one city counted (None: no city loaded)
    # The city's targets as stored from config (``meetings.schedule.targets``).
    targets: dict[str, Any] = field(default_factory=dict)

    @property
    def roc_year(self) -> int:
        return roc_year(self.year)

    @property
    def months(self) -> int:
        """The months of the year counted: up to ``as_of`` when it is inside the year."""
        return self.as_of.month if self.as_of.year == self.year else 12

    def target_results(self, row: RowCounts | None = None) -> list[TargetResult]:
        """A row's figures beside its targets for the report's year: the total's are
        the report's (the city's, or the one series'), an instance row's its series'."""
        row = row or self.total
        targets = self.targets if row is self.total else row.targets
        return compare(targets, self.roc_year, row.figures(self.months))

    def as_json(self) -> dict[str, Any]:
        return {
            "year": self.roc_year,
            "as_of": self.as_of.isoformat(),
            "rows": [
                r.as_row() | {"targets": results_json(self.target_results(r))}
                for r in [*self.rows, self.total]
            ],
        }


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
