"""The Taiwan government office calendar (政府行政機關辦公日曆).

A day is a working day when it is Monday to Friday, minus national days off (including
substituted days off, 調整放假), plus make-up working Saturdays (補行上班), minus
administrative closures (e.g. typhoon 停班).  An imported DGPA calendar
(行政院人事行政總處「政府行政機關辦公日曆表」) overrides the `holidays` package for the
dates it lists; closures beat everything.

Pure module: no database, no clock, no file I/O.
"""

from __future__ import annotations

import csv
import io
import re
from calendar import isleap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

from holidays import country_holidays
from holidays.countries.taiwan import Taiwan, TaiwanStaticHolidays

from meetings.kernel.rocdate import WEEKDAYS_ZH

__all__ = [
    "CalendarFileError",
    "DGPA_SOURCE",
    "DayInfo",
    "FIRST_PACKAGE_YEAR",
    "HolidayPolicy",
    "LAST_PACKAGE_YEAR",
    "MAX_NON_WORKING_RUN",
    "OfficeCalendar",
    "format_dgpa_calendar",
    "parse_dgpa_calendar",
]

REASON_WEEKEND = "週末"
REASON_MAKEUP = "補行上班"
DGPA_SOURCE = "行政院人事行政總處辦公日曆表"
# Longest run of consecutive non-working days we accept before assuming a broken calendar.
MAX_NON_WORKING_RUN = 60
_ONE_DAY = timedelta(days=1)
_MINUS_ONE_DAY = timedelta(days=-1)
# Holiday names are displayed in Traditional Chinese. The language must be pinned: with
# language=None the package picks the locale from the process environment (LANG etc.).
_HOLIDAY_LANGUAGE = "zh_TW"


class HolidayPolicy(StrEnum):
    """What to do with a meeting whose nominal date is not a working day."""

    NEXT_WORKING_DAY = "next_working_day"
    PREVIOUS_WORKING_DAY = "previous_working_day"
    SKIP = "skip"
    KEEP = "keep"


# StrEnum members hash and compare like their values: one lookup serves both spellings.
_POLICIES: dict[str, HolidayPolicy] = {p.value: p for p in HolidayPolicy}


@dataclass(frozen=True)
class DayInfo:
    """Whether a date is a working day, and why (holiday name, 週末, 補行上班, closure...)."""

    date: date
    working: bool
    reason: str | None


# --------------------------------------------------------------------------------------
# What the holidays package knows
# --------------------------------------------------------------------------------------

FIRST_PACKAGE_YEAR: int = Taiwan.start_year


def _last_package_year() -> int:
    """Last year for which the package carries the DGPA calendar (substitution data).

    The package has no structured "checked up to" field.  Substitutions are stored per
    year in ``TaiwanStaticHolidays.special_public_holidays``, but a year can legitimately
    have none (2026 has no 補行上班 at all), so the maintainers' list of DGPA calendars
    the data was checked against (``* [YYYY](url)`` lines in the class docstring) is
    consulted too.  Without docstrings (``python -OO``) this degrades conservatively.
    """
    years = set(TaiwanStaticHolidays.special_public_holidays)
    doc = TaiwanStaticHolidays.__doc__ or ""
    years.update(int(y) for y in re.findall(r"^\s*\*\s*\[(\d{4})\]\(", doc, re.MULTILINE))
    return max(years) if years else FIRST_PACKAGE_YEAR - 1


LAST_PACKAGE_YEAR: int = _last_package_year()


@lru_cache(maxsize=256)
def _package_year(year: int) -> tuple[Mapping[date, str], frozenset[date]]:
    """(days off -> zh_TW name, make-up working weekend days) for one year.

    Make-up days come from the package's documented ``weekend_workdays`` attribute
    ("working days moved to weekends"), which it fills from the structured substitution
    table (day off <- make-up day) while populating the year; no name parsing needed.
    """
    hol = country_holidays("TW", years=year, language=_HOLIDAY_LANGUAGE)
    off = {d: name for d, name in hol.items() if d.year == year}
    makeup = frozenset(d for d in hol.weekend_workdays if d.year == year and d.weekday() >= 5)
    return off, makeup


def _days_in_year(year: int) -> int:
    return 366 if isleap(year) else 365


# --------------------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------------------


