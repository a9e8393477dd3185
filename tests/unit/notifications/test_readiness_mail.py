"""The secretariat's readiness check (會前檢核): 3 working days before each meeting, once per
version of the meeting, listing what is not ready — through the outbox to a real SMTP sink."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest

from meetings.cases.config import load_config
from meetings.kernel.localtime import DEFAULT_TIMEZONE
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from notifications.email import MeetingView, render
from notifications.mailsink import MailSink
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


def test_three_working_days_before_to_the_secretariat_once(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, with_secretariat(CONFIG))
    # 3 working days before Wed 11 Jan: Tue 10, Mon 9 and Sat 7 Jan 2023, a make-up
    # working day (補行上班) of the 春節 holidays — the office calendar, not weekdays.
    clock.set(taipei(2023, 1, 7, 13, 59))
    dispatch(app, sink)
    assert not _jan(sink)
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
