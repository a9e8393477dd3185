"""KPIs of SPEC §7 against a hand-computed fixture year (民國112年 = 2023).

The fixture (all figures below are worked out by hand in the comments):

series cp (monthly, 2nd Wednesday; required DVPC + POL; listing rule cp-high-risk)
  2023-01-11 held on time; DVPC present, POL delegated; minutes day 7 (on time);
             discussed C1, C4; action A due 02-28 closed 02-20 (on time)
  2023-02-08 cancelled (still scheduled in the count)
  2023-03-08 held 2023-04-03 (next month: off schedule); DVPC present, POL absent;
             minutes day 8 (late); discussed C1 again; action B due 04-30 closed 05-02 (late)
  2023-04-12 held; DVPC present, POL not recorded; no minutes; action D due 06-30, open
  2023-12-13 held; both present; minutes day 7; discussed C3; action C due 2024-01-31
  2024-01-10 held; discussed C2 (listed 2023-12-01): counts only with --as-of 2024
series dl (per district, every 4 months from March; required DVPC + POL)
  甲區: March meeting held in May (same Mar–Jun cycle: on schedule), July one on its
        date; POL present at both, DVPC at neither. 乙區: nothing held.
listings under cp-high-risk: C1 2023-01-05; C2 2023-12-01; C3 2023-02-01, delisted
  03-01, relisted 06-01 (one case, first listing counts); C4 2022-11-01 (last year);
  C5 2023-05-01 under another rule.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from meetings.agendas.action_items import open_action_items
from meetings.cases.config import load_config
from meetings.db import Case, CaseListing, City, ListingRule, Occurrence
from meetings.kernel.yamlsource import load_yaml
from meetings.kpis.formulas import median, rate
from meetings.kpis.queries import compute_kpis
from meetings.records.action_items import add_action_item, close_action_item
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.discussions import record_case_discussions
from meetings.records.minutes import record_minutes
from meetings.schedule.config_build import build_config
from meetings.schedule.cycles import meeting_cycle
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import Cli, taipei

DOMAIN = "liaison.test.example"
CONFIG = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心, emails: [dvpc@example.org]}
  - {code: POL, name: 警察局}
  - {code: EDU, name: 教育局}
districts:
  - {name: 甲區, code: jia}
  - {name: 乙區, code: yi}
listing_rules:
  - id: cp-high-risk
    title: SDM高風險且家庭維繫處遇中再通報
    all: [{field: sdm_risk, eq: 高}]
  - id: other-rule
    title: 其他
    all: [{field: sdm_risk, eq: 中}]
series:
  - id: cp
    title: 兒少保護網絡會議
    organizer: DVPC
    cadence: 每月召開1次
    time: "14:00"
    invite: {required: [DVPC, POL], optional: [EDU]}
    agenda: {listing_rule: cp-high-risk}
    minutes_due: 7d
  - id: dl
    title: "{district}區級聯繫會議"
    per_district: true
    organizer: DVPC
    cadence: 原則上每4個月召開1次
    anchor_month: 3
    time: "10:00"
    invite: {required: [DVPC, POL]}
"""
LATER = taipei(2024, 2, 15, 9, 0)


def uid(key: str, nominal: str) -> str:
    return f"{key}-{nominal.replace('-', '')}@{DOMAIN}"


def d(text: str) -> date:
    return date.fromisoformat(text)


def _occ(app: App, key: str, month: int, year: int = 2023) -> str:
    with app.transaction() as s:
        occ = s.scalar(
            select(Occurrence).where(
                Occurrence.instance_key == key,
                Occurrence.nominal_date >= date(year, month, 1),
                Occurrence.nominal_date <= date(year, month, 28),
            )
        )
        assert occ is not None, (key, month)
        return occ.uid


def attend(app: App, u: str, agency: str, status: str, held: str | None = None) -> None:
    with app.transaction() as s:
        record_attendance(
            s, AttendanceInput(u, agency, status, held_on=d(held) if held else None), LATER
        )


