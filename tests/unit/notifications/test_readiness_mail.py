"""The secretariat's readiness check (會前檢核): 3 working days before each meeting, once per
version of the meeting, listing what is not ready — through the outbox to a real SMTP sink."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.config import load_config
from meetings.db import Occurrence, Seat
from meetings.kernel.localtime import DEFAULT_TIMEZONE
from meetings.kernel.vocabulary import ReplyChannel, SeatState
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from meetings.seats.answers import Answer, answer_seat
from notifications.email import MeetingView, render
from notifications.mailsink import MailSink
from notifications.outbox.readiness import readiness_items
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.configs import BASE, CONFIG
from tests.support.snapshots import assert_snapshot
from tests.unit.notifications.test_notify import dispatch, of_kind, setup, sink, with_secretariat

__all__ = ["sink"]  # the SMTP sink fixture, shared with test_notify

JAN = "cp-20230111@liaison.test.example"  # Wednesday 11 January 2023, 14:00
# 家防中心 pinned at the same hour by a second series: a clash no placement can avoid.
PINNED = """\
  - id: dv
    title: 家暴安全網會議
    organizer: DVPC
    cadence: {every: month, on: 2nd WE}
    time: "15:00"
    invite: {required: [DVPC]}
"""


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _jan(sink: MailSink) -> list[EmailMessage]:
    return [m for m in of_kind(sink, "readiness") if "112年1月11日" in str(m["Subject"])]


def _occ(s: Session, uid: str = JAN) -> Occurrence:
    occ = s.scalar(select(Occurrence).where(Occurrence.uid == uid))
    assert occ is not None
    return occ


def _answer(app: App, code: str, answer: Answer, uid: str = JAN) -> None:
    """One agency's answer to its seat (stored when its invitation was rendered)."""
    with app.transaction() as s:
        occ = _occ(s, uid)
        seat = s.scalar(select(Seat).where(Seat.occurrence_id == occ.id, Seat.agency_code == code))
        assert seat is not None, f"no seat of {code}: its invitation was not rendered"
        answer_seat(s, seat, occ, answer, app.clock.now())


def _items(app: App, uid: str = JAN) -> list[str]:
    with app.transaction() as s:
        return readiness_items(s, _occ(s, uid), app.clock.now())


COMING = Answer(SeatState.DESIGNATED, ReplyChannel.LINK, "王小明", "科長")


def test_three_working_days_before_to_the_secretariat_once(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, with_secretariat(CONFIG))
    # 3 working days before Wed 11 Jan: Tue 10, Mon 9 and Sat 7 Jan 2023, a make-up
    # working day (補行上班) of the 春節 holidays — the office calendar, not weekdays.
    clock.set(taipei(2023, 1, 7, 13, 59))
    dispatch(app, sink)  # the invitations go (5 days ahead: in time), with their seats
    assert not _jan(sink)
    _answer(app, "DVPC", COMING)
    _answer(app, "POL", Answer(SeatState.DEPUTY, ReplyChannel.ITIP, "李大華", for_whom="王分局長"))
    clock.set(taipei(2023, 1, 7, 14, 0))
    dispatch(app, sink)
    [mail] = _jan(sink)
    assert str(mail["To"]) == "陳社工 <chen@example.org>"
    assert str(mail["Subject"]).startswith("【會前檢核】112年1月11日（星期三）下午2時")
    assert "目前無待處理事項。" in _body(mail)
    for day in (9, 10, 11):
        clock.set(taipei(2023, 1, day, 9, 0))
        dispatch(app, sink)
    assert len(_jan(sink)) == 1


