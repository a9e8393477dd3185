"""A listing is dated by the event that made the case meet the rule, never the import day
(when the row has a date for it), and escalation windows run from that date.

Hand-computed fixture: the test city of tests/support/cases.py with a 30-day window on
dv-high-risk; cases imported on 2023-03-20.

  DV-101 八德區 (南區) reported 03-01 → listed 03-01, window to 03-31, escalates 04-01
  DV-102 中壢區 (南區) reported 03-10 → listed 03-10, discussed at 南區's held 03-16
         meeting: never escalates
  DV-104 中壢區 (南區) reported 03-05 → listed 03-05, window to 04-04; discussed only at
         cp-network's held 03-08 meeting (another series): escalates 04-05
Listed on the import day instead (03-20), DV-101 would have waited until 04-20.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.cases.escalation import check_escalations
from meetings.cases.listing import listing_date, rule_fields
from meetings.db import Case, CaseListing, ListingRule, Occurrence
from meetings.kernel.yamlsource import load_yaml
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.discussions import record_case_discussions
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.cases import CITY, add_viewers, csv_text, import_text, uid

DV_TITLE = "  - id: dv-high-risk\n    title: TIPVDA 8分以上\n"
WINDOWED = CITY.replace(DV_TITLE, DV_TITLE + "    window: 30d\n")
CP_RULE = {
    "all": [
        {"field": "sdm_risk", "eq": "高"},
        {"field": "service", "eq": "家庭維繫"},
        {"field": "rereported_during_service", "eq": True},
    ]
}
DV_RULE = {"all": [{"field": "case_type", "eq": "家庭暴力"}, {"field": "tipvda_score", "gte": 8}]}


def _load(app: App) -> None:
    assert WINDOWED != CITY
    cfg = build_config([load_yaml(WINDOWED, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), app.clock.now())
    add_viewers(app)


def _listed(app: App) -> dict[str, str]:
    with app.transaction() as s:
        rows = s.execute(
            select(Case.case_no, ListingRule.rule_id, CaseListing.listed_at)
            .join(CaseListing, CaseListing.case_id == Case.id)
            .join(ListingRule, ListingRule.id == CaseListing.rule_id)
            .where(CaseListing.delisted_at.is_(None))
        ).all()
    return {f"{c}:{r}": on.isoformat() for c, r, on in rows}


def _hold(app: App, u: str, cases: list[str], clock: FixedClock) -> None:
    with app.transaction() as s:
        record_attendance(s, AttendanceInput(u, "DVPC", "present"), clock.now())
        record_case_discussions(s, u, cases, clock.now())


def _escalated(app: App, *day: int) -> list[tuple[str, str, str | None]]:
    with app.transaction() as s:
        raised = check_escalations(s, taipei(*day, 9, 0))
    return [(e["case_no"], e["deadline"], e["uid"]) for e in raised]


def test_listing_date_is_the_latest_event_the_rule_looks_at() -> None:
    assert rule_fields(CP_RULE) == {"sdm_risk", "service", "rereported_during_service"}
    assert rule_fields({"not": {"any": [{"field": "order_expiry", "exists": True}]}}) == {
        "order_expiry"
    }
    new_case = {"reported_at": date(2023, 3, 1), "rereported_at": date(2023, 3, 9)}
    default = date(2023, 3, 20)  # the import day
    assert listing_date(CP_RULE, new_case, default) == date(2023, 3, 9)  # the re-report
    assert listing_date(DV_RULE, new_case, default) == date(2023, 3, 1)  # the report
    # A re-import that changed only the score or the service: no date in the row for it.
    assert listing_date(DV_RULE, {}, default) == default
    assert listing_date(DV_RULE, {"rereported_at": date(2023, 3, 9)}, default) == default
    rule = {"field": "order_expiry", "exists": True}
    assert listing_date(rule, {"order_expiry": date(2023, 3, 15)}, default) == date(2023, 3, 15)


def test_a_dv_case_is_listed_on_its_report_date_and_escalates_from_it(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    _load(app)
    clock.set(taipei(2023, 3, 20, 9, 0))
    import_text(
        app,
        tmp_path,
        csv_text(
            [
                "DV-101,家庭暴力,八德區,,,10,,開案,DVPC,,2023-03-01,,,",
                "DV-102,家庭暴力,中壢區,,,9,,開案,DVPC,,2023-03-10,,,",
                "DV-104,家庭暴力,中壢區,,,12,,開案,DVPC,,2023-03-05,,,",
            ]
        ),
    )
    assert _listed(app) == {
        "DV-101:dv-high-risk": "2023-03-01",
        "DV-102:dv-high-risk": "2023-03-10",
        "DV-104:dv-high-risk": "2023-03-05",
    }
    with app.transaction() as s:
        south = s.scalars(
            select(Occurrence.uid)
            .where(Occurrence.instance_key == "dv-zones-z2")
            .order_by(Occurrence.nominal_date)
        ).all()
    south_mar, south_apr = south[2], south[3]
    assert "-20230316@" in south_mar and "-20230420@" in south_apr
    _hold(app, south_mar, ["DV-102"], clock)  # 2023-03-16
    _hold(app, uid("cp-network", "20230308"), ["DV-104"], clock)  # another series
    assert _escalated(app, 2023, 3, 31) == []
    assert _escalated(app, 2023, 4, 1) == [("DV-101", "2023-03-31", south_apr)]
    assert _escalated(app, 2023, 4, 5) == [("DV-104", "2023-04-04", south_apr)]
    assert _escalated(app, 2023, 5, 1) == []  # DV-102 was discussed; once per listing


def test_a_reimport_lists_on_the_changed_date_or_else_the_import_day(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    _load(app)
    dv = "DV-105,家庭暴力,中壢區,,,6,,開案,DVPC,,2023-03-01,,,"
    cp = "CP-201,兒少保護,中壢區,,高,,家庭維繫,開案,DVPC,,2023-01-10,,,"
    clock.set(taipei(2023, 3, 20, 9, 0))
    import_text(app, tmp_path, csv_text([dv, cp]))
    assert _listed(app) == {}
    clock.set(taipei(2023, 4, 5, 9, 0))
    # The score has no date in the row (import day); the re-report has its own.
    rows = [dv.replace(",6,", ",9,"), cp.replace("2023-01-10,,", "2023-01-10,2023-04-01,")]
    import_text(app, tmp_path, csv_text(rows))
    assert _listed(app) == {
        "DV-105:dv-high-risk": "2023-04-05",
        "CP-201:cp-high-risk": "2023-04-01",
    }
