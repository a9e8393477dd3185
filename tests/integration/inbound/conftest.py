"""A city whose agencies have addresses on their own domains (so an alias or a
colleague maps by domain), and its meetings of the first half of 2023."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import InboundMessage, Occurrence, Seat
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from tests.support.configs import BASE

CITY = (
    BASE.replace(
        "{code: DVPC, name: 家防中心, emails: [dvpc@example.org]}",
        "{code: DVPC, name: 家防中心, emails: [dvpc@dvpc.example.org]}",
    )
    .replace(
        "{code: POL, name: 警察局}",
        "{code: POL, name: 警察局, emails: [pol@police.example.org], "
        "units: {甲區: {name: 甲分局, emails: [jia@jia-police.example.org]}}}\n"
        "  - {code: EDU, name: 教育局, emails: [edu@edu.example.org]}\n"
        "  - {code: HLT, name: 衛生局, emails: [hlt@health.example.org]}",
    )
    .replace("invite: {required: [DVPC, POL]}", "invite: {required: [DVPC, POL], optional: [EDU]}")
)


@dataclass(frozen=True)
class Meetings:
    first: str  # UIDs, by start
    second: str
    later: str


def load_city(app: App, text: str = CITY) -> Meetings:
    cfg = build_config([load_yaml(text, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), app.clock.now())
        uids = list(s.scalars(select(Occurrence.uid).order_by(Occurrence.start_at)))
    return Meetings(uids[0], uids[1], uids[2])


@pytest.fixture
def meetings(app: App) -> Meetings:
    return load_city(app)


def seats(app: App, uid: str) -> dict[str, Seat]:
    with app.transaction() as s:
        occ = s.scalars(select(Occurrence).where(Occurrence.uid == uid)).one()
        rows = s.scalars(select(Seat).where(Seat.occurrence_id == occ.id)).all()
        return {r.agency_code: r for r in rows}


def inbound(app: App) -> dict[str, InboundMessage]:
    with app.transaction() as s:
        return {m.message_id: m for m in s.scalars(select(InboundMessage))}
