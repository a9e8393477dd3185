"""Form 1: an RRULE, ``{rrule: "FREQ=MONTHLY;BYDAY=2WE", dtstart: 2025-01-01}``.

Any rule python-dateutil accepts, validated part by part so the admin reads which part is
wrong, then normalised: parts in canonical order, and the meeting day made explicit (the
default day when the rule pins none, dateutil's dtstart-derived day otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from functools import lru_cache

from dateutil.rrule import rrulestr as _rrulestr

from meetings.schedule.cadence.build import regular_period, slot_byday
from meetings.schedule.cadence.expand import expand_rule
from meetings.schedule.cadence.model import WEEKDAY_CODES, Cadence, CadenceError
from meetings.schedule.cadence.ruletext import (
    DAY_KEYS,
    FREQS,
    PART_ORDER,
    PIN_KEYS,
    byday_items,
    canonical,
    format_byday,
    int_list,
    join_rule,
    split_rule,
    until_date,
)

# A rule must occur at least once this many years after its dtstart.
EXISTENCE_YEARS = 30
_SAMPLE_YEARS = (2001, 2028)  # 28 years: every weekday/leap-year combination of 1901-2099
_RULE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)
# (part, lowest, highest): the range of each numeric list part (0 is never allowed).
_NONZERO_RANGES = (
    ("BYMONTHDAY", -31, 31),
    ("BYYEARDAY", -366, 366),
    ("BYWEEKNO", -53, 53),
    ("BYSETPOS", -366, 366),
)


def parse_rrule_mapping(value: Mapping[str, object], anchor_month: int | None) -> Cadence:
    """``{rrule: ..., dtstart: ...}`` → Cadence. Raises CadenceError."""
    extra = sorted(str(k) for k in value if k not in ("rrule", "dtstart"))
    if extra:
        raise CadenceError(
            f"a cadence with rrule takes only 'dtstart' besides it, not {', '.join(extra)}"
        )
    text = value["rrule"]
    if not isinstance(text, str):
        raise CadenceError(f"rrule must be a string such as FREQ=MONTHLY;BYDAY=2WE, not {text!r}")
    dtstart = _dtstart(value.get("dtstart"), anchor_month)
    return from_rrule(text, dtstart, anchor_month, source=text.strip())


def _dtstart(raw: object, anchor_month: int | None) -> date:
    if raw is None:
        return date(2000, anchor_month or 1, 1)
    if isinstance(raw, datetime):
        raise CadenceError(f"dtstart must be a date, not a date and time ({raw})")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise CadenceError(f"dtstart {raw!r} is not a date (YYYY-MM-DD)") from None
    raise CadenceError(f"dtstart must be a date (YYYY-MM-DD), not {raw!r}")


# --- normalising --------------------------------------------------------------------------


def _rule_body(text: str) -> str:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    body = body.strip().upper()
    if "\n" in body or "DTSTART" in body or ":" in body:
        raise ValueError("give a single RRULE line; put the start date in 'dtstart'")
    if not body:
        raise ValueError("it is empty")
    return body


def _rule_parts(body: str) -> dict[str, str]:
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
        if key not in PART_ORDER:
            raise ValueError(f"unknown part {key}")
        seen[key] = val
    return seen


def _check_freq(seen: Mapping[str, str]) -> str:
    if "FREQ" not in seen:
        raise ValueError("FREQ is missing")
    freq = seen["FREQ"]
    if freq not in FREQS:
        raise ValueError(f"FREQ={freq} is not one of {', '.join(FREQS)}")
    if freq in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise ValueError("meetings recur at most daily")
    return freq


def _check_bounds(seen: dict[str, str]) -> None:
    """INTERVAL, COUNT and UNTIL; a redundant INTERVAL=1 is dropped, UNTIL made a date."""
    if "INTERVAL" in seen:
        if "," in seen["INTERVAL"]:
            raise ValueError("INTERVAL takes one number")
        if int_list(seen["INTERVAL"], "INTERVAL", 1, 10_000)[0] == 1:
            del seen["INTERVAL"]
    if "COUNT" in seen:
        if "," in seen["COUNT"]:
            raise ValueError("COUNT takes one number")
        int_list(seen["COUNT"], "COUNT", 1, 100_000)
        if "UNTIL" in seen:
            raise ValueError("COUNT and UNTIL cannot both be given")
    if "UNTIL" in seen:
        seen["UNTIL"] = until_date(seen["UNTIL"]).strftime("%Y%m%d")


def _check_lists(seen: dict[str, str], freq: str) -> None:
    """The BY* lists and WKST; BYDAY is rewritten with explicit signs (``2WE`` → ``+2WE``)."""
    if "BYMONTH" in seen:
        int_list(seen["BYMONTH"], "BYMONTH", 1, 12)
    for key, lo, hi in _NONZERO_RANGES:
        if key in seen:
            int_list(seen[key], key, lo, hi, nonzero=True)
    if "BYDAY" in seen:
        items = byday_items(seen["BYDAY"])
        limit = 5 if freq == "MONTHLY" or (freq == "YEARLY" and "BYMONTH" in seen) else 53
        for n, _ in items:
            if n is not None and not -limit <= n <= limit:
                raise ValueError(f"BYDAY ordinal {n} is out of range")
            if n is not None and freq not in ("MONTHLY", "YEARLY"):
                raise ValueError("BYDAY ordinals like 2WE need FREQ=MONTHLY or YEARLY")
        seen["BYDAY"] = format_byday(items)
    if "WKST" in seen and seen["WKST"] not in WEEKDAY_CODES:
        raise ValueError(f"WKST={seen['WKST']} is not a weekday code")


def _explicit_day(seen: dict[str, str], freq: str, dtstart: date) -> bool:
    """Write the meeting day into the rule; True when the declaration pinned it."""
    pins = freq in ("WEEKLY", "DAILY") or any(k in seen for k in PIN_KEYS)
    if not pins:
        if freq == "YEARLY" and "BYMONTH" not in seen:
            seen["BYMONTH"] = str(dtstart.month)
        seen["BYDAY"] = slot_byday(0)
    elif not any(k in seen for k in DAY_KEYS):
        # Make dateutil's implicit defaults (taken from dtstart) explicit.
        if freq == "YEARLY":
            seen.setdefault("BYMONTH", str(dtstart.month))
            seen["BYMONTHDAY"] = str(dtstart.day)
        elif freq == "MONTHLY":
            seen["BYMONTHDAY"] = str(dtstart.day)
        elif freq == "WEEKLY":
            seen["BYDAY"] = WEEKDAY_CODES[dtstart.weekday()]
    return pins


def normalise_rrule(text: str, dtstart: date) -> tuple[dict[str, str], bool]:
    """Validate an RRULE; return (canonical parts with the day made explicit, pins_day).

    Raises ValueError with a reason."""
    seen = _rule_parts(_rule_body(text))
    freq = _check_freq(seen)
    _check_bounds(seen)
    _check_lists(seen, freq)
    pins = _explicit_day(seen, freq, dtstart)
    parts = canonical(seen)
    try:
        _rrulestr("RRULE:" + join_rule(parts), dtstart=datetime.combine(dtstart, time()))
    except _RULE_ERRORS as exc:
        raise ValueError(str(exc)) from None
    return parts, pins


# --- the Cadence of a rule ----------------------------------------------------------------


def from_rrule(text: str, dtstart: date, anchor_month: int | None, *, source: str) -> Cadence:
    """The Cadence of an RRULE text. Raises CadenceError quoting the rule."""
    try:
        parts, pins = normalise_rrule(text, dtstart)
        rule_text = join_rule(parts)
        months, period, first = analyse(rule_text, dtstart)
    except _RULE_ERRORS as exc:
        raise CadenceError(f'invalid RRULE "{text.strip()}": {exc}') from None
    if first is None:
        raise CadenceError(
            f'invalid RRULE "{text.strip()}": it never occurs in the {EXISTENCE_YEARS} years '
            f"from {dtstart.isoformat()}"
        )
    freq = parts["FREQ"]
    period_days: int | None = None
    if freq in ("WEEKLY", "DAILY"):
        interval = int(parts.get("INTERVAL", "1"))
        period_days = interval * (7 if freq == "WEEKLY" else 1)
        months, period = None, None
    return Cadence(
        rrule=rule_text,
        dtstart=dtstart,
        anchor_month=_anchor(text, parts, months, dtstart, anchor_month),
        period_months=period,
        period_days=period_days,
        months=months,
        pins_day=pins,
        fan_out=None,
        adhoc_allowed=False,
        source=source,
    )


def _anchor(
    text: str,
    parts: Mapping[str, str],
    months: tuple[int, ...] | None,
    dtstart: date,
    anchor_month: int | None,
) -> int:
    """The anchor month: the declared one (which must be a meeting month), else the first
    written BYMONTH that meets, else dtstart's month if it meets, else the first month."""
    if months is None:
        return anchor_month if anchor_month is not None else dtstart.month
    if anchor_month is not None:
        if anchor_month not in months:
            raise CadenceError(
                f'RRULE "{text.strip()}" meets in months '
                f"{', '.join(str(m) for m in months)}; anchor_month {anchor_month} "
                f"is not one of them"
            )
        return anchor_month
    written = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
    candidates = [m for m in written if m in months]
    if candidates:
        return candidates[0]
    if dtstart.month in months:
        return dtstart.month
    return months[0]


