"""Email delivery against a real aiosmtpd server on loopback, with an injected clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import OutboxMessage
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.email import MeetingView, render
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import DispatchReport, dispatch_due
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App, build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings
from tests.conftest import taipei
from tests.support.configs import CONFIG
from tests.support.mail import everything
from tests.support.snapshots import assert_snapshot


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def setup(
    app: App, text: str = CONFIG, start: date = date(2023, 1, 1), end: date = date(2023, 6, 30)
) -> None:
    cfg = build_config([load_yaml(text, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, start, end, app.clock.now())


def dispatch(app: App, sink: MailSink) -> DispatchReport:
    smtp = parse_smtp_url(sink.url)
    return asyncio.run(
        dispatch_due(
            app.sessions, lambda: SmtpMailer(smtp), app.clock.now(), base_url="https://liaison.test"
        )
    )


def calendar_of(msg: EmailMessage) -> Calendar | None:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return Calendar.from_ical(payload)
    return None


def kinds(sink: MailSink) -> Counter[str]:
    return Counter(str(m["Message-ID"]).split(".")[1] for m in sink.handler.messages)


def test_a_simulated_month_sends_each_kind_once(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    # Walk day by day through January 2023, dispatching every morning.
    for day in range(31):
        clock.set(taipei(2023, 1, 1, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    # Meetings: 2023-01-11 and 2023-02-08 (2nd Wednesdays). Two recipients each.
    # Jan 11 was created 10 days ahead: invitation + agenda at once, reminder on Jan 10.
    # Feb 8: invitation Jan 25, agenda Feb 1 (not yet), reminder Feb 7 (not yet).
    # Jan 11's readiness check (Jan 6, 3 working days before) chases both unanswered seats.
    assert kinds(sink) == Counter({"invitation": 4, "agenda": 2, "reminder": 2, "reply_chase": 2})
    ids = sink.handler.message_ids()
    assert len(ids) == len(set(ids))
    # Dispatching again, and from a fresh process (restart), sends nothing new.
    assert dispatch(app, sink).sent == 0
    restarted = build_app(Settings(database_url=str(app.engine.url)), clock)
    try:
        assert dispatch(restarted, sink).sent == 0
    finally:
        restarted.close()
    assert len(sink.handler.messages) == 10


def test_invitation_is_multipart_with_a_request(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(app, sink)
    invitations = [m for m in sink.handler.messages if ".invitation." in str(m["Message-ID"])]
    feb = [m for m in invitations if "112年2月8日" in str(m["Subject"])]
    assert len(feb) == 2
    msg = feb[0]
    assert str(msg["Subject"]) == "【開會通知】112年2月8日（星期三）下午2時 兒少保護網絡會議"
    assert msg.is_multipart()
    types = [p.get_content_type() for p in msg.walk()]
    assert "text/plain" in types and "text/html" in types and "text/calendar" in types
    cal = calendar_of(msg)
    assert cal is not None and str(cal["METHOD"]) == "REQUEST"
    (ev,) = cal.walk("VEVENT")
    assert str(ev["UID"]) == "cp-20230208@liaison.test.example"
    assert int(ev["SEQUENCE"]) == 0
    assert str(msg["Reply-To"]) == "dvpc@example.org"


def test_a_move_sends_an_update_and_replans(app: App, clock: FixedClock, sink: MailSink) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(app, sink)  # Feb 8 invitations out
    with app.transaction() as s:
        add_closure(s, date(2023, 2, 8), "颱風停班", clock.now())
    clock.set(taipei(2023, 1, 26, 8, 0))
    dispatch(app, sink)
    updates = [m for m in sink.handler.messages if ".update." in str(m["Message-ID"])]
    assert len(updates) == 2
    cal = calendar_of(updates[0])
    assert cal is not None and str(cal["METHOD"]) == "REQUEST"
    (ev,) = cal.walk("VEVENT")
    assert int(ev["SEQUENCE"]) == 1 and str(ev["UID"]) == "cp-20230208@liaison.test.example"
    assert "112年2月9日" in str(updates[0]["Subject"])
    # The agenda goes out 7 days before the new date, at the new sequence, once.
    clock.set(taipei(2023, 2, 2, 15, 0))
    dispatch(app, sink)
    agendas = [m for m in sink.handler.messages if ".agenda.1." in str(m["Message-ID"])]
    assert len(agendas) == 2
    assert not [m for m in sink.handler.messages if ".invitation.1." in str(m["Message-ID"])]


def test_cancellation_is_a_cancel_and_nothing_more_is_sent(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(app, sink)
    # The series becomes quarterly: Feb and Mar meetings are cancelled.
    cfg = build_config([load_yaml(CONFIG.replace("每月召開1次", "每季召開1次"), "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
    before = len(sink.handler.messages)
    dispatch(app, sink)
    new = sink.handler.messages[before:]
    assert {str(m["Message-ID"]).split(".")[1] for m in new} == {"cancellation"}
    assert len(new) == 2  # only Feb had been announced; March had nothing sent yet
    cal = calendar_of(new[0])
    assert cal is not None and str(cal["METHOD"]) == "CANCEL"
    (ev,) = cal.walk("VEVENT")
    assert str(ev["STATUS"]) == "CANCELLED" and str(ev["UID"]) == "cp-20230208@liaison.test.example"
    # Nothing else is ever sent for the cancelled meetings.
    for day in range(1, 45):
        clock.set(taipei(2023, 1, 25, 15, 0) + timedelta(days=day))
        dispatch(app, sink)
    later = sink.handler.messages[before + 2 :]
    assert not [
        m for m in later if "112年2月" in str(m["Subject"]) or "112年3月" in str(m["Subject"])
    ]


def test_451_then_250_is_retried_with_backoff(app: App, clock: FixedClock, sink: MailSink) -> None:
    setup(app)
    sink.handler.scripted["pol@example.org"] = ["451 try again later", "250 OK"]
    clock.set(taipei(2023, 1, 25, 15, 0))
    first = dispatch(app, sink)
    assert first.retried >= 1
    with app.transaction() as s:
        row = s.scalar(
            select(OutboxMessage).where(
                OutboxMessage.recipient == "pol@example.org",
                OutboxMessage.status == "pending",
                OutboxMessage.attempts == 1,
            )
        )
        assert row is not None and "451" in (row.last_error or "")
        retry_at = row.next_attempt_at
        mid = row.message_id
    assert retry_at is not None
    # Not before the backoff has passed…
    assert dispatch(app, sink).sent == 0
    clock.set(retry_at)
    assert dispatch(app, sink).sent >= 1
    assert mid in sink.handler.message_ids()


def test_550_fails_one_message_and_delivers_the_rest(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    sink.handler.scripted["pol@example.org"] = ["550 no such user"]
    clock.set(taipei(2023, 1, 25, 15, 0))
    report = dispatch(app, sink)
    assert report.failed >= 1 and report.sent >= 1
    assert any("550" in e and "pol@example.org" in e for e in report.errors)
    assert all("dvpc@example.org" in str(m["To"]) for m in sink.handler.messages)
    with app.transaction() as s:
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
        assert failed and all(f.recipient == "pol@example.org" for f in failed)
    # failed messages are not retried
    clock.advance(timedelta(days=1))
    dispatch(app, sink)
    assert not [m for m in sink.handler.messages if "pol@example.org" in str(m["To"])]


def test_header_injection_is_impossible() -> None:
    from datetime import UTC, datetime

    view = MeetingView(
        uid="x@y",
        sequence=0,
        title="會議\r\nBcc: evil@example.org",
        start=datetime(2023, 3, 8, 6, tzinfo=UTC),
        end=datetime(2023, 3, 8, 8, tzinfo=UTC),
        location=None,
        chair=None,
        organizer_name="家防中心",
        organizer_email=None,
        status="scheduled",
        moved_reason=None,
        timezone="Asia/Taipei",
        agenda_url=None,
    )
    r = render("invitation", "警察局", view)
    assert "\r" not in r.subject and "\n" not in r.subject


def test_rendered_invitation_snapshot() -> None:
    from datetime import UTC, datetime

    view = MeetingView(
        uid="cp-20230308@liaison.test.example",
        sequence=0,
        title="兒少保護網絡會議",
        start=datetime(2023, 3, 8, 6, tzinfo=UTC),
        end=datetime(2023, 3, 8, 8, tzinfo=UTC),
        location="市府大樓8樓會議室",
        chair="家防中心主任",
        organizer_name="家防中心",
        organizer_email="dvpc@example.org",
        status="scheduled",
        moved_reason=None,
        timezone="Asia/Taipei",
        agenda_url="https://liaison.test/meetings/cp-20230308@liaison.test.example",
    )
    r = render("invitation", "警察局", view)
    got = f"Subject: {r.subject}\n\n{r.text}"
    assert_snapshot("invitation.txt", got)


# --- minutes_due, escalation, agenda emails ----------------------------------------------

SECRETARIAT = "  - {email: chen@example.org, name: 陳社工, agency: DVPC, roles: [secretariat]}\n"


def with_secretariat(text: str) -> str:
    """A city text with one secretariat member (people: before series:)."""
    return text.replace("series:\n", "people:\n" + SECRETARIAT + "series:\n", 1)


def of_kind(sink: MailSink, kind: str) -> list[EmailMessage]:
    return [m for m in sink.handler.messages if f".{kind}." in str(m["Message-ID"])]


def test_minutes_due_goes_to_the_secretariat_once_after_the_deadline(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    from meetings.records.held import mark_held
    from meetings.records.minutes import record_minutes
    from meetings.schedule.occurrences import get_occurrence

    setup(app, with_secretariat(CONFIG))
    jan, feb = "cp-20230111@liaison.test.example", "cp-20230208@liaison.test.example"
    clock.set(taipei(2023, 1, 12, 9, 0))
    with app.transaction() as s:
        mark_held(s, get_occurrence(s, jan), clock.now())  # minutes due by Jan 18 (7d)
    clock.set(taipei(2023, 1, 18, 20, 0))
    dispatch(app, sink)
    assert not of_kind(sink, "minutes_due")  # the last day is still on time
    clock.set(taipei(2023, 1, 19, 8, 0))
    dispatch(app, sink)
    (msg,) = of_kind(sink, "minutes_due")
    assert str(msg["To"]) == "陳社工 <chen@example.org>"
    assert str(msg["Subject"]) == "【會議紀錄待補】112年1月11日（星期三） 兒少保護網絡會議"
    body = everything(msg)
    assert "112年1月18日（星期三）" in body and "會議紀錄" in body
    for day in range(1, 4):  # once per meeting, however often we look
        clock.set(taipei(2023, 1, 19, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    assert len(of_kind(sink, "minutes_due")) == 1
    # Minutes recorded on time: no reminder for February.
    clock.set(taipei(2023, 2, 9, 9, 0))
    with app.transaction() as s:
        mark_held(s, get_occurrence(s, feb), clock.now())
        record_minutes(s, feb, "會議紀錄", clock.now())
    clock.set(taipei(2023, 2, 20, 9, 0))
    dispatch(app, sink)
    assert len(of_kind(sink, "minutes_due")) == 1


def test_a_series_secretariat_gets_its_minutes_reminders(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    """`secretariat: POL` on the series: 警察局 keeps its records, not the city's 陳社工."""
    from meetings.records.held import mark_held
    from meetings.schedule.occurrences import get_occurrence

    text = with_secretariat(CONFIG).replace(
        "    organizer: DVPC\n", "    organizer: DVPC\n    secretariat: POL\n", 1
    )
    setup(app, text)
    jan = "cp-20230111@liaison.test.example"
    clock.set(taipei(2023, 1, 12, 9, 0))
    with app.transaction() as s:
        mark_held(s, get_occurrence(s, jan), clock.now())
    clock.set(taipei(2023, 1, 19, 8, 0))
    dispatch(app, sink)
    (msg,) = of_kind(sink, "minutes_due")
    assert str(msg["To"]) == "警察局 <pol@example.org>"