def test_it_lists_a_pinned_clash_and_an_agency_without_address(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    text = with_secretariat(BASE).replace(
        "cadence: 每月召開1次", "cadence: {every: month, on: 2nd WE}"
    )
    setup(app, text + PINNED)
    clock.set(taipei(2023, 1, 7, 14, 0))
    dispatch(app, sink)
    [mail] = _jan(sink)
    body = _body(mail)
    assert (
        "時段衝突：家防中心同一時段另有「家暴安全網會議」（112年1月11日（星期三）下午3時）"
        "（固定日期，請協調代理出席或調整時間）"
    ) in body
    assert "無電子郵件地址：警察局未收到開會通知，請另行通知" in body
    assert "目前無待處理事項" not in body


def test_none_for_a_cancelled_meeting_and_a_new_one_after_a_move(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, with_secretariat(CONFIG))
    clock.set(taipei(2023, 1, 2, 9, 0))
    dispatch(app, sink)  # plans January's check (due 7 Jan) and February's (3 Feb)
    quarterly = with_secretariat(CONFIG).replace("每月召開1次", "每季召開1次")
    with app.transaction() as s:  # February's meeting is cancelled
        load_config(s, build_config([load_yaml(quarterly, "city.yaml")]), clock.now())
    clock.set(taipei(2023, 1, 7, 14, 0))
    dispatch(app, sink)
    [first] = _jan(sink)
    with app.transaction() as s:  # typhoon: January's meeting moves to Thursday
        add_closure(s, date(2023, 1, 11), "颱風停班", clock.now())
    clock.set(taipei(2023, 1, 9, 9, 0))
    dispatch(app, sink)
    moved = [m for m in of_kind(sink, "readiness") if "112年1月12日" in str(m["Subject"])]
    assert len(moved) == 1 and moved[0]["Message-ID"] != first["Message-ID"]
    clock.set(taipei(2023, 2, 7, 9, 0))
    dispatch(app, sink)
    assert not [m for m in of_kind(sink, "readiness") if "112年2月" in str(m["Subject"])]


@pytest.mark.parametrize(
    ("items", "name"),
    [
        ([], "readiness_none.txt"),
        (["無電子郵件地址：警察局未收到開會通知，請另行通知"], "readiness.txt"),
        (
            [
                "未回覆：警察局尚未回覆出席人員",
                "請假：教育局（同日另有勤務）",
                "主席代理人未指定：家防中心主任不克出席時無人代理主持，請指定主席代理人",
                "開會通知寄發時間少於會前3日（實際：112年1月9日（星期一）上午9時寄發）",
            ],
            "readiness_seats.txt",
        ),
    ],
)
def test_rendered_readiness_mail_snapshot(items: list[str], name: str) -> None:
    view = MeetingView(
        uid=JAN,
        sequence=0,
        title="兒少保護網絡會議",
        start=datetime(2023, 1, 11, 6, tzinfo=UTC),
        end=datetime(2023, 1, 11, 8, tzinfo=UTC),
        location="家防中心8樓會議室",
        chair="家防中心主任",
        organizer_name="家防中心",
        organizer_email=None,
        status="scheduled",
        moved_reason=None,
        timezone=DEFAULT_TIMEZONE,
        agenda_url=f"https://liaison.test/meetings/{JAN}",
    )
    r = render("readiness", "陳社工", view, {"readiness_items": items})
    assert_snapshot(name, f"Subject: {r.subject}\n\n{r.text}")
    for item in items:
        assert item in r.html


def test_readiness_must_be_a_positive_span() -> None:
    text = CONFIG.replace('time: "14:00"', 'time: "14:00"\n    readiness: 0wd', 1)
    with pytest.raises(SourceError) as err:
        build_config([load_yaml(text, "city.yaml")])
    assert "city.yaml:" in str(err.value) and "readiness" in str(err.value)


# --- seats, the chair and the notice (issue "Who is coming") --------------------------------

# Three required agencies and an optional one, each with an address.
SEATED = CONFIG.replace(
    "  - {code: POL, name: 警察局, emails: [pol@example.org]}\n",
    "  - {code: POL, name: 警察局, emails: [pol@example.org]}\n"
    "  - {code: EDU, name: 教育局, emails: [edu@example.org]}\n"
    "  - {code: HLT, name: 衛生局, emails: [hlt@example.org]}\n",
).replace(
    "invite: {required: [DVPC, POL]}", "invite: {required: [DVPC, POL, EDU], optional: [HLT]}"
)
CHAIRED = SEATED.replace("    organizer: DVPC\n", "    organizer: DVPC\n    chair: 家防中心主任\n")
SUBSTITUTED = CHAIRED.replace(
    "chair: 家防中心主任\n", "chair: 家防中心主任\n    substitute_chair: 家防中心副主任\n"
)


def _seat_lines(items: list[str]) -> list[str]:
    return [i for i in items if i.split("：")[0] in ("未回覆", "未確定", "請假")]


def test_a_meeting_without_stored_seats_lists_its_declared_required_agencies(app: App) -> None:
    setup(app, SEATED)  # nothing dispatched: no invitation rendered, no seat stored
    items = _items(app)
    assert _seat_lines(items) == [
        "未回覆：家防中心尚未回覆出席人員",
        "未回覆：教育局尚未回覆出席人員",
        "未回覆：警察局尚未回覆出席人員",
    ]  # the optional 衛生局 is no readiness problem
    assert "開會通知寄發時間少於會前3日（實際：尚未寄發）" in items


def test_required_seats_unanswered_tentative_and_declined_with_the_reason(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, with_secretariat(SEATED))
    clock.set(taipei(2023, 1, 2, 9, 0))
    dispatch(app, sink)  # invitations, with their seats
    _answer(app, "POL", Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="同日另有勤務"))
    _answer(app, "EDU", Answer(SeatState.TENTATIVE, ReplyChannel.ITIP, by="edu@example.org"))
    _answer(app, "HLT", Answer(SeatState.DECLINED, ReplyChannel.ITIP, by="hlt@example.org"))
    clock.set(taipei(2023, 1, 7, 14, 0))
    dispatch(app, sink)
    [mail] = _jan(sink)
    body = _body(mail)
    for line in (
        "未回覆：家防中心尚未回覆出席人員",
        "未確定：教育局回覆暫定出席，請確認出席人員",
        "請假：警察局（同日另有勤務）",
    ):
        assert f"・{line}" in body
    assert "衛生局" not in body.split("會議名稱")[0]  # optional: not the secretariat's problem
    _answer(app, "POL", Answer(SeatState.DECLINED, ReplyChannel.ITIP, by="pol@example.org"))
    _answer(app, "DVPC", COMING)
    assert _seat_lines(_items(app)) == [
        "未確定：教育局回覆暫定出席，請確認出席人員",
        "請假：警察局（未說明事由）",  # a calendar's DECLINED carries no reason
    ]


