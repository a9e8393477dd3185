"""Shared fixtures for the cases, event-meeting and agenda tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from meetings.access.users import add_user, find_user
from meetings.cases.config import load_config
from meetings.cases.importing import read_cases
from meetings.cases.imports import import_cases
from meetings.cases.lookup import resolve_city
from meetings.db import Occurrence
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App

DOMAIN = "liaison.test.example"
CITY = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心}
  - {code: POL, name: 警察局}
  - {code: HEALTH, name: 衛生局}
  - {code: SCHOOL, name: 學校}
  - {code: COUNSEL, name: 學生輔導諮商中心}
  - {code: PROSEC, name: 地方檢察署}
districts:
  - {name: 中壢區, code: zhongli}
  - {name: 桃園區, code: taoyuan}
  - {name: 八德區, code: bade}
listing_rules:
  - id: cp-high-risk
    title: SDM高風險且家庭維繫處遇中再通報
    window: 60d
    all:
      - {field: sdm_risk, eq: 高}
      - {field: service, eq: 家庭維繫}
      - {field: rereported_during_service, eq: true}
  - id: dv-high-risk
    title: TIPVDA 8分以上
    all:
      - {field: case_type, eq: 家庭暴力}
      - {field: tipvda_score, gte: 8}
series:
  - id: cp-network
    title: 兒少保護個案跨網絡合作會議
    organizer: DVPC
    chair: 家防中心主任
    cadence: {rrule: "FREQ=MONTHLY;BYDAY=2WE"}
    time: "14:00"
    location: 家防中心8樓會議室
    invite: {required: [DVPC, POL]}
    agenda: {listing_rule: cp-high-risk, max_cases: 2}
  - id: dv-zones
    title: "家暴高危機會議（{zone}）"
    organizer: DVPC
    cadence: {rrule: "FREQ=MONTHLY;BYDAY=3TH"}
    zones: [北區, 南區]
    invite: {required: [DVPC, POL, HEALTH]}
    agenda:
      listing_rule: dv-high-risk
      zone_districts: {北區: [桃園區], 南區: [中壢區, 八德區]}
  - id: needs-assessment
    title: 偏差行為學生需求評估會議
    organizer: SCHOOL
    trigger: {event: deviant_behaviour_report, within: 5wd}
    time: "15:00"
    duration: 90m
    invite: {required: [SCHOOL, COUNSEL]}
  - id: outcome-review
    title: 偏差行為學生成效評估會議
    organizer: SCHOOL
    trigger: {event: needs_assessment_held, offset: 3mo, repeat: {every: 3mo, max_span: 6mo}}
    time: "15:00"
    invite: {required: [SCHOOL, COUNSEL]}
  - id: transition
    title: 期滿前轉銜會議
    organizer: PROSEC
    trigger: {event: order_expiry, offset: -2mo}
    holidays: previous_working_day
    invite: {required: [PROSEC, POL]}
"""
HEADER = (
    "case_no,case_type,district,name,sdm_risk,tipvda_score,service,status,agency,worker,"
    "reported_at,rereported_at,order_expiry,listed_reason"
)
# Hand-written rows. Full names here must never reach the database, logs or output.
ROWS = [
    "CP-001,兒少保護,中壢區,王小明,高,,家庭維繫,開案,DVPC,陳社工,2022-10-03,2022-12-20,,",
    "CP-002,兒少保護,中壢區,歐陽小明,高,,家庭維繫,處遇中,DVPC,陳社工,2022-09-01,2022-11-15,,",
    "CP-003,兒少保護,桃園區,林美華,高,,家庭維繫,開案,DVPC,陳社工,2022-08-01,2022-12-28,,",
    "CP-004,兒少保護,八德區,張志明,中,,家庭維繫,開案,DVPC,,2022-08-01,2022-12-01,,",
    "DV-001,家庭暴力,桃園區,陳大文,,9,,開案,DVPC,,112/01/02,,,",
    "DV-002,家庭暴力,八德區,Maria Santos,,12,,開案,DVPC,,2022-12-28,,,",
]
FULL_NAMES = ["王小明", "歐陽小明", "林美華", "張志明", "陳大文", "Maria Santos", "Santos"]


def csv_text(rows: list[str] | None = None) -> str:
    return "\n".join([HEADER, *(ROWS if rows is None else rows)]) + "\n"


VIEWERS = ("chen@example.org", "lin@example.org")  # `--as` must name an active user


def add_viewers(app: App, city: str = "測試市") -> None:
    """The secretariat logins the case tests look at case data as (``--as``)."""
    with app.transaction() as s:
        for email in VIEWERS:
            if find_user(s, email) is None:
                add_user(
                    s, email, "secretariat", "correct horse battery", app.clock.now(), city=city
                )


def load_city(
    app: App, *, generate: tuple[date, date] | None = (date(2023, 1, 1), date(2023, 6, 30))
) -> None:
    cfg = build_config([load_yaml(CITY, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        if generate:
            generate_schedule(s, generate[0], generate[1], app.clock.now())
    add_viewers(app)


def import_text(app: App, tmp_path: Path, text: str, name: str = "cases.csv") -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with app.transaction() as s:
        city = resolve_city(s, None)
        rows = read_cases(path, ["中壢區", "桃園區", "八德區"])
        import_cases(s, city, rows, app.clock.now())


def uid(series: str, day: str) -> str:
    return f"{series}-{day}@{DOMAIN}"


def occurrence(app: App, uid_: str) -> Occurrence:
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == uid_))
        assert occ is not None
        return occ