def _listings(app: App) -> None:
    with app.transaction() as s:
        city = s.scalar(select(City))
        assert city is not None
        rules: dict[str, int] = {}
        for rid in ("cp-high-risk", "other-rule"):
            rule = s.scalar(
                select(ListingRule).where(
                    ListingRule.city_id == city.id, ListingRule.rule_id == rid
                )
            )
            if rule is None:
                rule = ListingRule(
                    city_id=city.id, rule_id=rid, title=rid, spec={}, active=True, updated_at=LATER
                )
                s.add(rule)
                s.flush()
            rules[rid] = rule.id
        plan = [
            ("C1", "甲區", "cp-high-risk", "2023-01-05", None),
            ("C2", "乙區", "cp-high-risk", "2023-12-01", None),
            ("C3", "甲區", "cp-high-risk", "2023-02-01", "2023-03-01"),
            ("C3", "甲區", "cp-high-risk", "2023-06-01", None),
            ("C4", "甲區", "cp-high-risk", "2022-11-01", None),
            ("C5", "甲區", "other-rule", "2023-05-01", None),
        ]
        cases: dict[str, int] = {}
        for case_no, district, rid, listed, delisted in plan:
            if case_no not in cases:
                case = Case(
                    city_id=city.id,
                    case_no=case_no,
                    case_type="兒少保護",
                    district=district,
                    status="開案",
                    reported_at=date(2022, 10, 1),
                    created_at=LATER,
                    updated_at=LATER,
                )
                s.add(case)
                s.flush()
                cases[case_no] = case.id
            s.add(
                CaseListing(
                    case_id=cases[case_no],
                    rule_id=rules[rid],
                    listed_at=d(listed),
                    delisted_at=d(delisted) if delisted else None,
                    created_at=LATER,
                )
            )


@pytest.fixture
def year(app: App, tmp_path: Path) -> App:
    """The fixture year described in the module docstring."""
    cfg = build_config([load_yaml(CONFIG, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2024, 12, 31), app.clock.now())
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid == uid("cp", "2023-02-08"))
            .values(status="cancelled")
        )
    _listings(app)
    jan, mar, apr, dec = (
        uid("cp", "2023-01-11"),
        uid("cp", "2023-03-08"),
        uid("cp", "2023-04-12"),
        uid("cp", "2023-12-13"),
    )
    attend(app, jan, "DVPC", "present")
    attend(app, jan, "POL", "delegated")
    attend(app, mar, "DVPC", "present", held="2023-04-03")
    attend(app, mar, "POL", "absent")
    attend(app, apr, "DVPC", "present")
    attend(app, dec, "DVPC", "present")
    attend(app, dec, "POL", "present")
    jan24 = uid("cp", "2024-01-10")
    attend(app, jan24, "DVPC", "present")
    jia_mar, jia_jul = _occ(app, "dl-jia", 3), _occ(app, "dl-jia", 7)
    attend(app, jia_mar, "POL", "present", held="2023-05-17")
    attend(app, jia_jul, "POL", "present")
    with app.transaction() as s:
        record_minutes(s, jan, "# 紀錄", LATER, on=d("2023-01-18"))  # day 7
        record_minutes(s, mar, "# 紀錄", LATER, on=d("2023-04-11"))  # day 8
        record_minutes(s, dec, "# 紀錄", LATER, on=d("2023-12-20"))  # day 7
        record_case_discussions(s, jan, ["C1", "C4"], LATER)
        record_case_discussions(s, mar, ["C1"], LATER)
        record_case_discussions(s, dec, ["C3"], LATER)
        record_case_discussions(s, jan24, ["C2"], LATER)
        a = add_action_item(s, jan, "POL", d("2023-02-28"), "加強訪視", LATER)
        b = add_action_item(s, mar, "DVPC", d("2023-04-30"), "召開個案研討", LATER)
        add_action_item(s, apr, "POL", d("2023-06-30"), "提供資料", LATER)
        add_action_item(s, dec, "DVPC", d("2024-01-31"), "明年度計畫", LATER)
        close_action_item(s, a.id, LATER, on=d("2023-02-20"))
        close_action_item(s, b.id, LATER, on=d("2023-05-02"))
    return app


def rows_of(app: App, **kw: object) -> dict[str | None, dict[str, object]]:
    with app.transaction() as s:
        report = compute_kpis(s, 112, **kw)  # type: ignore[arg-type]
    out: dict[str | None, dict[str, object]] = {}
    for row in report.as_json()["rows"]:
        key = None if row["series"] is None else f"{row['series']}:{row['district'] or ''}"
        out[key] = row
    return out


