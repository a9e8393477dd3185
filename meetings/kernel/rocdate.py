"""ROC (民國) dates as Taiwanese government documents write them."""

from __future__ import annotations

import re
from datetime import date, datetime

from meetings.kernel.errors import shorten

ROC_OFFSET = 1911
WEEKDAYS_ZH = "一二三四五六日"
# The days a person can mean (ROC year 1 to well past any plan). Outside them a day
# overflows the zone and UTC arithmetic (9999-12-31 + 1 day, 0001-01-01 - 8 hours).
FIRST_DAY = date(1912, 1, 1)
LAST_DAY = date(2200, 12, 31)


def roc_year(year: int) -> int:
    """Gregorian year → ROC year (2023 → 112)."""
    return year - ROC_OFFSET


def gregorian_year(year: int) -> int:
    """Accept an ROC year (112) or a Gregorian one (2023); return Gregorian."""
    if year < 1000:
        return year + ROC_OFFSET
    return year


def format_roc_date(d: date) -> str:
    """2023-03-08 → 112年3月8日（星期三）."""
    return f"{roc_year(d.year)}年{d.month}月{d.day}日（星期{WEEKDAYS_ZH[d.weekday()]}）"


def format_roc_month(d: date) -> str:
    """2023-03-08 → 112年3月 (a month's heading)."""
    return f"{roc_year(d.year)}年{d.month}月"


def format_roc_time(dt: datetime) -> str:
    """14:00 → 下午2時, 09:30 → 上午9時30分, 12:00 → 中午12時."""
    h, m = dt.hour, dt.minute
    if h < 12:
        part, hh = "上午", h
    elif h == 12:
        part, hh = "中午", 12
    else:
        part, hh = "下午", h - 12
    text = f"{part}{hh}時"
    if m:
        text += f"{m}分"
    return text


def format_roc_datetime(dt: datetime) -> str:
    """A local datetime → 112年3月8日（星期三）下午2時."""
    return format_roc_date(dt.date()) + format_roc_time(dt)


_ROC_DATE = re.compile(
    r"^\s*(?:民國)?(\d{2,3})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?\s*$"
)


USE_DATES = "use 2023-03-08 or 112/03/08"


class BadDate(ValueError):
    """Text that is not a usable date. ``reason`` is the message without the text
    itself, for callers that must not echo it (an import's shifted name column)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DayOutOfRange(BadDate):
    """A real date, but not one within FIRST_DAY..LAST_DAY."""


def check_day(d: date) -> date:
    """``d`` if it lies within FIRST_DAY..LAST_DAY; DayOutOfRange otherwise."""
    if not FIRST_DAY <= d <= LAST_DAY:
        span = f"from {FIRST_DAY} to {LAST_DAY}"
        raise DayOutOfRange(f"date out of range: {d.isoformat()} ({span})", span)
    return d


def parse_date(text: str) -> date:
    """Parse 2023-03-08, 112/03/08, 112-3-8 or 112年3月8日 into a date within
    FIRST_DAY..LAST_DAY.

    Raises BadDate (a ValueError) with a readable (short) message.
    """
    s = text.strip()
    shown = shorten(s, 30)
    try:
        iso: date | None = date.fromisoformat(s)
    except ValueError:
        iso = None
    if iso is not None:
        return check_day(iso)
    m = _ROC_DATE.match(s)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        try:
            day = date(y + ROC_OFFSET, mo, d)
        except ValueError as exc:
            raise BadDate(f"not a valid date: '{shown}' ({exc})", str(exc)) from None
        return check_day(day)
    raise BadDate(f"not a date: '{shown}' ({USE_DATES})", USE_DATES)


_MONTH = re.compile(r"^\s*(?:民國)?(\d{2,4})\s*[年/.-]\s*(\d{1,2})\s*月?\s*$")
USE_MONTHS = "use 2023-03 or 112/03"


def parse_month(text: str) -> date:
    """Parse 2023-03, 112/03, 112-3 or 112年3月 into the month's first day (within
    FIRST_DAY..LAST_DAY). Raises BadDate (a ValueError) with a short message."""
    s = text.strip()
    m = _MONTH.match(s)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise BadDate(f"not a month: '{shorten(s, 30)}' ({USE_MONTHS})", USE_MONTHS)
    return check_day(date(gregorian_year(int(m.group(1))), int(m.group(2)), 1))


_DIGITS = "零一二三四五六七八九"


def zh_num(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 21 → 二十一 (up to 99)."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else _DIGITS[tens]
    return f"{head}十{_DIGITS[ones] if ones else ''}"


def format_duration_zh(minutes: int) -> str:
    """120 → 2小時, 90 → 1小時30分, 45 → 45分鐘."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest}分鐘"
    return f"{hours}小時" + (f"{rest}分" if rest else "")
