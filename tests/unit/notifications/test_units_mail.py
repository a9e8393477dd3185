"""District units in mail, pages, agendas and KPIs: a district's meeting invites each
agency's unit there (real SMTP sink on loopback, injected clock), falling back to the
agency; attendance stays the agency's, so KPIs by agency count the unit's seat."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from meetings.agendas.queries import build_agenda_for
from meetings.cases.config import load_config
from meetings.db import Occurrence
from meetings.kernel.yamlsource import load_yaml
from meetings.kpis.queries import compute_kpis
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.feeds import organizers
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import DispatchReport, dispatch_due
from notifications.outbox.recipients import secretariat_for
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.pages.meeting import invited_agencies
from tests.conftest import taipei
from tests.support.configs import CONFIG

CITY = (
    CONFIG.replace(
        "emails: [pol@example.org]}",
        "emails: [pol@example.org], units: {甲區: {name: 甲分局, emails: [jia.pol@example.org]}}}",
    ).replace(
        "districts:\n",
        "  - code: DIST\n"
        "    name: 區公所\n"
        "    emails: [districts@example.org]\n"
        "    units:\n"
        "      甲區: {name: 甲區公所, emails: [jia.dist@example.org]}\n"
        "      乙區: {name: 乙區公所, emails: [yi.dist@example.org]}\n"
        "districts:\n",
    )
    + """\
  - id: dl
    title: "{district}區級聯繫會議"
    per_district: true
    organizer: DIST
    secretariat: DIST
    cadence: {rrule: "FREQ=MONTHLY;BYDAY=+1MO"}
    time: "10:00"
    invite: {required: [DIST, POL, DVPC]}
