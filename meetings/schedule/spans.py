"""Lengths and distances as declarations write them: "2h", "90m"; "7d", "5wd", "-2mo"; "14:00",
and the one way a day is moved by such a distance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Literal

from dateutil.relativedelta import relativedelta

from meetings.schedule.workdays import OfficeCalendar

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*(?:m|min))?\s*$")
_SPAN = re.compile(r"^\s*([+-]?)(\d+)\s*(d|wd|w|mo)\s*$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_duration(value: object) -> timedelta:
    """'2h', '90m', '1h30m' or minutes as an int → timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        minutes = value
    else:
        m = _DURATION.match(str(value))
        if not m or not (m.group(1) or m.group(2)):
            raise ValueError(f"not a duration: {value!r} (write 2h, 90m or 1h30m)")
        minutes = int(m.group(1) or 0) * 60 + int(m.group(2) or 0)
    if not 0 < minutes <= 24 * 60:
        raise ValueError(f"duration must be between 1 minute and 24 hours, got {value!r}")
    return timedelta(minutes=minutes)


@dataclass(frozen=True)
class Span:
    """A signed distance in days, working days, weeks or months (e.g. -2mo, 5wd)."""

    amount: int
    unit: Literal["d", "wd", "w", "mo"]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_span(value: object) -> Span:
    """'-2mo', '5wd', '7d', '3mo' → Span."""
    m = _SPAN.match(str(value))
    if not m:
        raise ValueError(f"not a time span: {value!r} (write e.g. 7d, 5wd, 2w, -2mo)")
    sign = -1 if m.group(1) == "-" else 1
    unit = m.group(3)
    assert unit in ("d", "wd", "w", "mo")
    return Span(sign * int(m.group(2)), unit)  # type: ignore[arg-type]


def parse_time_of_day(value: object) -> time:
    """'14:00' → time(14, 0)."""
    text = str(value).strip()
    m = _TIME.match(text)
    if not m:
        raise ValueError(f'not a time of day: {value!r} (write it as "14:00")')
    h, mi = int(m.group(1)), int(m.group(2))
    if h > 23 or mi > 59:
        raise ValueError(f"not a time of day: {value!r} (hours 0–23, minutes 0–59)")
    return time(h, mi)


def shift(day: date, span: Span, calendar: OfficeCalendar | None = None) -> date:
    """``day`` moved by a signed span; working days are counted on ``calendar`` (needed
    only for ``wd``, so callers may skip loading it for the other units)."""
    if span.unit == "d":
        return day + timedelta(days=span.amount)
    if span.unit == "w":
        return day + timedelta(weeks=span.amount)
    if span.unit == "mo":
        result: date = day + relativedelta(months=span.amount)
        return result
    if calendar is None:
        raise ValueError(f"{span}: working days need the office calendar")
    if span.amount >= 0:
        return calendar.add_working_days(day, span.amount)
    d = day
    for _ in range(-span.amount):
        d = calendar.previous_working_day(d - timedelta(days=1))
    return d
