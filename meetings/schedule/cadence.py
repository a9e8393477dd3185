"""How often a meeting recurs: parse a declaration, normalise it to an RRULE, expand it.

Pure: no database, no clock, no file I/O.

A cadence can be declared in three ways; all of them become a :class:`Cadence` whose ``rrule``
is an RFC 5545 recurrence rule (as python-dateutil reads it, without the ``RRULE:`` prefix).

1. An RRULE: ``{"rrule": "FREQ=MONTHLY;BYDAY=2WE"}``, optionally with ``"dtstart": date``
   (default: the 1st of ``anchor_month`` in 2000). Any rule dateutil accepts, except that
   meetings recur at most daily (no HOURLY/MINUTELY/SECONDLY) and a rule must occur at least
   once in the 30 years after its dtstart.
2. A friendly mapping::

       every: month | quarter | half-year | year | "N months" (N divides 12) | week | "N weeks"
       on: "3rd TU" | "last FR" | "2nd WE" | 15 (day of month, 1-28) | "last day"
           (weekly: a weekday such as "TU")
       months: [3, 7, 11]        # the months of the year it meets in
       times_per_year: 2         # 12 / times_per_year months apart

3. The Chinese phrases used in government plans, e.g. ``每月召開1次``, ``每季召開1次``,
   ``原則每4個月召開1次，得視需要召開不定期會議。``, ``每半年辦理1次``, ``每年召開2次``,
   ``3月、7月、11月``, ``每年3月、7月、11月召開``, ``每月5區各召開1次`` (5 zones, each
   monthly). Chinese numerals and full-width characters are accepted; the prefixes
   原則/原則上/預計 are ignored, a clause naming the chair (由…擔任主席, 由…主持) is ignored, and a clause
   such as 得視需要召開不定期會議 sets ``adhoc_allowed``. Anything else is an error that quotes
   the phrase: a cadence is never guessed.

Anchor month
------------
Cycles longer than a month are aligned to ``anchor_month`` (default January): every 4 months
with anchor 3 meets in March, July and November. When months are listed, the anchor is the
first listed month, and an explicit ``anchor_month`` must be one of them.

Default meeting day (user-visible)
----------------------------------
Unless the declaration pins a day (an RRULE with BYDAY, BYMONTHDAY, BYSETPOS, BYYEARDAY,
BYWEEKNO or a frequency shorter than monthly; or a friendly ``on``), the nominal date is a
weekday chosen deterministically from the instance number ``k`` (0-based: the k-th district
of a per-district series, the k-th zone of a fan-out)::

    week of the month   [2, 3, 4, 1][k % 4]
    weekday             [WE, TH, TU, FR, MO][(k // 4) % 5]

Instance 0 meets on the 2nd Wednesday, 1 on the 3rd Wednesday, 2 on the 4th Wednesday, 3 on
the 1st Wednesday, 4 on the 2nd Thursday, and so on: 20 distinct slots, so 13 districts or
5 zones never share a day. Meetings therefore fall mid-month by default. A weekly cadence
without a pinned day meets on weekday [WE, TH, TU, FR, MO][k % 5].
:func:`parse_cadence` returns instance 0; :func:`for_instance` assigns instance ``k``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule as _RRule
from dateutil.rrule import rrulestr as _rrulestr

__all__ = [
    "Cadence",
    "CadenceError",
    "SPREAD_WEEKDAYS",
    "SPREAD_WEEKS",
    "cycle_of",
    "describe_zh",
    "expand",
    "for_instance",
    "localize",
    "parse_cadence",
    "spread_slot",
]

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAYS_ZH = "一二三四五六日"
SPREAD_WEEKS = (2, 3, 4, 1)
SPREAD_WEEKDAYS = ("WE", "TH", "TU", "FR", "MO")

# Canonical order of RRULE parts in a normalised rule.
_PART_ORDER = (
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
_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_DAY_KEYS = ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER")
_PIN_KEYS = (*_DAY_KEYS, "BYSETPOS")
_EXISTENCE_YEARS = 30
_SAMPLE_YEARS = (2001, 2028)  # 28 years: every weekday/leap-year combination of 1901-2099

_HINT = (
    "write it as 每月召開1次, 每季召開1次, 每4個月召開1次, 每半年召開1次, 每年召開2次, "
    "3月、7月、11月 or give {rrule: ...}"
)


class CadenceError(ValueError):
    """A cadence that cannot be understood. The message is shown to the admin as is."""


@dataclass(frozen=True)
class Cadence:
    """A normalised cadence.

    ``months`` lists the months of every year a monthly-or-longer cadence meets in; it is None
    when it meets every month, for sub-monthly cadences, and when the months change from year
    to year (e.g. every 5 months). ``period_months`` is the regular cycle (1, 2, 3, 4, 6 or 12
    months) or None; ``period_days`` is the cycle of weekly and daily rules.
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


# ---------------------------------------------------------------------------------------------
# RRULE text helpers


def _split(text: str) -> dict[str, str]:
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


def _join(parts: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in parts.items())


def _canonical(parts: Mapping[str, str]) -> dict[str, str]:
    return {k: parts[k] for k in _PART_ORDER if k in parts}


_BYDAY_ITEM = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")


def _byday_items(value: str) -> list[tuple[int | None, int]]:
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


def _format_byday(items: list[tuple[int | None, int]]) -> str:
    return ",".join(("" if n is None else f"{n:+d}") + WEEKDAY_CODES[wd] for n, wd in items)