def _first_occurrence(parts: Mapping[str, str], dtstart: date) -> date | None:
    """The first date within the existence window (COUNT >= 1 never removes the first one)."""
    limit = date(min(dtstart.year + EXISTENCE_YEARS, 9999), 12, 31)
    bounded = {k: v for k, v in parts.items() if k != "COUNT"}
    if "UNTIL" in bounded:
        limit = min(limit, until_date(bounded["UNTIL"]))
    bounded["UNTIL"] = limit.strftime("%Y%m%d")  # dateutil stops here even if nothing occurs
    if limit < dtstart:
        return None
    probe = expand_rule(join_rule(canonical(bounded)), dtstart, dtstart, limit, first_only=True)
    return probe[0] if probe else None


def _sampled_months(parts: Mapping[str, str], dtstart: date) -> set[frozenset[int]]:
    """The distinct sets of months the rule meets in, over the sample years."""
    sample_parts = {k: v for k, v in parts.items() if k not in ("COUNT", "UNTIL")}
    sample_start = date(_SAMPLE_YEARS[0] - 1, dtstart.month, 1)  # same phase as dtstart
    dates = expand_rule(
        join_rule(sample_parts),
        sample_start,
        date(_SAMPLE_YEARS[0], 1, 1),
        date(_SAMPLE_YEARS[1], 12, 31),
    )
    per_year: dict[int, set[int]] = {
        y: set() for y in range(_SAMPLE_YEARS[0], _SAMPLE_YEARS[1] + 1)
    }
    for d in dates:
        per_year[d.year].add(d.month)
    return {frozenset(s) for s in per_year.values()}


@lru_cache(maxsize=1024)
def analyse(
    rule_text: str, dtstart: date
) -> tuple[tuple[int, ...] | None, int | None, date | None]:
    """(months, period_months, first occurrence within the existence window) of a rule.

    Months and period are found by expanding the rule over 28 sample years; they are only
    reported for rules that repeat every year (monthly with an interval dividing 12, or yearly
    with interval 1) and meet in the same months every year."""
    parts = split_rule(rule_text)
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    first = _first_occurrence(parts, dtstart)
    yearly = (freq == "MONTHLY" and 12 % interval == 0) or (freq == "YEARLY" and interval == 1)
    if not yearly or first is None:
        return None, None, first
    sets = _sampled_months(parts, dtstart)
    if len(sets) != 1:
        return None, None, first
    month_set = tuple(sorted(next(iter(sets))))
    if not month_set:
        return None, None, first
    if len(month_set) == 12:
        return None, 1, first
    return month_set, regular_period(month_set), first
