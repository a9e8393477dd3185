"""meetings.schedule.cadence: parsing, normalisation, expansion, cycles, local time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meetings.schedule.cadence import (
    Cadence,
    CadenceError,
    cycle_of,
    describe_zh,
    expand,
    for_instance,
    localize,
    parse_cadence,
    spread_slot,
)
from meetings.schedule.cadence.rrule import analyse

NEW_YORK = ZoneInfo("America/New_York")
TAIPEI = ZoneInfo("Asia/Taipei")

MONTHLY = "FREQ=MONTHLY;BYDAY=+2WE"
QUARTERLY = "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=+2WE"
FOUR_MONTHLY = "FREQ=MONTHLY;BYMONTH=1,5,9;BYDAY=+2WE"
HALF_YEARLY = "FREQ=MONTHLY;BYMONTH=1,7;BYDAY=+2WE"
MAR_JUL_NOV = "FREQ=MONTHLY;BYMONTH=3,7,11;BYDAY=+2WE"

PHRASES = [
    ("每月召開1次", MONTHLY, 1, None),
    ("每月辦理", MONTHLY, 1, None),
    ("每月辦理。", MONTHLY, 1, None),
    ("每月召開1次會議。", MONTHLY, 1, None),
    ("每月召開一次", MONTHLY, 1, None),
    ("每季召開1次", QUARTERLY, 3, (1, 4, 7, 10)),
    ("原則上每季召開1次", QUARTERLY, 3, (1, 4, 7, 10)),
    ("原則每4個月召開1次，得視需要召開不定期會議。", FOUR_MONTHLY, 4, (1, 5, 9)),
    ("原則上每4個月召開1次", FOUR_MONTHLY, 4, (1, 5, 9)),
    ("原則上每四個月召開一次", FOUR_MONTHLY, 4, (1, 5, 9)),
    ("每半年辦理1次", HALF_YEARLY, 6, (1, 7)),
    ("預計每半年辦理 1 次。", HALF_YEARLY, 6, (1, 7)),
    ("每半年召開1次", HALF_YEARLY, 6, (1, 7)),
    ("每半年召開 1 次，由市府一層首長擔任主席。", HALF_YEARLY, 6, (1, 7)),
    ("每季召開 1 次，由本府秘書長以上層級主持。", QUARTERLY, 3, (1, 4, 7, 10)),
    ("每年召開 2 次。", HALF_YEARLY, 6, (1, 7)),
    ("每半年召開一次", HALF_YEARLY, 6, (1, 7)),
    ("每年召開2次", HALF_YEARLY, 6, (1, 7)),
    ("每年召開 2 次會議", HALF_YEARLY, 6, (1, 7)),
    ("每年召開兩次", HALF_YEARLY, 6, (1, 7)),
    ("每年召開3次", FOUR_MONTHLY, 4, (1, 5, 9)),
    ("每年召開三次", FOUR_MONTHLY, 4, (1, 5, 9)),
    ("每年召開１次", "FREQ=MONTHLY;BYMONTH=1;BYDAY=+2WE", 12, (1,)),
    ("3月、7月、11月", MAR_JUL_NOV, 4, (3, 7, 11)),
    ("每年3月、7月、11月召開", MAR_JUL_NOV, 4, (3, 7, 11)),
    ("三月、七月、十一月", MAR_JUL_NOV, 4, (3, 7, 11)),
    ("３月，７月，１１月", MAR_JUL_NOV, 4, (3, 7, 11)),
    ("每年召開3次，分別於3月、7月、11月", MAR_JUL_NOV, 4, (3, 7, 11)),
    ("每月5區各召開1次", MONTHLY, 1, None),
    ("每月五區各召開一次", MONTHLY, 1, None),
    ("每季至少召開1次", QUARTERLY, 3, (1, 4, 7, 10)),
    ("\u3000每季召開\u3000１\u3000次\u3000", QUARTERLY, 3, (1, 4, 7, 10)),
]


# --------------------------------------------------------------------------- phrases


@pytest.mark.parametrize(("phrase", "rrule", "period", "months"), PHRASES)
def test_phrase_normalises(
    phrase: str, rrule: str, period: int, months: tuple[int, ...] | None
) -> None:
    c = parse_cadence(phrase)
    assert c.rrule == rrule
    assert c.period_months == period
    assert c.months == months
    assert c.pins_day is False
    assert c.source == phrase.strip()
    # The statically derived months/period agree with what the rule actually does.
    analysed_months, analysed_period, first = analyse(c.rrule, c.dtstart)
    assert (analysed_months, analysed_period) == (months, period)
    assert first is not None


def test_phrase_flags() -> None:
    assert parse_cadence("原則每4個月召開1次，得視需要召開不定期會議。").adhoc_allowed
    assert not parse_cadence("原則上每4個月召開1次").adhoc_allowed
    assert parse_cadence("每月5區各召開1次").fan_out == 5
    assert parse_cadence("每月召開1次").fan_out is None
    assert parse_cadence("每半年召開 1 次，由市府一層首長擔任主席。").adhoc_allowed is False


def test_phrase_anchor() -> None:
    c = parse_cadence("每4個月召開1次", anchor_month=3)
    assert c.rrule == MAR_JUL_NOV
    assert c.anchor_month == 3
    assert parse_cadence("每季召開1次", anchor_month=2).rrule == (
        "FREQ=MONTHLY;BYMONTH=2,5,8,11;BYDAY=+2WE"
    )
    assert parse_cadence("每年召開2次", anchor_month=3).months == (3, 9)
    assert parse_cadence("每年辦理", anchor_month=10).rrule == "FREQ=MONTHLY;BYMONTH=10;BYDAY=+2WE"
    # A months list: the anchor is the first listed month; an explicit one must be listed.
    assert parse_cadence("11月、3月、7月").anchor_month == 11
    assert parse_cadence("3月、7月、11月", anchor_month=7).anchor_month == 3
    with pytest.raises(CadenceError, match="anchor_month 5"):
        parse_cadence("3月、7月、11月", anchor_month=5)
    with pytest.raises(CadenceError, match="anchor_month"):
        parse_cadence("每月召開1次", anchor_month=13)


def test_irregular_month_list() -> None:
    c = parse_cadence("每年3月、6月召開")
    assert c.months == (3, 6)
    assert c.period_months is None
    assert c.rrule == "FREQ=MONTHLY;BYMONTH=3,6;BYDAY=+2WE"


@pytest.mark.parametrize(
    "phrase",
    [
        "每兩週喝茶",
        "每月召開2次",
        "每季召開2次",
        "每年召開5次",
        "每5個月召開1次",
        "每月",
        "不定期喝茶",
        "每月召開1次，但7月停開",
        "每月召開1次，每季召開1次",
        "13月",
        "3月、3月",
        "每年3月、7月召開1次",
        "每年召開2次，分別於3月、7月、11月",
        "",
        "隨時",
    ],
)
def test_unknown_phrase_quotes_it(phrase: str) -> None:
    with pytest.raises(CadenceError) as info:
        parse_cadence(phrase)
    message = str(info.value)
    if phrase.strip():
        assert f'"{phrase.strip()}"' in message or phrase in message


def test_unknown_phrase_message() -> None:
    with pytest.raises(CadenceError) as info:
        parse_cadence("每兩週喝茶")
    assert str(info.value) == (
        'cannot understand cadence "每兩週喝茶"; write it as 每月召開1次, 每季召開1次, '
        "每4個月召開1次, 每半年召開1次, 每年召開2次, 3月、7月、11月, 不定期 (ad-hoc meetings only) "
        "or give {rrule: ...}"
    )


@pytest.mark.parametrize(
    "phrase",
    ["不定期", "不定期召開", "原則上不定期召開會議", "視需要召開", "必要時召開", "得視需要召開不定期會議。",
     "由警察局主持，不定期辦理"],
)  # fmt: skip
def test_irregular_phrase_has_no_dates(phrase: str) -> None:
    """不定期: no rule, no calendar dates, the calendar month as its cycle, ad-hoc only."""
    c = parse_cadence(phrase, anchor_month=3)
    assert c.irregular and c.adhoc_allowed and c.rrule == ""
    assert c.source == phrase
    assert expand(c, date(2023, 1, 1), date(2030, 12, 31)) == []
    assert cycle_of(c, date(2023, 2, 14)) == (date(2023, 2, 1), date(2023, 2, 28))
    assert for_instance(c, 7) is c  # per-district: every district is ad-hoc only too
    assert describe_zh(c) == "不定期召開（不自動排定，由秘書單位視需要新增會議）"


def test_irregular_clause_beside_a_cycle_only_allows_adhoc() -> None:
    """With a cycle, 視需要召開 / 不定期召開 adds ad-hoc meetings; it does not drop the cycle."""
    for phrase in ("每季召開1次，必要時召開", "每季召開1次，不定期召開"):
        c = parse_cadence(phrase)
        assert not c.irregular and c.adhoc_allowed and c.rrule == QUARTERLY


def test_weekly_phrase() -> None:
    c = parse_cadence("每兩週召開1次")
    assert c.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
    assert c.period_days == 14
    assert c.period_months is None and c.months is None


def test_not_a_cadence() -> None:
    with pytest.raises(CadenceError):
        parse_cadence(12)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- friendly


@pytest.mark.parametrize(
    ("value", "anchor", "rrule", "period", "months", "pins"),
    [
        ({"every": "month"}, None, MONTHLY, 1, None, False),
        ({"every": "month", "on": "3rd TU"}, None, "FREQ=MONTHLY;BYDAY=+3TU", 1, None, True),
        ({"every": "month", "on": "last FR"}, None, "FREQ=MONTHLY;BYDAY=-1FR", 1, None, True),
        ({"every": "month", "on": "2nd WE"}, None, MONTHLY, 1, None, True),
        ({"every": "month", "on": "2nd Wednesday"}, None, MONTHLY, 1, None, True),
        ({"every": "month", "on": 15}, None, "FREQ=MONTHLY;BYMONTHDAY=15", 1, None, True),
        ({"every": "month", "on": "last day"}, None, "FREQ=MONTHLY;BYMONTHDAY=-1", 1, None, True),
        ({"every": "quarter"}, None, QUARTERLY, 3, (1, 4, 7, 10), False),
        ({"every": "half-year"}, None, HALF_YEARLY, 6, (1, 7), False),
        ({"every": "year"}, 5, "FREQ=MONTHLY;BYMONTH=5;BYDAY=+2WE", 12, (5,), False),
        ({"every": "4 months"}, 3, MAR_JUL_NOV, 4, (3, 7, 11), False),
        ({"every": "2 months"}, 2, "FREQ=MONTHLY;BYMONTH=2,4,6,8,10,12;BYDAY=+2WE", 2,
         (2, 4, 6, 8, 10, 12), False),
        ({"every": "4 months", "months": [3, 7, 11]}, None, MAR_JUL_NOV, 4, (3, 7, 11), False),
        ({"months": [3, 7, 11]}, None, MAR_JUL_NOV, 4, (3, 7, 11), False),
        ({"months": [3, 6], "on": "1st MO"}, None, "FREQ=MONTHLY;BYMONTH=3,6;BYDAY=+1MO", None,
         (3, 6), True),
        ({"times_per_year": 2}, None, HALF_YEARLY, 6, (1, 7), False),
        ({"every": "year", "times_per_year": 3}, 3, MAR_JUL_NOV, 4, (3, 7, 11), False),
        ({"times_per_year": 3, "months": [3, 7, 11]}, None, MAR_JUL_NOV, 4, (3, 7, 11), False),
        ({"every": "quarter", "times_per_year": 4}, None, QUARTERLY, 3, (1, 4, 7, 10), False),
    ],
)  # fmt: skip
def test_friendly(
    value: dict[str, object],
    anchor: int | None,
    rrule: str,
    period: int | None,
    months: tuple[int, ...] | None,
    pins: bool,
) -> None:
    c = parse_cadence(value, anchor_month=anchor)
    assert c.rrule == rrule
    assert c.period_months == period
    assert c.months == months
    assert c.pins_day is pins
    assert c.source.startswith("{") and c.source.endswith("}")


def test_friendly_source() -> None:
    c = parse_cadence({"every": "4 months", "months": [3, 7, 11]})
    assert c.source == "{every: 4 months, months: [3, 7, 11]}"


def test_friendly_weekly() -> None:
    c = parse_cadence({"every": "2 weeks"}, anchor_month=3)
    assert c.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"
    assert c.period_days == 14
    assert c.dtstart == date(2000, 3, 6)  # the first Monday of the anchor month
    assert c.pins_day is False
    assert expand(c, c.dtstart, c.dtstart + timedelta(days=30)) == [
        date(2000, 3, 8),
        date(2000, 3, 22),
        date(2000, 4, 5),
    ]
    weekly = parse_cadence({"every": "week", "on": "TU"})
    assert weekly.rrule == "FREQ=WEEKLY;BYDAY=TU"
    assert weekly.pins_day is True
    assert weekly.period_days == 7


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"every": "5 months"}, "rrule"),
        ({"every": "fortnight"}, "every"),
        ({"every": "month", "colour": "red"}, "colour"),
        ({"every": "month", "dtstart": date(2023, 1, 1)}, "dtstart"),
        ({"every": "month", "on": "5th FR"}, "5th"),
        ({"every": "month", "on": 31}, "last day"),
        ({"every": "month", "on": "someday"}, "someday"),
        ({"every": "month", "on": True}, "True"),
        ({"every": "week", "on": "3rd TU"}, "weekday"),
        ({"every": "week", "months": [1]}, "weekly"),
        ({"every": "4 months", "months": [3, 6, 9]}, "do not fit"),
        ({"every": "year", "months": [3, 7, 11]}, "do not fit"),
        ({"every": "quarter", "times_per_year": 2}, "times_per_year"),
        ({"times_per_year": 5}, "divide"),
        ({"times_per_year": 2, "months": [3, 6, 9]}, "3 months"),
        ({"months": [3, 3]}, "twice"),
        ({"months": [0]}, "1-12"),
        ({"months": "3,7,11"}, "list"),
        ({"on": "3rd TU"}, "every"),
        ({}, "every"),
    ],
)
def test_friendly_errors(value: dict[str, object], fragment: str) -> None:
    with pytest.raises(CadenceError, match=fragment):
        parse_cadence(value)


def test_friendly_months_anchor_must_be_listed() -> None:
    with pytest.raises(CadenceError, match="anchor_month 4"):
        parse_cadence({"months": [3, 7, 11]}, anchor_month=4)


# --------------------------------------------------------------------------- rrule


def test_rrule_passthrough() -> None:
    c = parse_cadence({"rrule": "FREQ=MONTHLY;BYDAY=2WE"})
    assert c.rrule == "FREQ=MONTHLY;BYDAY=+2WE"
    assert c.pins_day is True
    assert c.dtstart == date(2000, 1, 1)
    assert c.period_months == 1
    assert c.source == "FREQ=MONTHLY;BYDAY=2WE"

    c = parse_cadence({"rrule": "RRULE:freq=monthly;byday=-1fr;bymonth=3,9"})
    assert c.rrule == "FREQ=MONTHLY;BYMONTH=3,9;BYDAY=-1FR"
    assert c.months == (3, 9) and c.period_months == 6 and c.anchor_month == 3

    # No day pinned: the default day is added, so for_instance can spread it.
    c = parse_cadence({"rrule": "FREQ=MONTHLY;INTERVAL=3"}, anchor_month=2)
    assert c.rrule == "FREQ=MONTHLY;INTERVAL=3;BYDAY=+2WE"
    assert c.dtstart == date(2000, 2, 1)
    assert c.months == (2, 5, 8, 11) and c.period_months == 3 and not c.pins_day
    assert for_instance(c, 1).rrule == "FREQ=MONTHLY;INTERVAL=3;BYDAY=+3WE"

    c = parse_cadence({"rrule": "FREQ=YEARLY"}, anchor_month=6)
    assert c.rrule == "FREQ=YEARLY;BYMONTH=6;BYDAY=+2WE"
    assert c.months == (6,) and c.period_months == 12

    # Implicit days taken from dtstart are made explicit.
    c = parse_cadence({"rrule": "FREQ=WEEKLY;INTERVAL=2", "dtstart": date(2023, 1, 5)})
    assert c.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"
    assert c.period_days == 14 and c.pins_day
    c = parse_cadence({"rrule": "FREQ=MONTHLY;BYSETPOS=1", "dtstart": "2023-01-17"})
    assert c.rrule == "FREQ=MONTHLY;BYMONTHDAY=17;BYSETPOS=1"
    assert expand(c, date(2023, 1, 1), date(2023, 3, 31)) == [
        date(2023, 1, 17),
        date(2023, 2, 17),
        date(2023, 3, 17),
    ]

    # Irregular: every 5 months has no fixed set of months.
    c = parse_cadence({"rrule": "FREQ=MONTHLY;INTERVAL=5;BYDAY=+1MO"})
    assert c.period_months is None and c.months is None
    # Several meetings a month.
    c = parse_cadence({"rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"})
    assert expand(c, date(2023, 1, 1), date(2023, 4, 30)) == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 28),
    ]


def test_rrule_anchor_must_match_months() -> None:
    with pytest.raises(CadenceError, match="anchor_month 2"):
        parse_cadence({"rrule": "FREQ=MONTHLY;BYMONTH=3,9;BYDAY=+1MO"}, anchor_month=2)
    nine = parse_cadence({"rrule": "FREQ=MONTHLY;BYMONTH=3,9;BYDAY=+1MO"}, anchor_month=9)
    assert nine.anchor_month == 9


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=FOO",
        "BYDAY=MO",
        "FREQ=MONTHLY;BYDAY=XX",
        "FREQ=MONTHLY;BYDAY=9WE",
        "FREQ=MONTHLY;BYFOO=1",
        "FREQ=MONTHLY;FREQ=WEEKLY",
        "FREQ=MONTHLY;INTERVAL=0",
        "FREQ=MONTHLY;BYMONTH=13",
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "FREQ=MONTHLY;COUNT=2;UNTIL=20300101",
        "FREQ=HOURLY",
        "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30",
        "DTSTART:20230101\nRRULE:FREQ=MONTHLY",
        "nonsense",
        "",
    ],
)
def test_rrule_invalid_quotes_it(text: str) -> None:
    with pytest.raises(CadenceError) as info:
        parse_cadence({"rrule": text})
    assert f'"{text.strip()}"' in str(info.value)


def test_rrule_mapping_errors() -> None:
    with pytest.raises(CadenceError, match="every"):
        parse_cadence({"rrule": "FREQ=MONTHLY", "every": "month"})
    with pytest.raises(CadenceError, match="string"):
        parse_cadence({"rrule": 5})
    with pytest.raises(CadenceError, match="dtstart"):
        parse_cadence({"rrule": "FREQ=MONTHLY", "dtstart": "next week"})
    with pytest.raises(CadenceError, match="dtstart"):
        parse_cadence({"rrule": "FREQ=MONTHLY", "dtstart": datetime(2023, 1, 1, 9)})


def test_rrule_until_and_count() -> None:
    c = parse_cadence({"rrule": "FREQ=MONTHLY;BYDAY=+2WE;UNTIL=20230315T000000Z"})
    assert c.rrule == "FREQ=MONTHLY;UNTIL=20230315;BYDAY=+2WE"
    assert expand(c, date(2023, 1, 1), date(2023, 12, 31)) == [
        date(2023, 1, 11),
        date(2023, 2, 8),
        date(2023, 3, 8),
    ]
    c = parse_cadence({"rrule": "FREQ=MONTHLY;COUNT=3;BYDAY=+2WE", "dtstart": date(2023, 1, 1)})
    assert expand(c, date(2023, 2, 1), date(2024, 12, 31)) == [date(2023, 2, 8), date(2023, 3, 8)]


# --------------------------------------------------------------------------- expand


def test_expand_monthly_2023() -> None:
    c = parse_cadence("每月召開1次")
    assert expand(c, date(2023, 1, 1), date(2023, 12, 31)) == [
        date(2023, 1, 11),
        date(2023, 2, 8),
        date(2023, 3, 8),
        date(2023, 4, 12),
        date(2023, 5, 10),
        date(2023, 6, 14),
        date(2023, 7, 12),
        date(2023, 8, 9),
        date(2023, 9, 13),
        date(2023, 10, 11),
        date(2023, 11, 8),
        date(2023, 12, 13),
    ]


def test_expand_four_monthly_anchor_3() -> None:
    c = parse_cadence("原則每4個月召開1次，得視需要召開不定期會議。", anchor_month=3)
    assert expand(c, date(2023, 1, 1), date(2023, 12, 31)) == [
        date(2023, 3, 8),
        date(2023, 7, 12),
        date(2023, 11, 8),
    ]


def test_expand_bounds_inclusive() -> None:
    c = parse_cadence("每月召開1次")
    assert expand(c, date(2023, 1, 11), date(2023, 2, 8)) == [date(2023, 1, 11), date(2023, 2, 8)]
    assert expand(c, date(2023, 1, 12), date(2023, 2, 7)) == []
    assert expand(c, date(2023, 2, 1), date(2023, 1, 1)) == []
    assert expand(c, date(1990, 1, 1), date(2000, 1, 31)) == [date(2000, 1, 12)]


def test_expand_last_weekday_and_monthday() -> None:
    c = parse_cadence({"every": "quarter", "on": "last FR"}, anchor_month=3)
    assert expand(c, date(2023, 1, 1), date(2023, 12, 31)) == [
        date(2023, 3, 31),
        date(2023, 6, 30),
        date(2023, 9, 29),
        date(2023, 12, 29),
    ]
    c = parse_cadence({"every": "month", "on": "last day"})
    assert expand(c, date(2024, 1, 1), date(2024, 3, 31)) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]


# --------------------------------------------------------------------------- for_instance


def test_for_instance_spreads_13_districts() -> None:
    c = parse_cadence("每月召開1次")
    assert for_instance(c, 0) == c
    rules = [for_instance(c, k).rrule for k in range(13)]
    assert len(set(rules)) == 13
    assert rules[:5] == [
        "FREQ=MONTHLY;BYDAY=+2WE",
        "FREQ=MONTHLY;BYDAY=+3WE",
        "FREQ=MONTHLY;BYDAY=+4WE",
        "FREQ=MONTHLY;BYDAY=+1WE",
        "FREQ=MONTHLY;BYDAY=+2TH",
    ]
    slots = {spread_slot(k) for k in range(20)}
    assert len(slots) == 20
    # 13 distinct dates in every month, e.g. 2023-05.
    days = {expand(for_instance(c, k), date(2023, 5, 1), date(2023, 5, 31))[0] for k in range(13)}
    assert len(days) == 13


def test_for_instance_fan_out_and_months() -> None:
    c = parse_cadence("每月5區各召開1次")
    assert [for_instance(c, k).rrule for k in range(5)][-1] == "FREQ=MONTHLY;BYDAY=+2TH"
    q = parse_cadence("每4個月召開1次", anchor_month=3)
    assert for_instance(q, 2).rrule == "FREQ=MONTHLY;BYMONTH=3,7,11;BYDAY=+4WE"
    assert for_instance(q, 2).months == (3, 7, 11)


def test_for_instance_pinned_is_identity() -> None:
    c = parse_cadence({"every": "month", "on": "3rd TU"})
    assert for_instance(c, 7) is c
    r = parse_cadence({"rrule": "FREQ=MONTHLY;BYMONTHDAY=5"})
    assert for_instance(r, 3) is r
    with pytest.raises(ValueError):
        for_instance(c, -1)


def test_for_instance_weekly() -> None:
    c = parse_cadence({"every": "week"})
    assert [for_instance(c, k).rrule.split("BYDAY=")[1] for k in range(6)] == [
        "WE",
        "TH",
        "TU",
        "FR",
        "MO",
        "WE",
    ]


# --------------------------------------------------------------------------- cycles


def test_cycle_of_four_monthly_anchor_3() -> None:
    c = parse_cadence("每4個月召開1次", anchor_month=3)
    assert cycle_of(c, date(2023, 3, 8)) == (date(2023, 3, 1), date(2023, 6, 30))
    assert cycle_of(c, date(2023, 7, 12)) == (date(2023, 7, 1), date(2023, 10, 31))
    assert cycle_of(c, date(2023, 11, 8)) == (date(2023, 11, 1), date(2024, 2, 29))
    assert cycle_of(c, date(2023, 1, 15)) == (date(2022, 11, 1), date(2023, 2, 28))


def test_cycle_of_other_shapes() -> None:
    assert cycle_of(parse_cadence("每月召開1次"), date(2023, 2, 8)) == (
        date(2023, 2, 1),
        date(2023, 2, 28),
    )
    assert cycle_of(parse_cadence("每季召開1次"), date(2023, 5, 10)) == (
        date(2023, 4, 1),
        date(2023, 6, 30),
    )
    assert cycle_of(parse_cadence("每年辦理", anchor_month=7), date(2024, 3, 1)) == (
        date(2023, 7, 1),
        date(2024, 6, 30),
    )
    irregular = parse_cadence("每年3月、6月召開")
    assert cycle_of(irregular, date(2023, 3, 8)) == (date(2023, 3, 1), date(2023, 5, 31))
    assert cycle_of(irregular, date(2023, 6, 14)) == (date(2023, 6, 1), date(2024, 2, 29))
    assert cycle_of(irregular, date(2023, 1, 1)) == (date(2022, 6, 1), date(2023, 2, 28))
    weekly = parse_cadence({"every": "2 weeks"})
    start, end = cycle_of(weekly, date(2023, 1, 4))
    assert (end - start).days == 13 and start <= date(2023, 1, 4) <= end
    assert start.weekday() == 0  # aligned to dtstart, a Monday
    five = parse_cadence({"rrule": "FREQ=MONTHLY;INTERVAL=5;BYDAY=+1MO"})
    # 2000-01, 2000-06, 2000-11, 2001-04 ...
    assert cycle_of(five, date(2000, 8, 1)) == (date(2000, 6, 1), date(2000, 10, 31))


# --------------------------------------------------------------------------- describe


def test_describe_zh() -> None:
    assert (
        describe_zh(parse_cadence("每4個月召開1次", anchor_month=3))
        == "每4個月1次（3月、7月、11月），第2個星期三"
    )
    assert describe_zh(parse_cadence("每月召開1次")) == "每月1次，第2個星期三"
    assert describe_zh(for_instance(parse_cadence("每月5區各召開1次"), 4)) == (
        "每月5區各1次，第2個星期四"
    )
    assert describe_zh(parse_cadence({"every": "month", "on": "last FR"})) == (
        "每月1次，最後一個星期五"
    )
    assert describe_zh(parse_cadence("原則每4個月召開1次，得視需要召開不定期會議。")).endswith(
        "得視需要召開不定期會議"
    )
    assert describe_zh(parse_cadence({"every": "2 weeks"})) == "每2週1次，星期三"
    assert describe_zh(parse_cadence("每年3月、6月召開")) == "每年2次（3月、6月），第2個星期三"
    odd = parse_cadence({"rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"})
    assert "BYSETPOS=-1" in describe_zh(odd)


# --------------------------------------------------------------------------- localize


def test_localize_new_york_dst() -> None:
    weekly = parse_cadence({"every": "week", "on": "SU"})
    days = expand(weekly, date(2023, 3, 1), date(2023, 3, 20))
    assert days == [date(2023, 3, 5), date(2023, 3, 12), date(2023, 3, 19)]
    stamps = [localize(d, time(9, 0), NEW_YORK) for d in days]
    assert [s.hour for s in stamps] == [9, 9, 9]
    assert [s.utcoffset() for s in stamps] == [
        timedelta(hours=-5),
        timedelta(hours=-4),
        timedelta(hours=-4),
    ]
    gap = localize(date(2023, 3, 12), time(2, 30), NEW_YORK)
    assert (gap.hour, gap.minute) == (3, 30)
    assert gap.utcoffset() == timedelta(hours=-4)
    # 01:30 on 2023-11-05 happens twice: the first (EDT) is taken.
    ambiguous = localize(date(2023, 11, 5), time(1, 30), NEW_YORK)
    assert ambiguous.utcoffset() == timedelta(hours=-4)
    assert ambiguous.fold == 0


def test_localize_taipei() -> None:
    for d in (date(2023, 1, 11), date(2023, 7, 12), date(2023, 3, 12)):
        stamp = localize(d, time(14, 0), TAIPEI)
        assert stamp.utcoffset() == timedelta(hours=8)
        assert (stamp.date(), stamp.hour) == (d, 14)
    with pytest.raises(ValueError):
        localize(date(2023, 1, 1), time(9, tzinfo=TAIPEI), TAIPEI)


# --------------------------------------------------------------------------- properties

REGULAR_PHRASES = [
    "每月召開1次",
    "每季召開1次",
    "每4個月召開1次",
    "每半年辦理1次",
    "每年召開2次",
    "每年召開3次",
    "每年辦理",
    "每月5區各召開1次",
]
REGULAR_MAPPINGS: list[dict[str, object]] = [
    {"every": "2 months"},
    {"every": "month", "on": "last FR"},
    {"every": "quarter", "on": 28},
    {"every": "half-year", "on": "1st MO"},
    {"rrule": "FREQ=MONTHLY;INTERVAL=3"},
    {"rrule": "FREQ=YEARLY;BYMONTH=5;BYDAY=-1SU"},
]


@st.composite
def regular_cadences(draw: st.DrawFn) -> Cadence:
    anchor = draw(st.integers(1, 12))
    options: list[str | dict[str, object]] = [*REGULAR_PHRASES, *REGULAR_MAPPINGS]
    decl = draw(st.sampled_from(options))
    return for_instance(_parse_anchored(decl, anchor), draw(st.integers(0, 25)))


def _parse_anchored(decl: str | dict[str, object], anchor: int) -> Cadence:
    """Parse with ``anchor`` unless the declaration fixes its own months."""
    try:
        return parse_cadence(decl, anchor_month=anchor)
    except CadenceError:
        return parse_cadence(decl)


@st.composite
def any_cadences(draw: st.DrawFn) -> Cadence:
    options: list[str | dict[str, object]] = [
        *REGULAR_PHRASES,
        *REGULAR_MAPPINGS,
        "每年3月、6月召開",
        {"every": "week"},
        {"every": "2 weeks", "on": "FR"},
        {"rrule": "FREQ=MONTHLY;INTERVAL=5;BYDAY=+1MO"},
        {"rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
        {"rrule": "FREQ=DAILY;INTERVAL=10"},
        {"rrule": "FREQ=YEARLY;INTERVAL=2;BYMONTH=4;BYMONTHDAY=1"},
        {"rrule": "FREQ=MONTHLY;BYMONTHDAY=31"},
    ]
    decl = draw(st.sampled_from(options))
    anchor = draw(st.integers(1, 12))
    return for_instance(_parse_anchored(decl, anchor), draw(st.integers(0, 25)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    regular_cadences(),
    st.dates(date(2001, 1, 1), date(2080, 12, 31)),
    st.integers(1, 40),
)
def test_exactly_one_per_cycle(c: Cadence, somewhere: date, n_cycles: int) -> None:
    assert c.period_months is not None
    first_start, _ = cycle_of(c, somewhere)
    blocks = [cycle_of(c, first_start)]
    for _ in range(n_cycles - 1):
        blocks.append(cycle_of(c, blocks[-1][1] + timedelta(days=1)))
    dates = expand(c, blocks[0][0], blocks[-1][1])
    assert len(dates) == n_cycles
    for d, (lo, hi) in zip(dates, blocks, strict=True):
        assert lo <= d <= hi


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    any_cadences(),
    st.dates(date(1995, 1, 1), date(2090, 12, 31)),
    st.integers(0, 4000),
)
def test_expand_sorted_unique_bounded_inside_cycle(c: Cadence, start: date, span: int) -> None:
    end = start + timedelta(days=span)
    dates = expand(c, start, end)
    assert dates == sorted(set(dates))
    assert all(start <= d <= end for d in dates)
    for d in dates[:24]:
        lo, hi = cycle_of(c, d)
        assert lo <= d <= hi


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    any_cadences(),
    st.dates(date(1998, 1, 1), date(2060, 12, 31)),
    st.integers(0, 1500),
)
def test_expand_matches_dateutil(c: Cadence, start: date, span: int) -> None:
    """The arithmetic fast paths and dtstart shifting agree with plain dateutil."""
    end = start + timedelta(days=span)
    rule = rrulestr("RRULE:" + c.rrule, dtstart=datetime.combine(c.dtstart, time()))
    expected = sorted(
        {
            dt.date()
            for dt in rule.between(
                datetime.combine(start, time()), datetime.combine(end, time.max), inc=True
            )
        }
    )
    assert expand(c, start, end) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["MONTHLY", "YEARLY", "WEEKLY"]),
    st.integers(1, 7),
    st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
    st.sampled_from(["", "+1", "+2", "+4", "+5", "-1", "-2"]),
    st.sampled_from(["MO", "SU", "WE"]),
    st.dates(date(1999, 1, 1), date(2030, 12, 31)),
    st.dates(date(1999, 1, 1), date(2035, 12, 31)),
    st.sets(st.integers(1, 12), min_size=1, max_size=4),
)
def test_random_rules_match_dateutil(
    freq: str,
    interval: int,
    wd: str,
    ordinal: str,
    wkst: str,
    dtstart: date,
    start: date,
    bymonth: set[int],
) -> None:
    if freq == "WEEKLY":
        text = f"FREQ=WEEKLY;INTERVAL={interval};WKST={wkst};BYDAY={wd}"
    elif freq == "YEARLY":
        months = ",".join(str(m) for m in sorted(bymonth))
        text = f"FREQ=YEARLY;INTERVAL={interval};BYMONTH={months};BYDAY={ordinal or '+1'}{wd}"
    else:
        text = f"FREQ=MONTHLY;INTERVAL={interval};BYDAY={ordinal or '-1'}{wd}"
    try:
        c = parse_cadence({"rrule": text, "dtstart": dtstart})
    except CadenceError:
        return
    end = start + timedelta(days=900)
    rule = rrulestr("RRULE:" + text, dtstart=datetime.combine(dtstart, time()))
    expected = [
        dt.date()
        for dt in rule.between(
            datetime.combine(start, time()), datetime.combine(end, time()), inc=True
        )
    ]
    assert expand(c, start, end) == expected