# --- pure formulas -----------------------------------------------------------------


def test_rate_is_a_percentage_with_one_decimal_half_up_and_null_for_zero() -> None:
    assert rate(2, 3) == 66.7
    assert rate(1, 8) == 12.5
    assert rate(1, 3) == 33.3
    assert rate(5, 18) == 27.8
    assert rate(0, 4) == 0.0
    assert rate(0, 0) is None


def test_median_of_days() -> None:
    assert median([]) is None
    assert median([40]) == 40
    assert median([315, 6]) == 160.5
    assert median([6, 315, 40]) == 40


def test_cycle_without_cadence_is_the_calendar_month() -> None:
    assert meeting_cycle(None, date(2024, 2, 10)) == (date(2024, 2, 1), date(2024, 2, 29))


# --- the fixture year ---------------------------------------------------------------------


def test_monthly_series_row(year: App) -> None:
    row = rows_of(year)["cp:"]
    assert row == {
        "series": "cp",
        "district": None,
        "meetings_scheduled": 12,  # the cancelled February meeting included
        "meetings_held": 4,
        "held_on_schedule_rate": 25.0,  # Jan, Apr, Dec of 12; March held in April is off
        "agency_attendance_rate": {"DVPC": 100.0, "POL": 50.0},  # delegated counts
        "required_attendance_rate": 75.0,  # (4 + 2) / 8
        "cases_discussed": 3,  # C1, C4, C3
        "case_discussions": 4,
        "listed_case_discussion_rate": 66.7,  # C1, C3 of C1, C2, C3
        "median_days_to_discussion": 160.5,  # C1 6 days, C3 315 days (from 1st listing)
        "minutes_on_time_rate": 50.0,  # day 7 twice; day 8 late; April none
        "action_items_closed_on_time_rate": 33.3,  # A of A, B, D
        "meetings_withdrawn": 0,
        "deliverables_on_time_rate": None,  # the series declares no deliverables
        # No stored seats (tests/unit/kpis/test_seat_kpis.py): no data, not 0.
        "reply_rate": None,
        "designated_attendance_rate": None,
        "representative_continuity": {},
        "targets": {},  # none declared (tests/unit/kpis/test_targets.py)
    }


def test_listing_in_december_discussed_in_january_counts_with_as_of(year: App) -> None:
    row = rows_of(year, as_of=date(2024, 1, 31))["cp:"]
    assert row["listed_case_discussion_rate"] == 100.0
    assert row["median_days_to_discussion"] == 40  # C2: 2023-12-01 → 2024-01-10
    # --as-of only moves the BC3.1 cut-off; the year's counts stay the same
    assert row["cases_discussed"] == 3 and row["meetings_held"] == 4
    early = rows_of(year, as_of=date(2023, 6, 30))["cp:"]
    # By June: C1 and C3 were listed (C2 only in December), C1 discussed.
    assert early["listed_case_discussion_rate"] == 50.0
    assert early["median_days_to_discussion"] == 6


def test_as_of_inside_the_year_counts_nothing_that_was_not_yet_due(year: App) -> None:
    """A report at the end of April: May's meetings and action items due later are not
    failures yet (issue 13)."""
    row = rows_of(year, as_of=date(2023, 4, 30))["cp:"]
    assert row["meetings_scheduled"] == 4  # January to April (February cancelled)
    assert row["meetings_held"] == 3  # January, March (held 3 April), April
    assert row["action_items_closed_on_time_rate"] == 50.0  # A of A, B (D is due 06-30)
    assert row["listed_case_discussion_rate"] == 50.0  # C1 of C1, C3
    jia = rows_of(year, as_of=date(2023, 4, 30))["dl:甲區"]
    assert jia["meetings_scheduled"] == 1 and jia["meetings_held"] == 1  # March, held May


