"""The normalised cadence every declaration form becomes, and its error type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# RFC 5545 weekday codes, Monday first (``date.weekday()`` indexes them).
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# The default meeting day of instance k (see the package docstring).
SPREAD_WEEKS = (2, 3, 4, 1)
SPREAD_WEEKDAYS = ("WE", "TH", "TU", "FR", "MO")


class CadenceError(ValueError):
    """A cadence that cannot be understood. The message is shown to the admin as is."""


@dataclass(frozen=True)
class Cadence:
    """A normalised cadence.

    ``months`` lists the months of every year a monthly-or-longer cadence meets in; it is None
    when it meets every month, for sub-monthly cadences, and when the months change from year
    to year (e.g. every 5 months). ``period_months`` is the regular cycle (1, 2, 3, 4, 6 or 12
    months) or None; ``period_days`` is the cycle of weekly and daily rules. An ``irregular``
    cadence (不定期) has no rule and no dates: its series meets only when a meeting is added.
    """

    rrule: str
    dtstart: date
    anchor_month: int
    period_months: int | None
    period_days: int | None
    months: tuple[int, ...] | None
    pins_day: bool
    fan_out: int | None
    adhoc_allowed: bool
    source: str
    # 不定期: no calendar meetings at all, only ad-hoc ones; ``rrule`` is then "".
    irregular: bool = False


def spread_slot(index: int) -> tuple[int, str]:
    """(week of month, weekday code) of instance ``index``: 0 → (2, "WE"), 1 → (3, "WE")..."""
    if index < 0:
        raise ValueError("instance index must be >= 0")
    return SPREAD_WEEKS[index % 4], SPREAD_WEEKDAYS[(index // 4) % 5]
