"""RRULE text as Liaison stores it (``FREQ=MONTHLY;BYDAY=+2WE``), and month arithmetic.

Helpers shared by the parsers, the expander and the describer; no validation beyond syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from meetings.schedule.cadence.model import WEEKDAY_CODES

# Canonical order of RRULE parts in a normalised rule.
PART_ORDER = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "WKST",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYSETPOS",
    "BYEASTER",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
)
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
# Parts that choose the day within the period; with BYSETPOS they pin the meeting day.
DAY_KEYS = ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER")
PIN_KEYS = (*DAY_KEYS, "BYSETPOS")

_BYDAY_ITEM = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")


def split_rule(text: str) -> dict[str, str]:
    """``"FREQ=MONTHLY;BYDAY=+2WE"`` → ordered dict of parts (no validation beyond syntax)."""
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        if not chunk:
            continue
        key, sep, value = chunk.partition("=")
        if not sep:
            raise ValueError(f"{chunk!r} is not KEY=VALUE")
        parts[key] = value
    return parts


def join_rule(parts: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in parts.items())


def canonical(parts: Mapping[str, str]) -> dict[str, str]:
    """The parts in canonical order (unknown keys dropped)."""
    return {k: parts[k] for k in PART_ORDER if k in parts}


def byday_items(value: str) -> list[tuple[int | None, int]]:
    """``"+2WE,-1FR,MO"`` → [(2, 2), (-1, 4), (None, 0)]."""
    out: list[tuple[int | None, int]] = []
    for item in value.split(","):
        m = _BYDAY_ITEM.fullmatch(item)
        if m is None:
            raise ValueError(f"invalid BYDAY item {item!r}")
        n = int(m.group(1)) if m.group(1) else None
        if n == 0:
            raise ValueError(f"invalid BYDAY item {item!r}")
        out.append((n, WEEKDAY_CODES.index(m.group(2))))
    return out


def format_byday(items: list[tuple[int | None, int]]) -> str:
    return ",".join(("" if n is None else f"{n:+d}") + WEEKDAY_CODES[wd] for n, wd in items)


def int_list(value: str, key: str, lo: int, hi: int, *, nonzero: bool = False) -> list[int]:
    """The numbers of a part such as ``BYMONTH=3,7,11``, each checked to lie in [lo, hi]."""
    try:
        nums = [int(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(f"{key}={value} is not a list of numbers") from None
    for n in nums:
        if not lo <= n <= hi or (nonzero and n == 0):
            raise ValueError(f"{key}={value}: {n} is out of range")
    return nums


def until_date(value: str) -> date:
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T\d{6}Z?)?", value)
    if m is None:
        raise ValueError(f"UNTIL={value} is not YYYYMMDD[THHMMSS[Z]]")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def month_index(d: date) -> int:
    """Months since year 0: consecutive months have consecutive indexes."""
    return d.year * 12 + d.month - 1


def month_start(mi: int) -> date:
    y, m0 = divmod(mi, 12)
    return date(y, m0 + 1, 1)


def days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31
