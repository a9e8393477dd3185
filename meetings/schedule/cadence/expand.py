"""Expanding a cadence into its nominal dates.

The common rule shapes (one date a month or year, one weekday a week) are expanded
arithmetically; everything else goes through python-dateutil, which is much slower on
multi-year ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from dateutil.rrule import rrule as _RRule
from dateutil.rrule import rrulestr as _rrulestr

from meetings.schedule.cadence.model import WEEKDAY_CODES, Cadence
from meetings.schedule.cadence.ruletext import (
    DAY_KEYS,
    byday_items,
    days_in_month,
    month_index,
    month_start,
    split_rule,
    until_date,
)

# The parts a rule may have for the arithmetic plans (and for describe_zh to word it).
PLAN_KEYS = frozenset({"FREQ", "INTERVAL", "BYMONTH", "BYDAY", "BYMONTHDAY", "UNTIL", "WKST"})
_WEEK_PLAN_KEYS = frozenset({"FREQ", "INTERVAL", "BYDAY", "UNTIL", "WKST"})


@dataclass(frozen=True)
class _MonthPlan:
    """A rule with at most one date per month, computed arithmetically."""

    month_step: int
    month_phase: int  # month index modulo month_step
    year_step: int
    year_phase: int
    bymonth: frozenset[int] | None
    nth: int | None  # BYDAY ordinal (±1..5) ...
    weekday: int  # ... of this weekday
    monthday: int | None  # or BYMONTHDAY (±1..31)
    until: date | None


@dataclass(frozen=True)
class _WeekPlan:
    first: date  # first candidate (may precede dtstart)
    step_days: int
    until: date | None


def _week_plan(
    parts: Mapping[str, str], dtstart: date, interval: int, until: date | None
) -> _WeekPlan | None:
    if set(parts) - _WEEK_PLAN_KEYS or "BYDAY" not in parts:
        return None
    items = byday_items(parts["BYDAY"])
    if len(items) != 1 or items[0][0] is not None:
        return None
    wkst = WEEKDAY_CODES.index(parts.get("WKST", "MO"))
    week_start = dtstart - timedelta(days=(dtstart.weekday() - wkst) % 7)
    first = week_start + timedelta(days=(items[0][1] - wkst) % 7)
    return _WeekPlan(first=first, step_days=7 * interval, until=until)


def _month_day(parts: Mapping[str, str]) -> tuple[int | None, int, int | None] | None:
    """(BYDAY ordinal, weekday, BYMONTHDAY) of a one-date-a-month rule, or None."""
    if "BYDAY" in parts:
        items = byday_items(parts["BYDAY"])
        if len(items) != 1 or items[0][0] is None or not -5 <= items[0][0] <= 5:
            return None
        return items[0][0], items[0][1], None
    if "," in parts["BYMONTHDAY"]:
        return None
    return None, 0, int(parts["BYMONTHDAY"])


def _month_plan(
    parts: Mapping[str, str], dtstart: date, interval: int, until: date | None
) -> _MonthPlan | None:
    freq = parts.get("FREQ")
    if freq not in ("MONTHLY", "YEARLY") or ("BYDAY" in parts) == ("BYMONTHDAY" in parts):
        return None
    bymonth = frozenset(int(m) for m in parts["BYMONTH"].split(",")) if "BYMONTH" in parts else None
    if freq == "YEARLY" and bymonth is None:
        return None
    day = _month_day(parts)
    if day is None:
        return None
    nth, weekday, monthday = day
    monthly = freq == "MONTHLY"
    return _MonthPlan(
        month_step=interval if monthly else 1,
        month_phase=month_index(dtstart) % interval if monthly else 0,
        year_step=1 if monthly else interval,
        year_phase=0 if monthly else dtstart.year % interval,
        bymonth=bymonth,
        nth=nth,
        weekday=weekday,
        monthday=monthday,
        until=until,
    )


@lru_cache(maxsize=4096)
def _plan(rule_text: str, dtstart: date) -> _MonthPlan | _WeekPlan | None:
    """A fast arithmetic plan for the common rule shapes, or None (use dateutil)."""
    parts = split_rule(rule_text)
    if not set(parts) <= PLAN_KEYS:
        return None
    interval = int(parts.get("INTERVAL", "1"))
    until = until_date(parts["UNTIL"]) if "UNTIL" in parts else None
    if parts.get("FREQ") == "WEEKLY":
        return _week_plan(parts, dtstart, interval, until)
    return _month_plan(parts, dtstart, interval, until)


def _day_in_month(plan: _MonthPlan, y: int, m: int) -> date | None:
    dim = days_in_month(y, m)
    if plan.monthday is not None:
        day = plan.monthday if plan.monthday > 0 else dim + 1 + plan.monthday
    else:
        assert plan.nth is not None
        if plan.nth > 0:
            first_wd = date(y, m, 1).weekday()
            day = 1 + (plan.weekday - first_wd) % 7 + 7 * (plan.nth - 1)
        else:
            last_wd = date(y, m, dim).weekday()
            day = dim - (last_wd - plan.weekday) % 7 - 7 * (-plan.nth - 1)
    if 1 <= day <= dim:
        return date(y, m, day)
    return None


def _expand_month_plan(plan: _MonthPlan, lo: date, hi: date, first_only: bool) -> list[date]:
    out: list[date] = []
    mi = month_index(lo)
    last = month_index(hi)
    step = plan.month_step
    if step > 1:
        mi += (plan.month_phase - mi) % step
    bymonth = plan.bymonth
    while mi <= last:
        y, m0 = divmod(mi, 12)
        if (bymonth is None or m0 + 1 in bymonth) and (
            plan.year_step == 1 or (y - plan.year_phase) % plan.year_step == 0
        ):
            d = _day_in_month(plan, y, m0 + 1)
            if d is not None and lo <= d <= hi:
                out.append(d)
                if first_only:
                    break
        mi += step
    return out


def _expand_week_plan(plan: _WeekPlan, lo: date, hi: date, first_only: bool) -> list[date]:
    step = plan.step_days
    k = max(0, -(-(lo - plan.first).days // step))
    d = plan.first + timedelta(days=k * step)
    out: list[date] = []
    delta = timedelta(days=step)
    while d <= hi:
        out.append(d)
        if first_only:
            break
        d += delta
    return out


@lru_cache(maxsize=2048)
def dateutil_rule(rule_text: str, dtstart: date) -> _RRule:
    """The python-dateutil rule of a normalised rule text (cached)."""
    rule = _rrulestr("RRULE:" + rule_text, dtstart=datetime.combine(dtstart, time()))
    assert isinstance(rule, _RRule)
    return rule


def _shifted_dtstart(parts: Mapping[str, str], dtstart: date, target: date) -> date:
    """A later dtstart (<= target) that yields the same occurrences from there on."""
    if "COUNT" in parts or target <= dtstart:
        return dtstart
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    if freq in ("YEARLY", "MONTHLY") and not any(k in parts for k in DAY_KEYS):
        return dtstart  # dateutil takes the day from dtstart
    if freq == "YEARLY":
        years = (target.year - dtstart.year) // interval * interval
        return date(dtstart.year + years, 1, 1) if years > 0 else dtstart
    if freq == "MONTHLY":
        months = (month_index(target) - month_index(dtstart)) // interval * interval
        return month_start(month_index(dtstart) + months) if months > 0 else dtstart
    step = interval * (7 if freq == "WEEKLY" else 1)
    return dtstart + timedelta(days=(target - dtstart).days // step * step)


def _expand_dateutil(
    rule_text: str, dtstart: date, lo: date, end: date, first_only: bool
) -> list[date]:
    parts = split_rule(rule_text)
    base = _shifted_dtstart(parts, dtstart, date(lo.year, 1, 1))
    rule = dateutil_rule(rule_text, base)
    lo_dt = datetime.combine(lo, time())
    hi_dt = datetime.combine(end, time.max)
    if first_only:
        found: Any = rule.after(lo_dt, inc=True)
        if found is None or found > hi_dt:
            return []
        return [found.date()]
    found_all: list[datetime] = rule.between(lo_dt, hi_dt, inc=True)
    return sorted({dt.date() for dt in found_all})


def expand_rule(
    rule_text: str, dtstart: date, start: date, end: date, *, first_only: bool = False
) -> list[date]:
    """Dates of a normalised rule text in [start, end]; only the first with ``first_only``."""
    lo = max(start, dtstart)
    if lo > end:
        return []
    plan = _plan(rule_text, dtstart)
    if plan is None:
        return _expand_dateutil(rule_text, dtstart, lo, end, first_only)
    hi = end if plan.until is None else min(end, plan.until)
    if lo > hi:
        return []
    if isinstance(plan, _MonthPlan):
        return _expand_month_plan(plan, lo, hi, first_only)
    return _expand_week_plan(plan, lo, hi, first_only)


def expand(cadence: Cadence, start: date, end: date) -> list[date]:
    """Nominal dates of ``cadence`` in [start, end] (inclusive), sorted, without duplicates."""
    if isinstance(start, datetime):
        start = start.date()
    if isinstance(end, datetime):
        end = end.date()
    if cadence.irregular:
        return []  # 不定期: every meeting of the series is added by hand
    return expand_rule(cadence.rrule, cadence.dtstart, start, end)
