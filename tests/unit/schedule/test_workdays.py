"""Tests for meetings.schedule.workdays, hand-checked against the DGPA 辦公日曆表."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetings.schedule.workdays import (
    DGPA_SOURCE,
    LAST_PACKAGE_YEAR,
    MAX_NON_WORKING_RUN,
    CalendarFileError,
    DayInfo,
    HolidayPolicy,
    OfficeCalendar,
    format_dgpa_calendar,
    parse_dgpa_calendar,
)

CAL = OfficeCalendar()
HEADER = "西元日期,星期,是否放假,備註\n"

# --------------------------------------------------------------------------------------
# The real calendar
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "working"),
    [
        (date(2023, 1, 7), True),  # Sat, 補行上班 for 2023-01-20
        (date(2023, 1, 20), False),  # Fri, 調整放假
        (date(2023, 1, 27), False),
        (date(2023, 2, 4), True),  # Sat, 補行上班 for 2023-01-27
        (date(2023, 3, 8), True),  # Women's Day is a working day
        (date(2023, 9, 23), True),  # Sat, 補行上班 for 2023-10-09
        (date(2023, 9, 29), False),  # 中秋節
        (date(2023, 10, 6), True),
        (date(2023, 10, 7), False),
        (date(2023, 10, 9), False),
        (date(2023, 10, 10), False),
        (date(2023, 10, 11), True),
        (date(2024, 2, 7), True),
        # 113年 春節: 2/8 (Thu) .. 2/14 (Wed) off, 2/8 moved from 2/17 (Sat) (院授人培字第
        # 11230268412號): 2/17 was a make-up working Saturday, the package agrees.
        *((date(2024, 2, 8) + timedelta(days=i), False) for i in range(7)),
        (date(2024, 2, 15), True),
        (date(2024, 2, 16), True),
        (date(2024, 2, 17), True),
        (date(2024, 2, 18), False),
        (date(2025, 1, 27), False),  # 114年: moved to 2/8 (Sat)
        (date(2025, 2, 8), True),
        (date(2026, 2, 14), False),  # 115年: no make-up Saturdays at all
        (date(2026, 5, 1), False),  # Labour Day is a government day off from 2026
        (date(2024, 5, 1), True),
    ],
)
def test_real_calendar(d: date, working: bool) -> None:
    assert CAL.is_working_day(d) is working
    assert CAL.day_info(d).working is working


def test_reasons() -> None:
    assert CAL.day_info(date(2023, 10, 10)) == DayInfo(date(2023, 10, 10), False, "國慶日")
    assert CAL.day_info(date(2023, 1, 7)).reason == "補行上班"
    assert CAL.day_info(date(2024, 2, 17)).reason == "補行上班"
    substituted = CAL.day_info(date(2023, 10, 9)).reason
    assert substituted is not None and "2023-09-23" in substituted
    assert CAL.day_info(date(2023, 10, 7)).reason == "週末"
    assert CAL.day_info(date(2023, 3, 8)).reason is None
    assert CAL.day_info(date(2023, 10, 11)) == DayInfo(date(2023, 10, 11), True, None)


def test_2026_has_no_makeup_saturdays() -> None:
    saturdays = [date(2026, 1, 3) + timedelta(weeks=i) for i in range(52)]
    assert not any(CAL.is_working_day(d) for d in saturdays)


def test_last_package_year() -> None:
    # holidays 0.109 carries the DGPA calendars up to 2026.
    assert LAST_PACKAGE_YEAR >= 2026
    assert CAL.is_confirmed(2023)
    assert CAL.is_confirmed(LAST_PACKAGE_YEAR)
    assert not CAL.is_confirmed(LAST_PACKAGE_YEAR + 1)
    assert not CAL.is_confirmed(1990)


# --------------------------------------------------------------------------------------
# Navigation and policies
# --------------------------------------------------------------------------------------


def test_next_previous() -> None:
    assert CAL.next_working_day(date(2023, 10, 9)) == date(2023, 10, 11)
    assert CAL.next_working_day(date(2023, 10, 11)) == date(2023, 10, 11)
    assert CAL.previous_working_day(date(2023, 10, 10)) == date(2023, 10, 6)
    assert CAL.previous_working_day(date(2023, 10, 6)) == date(2023, 10, 6)
    assert CAL.next_working_day(date(2024, 2, 8)) == date(2024, 2, 15)
    assert CAL.previous_working_day(date(2024, 2, 18)) == date(2024, 2, 17)


@pytest.mark.parametrize(
    ("d", "policy", "expected"),
    [
        (date(2023, 10, 9), HolidayPolicy.NEXT_WORKING_DAY, date(2023, 10, 11)),
        (date(2023, 10, 10), HolidayPolicy.NEXT_WORKING_DAY, date(2023, 10, 11)),
        (date(2023, 10, 9), HolidayPolicy.PREVIOUS_WORKING_DAY, date(2023, 10, 6)),
        (date(2023, 10, 10), HolidayPolicy.PREVIOUS_WORKING_DAY, date(2023, 10, 6)),
        (date(2023, 10, 10), HolidayPolicy.SKIP, None),
        (date(2023, 10, 10), HolidayPolicy.KEEP, date(2023, 10, 10)),
        (date(2023, 10, 11), HolidayPolicy.SKIP, date(2023, 10, 11)),
        (date(2023, 10, 11), HolidayPolicy.PREVIOUS_WORKING_DAY, date(2023, 10, 11)),
        (date(2023, 10, 9), "next_working_day", date(2023, 10, 11)),
        (date(2023, 10, 9), "skip", None),
    ],
)
def test_apply_policy(d: date, policy: HolidayPolicy | str, expected: date | None) -> None:
    assert CAL.apply_policy(d, policy) == expected


def test_apply_policy_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError):
        CAL.apply_policy(date(2023, 10, 11), "whenever")


def test_add_working_days() -> None:
    # After Fri 10-06: 07 Sat, 08 Sun, 09 off, 10 國慶日, then 11, 12, 13, 16, 17.
    assert CAL.add_working_days(date(2023, 10, 6), 5) == date(2023, 10, 17)
    assert CAL.add_working_days(date(2023, 10, 6), 1) == date(2023, 10, 11)
    assert CAL.add_working_days(date(2023, 10, 9), 0) == date(2023, 10, 11)
    assert CAL.add_working_days(date(2023, 10, 6), 0) == date(2023, 10, 6)
    # The make-up Saturday counts.
    assert CAL.add_working_days(date(2023, 9, 22), 1) == date(2023, 9, 23)
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2023, 10, 6), -1)


def test_bounded_search() -> None:
    start = date(2023, 7, 1)
    closed = {start + timedelta(days=i): "測試停班" for i in range(MAX_NON_WORKING_RUN + 5)}
    cal = OfficeCalendar(closures=closed)
    with pytest.raises(ValueError):
        cal.next_working_day(start + timedelta(days=2))
    with pytest.raises(ValueError):
        cal.previous_working_day(start + timedelta(days=MAX_NON_WORKING_RUN + 2))
    with pytest.raises(ValueError):
        cal.apply_policy(start + timedelta(days=2), HolidayPolicy.NEXT_WORKING_DAY)
    assert cal.apply_policy(start, HolidayPolicy.SKIP) is None


# --------------------------------------------------------------------------------------
# Closures and published calendars
# --------------------------------------------------------------------------------------


def test_closures_override() -> None:
    cal = OfficeCalendar(closures={date(2023, 10, 11): "颱風停班"})
    assert not cal.is_working_day(date(2023, 10, 11))
    assert cal.day_info(date(2023, 10, 11)) == DayInfo(date(2023, 10, 11), False, "颱風停班")
    assert cal.next_working_day(date(2023, 10, 9)) == date(2023, 10, 12)
    # A closure on a make-up Saturday wins too.
    cal2 = cal.with_closures({date(2023, 9, 23): "颱風停班"})
    assert not cal2.is_working_day(date(2023, 9, 23))
    assert not cal2.is_working_day(date(2023, 10, 11))
    # with_closures returns a copy; the original is untouched.
    assert cal.is_working_day(date(2023, 9, 23))
    assert CAL.is_working_day(date(2023, 10, 11))


def test_closure_beats_published() -> None:
    d = date(2027, 1, 4)
    cal = OfficeCalendar(closures={d: "颱風停班"}, published={d: (False, "")})
    assert not cal.is_working_day(d)
    assert cal.day_info(d).reason == "颱風停班"


def test_published_overrides_package() -> None:
    published = {
        date(2027, 1, 2): (False, "補行上班"),  # Saturday made a working day
        date(2027, 1, 4): (True, "調整放假"),  # Monday made a day off
        date(2023, 10, 10): (False, ""),  # even a known package holiday
        date(2023, 10, 11): (True, ""),
    }
    cal = OfficeCalendar(published=published)
    assert not CAL.is_working_day(date(2027, 1, 2))
    assert cal.is_working_day(date(2027, 1, 2))
    assert cal.day_info(date(2027, 1, 2)).reason == "補行上班"
    assert not cal.is_working_day(date(2027, 1, 4))
    assert cal.day_info(date(2027, 1, 4)).reason == "調整放假"
    assert cal.is_working_day(date(2023, 10, 10))
    assert cal.day_info(date(2023, 10, 10)).reason is None
    assert cal.day_info(date(2023, 10, 11)) == DayInfo(date(2023, 10, 11), False, DGPA_SOURCE)
    assert cal.previous_working_day(date(2027, 1, 4)) == date(2027, 1, 2)
    # A few dates do not confirm a year.
    assert not cal.is_confirmed(2027)


def _full_year(year: int, cal: OfficeCalendar) -> dict[date, tuple[bool, str]]:
    days: dict[date, tuple[bool, str]] = {}
    d = date(year, 1, 1)
    while d.year == year:
        info = cal.day_info(d)
        days[d] = (not info.working, "" if info.reason in (None, "週末") else str(info.reason))
        d += timedelta(days=1)
    return days


def test_published_full_year_confirms() -> None:
    year = LAST_PACKAGE_YEAR + 1
    full = _full_year(year, CAL)
    cal = OfficeCalendar(published=full)
    assert cal.is_confirmed(year)
    assert not cal.is_confirmed(year + 1)
    start, end = date(2023, 6, 1), date(year + 2, 3, 1)
    assert CAL.unconfirmed_years(start, end) == [year, year + 1, year + 2]
    assert cal.unconfirmed_years(start, end) == [year + 1, year + 2]
    assert cal.unconfirmed_years(date(2023, 1, 1), date(2024, 12, 31)) == []
    assert cal.with_closures({date(year, 3, 3): "停班"}).is_confirmed(year)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

dates = st.dates(min_value=date(2001, 1, 1), max_value=date(2035, 12, 31))
policies = st.sampled_from(list(HolidayPolicy))
closure_sets = st.dictionaries(dates, st.just("颱風停班"), max_size=20)


@given(d=dates, closures=closure_sets)
def test_next_working_day_property(d: date, closures: dict[date, str]) -> None:
    cal = OfficeCalendar(closures=closures)
    nxt = cal.next_working_day(d)
    assert nxt >= d
    assert cal.is_working_day(nxt)
    assert not any(cal.is_working_day(d + timedelta(days=i)) for i in range((nxt - d).days))


@given(d=dates, closures=closure_sets)
def test_previous_working_day_property(d: date, closures: dict[date, str]) -> None:
    cal = OfficeCalendar(closures=closures)
    prev = cal.previous_working_day(d)
    assert prev <= d
    assert cal.is_working_day(prev)
    assert not any(cal.is_working_day(d - timedelta(days=i)) for i in range((d - prev).days))


@given(d=dates, policy=policies, closures=closure_sets)
def test_apply_policy_property(d: date, policy: HolidayPolicy, closures: dict[date, str]) -> None:
    cal = OfficeCalendar(closures=closures)
    result = cal.apply_policy(d, policy)
    if policy is HolidayPolicy.KEEP or cal.is_working_day(d):
        assert result == d
    elif policy is HolidayPolicy.SKIP:
        assert result is None
    else:
        assert result is not None and cal.is_working_day(result)


@given(d=dates, n=st.integers(min_value=1, max_value=30))
def test_add_working_days_property(d: date, n: int) -> None:
    result = CAL.add_working_days(d, n)
    assert CAL.is_working_day(result)
    span = [d + timedelta(days=i) for i in range(1, (result - d).days + 1)]
    assert sum(CAL.is_working_day(x) for x in span) == n


# --------------------------------------------------------------------------------------
# DGPA CSV
# --------------------------------------------------------------------------------------


def test_parse_good_file() -> None:
    text = (
        "\ufeff西元日期 , 星期 ,是否放假, 備註 \n"
        "20230107,六,0,補行上班\n"
        "20230108,日,2,\n"
        '20230120,五,2,"調整放假, 春節"\n'
        "\n\n"
    )
    assert parse_dgpa_calendar(text, "113.csv") == {
        date(2023, 1, 7): (False, "補行上班"),
        date(2023, 1, 8): (True, ""),
        date(2023, 1, 20): (True, "調整放假, 春節"),
    }


def test_parse_column_order_and_stray_bom() -> None:
    text = "備註,\ufeff西元日期,是否放假,星期\r\n開國紀念日,20230101,2,日\r\n"
    assert parse_dgpa_calendar(text, "x.csv") == {date(2023, 1, 1): (True, "開國紀念日")}


def test_round_trip_full_year() -> None:
    days = _full_year(2023, CAL)
    assert len(days) == 365
    text = format_dgpa_calendar(days)
    assert text.startswith(HEADER)
    assert text.count("\n") == 366
    assert parse_dgpa_calendar(text, "2023.csv") == days
    assert parse_dgpa_calendar("\ufeff" + text, "2023.csv") == days
    cal = OfficeCalendar(published=days)
    assert all(cal.is_working_day(d) == CAL.is_working_day(d) for d in days)


@given(
    st.dictionaries(
        dates,
        st.tuples(
            st.booleans(),
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
                max_size=10,
            ),
        ),
        max_size=30,
    )
)
def test_round_trip_property(days: dict[date, tuple[bool, str]]) -> None:
    assert parse_dgpa_calendar(format_dgpa_calendar(days), "p.csv") == days


def test_three_bad_rows() -> None:
    text = (
        HEADER  # line 1
        + "20230107,六,0,補行上班\n"  # 2
        + "20230230,四,2,\n"  # 3: no such date
        + "20230108,日,2,\n"  # 4
        + "20230109,二,0,\n"  # 5: 2023-01-09 is a Monday
        + "20230110,二,1,\n"  # 6: 是否放假 must be 0 or 2
        + "20230111,三,0,\n"  # 7
    )
    with pytest.raises(CalendarFileError) as exc:
        parse_dgpa_calendar(text, "bad.csv")
    errors = exc.value.errors
    assert len(errors) == 3
    assert errors[0].startswith("bad.csv:3: 西元日期: ")
    assert errors[1].startswith("bad.csv:5: 星期: ")
    assert errors[2].startswith("bad.csv:6: 是否放假: ")


def test_more_bad_rows() -> None:
    text = (
        HEADER  # 1
        + "2023-01-07,六,0,\n"  # 2: bad date format
        + '20230108,日,2,"two\nlines"\n'  # 3-4: fine
        + "20230108,日,2,\n"  # 5: duplicate
        + "20230109,一\n"  # 6: missing 是否放假 and 備註
        + "20230110,X,0,\n"  # 7: bad weekday
    )
    with pytest.raises(CalendarFileError) as exc:
        parse_dgpa_calendar(text, "f.csv")
    assert [e.split(": ")[0] + ": " + e.split(": ")[1] for e in exc.value.errors] == [
        "f.csv:2: 西元日期",
        "f.csv:5: 西元日期",
        "f.csv:6: 是否放假",
        "f.csv:6: 備註",
        "f.csv:7: 星期",
    ]
    assert "duplicate" in exc.value.errors[1] and "line 3" in exc.value.errors[1]
    assert str(exc.value).count("\n") == 4


def test_bad_header() -> None:
    with pytest.raises(CalendarFileError) as exc:
        parse_dgpa_calendar("西元日期,星期,備註\n20230107,六,補行上班\n", "h.csv")
    assert exc.value.errors == ["h.csv:1: 是否放假: missing column"]
    with pytest.raises(CalendarFileError) as exc:
        parse_dgpa_calendar("\n\n", "empty.csv")
    assert len(exc.value.errors) == 1 and exc.value.errors[0].startswith("empty.csv:1: ")
    with pytest.raises(CalendarFileError):
        parse_dgpa_calendar("20230107,六,0,補行上班\n", "noheader.csv")