class OfficeCalendar:
    """Working-day calculations for Taiwanese government offices.

    Precedence, highest first: ``closures`` (always off) > ``published`` (imported DGPA
    calendar) > the ``holidays`` package > plain Mon-Fri.  Each year is computed once per
    instance; afterwards `is_working_day` is a dict lookup.
    """

    def __init__(
        self,
        closures: Mapping[date, str] | None = None,
        published: Mapping[date, tuple[bool, str]] | None = None,
    ) -> None:
        self._closures: dict[date, str] = dict(closures or {})
        self._published: dict[date, tuple[bool, str]] = dict(published or {})
        self._working: dict[date, bool] = {}
        counts: dict[int, int] = {}
        for d in self._published:
            counts[d.year] = counts.get(d.year, 0) + 1
        self._published_years = frozenset(y for y, n in counts.items() if n == _days_in_year(y))

    # -- core --------------------------------------------------------------------------

    def _build_year(self, year: int) -> None:
        off, makeup = _package_year(year)
        closures, published, working = self._closures, self._published, self._working
        d = date(year, 1, 1)
        while d.year == year:
            if d in closures:
                ok = False
            elif d in published:
                ok = not published[d][0]
            elif d in off:
                ok = False
            elif d in makeup:
                ok = True
            else:
                ok = d.weekday() < 5
            working[d] = ok
            if d.month == 12 and d.day == 31:
                break
            d += _ONE_DAY

    def is_working_day(self, d: date) -> bool:
        """True if government offices are open on ``d``."""
        try:
            return self._working[d]
        except KeyError:
            self._build_year(d.year)
            return self._working[d]

    def day_info(self, d: date) -> DayInfo:
        """Working flag plus a display reason (None for an ordinary working weekday)."""
        working = self.is_working_day(d)
        weekend = d.weekday() >= 5
        closure = self._closures.get(d)
        if closure is not None:
            return DayInfo(d, False, closure)
        entry = self._published.get(d)
        if entry is not None:
            note = entry[1].strip()
            if note:
                return DayInfo(d, working, note)
            if working:
                return DayInfo(d, True, REASON_MAKEUP if weekend else None)
            return DayInfo(d, False, REASON_WEEKEND if weekend else DGPA_SOURCE)
        off, makeup = _package_year(d.year)
        if d in off:
            return DayInfo(d, False, off[d])
        if d in makeup:
            return DayInfo(d, True, REASON_MAKEUP)
        return DayInfo(d, working, REASON_WEEKEND if weekend else None)

    # -- navigation --------------------------------------------------------------------

    def _step_to_working(self, d: date, step: timedelta) -> date:
        working = self._working
        for _ in range(MAX_NON_WORKING_RUN + 1):
            ok = working.get(d)
            if ok is None:
                ok = self.is_working_day(d)
            if ok:
                return d
            d += step
        first = d - step * (MAX_NON_WORKING_RUN + 1)
        raise ValueError(f"no working day within {MAX_NON_WORKING_RUN} days of {first}")

    def next_working_day(self, d: date) -> date:
        """``d`` itself if it is a working day, else the first working day after it."""
        return self._step_to_working(d, _ONE_DAY)

    def previous_working_day(self, d: date) -> date:
        """``d`` itself if it is a working day, else the last working day before it."""
        return self._step_to_working(d, _MINUS_ONE_DAY)

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day strictly after ``d`` (n >= 1); n == 0 -> next_working_day."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return self.next_working_day(d)
        for _ in range(n):
            d = self._step_to_working(d + _ONE_DAY, _ONE_DAY)
        return d

    def apply_policy(self, d: date, policy: HolidayPolicy | str) -> date | None:
        """Where a meeting nominally on ``d`` takes place; None when SKIP drops it."""
        pol = _POLICIES.get(policy)
        if pol is None:
            raise ValueError(f"unknown holiday policy {policy!r}")
        ok = self._working.get(d)
        if ok is None:
            ok = self.is_working_day(d)
        if ok or pol is HolidayPolicy.KEEP:
            return d
        if pol is HolidayPolicy.NEXT_WORKING_DAY:
            return self._step_to_working(d, _ONE_DAY)
        if pol is HolidayPolicy.PREVIOUS_WORKING_DAY:
            return self._step_to_working(d, _MINUS_ONE_DAY)
        return None  # SKIP

    # -- confirmation ------------------------------------------------------------------

    def is_confirmed(self, year: int) -> bool:
        """True if the year's office calendar is known, not extrapolated.

        Known means the holidays package carries the DGPA calendar for the year, or the
        ``published`` import lists every date of that year.
        """
        return FIRST_PACKAGE_YEAR <= year <= LAST_PACKAGE_YEAR or year in self._published_years

    def unconfirmed_years(self, start: date, end: date) -> list[int]:
        """Years touched by [start, end] whose office calendar is not yet confirmed."""
        return [y for y in range(start.year, end.year + 1) if not self.is_confirmed(y)]

    def with_closures(self, extra: Mapping[date, str]) -> OfficeCalendar:
        """A copy of this calendar with additional closures (later reasons win)."""
        return OfficeCalendar(closures={**self._closures, **extra}, published=self._published)


# --------------------------------------------------------------------------------------
# DGPA open-data CSV
# --------------------------------------------------------------------------------------

COL_DATE = "西元日期"
COL_WEEKDAY = "星期"
COL_DAY_OFF = "是否放假"
COL_NOTE = "備註"
DGPA_COLUMNS = (COL_DATE, COL_WEEKDAY, COL_DAY_OFF, COL_NOTE)
_DAY_OFF_VALUES = {"0": False, "2": True}
_DATE_RE = re.compile(r"\d{8}")


class CalendarFileError(Exception):
    """A DGPA calendar file could not be parsed; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """The CSV records of ``text``, each with the physical line it starts on (a quoted
    cell may span lines)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    consumed = 0  # physical lines consumed so far
    for row in reader:
        line, consumed = consumed + 1, reader.line_num
        yield line, row


