"""The seat KPIs (reply_rate, designated_attendance_rate, representative_continuity):
the pure folds with hand-computed numbers, then a hand-computed year in the database.

The year (series cp, monthly on the 2nd Wednesday, 14:00; required DVPC, POL; optional EDU):

  2022-12-14 held   DVPC 王小明 (designated), POL 陳警官 — history only for 2023
  2023-01-11 held   DVPC 王小明 ✓ present; POL 李大華 deputy for 陳警官 ✓ delegated;
                    EDU never answered
  2023-02-08 held   DVPC 王小明 ✓ recorded absent; POL declined ✓; EDU 林老師 set by the
                    secretariat the day after (not before the meeting), present
  2023-03-08 held   DVPC 張三 ✓ present; POL 陳警官 ✓ present; EDU never answered
  2023-04-12 held   no seats stored (its invitation never rendered); DVPC present
  2023-05-10 not held: DVPC answered, counts nowhere
  (✓ answered before the meeting)

  reply_rate                 = 6 answered in time ÷ 9 seats (Jan–Mar)      = 66.7
  designated_attendance_rate = 5 (Jan 2, Feb EDU, Mar 2) ÷ 6 named seats    = 83.3
  representative_continuity  DVPC: Jan 王=王 ✓, Feb 王=王 ✓, Mar 張≠王 → 2 ÷ 3 = 66.7
                             POL: Jan 李≠陳, Feb nobody, Mar 陳≠李 → 0 ÷ 3 = 0.0
                             EDU: first named in Feb; Mar nobody      → 0 ÷ 1 = 0.0
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from meetings.access.users import secret
from meetings.db import Occurrence
from meetings.kernel.vocabulary import ReplyChannel, SeatState
from meetings.kpis.queries import compute_kpis
from meetings.kpis.reports import kpi_report_bytes
from meetings.kpis.seat_kpis import (
    SeatFact,
    answered_in_time,
    continuity,
    named_person,
    seat_counts,
)
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.seats.answers import Answer, answer_seat
from meetings.seats.seats import REPLY_SECRET, sync_seats
from scheduler.bootstrap import App
from tests.conftest import taipei
from tests.support.configs import CONFIG
from tests.unit.notifications.test_notify import setup

START = datetime(2023, 1, 11, 6, tzinfo=UTC)


def fact(
    agency: str,
    state: SeatState,
    person: str | None = None,
    *,
    day: int = 0,
    counted: bool = True,
    answered: timedelta | None = timedelta(days=-3),
    attended: bool = False,
    instance: str = "cp:",
) -> SeatFact:
    start = START + timedelta(days=28 * day)
    at = None if answered is None or state == SeatState.INVITED else start + answered
    return SeatFact(instance, agency, start, counted, state, person, at, attended)


# --- pure ---------------------------------------------------------------------------------


def test_answered_in_time_is_a_first_answer_before_the_start() -> None:
    assert answered_in_time(fact("A", SeatState.DECLINED))
    assert not answered_in_time(fact("A", SeatState.DESIGNATED, "甲", answered=timedelta(0)))
    assert not answered_in_time(fact("A", SeatState.INVITED))
    assert named_person(fact("A", SeatState.DEPUTY, "乙")) == "乙"
    assert named_person(fact("A", SeatState.TENTATIVE, "乙")) is None
    assert named_person(fact("A", SeatState.DESIGNATED)) is None  # a calendar's bare yes


def test_continuity_counts_meetings_after_the_first_named_seat() -> None:
    assert continuity([]) == (0, 0)
    assert continuity([(True, "甲")]) == (0, 0)  # nothing after the first: no data
    assert continuity([(True, None), (True, "甲"), (True, "甲"), (True, "乙")]) == (1, 2)
    # nobody named breaks the run but the next is compared with the last one named
    assert continuity([(True, "甲"), (True, None), (True, "甲")]) == (1, 2)
    # history before the year sets "last time" without being counted
    assert continuity([(False, "甲"), (False, "甲"), (True, "甲")]) == (1, 1)


def test_seat_counts_per_instance_with_zero_denominators() -> None:
    counts = seat_counts(
        [
            fact("A", SeatState.DESIGNATED, "甲", day=0, attended=True),
            fact("A", SeatState.DESIGNATED, "甲", day=1, answered=timedelta(hours=1)),
            fact("B", SeatState.INVITED, day=0),
            fact("B", SeatState.DECLINED, day=1),
            fact("A", SeatState.DESIGNATED, "甲", day=-1, counted=False, attended=True),
            fact("C", SeatState.DESIGNATED, "丙", day=-1, counted=False),  # history only
            fact("A", SeatState.INVITED, instance="dl:甲區"),
        ]
    )
    cp, dl = counts["cp:"], counts["dl:甲區"]
    assert (cp.seats, cp.answered, cp.named, cp.named_present) == (4, 2, 2, 1)
    assert cp.continuity == {"A": (2, 2)}  # B never named anyone; C had no seat this year
    assert (dl.seats, dl.answered, dl.named, dl.named_present) == (1, 0, 0, 0)
    assert dl.continuity == {}
    assert seat_counts([]) == {}


# --- a year in the database --------------------------------------------------------------

SEATED = CONFIG.replace(
    "  - {code: POL, name: 警察局, emails: [pol@example.org]}\n",
    "  - {code: POL, name: 警察局, emails: [pol@example.org]}\n"
    "  - {code: EDU, name: 教育局, emails: [edu@example.org]}\n",
).replace("invite: {required: [DVPC, POL]}", "invite: {required: [DVPC, POL], optional: [EDU]}")
LATER = taipei(2023, 6, 30, 9, 0)


def _meeting(app: App, year: int, month: int) -> str:
    with app.transaction() as s:
        uid = s.scalar(
            select(Occurrence.uid).where(
                Occurrence.nominal_date >= date(year, month, 1),
                Occurrence.nominal_date <= date(year, month, 28),
            )
        )
        assert uid is not None
        return uid


def _seat(
    app: App, uid: str, answers: dict[str, Answer], at: datetime, present: dict[str, str]
) -> None:
    """The meeting's seats (as its invitation makes them), answered at ``at``, then its
    attendance recorded."""
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == uid))
        assert occ is not None
        seats = {x.agency_code: x for x in sync_seats(s, occ, secret(s, REPLY_SECRET, at), at)}
        for code, answer in answers.items():
            when = at if answer.channel != ReplyChannel.SECRETARIAT else occ.end_at + timedelta(1)
            answer_seat(s, seats[code], occ, answer, when)
    _attend(app, uid, present)


def _attend(app: App, uid: str, present: dict[str, str]) -> None:
    with app.transaction() as s:
        for code, status in present.items():
            record_attendance(s, AttendanceInput(uid, code, status), LATER)


def designated(person: str) -> Answer:
    return Answer(SeatState.DESIGNATED, ReplyChannel.LINK, person, "科長")


@pytest.fixture
def seated(app: App) -> App:
    setup(app, SEATED, date(2022, 12, 1), date(2023, 5, 31))
    months = [(2022, 12), (2023, 1), (2023, 2), (2023, 3), (2023, 4), (2023, 5)]
    dec, jan, feb, mar, apr, may = (_meeting(app, y, m) for y, m in months)
    _seat(
        app,
        dec,
        {"DVPC": designated("王小明"), "POL": designated("陳警官")},
        taipei(2022, 12, 1, 9),
        {"DVPC": "present", "POL": "present"},
    )
    deputy = Answer(SeatState.DEPUTY, ReplyChannel.LINK, "李大華", for_whom="陳警官")
    _seat(
        app,
        jan,
        {"DVPC": designated("王小明"), "POL": deputy},
        taipei(2023, 1, 5, 9),
        {"DVPC": "present", "POL": "delegated"},
    )
    declined = Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="同日另有勤務")
    late = Answer(SeatState.DESIGNATED, ReplyChannel.SECRETARIAT, "林老師", by="chen@example.org")
    _seat(
        app,
        feb,
        {"DVPC": designated("王小明"), "POL": declined, "EDU": late},
        taipei(2023, 2, 1, 9),
        {"DVPC": "absent", "EDU": "present"},
    )
    _seat(
        app,
        mar,
        {"DVPC": designated("張三"), "POL": designated("陳警官")},
        taipei(2023, 3, 1, 9),
        {"DVPC": "present", "POL": "present"},
    )
    _attend(app, apr, {"DVPC": "present"})  # held, no seats stored
    with app.transaction() as s:  # May's seats answered, the meeting not (yet) held
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == may))
        assert occ is not None
        now = taipei(2023, 5, 1, 9)
        seat = sync_seats(s, occ, secret(s, REPLY_SECRET, now), now)[0]
        answer_seat(s, seat, occ, designated("王小明"), now)
    return app


def _total(app: App, year: int, **kw: object) -> dict[str, object]:
    with app.transaction() as s:
        report = compute_kpis(s, year, **kw)  # type: ignore[arg-type]
        rows = report.as_json()["rows"]
    assert rows[-1]["series"] is None
    return dict(rows[-1])


def test_the_hand_computed_year(seated: App) -> None:
    with seated.transaction() as s:
        rows = compute_kpis(s, 112).as_json()["rows"]
    cp, total = rows
    for row in (cp, total):
        assert row["meetings_held"] == 4
        assert row["reply_rate"] == 66.7  # 6 ÷ 9
        assert row["designated_attendance_rate"] == 83.3  # 5 ÷ 6
        assert row["representative_continuity"] == {"DVPC": 66.7, "EDU": 0.0, "POL": 0.0}


def test_zero_denominators_and_no_seats_are_null(seated: App) -> None:
    dec = _total(seated, 111)  # only December, whose seats are the first named ones
    assert dec["reply_rate"] == 66.7  # 2 of 3: EDU never answered
    assert dec["designated_attendance_rate"] == 100.0
    assert dec["representative_continuity"] == {"DVPC": None, "POL": None}
    jan = _total(seated, 112, as_of=date(2023, 1, 31))  # January only
    assert jan["reply_rate"] == 66.7  # 2 of 3 (EDU never answered)
    assert jan["representative_continuity"] == {"DVPC": 100.0, "POL": 0.0}
    assert "EDU" not in jan["representative_continuity"]  # named nobody yet
    none = _total(seated, 114)  # nothing held
    assert none["reply_rate"] is None and none["designated_attendance_rate"] is None
    assert none["representative_continuity"] == {}


def test_csv_xlsx_and_html_carry_the_seat_keys(seated: App) -> None:
    from openpyxl import load_workbook

    with seated.transaction() as s:
        text, _ = kpi_report_bytes(s, 112, "csv")
        book, _ = kpi_report_bytes(s, 112, "xlsx")
        page, _ = kpi_report_bytes(s, 112, "html")
        data, _ = kpi_report_bytes(s, 112, "json")
    [cp, total] = list(csv.DictReader(io.StringIO(text.decode())))
    assert cp["reply_rate"] == "66.7" and cp["designated_attendance_rate"] == "83.3"
    assert total["representative_continuity[DVPC]"] == "66.7"
    assert "representative_continuity" not in cp  # one column per agency instead
    wb = load_workbook(io.BytesIO(book))
    assert wb.sheetnames[:3] == ["績效指標", "機關出席率", "代表連續性"]
    sheet = [[c.value for c in line] for line in wb["代表連續性"].iter_rows(min_row=4)]
    assert ["DVPC", "家防中心", 66.7, 66.7] in sheet
    html = page.decode()
    assert "回條會前回覆率(%)" in html and "同一代表連續出席率(%)" in html
    assert json.loads(data)["rows"][0]["reply_rate"] == 66.7