def test_a_series_secretariat_must_be_a_declared_agency() -> None:
    from meetings.kernel.yamlsource import SourceError

    text = CONFIG.replace(
        "    organizer: DVPC\n", "    organizer: DVPC\n    secretariat: 社會局\n", 1
    )
    with pytest.raises(SourceError) as err:
        build_config([load_yaml(text, "city.yaml")])
    assert "city.yaml:" in str(err.value) and "series[0].secretariat" in str(err.value)


def test_minutes_recorded_after_planning_cancel_the_reminder(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    from meetings.records.held import mark_held
    from meetings.records.minutes import record_minutes
    from meetings.schedule.occurrences import get_occurrence
    from notifications.outbox.minutes import plan_minutes_due

    setup(app, with_secretariat(CONFIG))
    jan = "cp-20230111@liaison.test.example"
    clock.set(taipei(2023, 1, 12, 9, 0))
    with app.transaction() as s:
        mark_held(s, get_occurrence(s, jan), clock.now())
    clock.set(taipei(2023, 1, 19, 8, 0))
    with app.transaction() as s:
        assert plan_minutes_due(s, clock.now()) == 1
        assert plan_minutes_due(s, clock.now()) == 0
        record_minutes(s, jan, "會議紀錄", clock.now())
    report = dispatch(app, sink)
    assert not of_kind(sink, "minutes_due") and report.skipped == 1


def test_escalation_reaches_the_secretariat_without_names(
    app: App, clock: FixedClock, sink: MailSink, tmp_path: Path
) -> None:
    from notifications.outbox.planner import mask_case_no
    from scheduler.daemon import housekeeping
    from tests.support.cases import CITY, FULL_NAMES, csv_text, import_text

    cfg = build_config([load_yaml(with_secretariat(CITY), "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
    import_text(app, tmp_path, csv_text())
    clock.set(taipei(2023, 1, 15, 9, 0))  # CP-002's 60-day window ended on Jan 14
    assert housekeeping(app) == 1
    dispatch(app, sink)
    (msg,) = of_kind(sink, "escalation")
    assert str(msg["To"]) == "陳社工 <chen@example.org>"
    assert str(msg["Subject"]) == "【列管個案逾期未討論】案號 CP-*02"
    body = everything(msg)
    assert "CP-*02" in body and "中壢區" in body and "列管後 60日" in body
    assert "112年2月8日（星期三）下午2時 兒少保護個案跨網絡合作會議" in body  # next meeting
    for secret in ["CP-002", "歐○○明", *FULL_NAMES]:
        assert secret not in body
    assert mask_case_no("TY-CP-0001") == "TY-CP-**01"
    # Raised once, sent once.
    clock.advance(timedelta(hours=1))
    assert housekeeping(app) == 0
    assert dispatch(app, sink).sent == 0
    assert len(of_kind(sink, "escalation")) == 1


def test_agenda_email_carries_the_masked_case_table_frozen_at_send(
    app: App, clock: FixedClock, sink: MailSink, tmp_path: Path
) -> None:
    from meetings.db import FrozenAgenda
    from tests.support.cases import CITY, FULL_NAMES, csv_text, import_text

    text = CITY.replace(
        "{code: DVPC, name: 家防中心}", "{code: DVPC, name: 家防中心, emails: [dvpc@example.org]}"
    )
    cfg = build_config([load_yaml(text, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
    import_text(app, tmp_path, csv_text())
    jan = "cp-network-20230111@liaison.test.example"
    dispatch(app, sink)  # Jan 1: the invitation to the Jan 11 meeting
    clock.set(taipei(2023, 1, 4, 14, 0))  # its agenda, 7 days before
    dispatch(app, sink)
    agendas = [m for m in of_kind(sink, "agenda") if "112年1月11日" in str(m["Subject"])]
    assert len(agendas) == 1
    body = everything(agendas[0])
    # max_cases 2, oldest listing first: CP-002 (歐○○明) and CP-001 (王○明).
    assert "歐○○明" in body and "王○明" in body and "CP-002" in body
    for name in FULL_NAMES:
        assert name not in body
    for msg in sink.handler.messages:
        assert not any(name in everything(msg) for name in FULL_NAMES)
    with app.transaction() as s:
        frozen = s.get(FrozenAgenda, jan)
        assert frozen is not None and frozen.frozen_at == clock.now()


@pytest.mark.parametrize("kind", ["escalation", "minutes_due"])
def test_rendered_secretariat_emails_snapshot(kind: str) -> None:
    from datetime import UTC, datetime

    view = MeetingView(
        uid="cp-20230308@liaison.test.example",
        sequence=0,
        title="兒少保護網絡會議",
        start=datetime(2023, 3, 8, 6, tzinfo=UTC),
        end=datetime(2023, 3, 8, 8, tzinfo=UTC),
        location="市府大樓8樓會議室",
        chair="家防中心主任",
        organizer_name="家防中心",
        organizer_email="dvpc@example.org",
        status="held",
        moved_reason=None,
        timezone="Asia/Taipei",
        agenda_url="https://liaison.test/meetings/cp-20230308@liaison.test.example",
    )
    if kind == "escalation":
        extra = {
            "case_no": "TY-CP-**01",
            "district": "中壢區",
            "rule_title": "SDM高風險且家庭維繫處遇中再通報",
            "listed_at": "111年12月20日（星期二）",
            "deadline": "112年2月18日（星期六）",
            "window": "60日",
            "next_meeting": "112年3月8日（星期三）下午2時 兒少保護網絡會議",
            "organizer_name": "測試市 Liaison 會議系統",
        }
        r = render(kind, "陳社工", None, extra)
    else:
        r = render(kind, "陳社工", view, {"due": "112年3月15日（星期三）"})
    got = f"Subject: {r.subject}\n\n{r.text}"
    assert_snapshot(f"{kind}.txt", got)
    assert "\n" not in r.subject and "<" not in r.text