def test_per_district_rows_and_zero_denominators(year: App) -> None:
    rows = rows_of(year)
    jia, yi = rows["dl:甲區"], rows["dl:乙區"]
    assert jia["meetings_scheduled"] == 3 and jia["meetings_held"] == 2
    assert jia["held_on_schedule_rate"] == 66.7  # held in May is inside Mar–Jun
    assert jia["agency_attendance_rate"] == {"DVPC": 0.0, "POL": 100.0}
    assert jia["required_attendance_rate"] == 50.0
    assert jia["minutes_on_time_rate"] == 0.0
    assert yi["meetings_scheduled"] == 3 and yi["meetings_held"] == 0
    assert yi["held_on_schedule_rate"] == 0.0
    for key in (
        "required_attendance_rate",
        "listed_case_discussion_rate",
        "median_days_to_discussion",
        "minutes_on_time_rate",
        "action_items_closed_on_time_rate",
    ):
        assert yi[key] is None, key
    assert yi["agency_attendance_rate"] == {"DVPC": None, "POL": None}


def test_total_row(year: App) -> None:
    total = rows_of(year)[None]
    assert total["district"] is None
    assert total["meetings_scheduled"] == 18
    assert total["meetings_held"] == 6
    assert total["held_on_schedule_rate"] == 27.8  # 5 / 18
    assert total["agency_attendance_rate"] == {"DVPC": 66.7, "POL": 66.7}  # 4/6 each
    assert total["required_attendance_rate"] == 66.7
    assert total["cases_discussed"] == 3
    assert total["case_discussions"] == 4
    assert total["listed_case_discussion_rate"] == 66.7
    assert total["minutes_on_time_rate"] == 33.3
    assert total["action_items_closed_on_time_rate"] == 33.3


def test_district_and_series_filters(year: App) -> None:
    rows = rows_of(year, district="甲區")
    assert list(rows) == ["dl:甲區", None]
    assert rows[None]["meetings_scheduled"] == 3
    assert rows[None]["district"] == "甲區"
    only_cp = rows_of(year, series_id="cp")
    assert list(only_cp) == ["cp:", None]
    assert only_cp[None]["meetings_held"] == 4


def test_next_year_report_sees_the_january_meeting(year: App) -> None:
    with year.transaction() as s:
        report = compute_kpis(s, 2024, series_id="cp")
    data = report.as_json()
    assert data["year"] == 113 and data["as_of"] == "2024-12-31"
    row = data["rows"][0]
    assert row["meetings_scheduled"] == 12 and row["meetings_held"] == 1
    assert row["case_discussions"] == 1
    assert row["listed_case_discussion_rate"] is None  # nothing listed in 2024
    assert row["action_items_closed_on_time_rate"] == 0.0  # C due 2024-01-31, open


def test_open_action_items_for_the_agenda(year: App) -> None:
    with year.transaction() as s:
        before_april = open_action_items(s, "cp", date(2023, 4, 12))
        before_may = open_action_items(s, "cp", datetime(2023, 5, 10, 14, 0))
        none = open_action_items(s, "dl", date(2023, 12, 31))
    # B (meeting held 04-03, closed 05-02) was open on 04-12; A closed in February
    assert [(i.owner, i.text, i.due_on) for i in before_april] == [
        ("DVPC", "召開個案研討", date(2023, 4, 30))
    ]
    assert [i.text for i in before_may] == ["提供資料"]
    assert none == []


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_json_shape_and_year_forms(year: App, cli: Cli) -> None:
    r = cli("kpi", "--year", "112", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data) == ["year", "as_of", "rows"]
    assert data["year"] == 112 and data["as_of"] == "2023-12-31"
    assert [row["series"] for row in data["rows"]] == ["cp", "dl", "dl", None]
    for row in data["rows"]:
        assert list(row)[:2] == ["series", "district"]
        assert set(row) == {
            "series",
            "district",
            "meetings_scheduled",
            "meetings_held",
            "held_on_schedule_rate",
            "agency_attendance_rate",
            "required_attendance_rate",
            "cases_discussed",
            "case_discussions",
            "listed_case_discussion_rate",
            "median_days_to_discussion",
            "minutes_on_time_rate",
            "action_items_closed_on_time_rate",
            "meetings_withdrawn",
            "deliverables_on_time_rate",
            "reply_rate",
            "designated_attendance_rate",
            "representative_continuity",
            "targets",
        }
    again = cli("kpi", "--year", "2023", "--as-of", "112/12/31")
    assert json.loads(again.stdout) == data


