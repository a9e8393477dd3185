"""Form 2: the friendly mapping, e.g. ``{every: month, on: 3rd TH}``.

::

    every: month | quarter | half-year | year | "N months" (N divides 12) | week | "N weeks"
    on: "3rd TU" | "last FR" | "2nd WE" | 15 (day of month, 1-28) | "last day"
        (weekly: a weekday such as "TU")
    months: [3, 7, 11]        # the months of the year it meets in
    times_per_year: 2         # 12 / times_per_year months apart
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from meetings.schedule.cadence.build import listed_months, periodic, regular_period, weekly_cadence
from meetings.schedule.cadence.model import WEEKDAY_CODES, Cadence, CadenceError

FRIENDLY_KEYS = ("every", "on", "months", "times_per_year")
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
_NTH_WEEKDAY = re.compile(r"(\S+)\s*(MO|TU|WE|TH|FR|SA|SU|[A-Z]+DAY|MON|TUE|WED|THU|FRI|SAT|SUN)")


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


def _weekly_on(raw: object, text: str, where: str) -> tuple[str, str]:
    code = _WEEKDAY_NAMES.get(text)
    if code is None:
        raise CadenceError(
            f"{where}: a weekly cadence meets on a weekday such as 'TU', not {raw!r}"
        )
    return "BYDAY", code


def _month_day_on(raw: object, text: str, where: str) -> tuple[str, str]:
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


def _nth_weekday_on(text: str, where: str) -> tuple[str, str] | None:
    m = _NTH_WEEKDAY.fullmatch(text)
    if m is None:
        return None
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
    return None


def _parse_on(raw: object, *, weekly: bool, where: str) -> tuple[str, str]:
    """→ ("BYDAY", "+3TU") or ("BYMONTHDAY", "15")."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise CadenceError(f"{where}: on {raw!r} is not a day such as '3rd TU', 'last FR' or 15")
    text = str(raw).strip().upper()
    if weekly:
        return _weekly_on(raw, text, where)
    if re.fullmatch(r"-?\d+", text):
        return _month_day_on(raw, text, where)
    if text in ("LAST DAY", "LAST"):
        return "BYMONTHDAY", "-1"
    found = _nth_weekday_on(text, where)
    if found is not None:
        return found
    raise CadenceError(
        f"{where}: on {raw!r} is not a day such as '3rd TU', 'last FR', '2nd WE' or 15"
    )


def _positive_int(raw: object, name: str, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise CadenceError(f"{where}: {name} must be a whole number >= 1, not {raw!r}")
    return raw


def _parse_months(value: Mapping[str, object], where: str) -> list[int] | None:
    if "months" not in value:
        return None
    raw_months = value["months"]
    if not isinstance(raw_months, (list, tuple)) or not raw_months:
        raise CadenceError(f"{where}: months must be a list such as [3, 7, 11]")
    months: list[int] = []
    for m in raw_months:
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 12:
            raise CadenceError(f"{where}: months must be month numbers 1-12, not {m!r}")
        months.append(m)
    return months


def _period(
    value: Mapping[str, object],
    every_months: int | None,
    tpy: int | None,
    months: list[int] | None,
    where: str,
) -> int | None:
    """The cycle in months that ``every`` and ``times_per_year`` agree on (None: listed)."""
    period = every_months
    if period is not None and tpy is not None:
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
    return period


def _check_listed(
    value: Mapping[str, object], period: int | None, months: list[int], where: str
) -> None:
    if period is not None and (
        len(months) != 12 // period or regular_period(tuple(months)) != period
    ):
        raise CadenceError(
            f"{where}: every {value['every']} meets in {12 // period} month(s) a year, "
            f"{period} months apart; months {', '.join(str(m) for m in months)} "
            f"do not fit (leave out every to list any months)"
        )


def parse_friendly(value: Mapping[str, object], anchor_month: int | None) -> Cadence:
    """A friendly mapping → Cadence. Raises CadenceError naming the mapping."""
    source = _mapping_repr(value)
    where = f"cadence {source}"
    unknown = [str(k) for k in value if k not in FRIENDLY_KEYS]
    if unknown:
        raise CadenceError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a cadence mapping takes "
            f"{', '.join(FRIENDLY_KEYS)} (or rrule and dtstart)"
        )
    every = _parse_every(value["every"], where) if "every" in value else None
    tpy = (
        _positive_int(value["times_per_year"], "times_per_year", where)
        if "times_per_year" in value
        else None
    )
    months = _parse_months(value, where)
    if every is not None and every[0] == "weeks":
        if months is not None or tpy is not None:
            raise CadenceError(f"{where}: a weekly cadence takes no months or times_per_year")
        weekday = _parse_on(value["on"], weekly=True, where=where)[1] if "on" in value else None
        return weekly_cadence(
            interval=every[1],
            anchor=anchor_month or 1,
            weekday=weekday,
            fan_out=None,
            adhoc=False,
            source=source,
        )
    day = _parse_on(value["on"], weekly=False, where=where) if "on" in value else None
    period = _period(value, every[1] if every else None, tpy, months, where)
    if months is not None:
        _check_listed(value, period, months, where)
        return listed_months(months, anchor_month, day=day, source=source, where=where)
    if period is None:
        raise CadenceError(f"{where}: give every, months or times_per_year")
    return periodic(period, anchor_month or 1, day=day, source=source)