def _ints(value: str, key: str, lo: int, hi: int, *, nonzero: bool = False) -> list[int]:
    try:
        nums = [int(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(f"{key}={value} is not a list of numbers") from None
    for n in nums:
        if not lo <= n <= hi or (nonzero and n == 0):
            raise ValueError(f"{key}={value}: {n} is out of range")
    return nums


def _until_date(value: str) -> date:
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T\d{6}Z?)?", value)
    if m is None:
        raise ValueError(f"UNTIL={value} is not YYYYMMDD[THHMMSS[Z]]")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_start(mi: int) -> date:
    y, m0 = divmod(mi, 12)
    return date(y, m0 + 1, 1)


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


# ---------------------------------------------------------------------------------------------
# Default day


def spread_slot(index: int) -> tuple[int, str]:
    """(week of month, weekday code) of instance ``index``: 0 → (2, "WE"), 1 → (3, "WE")..."""
    if index < 0:
        raise ValueError("instance index must be >= 0")
    return SPREAD_WEEKS[index % 4], SPREAD_WEEKDAYS[(index // 4) % 5]


def _slot_byday(index: int) -> str:
    week, wd = spread_slot(index)
    return f"+{week}{wd}"


def for_instance(cadence: Cadence, index: int) -> Cadence:
    """The cadence of instance ``index`` (0-based) of a series: the default day for that
    instance if the declaration does not pin one, else ``cadence`` unchanged."""
    if index < 0:
        raise ValueError("instance index must be >= 0")
    if cadence.pins_day:
        return cadence
    parts = _split(cadence.rrule)
    if parts.get("FREQ") == "WEEKLY":
        parts["BYDAY"] = SPREAD_WEEKDAYS[index % 5]
    else:
        parts["BYDAY"] = _slot_byday(index)
    return replace(cadence, rrule=_join(_canonical(parts)))


# ---------------------------------------------------------------------------------------------
# Building cadences


def _regular_period(months: tuple[int, ...]) -> int | None:
    """Evenly spaced months covering the year → the spacing; else None. (3, 7, 11) → 4."""
    ms = sorted(months)
    if not ms or 12 % len(ms):
        return None
    step = 12 // len(ms)
    if all(b - a == step for a, b in zip(ms, ms[1:], strict=False)):
        return step
    return None


def _aligned_months(anchor: int, period: int) -> tuple[int, ...]:
    return tuple(sorted((anchor - 1 + i * period) % 12 + 1 for i in range(12 // period)))


def _monthly_cadence(
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
        parts["BYDAY"] = _slot_byday(0)
    else:
        parts[day[0]] = day[1]
    return Cadence(
        rrule=_join(_canonical(parts)),
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


def _weekly_cadence(
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
        rrule=_join(parts),
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


def _periodic(
    period: int,
    anchor: int,
    *,
    day: tuple[str, str] | None = None,
    fan_out: int | None = None,
    adhoc: bool = False,
    source: str,
) -> Cadence:
    """Every ``period`` months (a divisor of 12), aligned to ``anchor``."""
    months = None if period == 1 else _aligned_months(anchor, period)
    return _monthly_cadence(
        period=period,
        months=months,
        anchor=anchor,
        day=day,
        fan_out=fan_out,
        adhoc=adhoc,
        source=source,
    )


def _listed_months(
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
    return _monthly_cadence(
        period=_regular_period(ordered),
        months=ordered,
        anchor=months[0],
        day=day,
        fan_out=fan_out,
        adhoc=adhoc,
        source=source,
    )


def parse_cadence(value: str | Mapping[str, object], *, anchor_month: int | None = None) -> Cadence:
    """Parse a cadence declaration (see the module docstring). Raises CadenceError."""
    if anchor_month is not None and (
        isinstance(anchor_month, bool)
        or not isinstance(anchor_month, int)
        or not 1 <= anchor_month <= 12
    ):
        raise CadenceError(f"anchor_month must be a month number 1-12, not {anchor_month!r}")
    if isinstance(value, str):
        return _parse_phrase(value, anchor_month)
    if isinstance(value, Mapping):
        if "rrule" in value:
            return _parse_rrule_mapping(value, anchor_month)
        return _parse_friendly(value, anchor_month)
    raise CadenceError(
        f"a cadence is a phrase such as 每月召開1次 or a mapping such as {{every: month}}, "
        f"not {value!r}"
    )


# ---------------------------------------------------------------------------------------------
# Form 1: RRULE passthrough


def _parse_rrule_mapping(value: Mapping[str, object], anchor_month: int | None) -> Cadence:
    extra = sorted(str(k) for k in value if k not in ("rrule", "dtstart"))
    if extra:
        raise CadenceError(
            f"a cadence with rrule takes only 'dtstart' besides it, not {', '.join(extra)}"
        )
    text = value["rrule"]
    if not isinstance(text, str):
        raise CadenceError(f"rrule must be a string such as FREQ=MONTHLY;BYDAY=2WE, not {text!r}")
    raw_dtstart = value.get("dtstart")
    if raw_dtstart is None:
        dtstart = date(2000, anchor_month or 1, 1)
    elif isinstance(raw_dtstart, datetime):
        raise CadenceError(f"dtstart must be a date, not a date and time ({raw_dtstart})")
    elif isinstance(raw_dtstart, date):
        dtstart = raw_dtstart
    elif isinstance(raw_dtstart, str):
        try:
            dtstart = date.fromisoformat(raw_dtstart.strip())
        except ValueError:
            raise CadenceError(f"dtstart {raw_dtstart!r} is not a date (YYYY-MM-DD)") from None
    else:
        raise CadenceError(f"dtstart must be a date (YYYY-MM-DD), not {raw_dtstart!r}")
    return _from_rrule(text, dtstart, anchor_month, source=text.strip())


def _normalise_rrule(text: str, dtstart: date) -> tuple[dict[str, str], bool]:
    """Validate an RRULE; return (canonical parts with the day made explicit, pins_day).

    Raises ValueError with a reason."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    body = body.strip().upper()
    if "\n" in body or "DTSTART" in body or ":" in body:
        raise ValueError("give a single RRULE line; put the start date in 'dtstart'")
    if not body:
        raise ValueError("it is empty")
    seen: dict[str, str] = {}
    for chunk in body.split(";"):
        if not chunk.strip():
            continue
        key, sep, val = chunk.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or not key or not val:
            raise ValueError(f"{chunk!r} is not KEY=VALUE")
        if key in seen:
            raise ValueError(f"{key} is given twice")
        if key not in _PART_ORDER:
            raise ValueError(f"unknown part {key}")
        seen[key] = val
    if "FREQ" not in seen:
        raise ValueError("FREQ is missing")
    freq = seen["FREQ"]
    if freq not in _FREQS:
        raise ValueError(f"FREQ={freq} is not one of {', '.join(_FREQS)}")
    if freq in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise ValueError("meetings recur at most daily")
    if "INTERVAL" in seen:
        if "," in seen["INTERVAL"]:
            raise ValueError("INTERVAL takes one number")
        if _ints(seen["INTERVAL"], "INTERVAL", 1, 10_000)[0] == 1:
            del seen["INTERVAL"]
    if "COUNT" in seen:
        if "," in seen["COUNT"]:
            raise ValueError("COUNT takes one number")
        _ints(seen["COUNT"], "COUNT", 1, 100_000)
        if "UNTIL" in seen:
            raise ValueError("COUNT and UNTIL cannot both be given")
    if "UNTIL" in seen:
        seen["UNTIL"] = _until_date(seen["UNTIL"]).strftime("%Y%m%d")
    if "BYMONTH" in seen:
        _ints(seen["BYMONTH"], "BYMONTH", 1, 12)
    if "BYMONTHDAY" in seen:
        _ints(seen["BYMONTHDAY"], "BYMONTHDAY", -31, 31, nonzero=True)
    if "BYYEARDAY" in seen:
        _ints(seen["BYYEARDAY"], "BYYEARDAY", -366, 366, nonzero=True)
    if "BYWEEKNO" in seen:
        _ints(seen["BYWEEKNO"], "BYWEEKNO", -53, 53, nonzero=True)
    if "BYSETPOS" in seen:
        _ints(seen["BYSETPOS"], "BYSETPOS", -366, 366, nonzero=True)
    if "BYDAY" in seen:
        items = _byday_items(seen["BYDAY"])
        limit = 5 if freq == "MONTHLY" or (freq == "YEARLY" and "BYMONTH" in seen) else 53
        for n, _ in items:
            if n is not None and not -limit <= n <= limit:
                raise ValueError(f"BYDAY ordinal {n} is out of range")
            if n is not None and freq not in ("MONTHLY", "YEARLY"):
                raise ValueError("BYDAY ordinals like 2WE need FREQ=MONTHLY or YEARLY")
        seen["BYDAY"] = _format_byday(items)
    if "WKST" in seen and seen["WKST"] not in WEEKDAY_CODES:
        raise ValueError(f"WKST={seen['WKST']} is not a weekday code")
    pins = freq in ("WEEKLY", "DAILY") or any(k in seen for k in _PIN_KEYS)
    if not pins:
        if freq == "YEARLY" and "BYMONTH" not in seen:
            seen["BYMONTH"] = str(dtstart.month)
        seen["BYDAY"] = _slot_byday(0)
    elif not any(k in seen for k in _DAY_KEYS):
        # Make dateutil's implicit defaults (taken from dtstart) explicit.
        if freq == "YEARLY":
            seen.setdefault("BYMONTH", str(dtstart.month))
            seen["BYMONTHDAY"] = str(dtstart.day)
        elif freq == "MONTHLY":
            seen["BYMONTHDAY"] = str(dtstart.day)
        elif freq == "WEEKLY":
            seen["BYDAY"] = WEEKDAY_CODES[dtstart.weekday()]
    parts = _canonical(seen)
    try:
        _rrulestr("RRULE:" + _join(parts), dtstart=datetime.combine(dtstart, time()))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(str(exc)) from None
    return parts, pins


def _from_rrule(text: str, dtstart: date, anchor_month: int | None, *, source: str) -> Cadence:
    try:
        parts, pins = _normalise_rrule(text, dtstart)
        rule_text = _join(parts)
        months, period, first = _analyse(rule_text, dtstart)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CadenceError(f'invalid RRULE "{text.strip()}": {exc}') from None
    if first is None:
        raise CadenceError(
            f'invalid RRULE "{text.strip()}": it never occurs in the {_EXISTENCE_YEARS} years '
            f"from {dtstart.isoformat()}"
        )
    freq = parts["FREQ"]
    period_days: int | None = None
    if freq in ("WEEKLY", "DAILY"):
        interval = int(parts.get("INTERVAL", "1"))
        period_days = interval * (7 if freq == "WEEKLY" else 1)
        months, period = None, None
    if months is not None:
        if anchor_month is not None:
            if anchor_month not in months:
                raise CadenceError(
                    f'RRULE "{text.strip()}" meets in months '
                    f"{', '.join(str(m) for m in months)}; anchor_month {anchor_month} "
                    f"is not one of them"
                )
            anchor = anchor_month
        else:
            written = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
            candidates = [m for m in written if m in months]
            if candidates:
                anchor = candidates[0]
            elif dtstart.month in months:
                anchor = dtstart.month
            else:
                anchor = months[0]
    else:
        anchor = anchor_month if anchor_month is not None else dtstart.month
    return Cadence(
        rrule=rule_text,
        dtstart=dtstart,
        anchor_month=anchor,
        period_months=period,
        period_days=period_days,
        months=months,
        pins_day=pins,
        fan_out=None,
        adhoc_allowed=False,
        source=source,
    )


@lru_cache(maxsize=1024)
def _analyse(
    rule_text: str, dtstart: date
) -> tuple[tuple[int, ...] | None, int | None, date | None]:
    """(months, period_months, first occurrence within the existence window) of a rule.

    Months and period are found by expanding the rule over 28 sample years; they are only
    reported for rules that repeat every year (monthly with an interval dividing 12, or yearly
    with interval 1) and meet in the same months every year."""
    parts = _split(rule_text)
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    # Existence: any occurrence within the window (COUNT >= 1 never removes the first one).
    limit = date(min(dtstart.year + _EXISTENCE_YEARS, 9999), 12, 31)
    bounded = {k: v for k, v in parts.items() if k != "COUNT"}
    if "UNTIL" in bounded:
        limit = min(limit, _until_date(bounded["UNTIL"]))
    bounded["UNTIL"] = limit.strftime("%Y%m%d")  # dateutil stops here even if nothing occurs
    first: date | None = None
    if limit >= dtstart:
        probe = _expand_text(_join(_canonical(bounded)), dtstart, dtstart, limit, first_only=True)
        first = probe[0] if probe else None
    yearly = (freq == "MONTHLY" and 12 % interval == 0) or (freq == "YEARLY" and interval == 1)
    if not yearly or first is None:
        return None, None, first
    sample_parts = {k: v for k, v in parts.items() if k not in ("COUNT", "UNTIL")}
    sample_start = date(_SAMPLE_YEARS[0] - 1, dtstart.month, 1)  # same phase as dtstart
    dates = _expand_text(
        _join(sample_parts),
        sample_start,
        date(_SAMPLE_YEARS[0], 1, 1),
        date(_SAMPLE_YEARS[1], 12, 31),
    )
    per_year: dict[int, set[int]] = {
        y: set() for y in range(_SAMPLE_YEARS[0], _SAMPLE_YEARS[1] + 1)
    }
    for d in dates:
        per_year[d.year].add(d.month)
    sets = {frozenset(s) for s in per_year.values()}
    if len(sets) != 1:
        return None, None, first
    month_set = tuple(sorted(next(iter(sets))))
    if not month_set:
        return None, None, first
    if len(month_set) == 12:
        return None, 1, first
    return month_set, _regular_period(month_set), first


# ---------------------------------------------------------------------------------------------
# Form 2: friendly mapping

_FRIENDLY_KEYS = ("every", "on", "months", "times_per_year")
_EVERY_UNITS = {"month": 1, "quarter": 3, "half-year": 6, "halfyear": 6, "year": 12}
_ORDINALS = {
    "1ST": 1, "FIRST": 1, "2ND": 2, "SECOND": 2, "3RD": 3, "THIRD": 3,
    "4TH": 4, "FOURTH": 4, "LAST": -1,
}  # fmt: skip
_WEEKDAY_NAMES = {
    "MONDAY": "MO", "TUESDAY": "TU", "WEDNESDAY": "WE", "THURSDAY": "TH",
    "FRIDAY": "FR", "SATURDAY": "SA", "SUNDAY": "SU",
    "MON": "MO", "TUE": "TU", "WED": "WE", "THU": "TH", "FRI": "FR", "SAT": "SA", "SUN": "SU",
    **{c: c for c in WEEKDAY_CODES},
}  # fmt: skip


def _mapping_repr(value: Mapping[str, object]) -> str:
    def one(v: object) -> str:
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(one(x) for x in v) + "]"
        if isinstance(v, date):
            return v.isoformat()
        return str(v)

    return "{" + ", ".join(f"{k}: {one(v)}" for k, v in value.items()) + "}"


def _parse_every(raw: object, where: str) -> tuple[str, int]:
    """→ ("months", N) or ("weeks", N)."""
    if not isinstance(raw, str):
        raise CadenceError(
            f"{where}: every must be month, quarter, half-year, year, 'N months', week or "
            f"'N weeks', not {raw!r}"
        )
    text = " ".join(raw.strip().lower().split())
    text = text.replace("half year", "half-year")
    if text in _EVERY_UNITS:
        return "months", _EVERY_UNITS[text]
    if text == "week":
        return "weeks", 1
    m = re.fullmatch(r"(\d+) ?(month|week|year)s?", text)
    if m is None:
        raise CadenceError(
            f"{where}: every {raw!r} is not month, quarter, half-year, year, 'N months', week "
            f"or 'N weeks'"
        )
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        raise CadenceError(f"{where}: every {raw!r} must be at least 1")
    if unit == "week":
        return "weeks", n
    months = n * 12 if unit == "year" else n
    if months > 12 or 12 % months:
        raise CadenceError(
            f"{where}: every {raw!r} does not divide the year evenly (use 1, 2, 3, 4, 6 or 12 "
            f"months); for other cycles give {{rrule: 'FREQ=MONTHLY;INTERVAL={months}'}}"
        )
    return "months", months


def _parse_on(raw: object, *, weekly: bool, where: str) -> tuple[str, str]:
    """→ ("BYDAY", "+3TU") or ("BYMONTHDAY", "15")."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise CadenceError(f"{where}: on {raw!r} is not a day such as '3rd TU', 'last FR' or 15")
    text = str(raw).strip().upper()
    if weekly:
        code = _WEEKDAY_NAMES.get(text)
        if code is None:
            raise CadenceError(
                f"{where}: a weekly cadence meets on a weekday such as 'TU', not {raw!r}"
            )
        return "BYDAY", code
    if re.fullmatch(r"-?\d+", text):
        day = int(text)
        if day == -1:
            return "BYMONTHDAY", "-1"
        if 1 <= day <= 28:
            return "BYMONTHDAY", str(day)
        if 29 <= day <= 31:
            raise CadenceError(
                f"{where}: day {day} does not exist in every month; use on: last day, or a day 1-28"
            )
        raise CadenceError(f"{where}: on {raw!r} is not a day of the month")
    if text in ("LAST DAY", "LAST"):
        return "BYMONTHDAY", "-1"
    m = re.fullmatch(r"(\S+)\s*(MO|TU|WE|TH|FR|SA|SU|[A-Z]+DAY|MON|TUE|WED|THU|FRI|SAT|SUN)", text)
    if m is not None:
        code = _WEEKDAY_NAMES.get(m.group(2))
        ordinal = _ORDINALS.get(m.group(1))
        if ordinal is None and re.fullmatch(r"[+-]?\d", m.group(1)):
            ordinal = int(m.group(1))
        if ordinal is not None and ordinal >= 5 or m.group(1) in ("5TH", "FIFTH"):
            raise CadenceError(
                f"{where}: a 5th weekday does not exist in every month; use 'last {m.group(2)}'"
            )
        if code is not None and ordinal is not None and ordinal in (1, 2, 3, 4, -1):
            return "BYDAY", f"{ordinal:+d}{code}"
    raise CadenceError(
        f"{where}: on {raw!r} is not a day such as '3rd TU', 'last FR', '2nd WE' or 15"
    )


def _positive_int(raw: object, name: str, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise CadenceError(f"{where}: {name} must be a whole number >= 1, not {raw!r}")
    return raw


def _parse_friendly(value: Mapping[str, object], anchor_month: int | None) -> Cadence:
    source = _mapping_repr(value)
    where = f"cadence {source}"
    unknown = [str(k) for k in value if k not in _FRIENDLY_KEYS]
    if unknown:
        raise CadenceError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a cadence mapping takes "
            f"{', '.join(_FRIENDLY_KEYS)} (or rrule and dtstart)"
        )
    every = _parse_every(value["every"], where) if "every" in value else None
    tpy = (
        _positive_int(value["times_per_year"], "times_per_year", where)
        if "times_per_year" in value
        else None
    )
    months: list[int] | None = None
    if "months" in value:
        raw_months = value["months"]
        if not isinstance(raw_months, (list, tuple)) or not raw_months:
            raise CadenceError(f"{where}: months must be a list such as [3, 7, 11]")
        months = []
        for m in raw_months:
            if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 12:
                raise CadenceError(f"{where}: months must be month numbers 1-12, not {m!r}")
            months.append(m)

    if every is not None and every[0] == "weeks":
        if months is not None or tpy is not None:
            raise CadenceError(f"{where}: a weekly cadence takes no months or times_per_year")
        weekday = None
        if "on" in value:
            weekday = _parse_on(value["on"], weekly=True, where=where)[1]
        return _weekly_cadence(
            interval=every[1],
            anchor=anchor_month or 1,
            weekday=weekday,
            fan_out=None,
            adhoc=False,
            source=source,
        )

    day = _parse_on(value["on"], weekly=False, where=where) if "on" in value else None
    period: int | None = None
    if every is not None:
        period = every[1]
        if tpy is not None:
            if period == 12:
                period = None  # every: year + times_per_year: N → decided below
            elif tpy * period != 12:
                raise CadenceError(
                    f"{where}: every {value['every']} meets {12 // period} times a year, "
                    f"not times_per_year {tpy}"
                )
    if period is None and tpy is not None:
        if months is not None:
            if len(months) != tpy:
                raise CadenceError(
                    f"{where}: times_per_year {tpy} but {len(months)} months are listed"
                )
        elif 12 % tpy:
            raise CadenceError(
                f"{where}: {tpy} times a year does not divide the year evenly; list the months, "
                f"e.g. months: [3, 7, 11]"
            )
        else:
            period = 12 // tpy
    if months is not None:
        if period is not None:
            if len(months) != 12 // period or _regular_period(tuple(months)) != period:
                raise CadenceError(
                    f"{where}: every {value['every']} meets in {12 // period} month(s) a year, "
                    f"{period} months apart; months {', '.join(str(m) for m in months)} "
                    f"do not fit (leave out every to list any months)"
                )
        return _listed_months(months, anchor_month, day=day, source=source, where=where)
    if period is None:
        raise CadenceError(f"{where}: give every, months or times_per_year")
    return _periodic(period, anchor_month or 1, day=day, source=source)


# ---------------------------------------------------------------------------------------------
# Form 3: Chinese phrases

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_NUMBER = re.compile(
    r"[一二兩两三四五六七八九]?十[一二三四五六七八九]?|[零〇一二兩两三四五六七八九]+"
)


def _cn_to_int(text: str) -> int:
    if "十" in text:
        head, _, tail = text.partition("十")
        return (_CN_DIGITS[head] if head else 1) * 10 + (_CN_DIGITS[tail] if tail else 0)
    value = 0
    for ch in text:
        value = value * 10 + _CN_DIGITS[ch]
    return value


_PREFIX = re.compile(r"^(?:原則上|原則|預計|以)")
_CORE = re.compile(
    r"(?:每(?P<month>月)|每(?P<quarter>季)|每(?P<half>半年)|每(?P<year>年)"
    r"|每(?P<nmonths>\d+)個月|每(?P<nweeks>\d*)個?(?:週|周|星期|禮拜))"
    r"(?:(?P<zones>\d+)個?(?:區|分區|行政區|區域)各)?"
    r"(?:至少)?"
    r"(?P<verb>召開|辦理|舉行|舉辦|開會)?"
    r"(?:(?P<count>\d+)次)?"
    r"(?:會議|會)?"
    r"(?:為原則)?"
)
_MONTH_LIST = re.compile(
    r"(?:分別)?(?:於)?(?:每年)?(?:的)?"
    r"(?P<list>(?:\d+月?[、及和與])*\d+月)"
    r"(?P<each>各)?(?P<verb>召開|辦理|舉行|舉辦)?(?:(?P<each2>各)?(?P<count>\d+)次)?"
    r"(?:會議)?(?:為原則)?"
)
_ADHOC = re.compile(
    r"(?:並|另|且)?(?:得|可)?(?:視需要|視實際需要|必要時)(?:得|可)?(?:並)?"
    r"(?:召開|加開|另行召開|隨時召開|召集)(?:不定期|臨時)(?:會議|會)?"
)
# Who chairs the meeting: 由市府一層首長擔任主席, 由本府秘書長以上層級主持, 主席由市長擔任.
_CHAIR = re.compile(
    r"(?:並)?(?:由.+(?:擔任(?:會議)?(?:主席|召集人)|主持|召集)|(?:會議)?(?:主席|召集人)由.+擔任)"
)


def _normalise_phrase(phrase: str) -> str:
    s = unicodedata.normalize("NFKC", phrase)
    s = re.sub(r"\s+", "", s)
    s = _CN_NUMBER.sub(lambda m: str(_cn_to_int(m.group(0))), s)
    # "3月，7月，11月" lists months with commas; make them 、 so they are not clause breaks.
    s = re.sub(r"(?<=\d)(月?),(?=\d)", r"\1、", s)
    return s


def _parse_phrase(phrase: str, anchor_month: int | None) -> Cadence:
    source = phrase.strip()

    def fail(reason: str | None = None) -> CadenceError:
        why = f": {reason}" if reason else ""
        return CadenceError(f'cannot understand cadence "{source}"{why}; {_HINT}')

    text = _normalise_phrase(phrase)
    clauses = [c for c in re.split(r"[,;。.!?]", text) if c]
    if not clauses:
        raise fail()
    core: re.Match[str] | None = None
    month_list: re.Match[str] | None = None
    adhoc = False
    for clause in clauses:
        body = _PREFIX.sub("", clause)
        m = _CORE.fullmatch(body)
        if m is not None and (m.group("verb") or m.group("count")):
            if core is not None:
                raise fail("it gives two cadences")
            core = m
            continue
        lm = _MONTH_LIST.fullmatch(body)
        if lm is not None:
            if month_list is not None:
                raise fail("it lists months twice")
            month_list = lm
            continue
        if _ADHOC.fullmatch(clause):
            adhoc = True
            continue
        if _CHAIR.fullmatch(clause):
            continue
        raise fail()
    if core is None and month_list is None:
        raise fail()

    months: list[int] | None = None
    if month_list is not None:
        months = [int(x) for x in re.findall(r"\d+", month_list.group("list"))]
        if any(not 1 <= m <= 12 for m in months):
            raise fail("a month must be 1-12")
        if len(set(months)) != len(months):
            raise fail("a month is listed twice")
        count = month_list.group("count")
        if count is not None:
            if int(count) != 1:
                raise fail(f"{count} meetings in a month is not supported")
            if len(months) > 1 and not (month_list.group("each") or month_list.group("each2")):
                raise fail("say 各召開1次 (once in each listed month)")

    if core is None:
        assert months is not None
        return _listed_months(
            months, anchor_month, adhoc=adhoc, source=source, where=f'cadence "{source}"'
        )

    count_text = core.group("count")
    count = int(count_text) if count_text is not None else None
    if count == 0:
        raise fail("0 meetings")
    zones = int(core.group("zones")) if core.group("zones") else None
    if zones is not None and zones < 1:
        raise fail("0 zones")

    if core.group("nweeks") is not None:
        if months is not None:
            raise fail("a weekly cadence does not list months")
        if count not in (None, 1):
            raise fail(f"{count} meetings a week is not supported")
        interval = int(core.group("nweeks") or "1")
        if interval < 1:
            raise fail()
        return _weekly_cadence(
            interval=interval,
            anchor=anchor_month or 1,
            weekday=None,
            fan_out=zones,
            adhoc=adhoc,
            source=source,
        )

    if core.group("year") is not None:
        per_year = count or 1
        if months is not None:
            if count is not None and count != len(months):
                raise fail(f"{count} meetings a year but {len(months)} months are listed")
            return _listed_months(
                months,
                anchor_month,
                adhoc=adhoc,
                fan_out=zones,
                source=source,
                where=f'cadence "{source}"',
            )
        if 12 % per_year:
            raise fail(
                f"{per_year} meetings a year do not divide the year evenly (list the months)"
            )
        period = 12 // per_year
    else:
        if core.group("month") is not None:
            period = 1
        elif core.group("quarter") is not None:
            period = 3
        elif core.group("half") is not None:
            period = 6
        else:
            period = int(core.group("nmonths"))
            if period < 1 or period > 12 or 12 % period:
                raise fail(f"every {period} months does not divide the year evenly")
        if count not in (None, 1):
            raise fail(f"{count} meetings per cycle is not supported (declare separate series)")
        if months is not None:
            if len(months) != 12 // period or _regular_period(tuple(months)) != period:
                raise fail("the listed months do not match the cycle")
            return _listed_months(
                months,
                anchor_month,
                adhoc=adhoc,
                fan_out=zones,
                source=source,
                where=f'cadence "{source}"',
            )
    return _periodic(period, anchor_month or 1, fan_out=zones, adhoc=adhoc, source=source)


# ---------------------------------------------------------------------------------------------
# Expansion


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


_PLAN_KEYS = frozenset({"FREQ", "INTERVAL", "BYMONTH", "BYDAY", "BYMONTHDAY", "UNTIL", "WKST"})


@lru_cache(maxsize=4096)
def _plan(rule_text: str, dtstart: date) -> _MonthPlan | _WeekPlan | None:
    """A fast arithmetic plan for the common rule shapes, or None (use dateutil)."""
    parts = _split(rule_text)
    if not set(parts) <= _PLAN_KEYS:
        return None
    freq = parts.get("FREQ")
    interval = int(parts.get("INTERVAL", "1"))
    until = _until_date(parts["UNTIL"]) if "UNTIL" in parts else None
    if freq == "WEEKLY":
        if set(parts) - {"FREQ", "INTERVAL", "BYDAY", "UNTIL", "WKST"} or "BYDAY" not in parts:
            return None
        items = _byday_items(parts["BYDAY"])
        if len(items) != 1 or items[0][0] is not None:
            return None
        wkst = WEEKDAY_CODES.index(parts.get("WKST", "MO"))
        week_start = dtstart - timedelta(days=(dtstart.weekday() - wkst) % 7)
        first = week_start + timedelta(days=(items[0][1] - wkst) % 7)
        return _WeekPlan(first=first, step_days=7 * interval, until=until)
    if freq not in ("MONTHLY", "YEARLY") or ("BYDAY" in parts) == ("BYMONTHDAY" in parts):
        return None
    bymonth = frozenset(int(m) for m in parts["BYMONTH"].split(",")) if "BYMONTH" in parts else None
    if freq == "YEARLY" and bymonth is None:
        return None
    nth: int | None = None
    weekday = 0
    monthday: int | None = None
    if "BYDAY" in parts:
        items = _byday_items(parts["BYDAY"])
        if len(items) != 1 or items[0][0] is None or not -5 <= items[0][0] <= 5:
            return None
        nth, weekday = items[0]
    else:
        if "," in parts["BYMONTHDAY"]:
            return None
        monthday = int(parts["BYMONTHDAY"])
    if freq == "MONTHLY":
        return _MonthPlan(
            month_step=interval,
            month_phase=_month_index(dtstart) % interval,
            year_step=1,
            year_phase=0,
            bymonth=bymonth,
            nth=nth,
            weekday=weekday,
            monthday=monthday,
            until=until,
        )
    return _MonthPlan(
        month_step=1,
        month_phase=0,
        year_step=interval,
        year_phase=dtstart.year % interval,
        bymonth=bymonth,
        nth=nth,
        weekday=weekday,
        monthday=monthday,
        until=until,
    )


def _day_in_month(plan: _MonthPlan, y: int, m: int) -> date | None:
    dim = _days_in_month(y, m)
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
    mi = _month_index(lo)
    last = _month_index(hi)
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
def _dateutil_rule(rule_text: str, dtstart: date) -> _RRule:
    rule = _rrulestr("RRULE:" + rule_text, dtstart=datetime.combine(dtstart, time()))
    assert isinstance(rule, _RRule)
    return rule


def _shifted_dtstart(parts: Mapping[str, str], dtstart: date, target: date) -> date:
    """A later dtstart (<= target) that yields the same occurrences from there on."""
    if "COUNT" in parts or target <= dtstart:
        return dtstart
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    if freq in ("YEARLY", "MONTHLY") and not any(k in parts for k in _DAY_KEYS):
        return dtstart  # dateutil takes the day from dtstart
    if freq == "YEARLY":
        years = (target.year - dtstart.year) // interval * interval
        return date(dtstart.year + years, 1, 1) if years > 0 else dtstart
    if freq == "MONTHLY":
        months = (_month_index(target) - _month_index(dtstart)) // interval * interval
        return _month_start(_month_index(dtstart) + months) if months > 0 else dtstart
    step = interval * (7 if freq == "WEEKLY" else 1)
    return dtstart + timedelta(days=(target - dtstart).days // step * step)


def _expand_text(
    rule_text: str, dtstart: date, start: date, end: date, *, first_only: bool = False
) -> list[date]:
    lo = max(start, dtstart)
    if lo > end:
        return []
    plan = _plan(rule_text, dtstart)
    if plan is not None:
        hi = end if plan.until is None else min(end, plan.until)
        if lo > hi:
            return []
        if isinstance(plan, _MonthPlan):
            return _expand_month_plan(plan, lo, hi, first_only)
        return _expand_week_plan(plan, lo, hi, first_only)
    parts = _split(rule_text)
    base = _shifted_dtstart(parts, dtstart, date(lo.year, 1, 1))
    rule = _dateutil_rule(rule_text, base)
    lo_dt = datetime.combine(lo, time())
    hi_dt = datetime.combine(end, time.max)
    if first_only:
        found: Any = rule.after(lo_dt, inc=True)
        if found is None or found > hi_dt:
            return []
        return [found.date()]
    found_all: list[datetime] = rule.between(lo_dt, hi_dt, inc=True)
    return sorted({dt.date() for dt in found_all})


def expand(cadence: Cadence, start: date, end: date) -> list[date]:
    """Nominal dates of ``cadence`` in [start, end] (inclusive), sorted, without duplicates."""
    if isinstance(start, datetime):
        start = start.date()
    if isinstance(end, datetime):
        end = end.date()
    return _expand_text(cadence.rrule, cadence.dtstart, start, end)


# ---------------------------------------------------------------------------------------------
# Cycles


def cycle_of(cadence: Cadence, nominal: date) -> tuple[date, date]:
    """The cycle (first day, last day) that contains ``nominal``.

    Regular monthly-or-longer cadences: blocks of ``period_months`` months aligned to the
    anchor month (every 4 months, anchor 3: Mar-Jun, Jul-Oct, Nov-Feb). Listed irregular
    months: from the 1st of a listed month to the day before the 1st of the next listed month.
    Weekly and daily: blocks of ``period_days`` days aligned to ``dtstart``. Other rules: from
    the 1st of the month of one occurrence to the day before the month of the next.
    """
    if isinstance(nominal, datetime):
        nominal = nominal.date()
    if cadence.period_days is not None:
        step = cadence.period_days
        offset = (nominal - cadence.dtstart).days // step * step
        first = cadence.dtstart + timedelta(days=offset)
        return first, first + timedelta(days=step - 1)
    mi = _month_index(nominal)
    if cadence.period_months is not None:
        p = cadence.period_months
        start_mi = mi - (mi - (cadence.anchor_month - 1)) % p
        return _month_start(start_mi), _month_start(start_mi + p) - timedelta(days=1)
    if cadence.months is not None:
        ms = cadence.months
        y, m = nominal.year, nominal.month
        earlier = [x for x in ms if x <= m]
        start_mi = y * 12 + earlier[-1] - 1 if earlier else (y - 1) * 12 + ms[-1] - 1
        sy, sm0 = divmod(start_mi, 12)
        later = [x for x in ms if x > sm0 + 1]
        next_mi = sy * 12 + later[0] - 1 if later else (sy + 1) * 12 + ms[0] - 1
        return _month_start(start_mi), _month_start(next_mi) - timedelta(days=1)
    rule = _dateutil_rule(cadence.rrule, cadence.dtstart)
    next_month = datetime.combine(_month_start(mi + 1), time())
    prev: Any = rule.before(next_month, inc=False)
    if prev is None:
        block_start = date.min
        following: Any = rule.after(datetime.combine(nominal, time()), inc=True)
    else:
        block_start = _month_start(_month_index(prev.date()))
        following = rule.after(
            datetime.combine(_month_start(_month_index(prev.date()) + 1), time()), inc=True
        )
    if following is None:
        return block_start, date.max
    return block_start, _month_start(_month_index(following.date())) - timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Description


def _day_zh(key: str, value: str) -> str | None:
    if key == "BYMONTHDAY":
        if "," in value:
            return None
        md = int(value)
        return "每月最後一天" if md == -1 else (f"{md}日" if md > 0 else None)
    items = _byday_items(value)
    if len(items) != 1:
        return None
    n, wd = items[0]
    if n is None:
        return None
    if n > 0:
        return f"第{n}個星期{WEEKDAYS_ZH[wd]}"
    if n == -1:
        return f"最後一個星期{WEEKDAYS_ZH[wd]}"
    return f"倒數第{-n}個星期{WEEKDAYS_ZH[wd]}"


def describe_zh(cadence: Cadence) -> str:
    """A short Chinese description, e.g. ``每4個月1次（3月、7月、11月），第2個星期三``."""
    parts = _split(cadence.rrule)
    freq = parts.get("FREQ")
    tail = ""
    if "UNTIL" in parts:
        tail += f"，至{_until_date(parts['UNTIL']).isoformat()}止"
    if cadence.adhoc_allowed:
        tail += "，得視需要召開不定期會議"
    once = f"{cadence.fan_out}區各1次" if cadence.fan_out else "1次"
    simple = set(parts) <= _PLAN_KEYS
    if freq == "WEEKLY" and simple and "BYDAY" in parts:
        items = _byday_items(parts["BYDAY"])
        if all(n is None for n, _ in items):
            interval = int(parts.get("INTERVAL", "1"))
            every = "每週" if interval == 1 else f"每{interval}週"
            days = "、".join(f"星期{WEEKDAYS_ZH[wd]}" for _, wd in items)
            count = once if len(items) == 1 else f"{len(items)}次"
            return f"{every}{count}，{days}{tail}"
    if freq in ("MONTHLY", "YEARLY") and simple:
        day_key = "BYDAY" if "BYDAY" in parts else "BYMONTHDAY"
        day = _day_zh(day_key, parts[day_key]) if day_key in parts else None
        months_zh = "、".join(f"{m}月" for m in cadence.months) if cadence.months else ""
        p = cadence.period_months
        head: str | None = None
        if p is not None:
            head = {1: "每月", 3: "每季", 6: "每半年", 12: "每年"}.get(p, f"每{p}個月")
            head += once
            if months_zh:
                head += f"（{months_zh}）"
        elif cadence.months:
            head = f"每年{len(cadence.months)}次（{months_zh}）"
            if cadence.fan_out:
                head += f"，{cadence.fan_out}區各自召開"
        if head is not None and day is not None:
            return f"{head}，{day}{tail}"
    return f"依RRULE {cadence.rrule}（自{cadence.dtstart.isoformat()}起）{tail}"


# ---------------------------------------------------------------------------------------------
# Local time


def localize(d: date, t: time, tz: ZoneInfo) -> datetime:
    """The aware datetime of wall time ``t`` on ``d`` in ``tz``.

    A wall time that does not exist (the clocks jump forward over it) is moved forward by the
    length of the gap (02:30 on a spring-forward night → 03:30); an ambiguous one (the clocks
    fall back over it) is the first of the two (fold=0)."""
    if t.tzinfo is not None:
        raise ValueError("localize takes a naive wall-clock time")
    naive = datetime.combine(d, t.replace(fold=0))
    aware = naive.replace(tzinfo=tz)
    # fold=0 in a gap uses the offset from before the transition; the UTC round trip then
    # lands on the wall time after the gap.
    normal = aware.astimezone(UTC).astimezone(tz)
    if normal.replace(tzinfo=None) != naive:
        return normal.replace(fold=0)
    return aware