def test_cli_csv(year: App, cli: Cli) -> None:
    r = cli("kpi", "--year", "112", "--format", "csv", "--series", "cp")
    assert r.exit_code == 0, r.stderr
    lines = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [line["series"] for line in lines] == ["cp", ""]
    assert lines[0]["agency_attendance_rate[POL]"] == "50.0"
    assert lines[0]["held_on_schedule_rate"] == "25.0"
    assert lines[0]["median_days_to_discussion"] == "160.5"


def test_cli_xlsx_has_one_sheet_per_table_with_roc_titles(
    year: App, cli: Cli, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "kpi.xlsx"
    r = cli("kpi", "--year", "112", "--format", "xlsx", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == ["績效指標", "機關出席率", "月別趨勢", "補助成果統計", "歷年補助成果"]
    for ws in wb.worksheets:
        assert str(ws["A1"].value).startswith("民國112年")
    grant = wb["補助成果統計"]
    total = [c.value for c in grant[grant.max_row]]
    assert total == ["合計", "112年", 6, 4, 3]  # held, 個案研討次數, cases discussed
    history = [[c.value for c in line] for line in wb["歷年補助成果"].iter_rows(min_row=4)]
    # 108–111: nothing generated; 112: 6 held, 4 discussion records, 3 distinct cases
    assert history == [
        ["108年", 0, 0, 0],
        ["109年", 0, 0, 0],
        ["110年", 0, 0, 0],
        ["111年", 0, 0, 0],
        ["112年", 6, 4, 3],
    ]
    months = wb["月別趨勢"]
    march = [c.value for c in months[4 + 2]]
    assert march[0] == "112年3月" and march[1:3] == [3, 2]  # cp + two districts; cp, 甲區
    r = cli("kpi", "--year", "112", "--format", "xlsx")
    assert r.exit_code == 2 and "--out" in r.stderr


def test_cli_html_is_self_contained_with_charts(year: App, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "kpi.html"
    r = cli("kpi", "--year", "112", "--format", "html", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert "<title>民國112年 網絡會議績效指標報告</title>" in page
    assert page.count("<svg") == 4  # coverage, BC3.1, agencies, monthly trend (matplotlib)
    assert "各機關出席率" in page and "月別會議召開情形" in page
    assert "<script" not in page and "src=" not in page and "<?xml" not in page
    # the only links are references inside the page's own SVGs (tick marks, markers)
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)
    # ids of the four charts do not collide
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert "<td>112年</td><td>6</td><td>4</td><td>3</td>" in page  # grant counts per year


def test_cli_bad_input(year: App, cli: Cli) -> None:
    r = cli("kpi", "--year", "112", "--series", "nope")
    assert r.exit_code == 2 and "unknown series 'nope'" in r.stderr
    r = cli("kpi", "--year", "112", "--format", "pdf")
    assert r.exit_code == 2 and "--format" in r.stderr
    r = cli("kpi", "--year", "112", "--as-of", "2022-12-31")
    assert r.exit_code == 2 and "before the year" in r.stderr


def test_empty_database_gives_null_rates(cli: Cli) -> None:
    r = cli("kpi", "--year", "112")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["rows"]) == 1
    total = data["rows"][0]
    assert total["series"] is None and total["meetings_scheduled"] == 0
    assert total["held_on_schedule_rate"] is None
    assert total["agency_attendance_rate"] == {}


def test_unknown_district_is_bad_input(year: App, cli: Cli) -> None:
    r = cli("kpi", "--year", "112", "--district", "丙區")
    assert r.exit_code == 2 and "unknown district or zone '丙區'" in r.stderr
    r = cli("kpi", "--year", "99999")
    assert r.exit_code == 2 and "--year" in r.stderr


# --- grant counts, report bytes, agenda section 二, minutes due ------------------------------------


def test_grant_counts_per_year(year: App) -> None:
    from meetings.kpis.queries import grant_counts

    with year.transaction() as s:
        counts = grant_counts(s, 113, years=2)
        jia = grant_counts(s, 2023, years=1, district="甲區")
    # 2023: held Jan, Mar, Apr, Dec (cp) + Mar, Jul (甲區) = 6; discussion records
    #       C1+C4 (Jan), C1 (Mar), C3 (Dec) = 4; distinct cases C1, C4, C3 = 3
    # 2024: the January cp meeting, held, C2 discussed: 1, 1, 1
    assert [
        (c.roc_year, c.meetings_held, c.case_discussions, c.cases_discussed) for c in counts
    ] == [
        (112, 6, 4, 3),
        (113, 1, 1, 1),
    ]
    assert [(c.meetings_held, c.case_discussions) for c in jia] == [(2, 0)]  # 甲區: no cases


def test_report_bytes_for_the_web_pages(year: App) -> None:
    from openpyxl import load_workbook

    from meetings.kpis.reports import kpi_report_bytes

    with year.transaction() as s:
        xlsx, xlsx_type = kpi_report_bytes(s, 112, "xlsx")
        html, html_type = kpi_report_bytes(s, 2023, "html", series_id="cp")
        data, json_type = kpi_report_bytes(s, 112, "json", as_of=date(2024, 1, 31))
        with pytest.raises(ValueError):
            kpi_report_bytes(s, 112, "pdf")
    assert xlsx_type.endswith("spreadsheetml.sheet") and xlsx.startswith(b"PK")
    assert load_workbook(io.BytesIO(xlsx)).sheetnames[0] == "績效指標"
    assert html_type == "text/html; charset=utf-8"
    assert "民國112年 兒少保護網絡會議 網絡會議績效指標報告" in html.decode("utf-8")
    assert json_type == "application/json"
    assert json.loads(data)["rows"][0]["listed_case_discussion_rate"] == 100.0


def test_open_action_items_appear_in_section_two_of_the_next_agenda(year: App) -> None:
    from meetings.agendas.queries import build_agenda_for

    with year.transaction() as s:
        may = s.scalar(select(Occurrence).where(Occurrence.uid == uid("cp", "2023-05-10")))
        assert may is not None
        agenda = build_agenda_for(s, may, LATER)
        items = [(a.owner, a.text, a.due_on) for a in agenda.action_items]
    # Earlier cp meetings: A (closed), B (closed), D from April (open) → only D
    assert items == [("警察局", "提供資料", date(2023, 6, 30))]


def test_meetings_missing_minutes(year: App) -> None:
    from meetings.records.minutes import meetings_missing_minutes

    with year.transaction() as s:
        yi_march = _occ(year, "dl-yi", 3)
        on_deadline = meetings_missing_minutes(s, taipei(2023, 4, 19, 23, 0))
        after = meetings_missing_minutes(s, taipei(2023, 4, 20, 8, 0))
        short = meetings_missing_minutes(s, taipei(2023, 4, 20, 8, 0), lookback_days=10)
    # cp 2023-04-12: held, no minutes, due 04-19 (7d): still on time on the 19th, missing
    # on the 20th. 乙區 March (2023-03-15): nothing recorded, due 03-22. January and
    # March cp have minutes (the March ones late, but there); February is cancelled;
    # 甲區 March was held on 05-17, after "now".
    assert [(m.uid, m.held, m.due_on) for m in on_deadline] == [(yi_march, False, d("2023-03-22"))]
    assert [(m.uid, m.held, str(m.due_on)) for m in after] == [
        (yi_march, False, "2023-03-22"),
        (uid("cp", "2023-04-12"), True, "2023-04-19"),
    ]
    assert [m.uid for m in short] == [uid("cp", "2023-04-12")]  # 03-22 is > 10 days ago


# --- BC3.1 per district and per zone ---------------------------------------------------------------

ZONES_CONFIG = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心}
districts:
  - {name: 甲區, code: jia}
  - {name: 乙區, code: yi}
  - {name: 丙區, code: bing}
listing_rules:
  - id: r
    title: 高風險
    all: [{field: sdm_risk, eq: 高}]
series:
  - id: dl
    title: "{district}區級會議"
    per_district: true
    cadence: 每月召開1次
    invite: {required: [DVPC]}
    agenda: {listing_rule: r}
  - id: zn
    title: "高危機會議（{zone}）"
    cadence: {rrule: "FREQ=MONTHLY;BYDAY=3TH"}
    zones: [北區, 南區]
    invite: {required: [DVPC]}
    agenda: {listing_rule: r, zone_districts: {北區: [甲區], 南區: [乙區, 丙區]}}
"""


def test_listed_case_rate_counts_each_districts_own_cases(app: App) -> None:
    """K1 甲區 listed 02-01, K2 乙區 listed 02-01, K3 丙區 listed 03-01; meetings held 03-20.

    甲區 discusses K1; 乙區 discusses K1 (not its case) and K2; 丙區 holds nothing;
    北區 (甲區's cases) discusses K2 (not its case); 南區 (乙區+丙區) discusses K2, K3.
    Days: 02-01 → 03-20 = 28 + 19 = 47; 03-01 → 03-20 = 19.
    """
    cfg = build_config([load_yaml(ZONES_CONFIG, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 12, 31), app.clock.now())
        city = s.scalar(select(City))
        assert city is not None
        rule = s.scalar(select(ListingRule).where(ListingRule.rule_id == "r"))
        if rule is None:
            rule = ListingRule(
                city_id=city.id, rule_id="r", title="r", spec={}, active=True, updated_at=LATER
            )
            s.add(rule)
            s.flush()
        for case_no, district, listed in (
            ("K1", "甲區", "2023-02-01"),
            ("K2", "乙區", "2023-02-01"),
            ("K3", "丙區", "2023-03-01"),
        ):
            case = Case(city_id=city.id, case_no=case_no, case_type="兒少保護",
                        district=district, status="開案", reported_at=date(2023, 1, 1),
                        created_at=LATER, updated_at=LATER)  # fmt: skip
            s.add(case)
            s.flush()
            s.add(CaseListing(case_id=case.id, rule_id=rule.id, listed_at=d(listed),
                              created_at=LATER))  # fmt: skip
    discussed = {"dl-jia": ["K1"], "dl-yi": ["K1", "K2"], "zn-z1": ["K2"], "zn-z2": ["K2", "K3"]}
    for key, cases in discussed.items():
        u = _occ(app, key, 3)
        attend(app, u, "DVPC", "present", held="2023-03-20")
        with app.transaction() as s:
            record_case_discussions(s, u, cases, LATER)
    rows = rows_of(app)
    got = {
        k: (r["listed_case_discussion_rate"], r["median_days_to_discussion"], r["cases_discussed"])
        for k, r in rows.items()
    }
    assert got == {
        "dl:甲區": (100.0, 47.0, 1),  # K1 of K1
        "dl:乙區": (100.0, 47.0, 2),  # K2 of K2 (K1 is 甲區's); two cases discussed
        "dl:丙區": (0.0, None, 0),  # K3 listed, nothing held
        "zn:北區": (0.0, None, 1),  # K1 listed (甲區), only K2 discussed
        "zn:南區": (100.0, 33.0, 2),  # K2 (47 days), K3 (19 days): median 33
        None: (66.7, 47.0, 3),  # 4 of 6 listings; median of 19, 47, 47, 47 = 47
    }


def test_event_meetings_whose_reason_went_are_withdrawn_not_failures(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    """A transition meeting superseded by an extended order, and one whose case closed,
    were never owed: counted as meetings_withdrawn, in neither scheduled nor any rate."""
    from tests.support.cases import csv_text, import_text, load_city

    load_city(app, generate=None)
    row = "OR-001,兒少保護,桃園區,,,,,開案,,,2023-01-02,,2023-10-10,"
    other = "OR-002,兒少保護,桃園區,,,,,開案,,,2023-01-02,,2023-11-10,"
    import_text(app, tmp_path, csv_text([row, other]))
    clock.set(taipei(2023, 3, 1, 9, 0))
    # OR-001's order is extended (its August meeting superseded by a September one);
    # OR-002 closes (its September meeting goes).
    closed = other.replace(",開案,", ",結案,")
    import_text(app, tmp_path, csv_text([row.replace("2023-10-10", "2023-11-15"), closed]))
    with app.transaction() as s:
        r = compute_kpis(s, 112, series_id="transition").as_json()["rows"][0]
    assert r["meetings_withdrawn"] == 2
    assert r["meetings_scheduled"] == 1  # the September meeting of the extended order
    assert r["held_on_schedule_rate"] == 0.0  # 0 of 1 (not yet held), not 0 of 3