"""
)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@pytest.fixture
def city(app: App) -> App:
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(CITY, "city.yaml")]), app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 3, 31), app.clock.now())
    return app


def dispatch(app: App, sink: MailSink) -> DispatchReport:
    smtp = parse_smtp_url(sink.url)
    return asyncio.run(
        dispatch_due(
            app.sessions, lambda: SmtpMailer(smtp), app.clock.now(), base_url="https://liaison.test"
        )
    )


def meeting(app: App, key: str, month: int) -> Occurrence:
    with app.transaction() as s:
        occ = s.scalar(
            select(Occurrence).where(
                Occurrence.instance_key == key,
                Occurrence.nominal_date >= date(2023, month, 1),
                Occurrence.nominal_date < date(2023, month + 1, 1),
            )
        )
        assert occ is not None, (key, month)
        s.expunge(occ)
        return occ


def to_of(sink: MailSink, title: str, kind: str) -> dict[str, str]:
    """Recipient address → display name of the ``kind`` mails about meetings titled so."""
    out: dict[str, str] = {}
    for m in sink.handler.messages:
        if f".{kind}." in str(m["Message-ID"]) and title in str(m["Subject"]):
            to = m["To"].addresses[0]
            out[to.addr_spec] = to.display_name
    return out


def invitation(sink: MailSink, title: str, addr: str) -> EmailMessage:
    for m in sink.handler.messages:
        if ".invitation." in str(m["Message-ID"]) and title in str(m["Subject"]):
            if m["To"].addresses[0].addr_spec == addr:
                return m
    raise AssertionError((title, addr))


def test_a_district_meeting_invites_the_units_there_and_falls_back_to_the_agency(
    city: App, clock: FixedClock, sink: MailSink
) -> None:
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(city, sink)
    # 甲區: POL's unit and DIST's unit; DVPC has no units, so the agency itself.
    assert to_of(sink, "甲區區級聯繫會議", "invitation") == {
        "jia.dist@example.org": "甲區公所",
        "jia.pol@example.org": "甲分局",
        "dvpc@example.org": "家防中心",
    }
    # 乙區: POL declares no unit there, so the agency's own address.
    assert to_of(sink, "乙區區級聯繫會議", "invitation") == {
        "yi.dist@example.org": "乙區公所",
        "pol@example.org": "警察局",
        "dvpc@example.org": "家防中心",
    }
    # A city-wide meeting: the agencies, never a unit.
    assert to_of(sink, "兒少保護網絡會議", "invitation") == {
        "dvpc@example.org": "家防中心",
        "pol@example.org": "警察局",
    }
    # The organiser of a district meeting is that district's 區公所 (Reply-To, ICS).
    jia = invitation(sink, "甲區區級聯繫會議", "jia.pol@example.org")
    assert str(jia["Reply-To"]) == "jia.dist@example.org"
    assert "甲區公所" in jia.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "districts@example.org" not in str(jia)


def test_an_update_goes_to_the_same_units(city: App, clock: FixedClock, sink: MailSink) -> None:
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(city, sink)
    feb = meeting(city, "dl-jia", 2)
    with city.transaction() as s:
        add_closure(s, feb.nominal_date, "颱風停班", clock.now())
    clock.set(taipei(2023, 1, 26, 8, 0))
    dispatch(city, sink)
    assert set(to_of(sink, "甲區區級聯繫會議", "update")) == {
        "jia.dist@example.org",
        "jia.pol@example.org",
        "dvpc@example.org",
    }


def test_pages_and_agendas_name_the_unit_and_keep_the_agency_code(city: App) -> None:
    jia, yi = meeting(city, "dl-jia", 2), meeting(city, "dl-yi", 2)
    with city.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == jia.uid))
        assert occ is not None
        assert invited_agencies(s, occ) == [
            ("DIST", "甲區公所", "應出席"),
            ("POL", "甲分局", "應出席"),
            ("DVPC", "家防中心", "應出席"),
        ]
        agenda = build_agenda_for(s, occ, city.clock.now())
        assert [(r.agency_code, r.agency_name) for r in agenda.report_slots] == [
            ("DIST", "甲區公所"),
            ("POL", "甲分局"),
            ("DVPC", "家防中心"),
        ]
        assert agenda.meeting.organizer == "甲區公所"
        other = s.scalar(select(Occurrence).where(Occurrence.uid == yi.uid))
        assert other is not None
        assert [n for _c, n, _k in invited_agencies(s, other)] == ["乙區公所", "警察局", "家防中心"]


def test_a_units_attendance_counts_for_its_agency_in_the_kpis(city: App) -> None:
    jia, yi = meeting(city, "dl-jia", 2), meeting(city, "dl-yi", 2)
    later = taipei(2023, 4, 1, 9, 0)
    with city.transaction() as s:
        # 甲分局 attends as POL (a unit is a seat of its agency); 乙區 POL is absent.
        record_attendance(s, AttendanceInput(jia.uid, "POL", "present"), later)
        record_attendance(s, AttendanceInput(yi.uid, "POL", "absent"), later)
        for u in (jia.uid, yi.uid):
            record_attendance(s, AttendanceInput(u, "DVPC", "present"), later)
            record_attendance(s, AttendanceInput(u, "DIST", "present"), later)
        report = compute_kpis(s, 112, series_id="dl", as_of=date(2023, 2, 28))
    rows = {r["district"]: r for r in report.as_json()["rows"] if r["series"] == "dl"}
    assert rows["甲區"]["agency_attendance_rate"]["POL"] == 100.0
    assert rows["乙區"]["agency_attendance_rate"]["POL"] == 0.0
    (total,) = [r["agency_attendance_rate"] for r in report.as_json()["rows"] if not r["series"]]
    assert total["POL"] == 50.0 and set(total) == {"DIST", "POL", "DVPC"}


def test_a_district_meetings_secretariat_and_feed_organizer_are_its_unit(city: App) -> None:
    jia = meeting(city, "dl-jia", 2)
    with city.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == jia.uid))
        assert occ is not None
        keeper = secretariat_for(s, occ.series.city_id, occ.series, "甲區")
        assert [(r.email, r.name) for r in keeper] == [("jia.dist@example.org", "甲區公所")]
        city_wide = secretariat_for(s, occ.series.city_id, occ.series)
        assert [r.email for r in city_wide] == ["districts@example.org"]
        assert organizers(s, {("dl", "甲區"), ("dl", None), ("cp", None)}) == {
            ("dl", "甲區"): ("甲區公所", "jia.dist@example.org"),
            ("dl", None): ("區公所", "districts@example.org"),
            ("cp", None): ("家防中心", "dvpc@example.org"),
        }
