"""A city in a DST zone: its feed, its mail and its KPIs all speak its own local time.

紐約市 meets on the last day of the month at 21:00 local time. On Friday 31 March 2023
that is 01:00 UTC and 09:00 in Taipei on Saturday 1 April, so any computation done in
UTC or in the default zone puts the meeting on the wrong day; EST and EDT differ by an
hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from meetings.access.feeds import create_feed_token, resolve_feed
from meetings.cases.config import load_config
from meetings.kernel.yamlsource import load_yaml
from meetings.kpis.queries import compute_kpis
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.feeds import feed_snapshot
from notifications.ics import build_feed
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import dispatch_due
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.support.configs import city_config
from tests.support.mail import everything

NEW_YORK = (
    city_config(
        timezone="America/New_York",
        cadence='{rrule: "FREQ=MONTHLY;BYMONTHDAY=-1"}',
        time="21:00",
    )
    .replace("city: 測試市", "city: 紐約市", 1)
    .replace('time: "21:00"', 'time: "21:00"\n    holidays: keep', 1)
)
MAR = "cp-20230331@liaison.test.example"  # EDT: 21:00 local = 01:00 UTC next day


@pytest.fixture
def city(app: App, clock: FixedClock) -> Iterator[App]:
    clock.set(datetime(2022, 12, 1, 15, 0, tzinfo=UTC))
    cfg = build_config([load_yaml(NEW_YORK, "ny.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
        generate_schedule(s, date(2022, 12, 1), date(2023, 6, 30), clock.now())
    yield app


def test_feed_events_are_at_local_wall_time_in_the_city_zone(city: App) -> None:
    with city.transaction() as s:
        token = create_feed_token(s, "series", "cp", city.clock.now()).token
    with city.transaction() as s:
        scope = resolve_feed(s, token)
        assert scope is not None and scope.tz == "America/New_York"
        snap = feed_snapshot(s, scope, city.clock.now(), "https://liaison.test")
    data = build_feed(snap.events, calname=snap.calname, now=city.clock.now(), tz=snap.tz)
    text = data.decode().replace("\r\n ", "")
    assert "DTSTART;TZID=America/New_York:20230228T210000" in text
    assert "DTSTART;TZID=America/New_York:20230331T210000" in text
    assert "TZID:America/New_York" in text and "BEGIN:DAYLIGHT" in text


def test_invitations_state_the_local_day_and_hour(city: App, clock: FixedClock) -> None:
    clock.set(datetime(2023, 3, 20, 14, 0, tzinfo=UTC))  # 14 days before: invitation due
    with MailSink() as sink:
        smtp = parse_smtp_url(sink.url)
        asyncio.run(
            dispatch_due(
                city.sessions, lambda: SmtpMailer(smtp), clock.now(), base_url="https://x.test"
            )
        )
        mails = [everything(m) for m in sink.handler.messages if MAR in everything(m)]
    assert mails, "no invitation for the March meeting"
    # 112年3月31日（星期五）下午9時: Friday evening in New York, not Saturday morning.
    assert all("112年3月31日（星期五）下午9時" in m for m in mails)
    assert not any("112年4月1日" in m for m in mails)


def test_kpis_count_a_meeting_in_the_year_of_its_local_day(city: App) -> None:
    # 31 Dec 2022 21:00 in New York is already 2023 in UTC and in Taipei.
    with city.transaction() as s:
        y2022 = compute_kpis(s, 2022).total.as_row()["meetings_scheduled"]
        y2023 = compute_kpis(s, 2023, as_of=date(2023, 6, 30)).total.as_row()
    assert y2022 == 1
    assert y2023["meetings_scheduled"] == 6  # 31 Jan … 30 Jun
