"""Where a series' meetings fall: cadence × office calendar × holiday policy. Pure."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from meetings.schedule.cadence import expand, localize
from meetings.schedule.declarations import SeriesInstance, SeriesSpec
from meetings.schedule.workdays import HolidayPolicy, OfficeCalendar

# Many series share dates and times (second Wednesdays at 14:00): localising once
# per (date, time, zone) makes multi-year generation markedly faster.
localize_cached = functools.lru_cache(maxsize=65536)(localize)

POLICY_ZH = {
    HolidayPolicy.NEXT_WORKING_DAY: "順延至次一上班日",
    HolidayPolicy.PREVIOUS_WORKING_DAY: "提前至前一上班日",
    HolidayPolicy.SKIP: "該次停開",
    HolidayPolicy.KEEP: "照常舉行",
}


@dataclass(frozen=True)
class Placement:
    """The actual slot of a meeting whose nominal date is known."""

    start_at: datetime
    end_at: datetime
    moved_reason: str | None  # e.g. "國慶日，順延至次一上班日"; None when not moved


@dataclass(frozen=True)
class PlannedOccurrence:
    instance: SeriesInstance
    nominal_date: date
    placement: Placement | None  # None: skipped by policy on a non-working day


def uid_for(instance_key: str, nominal: date, domain: str, suffix: str = "") -> str:
    """The stable UID: ``{series-instance}-{YYYYMMDD nominal}{suffix}@{domain}``."""
    return f"{instance_key}-{nominal:%Y%m%d}{suffix}@{domain}"


def place(
    spec: SeriesSpec, nominal: date, calendar: OfficeCalendar, tz: ZoneInfo
) -> Placement | None:
    """Apply the series' holiday policy to a nominal date; None if skipped."""
    actual = calendar.apply_policy(nominal, spec.policy)
    if actual is None:
        return None
    reason: str | None = None
    if actual != nominal:
        why = calendar.day_info(nominal).reason or "非上班日"
        reason = f"{why}，{POLICY_ZH[spec.policy]}"
    start = localize_cached(actual, spec.start_time, tz)
    return Placement(start_at=start, end_at=start + spec.duration, moved_reason=reason)


def plan_series(
    spec: SeriesSpec, start: date, end: date, calendar: OfficeCalendar, tz: ZoneInfo
) -> list[PlannedOccurrence]:
    """Every cadence meeting of ``spec`` with a nominal date in [start, end]."""
    if spec.cadence is None:
        return []
    lo = max(start, spec.decl.start) if spec.decl.start else start
    hi = min(end, spec.decl.until) if spec.decl.until else end
    if hi < lo:
        return []
    out: list[PlannedOccurrence] = []
    for inst in spec.instances:
        assert inst.cadence is not None
        for nominal in expand(inst.cadence, lo, hi):
            out.append(PlannedOccurrence(inst, nominal, place(spec, nominal, calendar, tz)))
    return out
