"""Form 3: the Chinese phrases government plans use, e.g. ``原則每4個月召開1次``.

``每月召開1次``, ``每季召開1次``, ``原則每4個月召開1次，得視需要召開不定期會議。``,
``每半年辦理1次``, ``每年召開2次``, ``3月、7月、11月``, ``每年3月、7月、11月召開``,
``每月5區各召開1次`` (5 zones, each monthly). Chinese numerals and full-width characters are
accepted; the prefixes 原則/原則上/預計 are ignored, a clause naming the chair (由…擔任主席,
由…主持) is ignored, and a clause such as 得視需要召開不定期會議 sets ``adhoc_allowed``.
A phrase that is only such a clause — ``不定期``, ``不定期召開``, ``視需要召開``, ``必要時召開``,
``得視需要召開不定期會議`` — is an irregular cadence: no calendar meetings, ad-hoc ones only.
Anything else is an error that quotes the phrase: a cadence is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from meetings.schedule.cadence.build import (
    irregular_cadence,
    listed_months,
    periodic,
    regular_period,
    weekly_cadence,
)
from meetings.schedule.cadence.model import Cadence, CadenceError

_HINT = (
    "write it as 每月召開1次, 每季召開1次, 每4個月召開1次, 每半年召開1次, 每年召開2次, "
    "3月、7月、11月, 不定期 (ad-hoc meetings only) or give {rrule: ...}"
)
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_NUMBER = re.compile(
    r"[一二兩两三四五六七八九]?十[一二三四五六七八九]?|[零〇一二兩两三四五六七八九]+"
)
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
# 不定期 on its own: the series meets only when someone calls a meeting.
_IRREGULAR = re.compile(
    r"不定期(?:召開|辦理|舉行|舉辦)?(?:會議|會)?"
    r"|(?:視(?:實際)?需要|必要時|視情況|遇案)(?:召開|辦理|舉行|舉辦|召集)(?:會議|會)?"
)
# Who chairs the meeting: 由市府一層首長擔任主席, 由本府秘書長以上層級主持, 主席由市長擔任.
_CHAIR = re.compile(
    r"(?:並)?(?:由.+(?:擔任(?:會議)?(?:主席|召集人)|主持|召集)|(?:會議)?(?:主席|召集人)由.+擔任)"
)
_CYCLE_MONTHS = {"month": 1, "quarter": 3, "half": 6}


def _cn_to_int(text: str) -> int:
    if "十" in text:
        head, _, tail = text.partition("十")
        return (_CN_DIGITS[head] if head else 1) * 10 + (_CN_DIGITS[tail] if tail else 0)
    value = 0
    for ch in text:
        value = value * 10 + _CN_DIGITS[ch]
    return value


def _normalise_phrase(phrase: str) -> str:
    s = unicodedata.normalize("NFKC", phrase)
    s = re.sub(r"\s+", "", s)
    s = _CN_NUMBER.sub(lambda m: str(_cn_to_int(m.group(0))), s)
    # "3月，7月，11月" lists months with commas; make them 、 so they are not clause breaks.
    s = re.sub(r"(?<=\d)(月?),(?=\d)", r"\1、", s)
    return s


def _fail(source: str, reason: str | None = None) -> CadenceError:
    why = f": {reason}" if reason else ""
    return CadenceError(f'cannot understand cadence "{source}"{why}; {_HINT}')


@dataclass(frozen=True)
class _Clauses:
    """What the clauses of a phrase say: the cycle, the listed months, ad-hoc meetings
    (``adhoc``: 得視需要召開不定期會議 and the like, which alone make the phrase irregular)."""

    core: re.Match[str] | None
    month_list: re.Match[str] | None
    adhoc: bool


def _read_clauses(text: str, source: str) -> _Clauses:
    clauses = [c for c in re.split(r"[,;。.!?]", text) if c]
    if not clauses:
        raise _fail(source)
    core: re.Match[str] | None = None
    month_list: re.Match[str] | None = None
    adhoc = False
    for clause in clauses:
        body = _PREFIX.sub("", clause)
        m = _CORE.fullmatch(body)
        if m is not None and (m.group("verb") or m.group("count")):
            if core is not None:
                raise _fail(source, "it gives two cadences")
            core = m
            continue
        lm = _MONTH_LIST.fullmatch(body)
        if lm is not None:
            if month_list is not None:
                raise _fail(source, "it lists months twice")
            month_list = lm
            continue
        if _ADHOC.fullmatch(clause) or _IRREGULAR.fullmatch(body):
            adhoc = True
            continue
        if _CHAIR.fullmatch(clause):
            continue
        raise _fail(source)
    if core is None and month_list is None and not adhoc:
        raise _fail(source)
    return _Clauses(core, month_list, adhoc)


def _listed(month_list: re.Match[str], source: str) -> list[int]:
    """The months of a 3月、7月、11月 clause (once each)."""
    months = [int(x) for x in re.findall(r"\d+", month_list.group("list"))]
    if any(not 1 <= m <= 12 for m in months):
        raise _fail(source, "a month must be 1-12")
    if len(set(months)) != len(months):
        raise _fail(source, "a month is listed twice")
    count = month_list.group("count")
    if count is not None:
        if int(count) != 1:
            raise _fail(source, f"{count} meetings in a month is not supported")
        if len(months) > 1 and not (month_list.group("each") or month_list.group("each2")):
            raise _fail(source, "say 各召開1次 (once in each listed month)")
    return months


@dataclass(frozen=True)
class _Cycle:
    """A phrase with a cycle clause (每月/每季/每N個月/每年/每週 …), read so far."""

    source: str
    anchor_month: int | None
    core: re.Match[str]
    months: list[int] | None
    count: int | None
    zones: int | None
    adhoc: bool

    def listed(self) -> Cadence:
        assert self.months is not None
        return listed_months(
            self.months,
            self.anchor_month,
            adhoc=self.adhoc,
            fan_out=self.zones,
            source=self.source,
            where=f'cadence "{self.source}"',
        )

    def every(self, period: int) -> Cadence:
        return periodic(
            period, self.anchor_month or 1, fan_out=self.zones, adhoc=self.adhoc, source=self.source
        )


def _cycle(clauses: _Clauses, months: list[int] | None, source: str, anchor: int | None) -> _Cycle:
    core = clauses.core
    assert core is not None
    count_text = core.group("count")
    count = int(count_text) if count_text is not None else None
    if count == 0:
        raise _fail(source, "0 meetings")
    zones = int(core.group("zones")) if core.group("zones") else None
    if zones is not None and zones < 1:
        raise _fail(source, "0 zones")
    return _Cycle(source, anchor, core, months, count, zones, clauses.adhoc)


def _weekly(c: _Cycle) -> Cadence:
    if c.months is not None:
        raise _fail(c.source, "a weekly cadence does not list months")
    if c.count not in (None, 1):
        raise _fail(c.source, f"{c.count} meetings a week is not supported")
    interval = int(c.core.group("nweeks") or "1")
    if interval < 1:
        raise _fail(c.source)
    return weekly_cadence(
        interval=interval,
        anchor=c.anchor_month or 1,
        weekday=None,
        fan_out=c.zones,
        adhoc=c.adhoc,
        source=c.source,
    )


def _yearly(c: _Cycle) -> Cadence:
    per_year = c.count or 1
    if c.months is not None:
        if c.count is not None and c.count != len(c.months):
            raise _fail(
                c.source, f"{c.count} meetings a year but {len(c.months)} months are listed"
            )
        return c.listed()
    if 12 % per_year:
        raise _fail(
            c.source, f"{per_year} meetings a year do not divide the year evenly (list the months)"
        )
    return c.every(12 // per_year)


def _monthly(c: _Cycle) -> Cadence:
    """每月, 每季, 每半年 or 每N個月."""
    named = [n for n in _CYCLE_MONTHS if c.core.group(n) is not None]
    if named:
        period = _CYCLE_MONTHS[named[0]]
    else:
        period = int(c.core.group("nmonths"))
        if period < 1 or period > 12 or 12 % period:
            raise _fail(c.source, f"every {period} months does not divide the year evenly")
    if c.count not in (None, 1):
        raise _fail(
            c.source, f"{c.count} meetings per cycle is not supported (declare separate series)"
        )
    if c.months is not None:
        if len(c.months) != 12 // period or regular_period(tuple(c.months)) != period:
            raise _fail(c.source, "the listed months do not match the cycle")
        return c.listed()
    return c.every(period)


def parse_phrase(phrase: str, anchor_month: int | None) -> Cadence:
    """A zh phrase → Cadence. Raises CadenceError quoting the phrase."""
    source = phrase.strip()
    clauses = _read_clauses(_normalise_phrase(phrase), source)
    months = _listed(clauses.month_list, source) if clauses.month_list is not None else None
    if clauses.core is None and months is None:
        return irregular_cadence(anchor_month or 1, source=source)
    if clauses.core is None:
        assert months is not None
        return listed_months(
            months, anchor_month, adhoc=clauses.adhoc, source=source, where=f'cadence "{source}"'
        )
    cycle = _cycle(clauses, months, source, anchor_month)
    if cycle.core.group("nweeks") is not None:
        return _weekly(cycle)
    if cycle.core.group("year") is not None:
        return _yearly(cycle)
    return _monthly(cycle)
