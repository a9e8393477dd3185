"""Deliverable reminders (成效檢核表 …): to the series' secretariat and the receiving
agency, once before the due date and once overdue, through the outbox (real SMTP sink)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meetings.records.deliverables import record_deliverable
from meetings.records.held import mark_held
from meetings.schedule.occurrences import get_occurrence
from notifications.email import MeetingView, render
from notifications.mailsink import MailSink
from notifications.outbox.deliverables import plan_deliverables_due
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.configs import CONFIG
from tests.support.mail import everything
from tests.support.snapshots import assert_snapshot
from tests.unit.notifications.test_notify import (
    dispatch,
    of_kind,
    setup,
    sink,
    with_secretariat,
)

__all__ = ["sink"]  # the SMTP sink fixture, shared with test_notify

JAN, FEB = "cp-20230111@liaison.test.example", "cp-20230208@liaison.test.example"
INVITE = "    invite: {required: [DVPC, POL]}\n"
TEXT = with_secretariat(CONFIG).replace(
    INVITE, INVITE + "    deliverables: [{name: 成效檢核表, due: 7d, to: POL}]\n", 1
)


def _held(app: App, clock: FixedClock, uid: str, when: datetime) -> None:
    clock.set(when)
    with app.transaction() as s:
        mark_held(s, get_occurrence(s, uid), clock.now())


def _recipients(sink: MailSink, kind: str) -> list[str]:
    return sorted(str(m["To"]) for m in of_kind(sink, kind))


def test_reminder_then_overdue_notice_each_once(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, TEXT)
    _held(app, clock, JAN, taipei(2023, 1, 12, 9, 0))  # 成效檢核表 due by Jan 18 (7d)
    clock.set(taipei(2023, 1, 15, 8, 0))
    dispatch(app, sink)
    assert not of_kind(sink, "deliverable_due")  # more than two days ahead
    clock.set(taipei(2023, 1, 16, 8, 0))
    dispatch(app, sink)
    assert _recipients(sink, "deliverable_due") == [
        "警察局 <pol@example.org>",
        "陳社工 <chen@example.org>",
    ]
    msg = of_kind(sink, "deliverable_due")[0]
    assert (
        str(msg["Subject"]) == "【應繳資料提醒】成效檢核表：112年1月11日（星期三） 兒少保護網絡會議"
    )
    body = everything(msg)
    assert "成效檢核表應於112年1月18日（星期三）前送警察局" in body
    for day in (17, 18):  # the due day is still on time: nothing more
        clock.set(taipei(2023, 1, day, 20, 0))
        dispatch(app, sink)
    assert len(of_kind(sink, "deliverable_due")) == 2 and not of_kind(sink, "deliverable_overdue")
    clock.set(taipei(2023, 1, 19, 8, 0))
    dispatch(app, sink)
    assert _recipients(sink, "deliverable_overdue") == _recipients(sink, "deliverable_due")
    assert "已逾期" in everything(of_kind(sink, "deliverable_overdue")[0])
    for day in range(1, 5):  # once, however often we look
        clock.set(taipei(2023, 1, 19, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    assert len(of_kind(sink, "deliverable_due")) == 2
    assert len(of_kind(sink, "deliverable_overdue")) == 2


def test_handed_in_early_or_after_planning_sends_nothing(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, TEXT)
    _held(app, clock, FEB, taipei(2023, 2, 8, 17, 0))
    with app.transaction() as s:  # handed in at once: never reminded
        record_deliverable(s, FEB, "成效檢核表", clock.now(), "chen@example.org")
    _held(app, clock, JAN, taipei(2023, 1, 12, 9, 0))
    clock.set(taipei(2023, 1, 16, 8, 0))
    with app.transaction() as s:
        assert plan_deliverables_due(s, clock.now()) == 2
        assert plan_deliverables_due(s, clock.now()) == 0
        record_deliverable(s, JAN, "成效檢核表", clock.now(), "chen@example.org")
    report = dispatch(app, sink)
    assert not of_kind(sink, "deliverable_due") and report.skipped == 2
    clock.set(taipei(2023, 2, 20, 8, 0))
    dispatch(app, sink)
    assert not of_kind(sink, "deliverable_due") and not of_kind(sink, "deliverable_overdue")


def test_first_noticed_after_the_due_date_only_the_overdue_notice_goes(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, TEXT)
    _held(app, clock, JAN, taipei(2023, 1, 25, 9, 0))  # recorded held two weeks late
    dispatch(app, sink)
    assert not of_kind(sink, "deliverable_due")
    assert len(of_kind(sink, "deliverable_overdue")) == 2


@pytest.mark.parametrize("kind", ["deliverable_due", "deliverable_overdue"])
def test_rendered_deliverable_mail_snapshot(kind: str) -> None:
    view = MeetingView(
        uid="ty-needs-assessment-0a1b2c@liaison.test.example",
        sequence=0,
        title="7歲以上未滿12歲偏差行為學生需求評估會議",
        start=datetime(2023, 3, 8, 7, tzinfo=UTC),
        end=datetime(2023, 3, 8, 8, 30, tzinfo=UTC),
        location=None,
        chair=None,
        organizer_name="學校",
        organizer_email=None,
        status="held",
        moved_reason=None,
        timezone="Asia/Taipei",
        agenda_url="https://liaison.test/meetings/ty-needs-assessment-0a1b2c@liaison.test.example",
    )
    extra = {
        "deliverable": "成效檢核表",
        "to_name": "教育局",
        "due": "112年3月15日（星期三）",
        "when": "112年3月8日（星期三）",
    }
    r = render(kind, "教育局", view, extra)
    got = f"Subject: {r.subject}\n\n{r.text}"
    assert_snapshot(f"{kind}.txt", got)
    assert "\n" not in r.subject and "成效檢核表" in r.subject and "成效檢核表" in r.html