def test_a_declared_chair_needs_a_substitute(app: App, clock: FixedClock, sink: MailSink) -> None:
    setup(app, CHAIRED)
    assert "主席代理人未指定：家防中心主任不克出席時無人代理主持，請指定主席代理人" in _items(app)
    clock.set(taipei(2023, 1, 2, 9, 0))
    dispatch(app, sink)
    _answer(app, "DVPC", Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="出國"))
    chair = [i for i in _items(app) if i.startswith("主席")]
    assert chair == ["主席請假：家防中心已請假，且未指定主席代理人，請協調代理主持人"]


def test_the_organisers_seat_declined_names_the_substitute(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, SUBSTITUTED)
    assert not [i for i in _items(app) if i.startswith("主席")]
    clock.set(taipei(2023, 1, 2, 9, 0))
    dispatch(app, sink)
    _answer(app, "DVPC", Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="出國"))
    items = _items(app)
    assert [i for i in items if i.startswith("主席")] == [
        "主席請假：家防中心已請假，請由家防中心副主任代理主持"
    ]
    assert "請假：家防中心（出國）" in items


def _notice_lines(items: list[str]) -> list[str]:
    return [i for i in items if i.startswith("開會通知")]


def test_a_notice_later_than_notice_min_or_none_is_listed(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, SEATED)
    assert _notice_lines(_items(app)) == ["開會通知寄發時間少於會前3日（實際：尚未寄發）"]
    # The invitations go out only on Monday 9 Jan 09:00: 2 days and 5 hours before.
    clock.set(taipei(2023, 1, 9, 9, 0))
    dispatch(app, sink)
    assert _notice_lines(_items(app)) == [
        "開會通知寄發時間少於會前3日（實際：112年1月9日（星期一）上午9時寄發）"
    ]
    # February's meeting (Wed 8 Feb): its invitation goes on Fri 3 Feb, 5 days ahead.
    clock.set(taipei(2023, 2, 3, 9, 0))
    dispatch(app, sink)
    assert not _notice_lines(_items(app, "cp-20230208@liaison.test.example"))


def test_notice_min_in_working_days_counts_on_the_office_calendar(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, SEATED.replace('time: "14:00"', 'time: "14:00"\n    notice_min: 2wd', 1))
    clock.set(taipei(2023, 1, 9, 9, 0))  # Mon 9 Jan is the 2nd working day before Wed 11
    dispatch(app, sink)
    assert not _notice_lines(_items(app))
    with app.transaction() as s:  # a stricter rule on the same meeting: 3 working days
        occ = _occ(s)
        occ.series.spec = {**occ.series.spec, "notice_min": "3wd"}
    assert _notice_lines(_items(app)) == [
        "開會通知寄發時間少於會前3個工作日（實際：112年1月9日（星期一）上午9時寄發）"
    ]
