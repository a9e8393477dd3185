"""The work-queue test city (the home page, 待辦): 測試市 at 5 March 2023 with meetings in
every state the queue knows, a case listing overdue, and 紐約市 beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select, update

from meetings.access.users import add_user, secret
from meetings.cases.config import load_config
from meetings.db import CaseListing, ListingRule, Occurrence, OutboxMessage
from meetings.kernel.vocabulary import MessageKind, MessageStatus, ReplyChannel, SeatState
from meetings.kernel.yamlsource import load_yaml
from meetings.records.action_items import add_action_item, close_action_item
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.minutes import record_minutes
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from meetings.seats.answers import Answer, answer_seat
from meetings.seats.seats import sync_seats
from notifications.outbox.planner import plan_messages
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.cases import csv_text, import_text, uid
from tests.support.cities import OTHER
from tests.support.feeds import live_server
from tests.support.pages import CITY, CITY_NAME, PASSWORD, USERS

# 測試市 with one more person: a 衛生局 participant, invited to dv-zones only.
HEALTH_PERSON = "  - {email: health@example.org, name: 衛生局承辦, agency: HEALTH}\n"
QUEUE_CITY = CITY.replace("listing_rules:\n", HEALTH_PERSON + "listing_rules:\n", 1)
for code, name in (("DVPC", "家防中心"), ("POL", "警察局"), ("HEALTH", "衛生局")):
    QUEUE_CITY = QUEUE_CITY.replace(  # addresses, so that invitations are planned
        f"{{code: {code}, name: {name}}}",
        f"{{code: {code}, name: {name}, emails: [{code.lower()}@example.org]}}",
        1,
    )
NOW = taipei(2023, 3, 5, 10, 0)  # a Sunday: cp-network meets on 8 March, dv-zones on 16 March

CP_JAN, CP_FEB, CP_MAR = (uid("cp-network", d) for d in ("20230111", "20230208", "20230308"))
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class World:
    site: str
    dv: dict[tuple[str, str], str]  # (zone, yyyymmdd) -> uid
    items: dict[str, int]  # name -> action item id
    other: list[str]  # 紐約市's meeting UIDs
    overdue_cases: list[str]  # case numbers that are overdue (never shown)


def _dv_uids(app: App) -> dict[tuple[str, str], str]:
    with app.transaction() as s:
        rows = s.scalars(select(Occurrence).where(Occurrence.series_id == "dv-zones")).all()
        return {(o.zone or "", o.nominal_date.strftime("%Y%m%d")): o.uid for o in rows}


def _seed(app: App, tmp_path: Path, clock: FixedClock) -> None:
    clock.set(taipei(2023, 1, 12, 10, 0))
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(QUEUE_CITY, "city.yaml")]), clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s:
        # Another city, loaded once the cases are in (their import names no city).
        load_config(s, build_config([load_yaml(OTHER, "ny.yaml")]), clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
        users = {**USERS, "health@example.org": "participant"}
        for email, role in users.items():
            add_user(s, email, role, PASSWORD, clock.now(), city=CITY_NAME)
        add_user(s, "ny@example.org", "secretariat", PASSWORD, clock.now(), city="紐約市")


def _records(app: App, dv: dict[tuple[str, str], str]) -> dict[str, int]:
    """At NOW: January's cp meeting held without minutes and with action items; February's
    held with minutes; dv-zones' January 北區 held with minutes, 南區 cancelled; March's
    南區 cancelled; February's dv meetings left unrecorded."""
    with app.transaction() as s:
        for held in (CP_JAN, CP_FEB, dv[("北區", "20230119")]):
            record_attendance(s, AttendanceInput(uid=held, agency="DVPC", status="present"), NOW)
        for done in (CP_FEB, dv[("北區", "20230119")]):
            record_minutes(s, done, "紀錄", NOW)
        late = add_action_item(s, CP_JAN, "POL", date(2023, 2, 1), "函送資料", NOW)
        closed = add_action_item(s, CP_JAN, "DVPC", date(2023, 2, 1), "已完成", NOW)
        close_action_item(s, closed.id, NOW)
        later = add_action_item(s, CP_JAN, "DVPC", date(2023, 4, 1), "尚未到期", NOW)
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid.in_([dv[("南區", "20230119")], dv[("南區", "20230316")]]))
            .values(status="cancelled")
        )
        return {"late": late.id, "closed": closed.id, "later": later.id}


def _readiness(app: App) -> None:
    """Invitations planned at NOW; March's cp invitations sent, its POL seat declined."""
    with app.transaction() as s:
        plan_messages(s, NOW)
        s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.occurrence_uid == CP_MAR,
                OutboxMessage.kind == MessageKind.INVITATION,
            )
            .values(status=MessageStatus.SENT, sent_at=NOW)
        )
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == CP_MAR))
        assert occ is not None
        seats = sync_seats(s, occ, secret(s, "reply-links", NOW), NOW)
        pol = next(seat for seat in seats if seat.agency_code == "POL")
        answer = Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="公出")
        answer_seat(s, pol, occ, answer, NOW)


def _overdue_cases(app: App) -> list[str]:
    """Every listing back-dated to 2022: cp-high-risk's are past its 60-day window and
    undiscussed (dv-high-risk declares no window: never overdue)."""
    with app.transaction() as s:
        s.execute(update(CaseListing).values(listed_at=date(2022, 12, 1)))
        rows = s.scalars(
            select(CaseListing.case_no)
            .join(ListingRule, ListingRule.id == CaseListing.rule_id)
            .where(CaseListing.delisted_at.is_(None), ListingRule.rule_id == "cp-high-risk")
        )
        return sorted({n for n in rows if n is not None})


@contextmanager
def work_queue_world(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    """The city set up at NOW, served on a loopback port."""
    _seed(app, tmp_path, clock)
    clock.set(NOW)
    dv = _dv_uids(app)
    items = _records(app, dv)
    _readiness(app)
    cases = _overdue_cases(app)
    with app.transaction() as s:
        other = list(s.scalars(select(Occurrence.uid).where(Occurrence.series_id == "ny")).all())
    with live_server(app) as server:
        yield World(server.base, dv, items, other, cases)