def _header(records: Iterator[tuple[int, list[str]]], filename: str) -> tuple[int, list[str]]:
    """(line, column names) of the first non-blank record; a stray BOM is dropped."""
    for line, row in records:
        if any(cell.strip() for cell in row):
            return line, [c.replace("\ufeff", "").strip() for c in row]
    raise CalendarFileError([f"{filename}:1: header: missing header row"])


@dataclass
class _RowReader:
    """Checks the data rows of one file, collecting every problem."""

    filename: str
    header: list[str]
    errors: list[str] = field(default_factory=list)
    first_seen: dict[date, int] = field(default_factory=dict)
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {c: self.header.index(c) for c in DGPA_COLUMNS}

    def err(self, line: int, column: str, message: str) -> None:
        self.errors.append(f"{self.filename}:{line}: {column}: {message}")

    def cell(self, row: list[str], column: str) -> str | None:
        i = self.index[column]
        return row[i].strip() if i < len(row) else None

    def day(self, line: int, raw: str | None) -> tuple[date | None, bool]:
        """(the date, whether it is usable: valid and not a duplicate)."""
        day: date | None = None
        if raw is None:
            self.err(line, COL_DATE, "missing column")
        elif not _DATE_RE.fullmatch(raw):
            self.err(line, COL_DATE, f"expected YYYYMMDD, got {raw!r}")
        else:
            try:
                day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            except ValueError:
                self.err(line, COL_DATE, f"no such date {raw!r}")
        if day is None:
            return None, False
        if day in self.first_seen:
            first = self.first_seen[day]
            self.err(line, COL_DATE, f"duplicate date {day.isoformat()} (first on line {first})")
            return day, False
        self.first_seen[day] = line
        return day, True

    def weekday_ok(self, line: int, raw: str | None, day: date | None) -> bool:
        if raw is None:
            self.err(line, COL_WEEKDAY, "missing column")
        elif raw not in WEEKDAYS_ZH or len(raw) != 1:
            self.err(line, COL_WEEKDAY, f"expected one of {WEEKDAYS_ZH}, got {raw!r}")
        elif day is not None and WEEKDAYS_ZH[day.weekday()] != raw:
            self.err(
                line,
                COL_WEEKDAY,
                f"{raw!r} does not match {day.isoformat()} (星期{WEEKDAYS_ZH[day.weekday()]})",
            )
        else:
            return True
        return False

    def day_off_ok(self, line: int, raw: str | None) -> bool:
        if raw is None:
            self.err(line, COL_DAY_OFF, "missing column")
        elif raw not in _DAY_OFF_VALUES:
            self.err(line, COL_DAY_OFF, f"expected 0 (working) or 2 (day off), got {raw!r}")
        else:
            return True
        return False

    def row(self, line: int, row: list[str]) -> tuple[date, tuple[bool, str]] | None:
        """The day a row declares, or None when it has a problem (recorded in ``errors``)."""
        width = len(self.header)
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            self.err(line, "row", f"{len(row)} fields, header has {width}")
        raw_date, raw_weekday, raw_off, note = (self.cell(row, c) for c in DGPA_COLUMNS)
        day, ok = self.day(line, raw_date)
        ok = self.weekday_ok(line, raw_weekday, day) and ok
        ok = self.day_off_ok(line, raw_off) and ok
        if note is None:
            self.err(line, COL_NOTE, "missing column")
            ok = False
        if ok and day is not None and raw_off is not None and note is not None:
            return day, (_DAY_OFF_VALUES[raw_off], note)
        return None


def parse_dgpa_calendar(text: str, filename: str) -> dict[date, tuple[bool, str]]:
    """Parse the DGPA「政府行政機關辦公日曆表」CSV into ``date -> (is_day_off, note)``.

    Columns: 西元日期 (YYYYMMDD), 星期 (一..日), 是否放假 (0 working, 2 day off), 備註.
    All problems are collected and raised together as `CalendarFileError`.
    """
    records = _records(text)
    header_line, header = _header(records, filename)
    missing = [c for c in DGPA_COLUMNS if c not in header]
    if missing:
        raise CalendarFileError([f"{filename}:{header_line}: {c}: missing column" for c in missing])
    reader = _RowReader(filename, header)
    result: dict[date, tuple[bool, str]] = {}
    for line, row in records:
        if not any(cell.strip() for cell in row):
            continue
        found = reader.row(line, row)
        if found is not None:
            result[found[0]] = found[1]
    if reader.errors:
        raise CalendarFileError(reader.errors)
    return result


def format_dgpa_calendar(days: Mapping[date, tuple[bool, str]]) -> str:
    """Write ``date -> (is_day_off, note)`` in the DGPA CSV format (no BOM, sorted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DGPA_COLUMNS)
    for d in sorted(days):
        off, note = days[d]
        writer.writerow([d.strftime("%Y%m%d"), WEEKDAYS_ZH[d.weekday()], "2" if off else "0", note])
    return out.getvalue()
