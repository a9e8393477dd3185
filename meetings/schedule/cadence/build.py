"""Building a Cadence from its parts, and the default meeting day of each instance.

The friendly mapping and the zh phrases both end here, so the two forms always
normalise a given cycle to the same rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from meetings.schedule.cadence.model import SPREAD_WEEKDAYS, Cadence, CadenceError, spread_slot
from meetings.schedule.cadence.ruletext import canonical, join_rule, split_rule


def slot_byday(index: int) -> str:
    """The BYDAY of instance ``index``'s default day: 0 → ``+2WE``."""
    week, wd = spread_slot(index)
    return f"+{week}{wd}"


def for_instance(cadence: Cadence, index: int) -> Cadence:
    """The cadence of instance ``index`` (0-based) of a series: the default day for that
    instance if the declaration does not pin one, else ``cadence`` unchanged."""
    if index < 0:
        raise ValueError("instance index must be >= 0")
    if cadence.pins_day or cadence.irregular:
        return cadence
    parts = split_rule(cadence.rrule)
    if parts.get("FREQ") == "WEEKLY":
        parts["BYDAY"] = SPREAD_WEEKDAYS[index % 5]
    else:
        parts["BYDAY"] = slot_byday(index)
    return replace(cadence, rrule=join_rule(canonical(parts)))


def regular_period(months: tuple[int, ...]) -> int | None:
    """Evenly spaced months covering the year → the spacing; else None. (3, 7, 11) → 4."""
    ms = sorted(months)
    if not ms or 12 % len(ms):
        return None
    step = 12 // len(ms)
    if all(b - a == step for a, b in zip(ms, ms[1:], strict=False)):
        return step
    return None


def aligned_months(anchor: int, period: int) -> tuple[int, ...]:
    return tuple(sorted((anchor - 1 + i * period) % 12 + 1 for i in range(12 // period)))


def monthly_cadence(
    *,
    period: int | None,
    months: tuple[int, ...] | None,
    anchor: int,
    day: tuple[str, str] | None,
    fan_out: int | None,
    adhoc: bool,
    source: str,
) -> Cadence:
    """A monthly-or-longer cadence. ``months`` None = every month; ``day`` None = default."""
    parts = {"FREQ": "MONTHLY"}
    if months is not None and len(months) == 12:
        months = None
    if months is not None:
        parts["BYMONTH"] = ",".join(str(m) for m in months)
    if day is None:
        parts["BYDAY"] = slot_byday(0)
    else:
        parts[day[0]] = day[1]
    return Cadence(
        rrule=join_rule(canonical(parts)),
        dtstart=date(2000, anchor, 1),
        anchor_month=anchor,
        period_months=period,
        period_days=None,
        months=months,
        pins_day=day is not None,
        fan_out=fan_out,
        adhoc_allowed=adhoc,
        source=source,
    )


def weekly_cadence(
    *,
    interval: int,
    anchor: int,
    weekday: str | None,
    fan_out: int | None,
    adhoc: bool,
    source: str,
) -> Cadence:
    """Every ``interval`` weeks; weeks counted from the first Monday of the anchor month, 2000."""
    first = date(2000, anchor, 1)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    parts = {"FREQ": "WEEKLY"}
    if interval > 1:
        parts["INTERVAL"] = str(interval)
    parts["BYDAY"] = weekday or SPREAD_WEEKDAYS[0]
    return Cadence(
        rrule=join_rule(parts),
        dtstart=monday,
        anchor_month=anchor,
        period_months=None,
        period_days=7 * interval,
        months=None,
        pins_day=weekday is not None,
        fan_out=fan_out,
        adhoc_allowed=adhoc,
        source=source,
    )


def periodic(
    period: int,
    anchor: int,
    *,
    day: tuple[str, str] | None = None,
    fan_out: int | None = None,
    adhoc: bool = False,
    source: str,
) -> Cadence:
    """Every ``period`` months (a divisor of 12), aligned to ``anchor``."""
    months = None if period == 1 else aligned_months(anchor, period)
    return monthly_cadence(
        period=period,
        months=months,
        anchor=anchor,
        day=day,
        fan_out=fan_out,
        adhoc=adhoc,
        source=source,
    )


def listed_months(
    months: list[int],
    anchor_month: int | None,
    *,
    day: tuple[str, str] | None = None,
    adhoc: bool = False,
    fan_out: int | None = None,
    source: str,
    where: str,
) -> Cadence:
    """Meets in the listed months of every year; anchor = the first listed month."""
    if len(set(months)) != len(months):
        raise CadenceError(f"{where}: a month is listed twice")
    if anchor_month is not None and anchor_month not in months:
        raise CadenceError(
            f"{where}: anchor_month {anchor_month} is not one of the listed months "
            f"{', '.join(str(m) for m in months)}"
        )
    ordered = tuple(sorted(months))
    return monthly_cadence(
        period=regular_period(ordered),
        months=ordered,
        anchor=months[0],
        day=day,
        fan_out=fan_out,
        adhoc=adhoc,
        source=source,
    )


def irregular_cadence(anchor: int, *, source: str) -> Cadence:
    """不定期: no rule and no calendar dates; the series has ad-hoc meetings only."""
    return Cadence(
        rrule="",
        dtstart=date(2000, anchor, 1),
        anchor_month=anchor,
        period_months=None,
        period_days=None,
        months=None,
        pins_day=False,
        fan_out=None,
        adhoc_allowed=True,
        source=source,
        irregular=True,
    )
