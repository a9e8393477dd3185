"""The grant report (seed 003): sessions, hours, participants and case discussions per kind
of meeting, against a hand-computed year (民國112年 = 2023).

The fixture (worked out by hand):

sup  團體督導, monthly (2nd Wednesday 09:30, 2 h), required DVPC
  2023-01-11 held: recorded 2.5 h, 14 participants
  2023-02-08 held: recorded 12 participants, hours not recorded → scheduled 2 h
  2023-03-08 held: nothing recorded but DVPC present → 2 h, 1 participant (the line)
  2023-04-12 scheduled, not held → not counted
  2024-01-10 held (next year) → not counted in 112
rev  個案研討, quarterly from February (3 h), required DVPC + POL
  2023-02-15 held: DVPC present, POL delegated → 3 h, 2 participants; discussed C1, C2
  2023-05-17 held: recorded 3.5 h, 6 participants; discussed C1
cp   network (kind left out), monthly 14:00 2 h
  2023-01-11 held: DVPC present; discussed C2, C3
Rows: 個案研討 2 場 6.5 h 8 人 3 discussions 2 cases; 團體督導 3 場 6.5 h 27 人;
網絡會議 1 場 2 h 1 人 2 discussions 2 cases; 合計 6 場 15 h 36 人 5 discussions 3 cases.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from meetings.cases.config import load_config
from meetings.db import Case, City, HeldMeeting, Series
from meetings.kernel.vocabulary import SeriesKind
from meetings.kernel.yamlsource import load_yaml
from meetings.kpis.grants import HeldSession, grant_report, summarise
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.discussions import record_case_discussions
from meetings.records.held import record_size
from meetings.schedule.config_build import build_config
from meetings.schedule.occurrences import get_occurrence
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from tests.conftest import Cli, taipei, write

DOMAIN = "liaison.test.example"
CONFIG = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心}
  - {code: POL, name: 警察局}
districts:
  - {name: 甲區, code: jia}
series:
  - id: sup
    title: 社工團體督導
    kind: group_supervision
    organizer: DVPC
    cadence: {every: month, on: 2nd WE}
    time: "09:30"
    invite: {required: [DVPC]}
  - id: rev
    title: 個案研討會議
    kind: case_review
    organizer: DVPC
    cadence: {every: 3 months, on: 3rd WE}
    anchor_month: 2
    time: "09:30"
    duration: 3h
    invite: {required: [DVPC, POL]}
  - id: cp
    title: 兒少保護網絡會議
    organizer: DVPC
    cadence: {every: month, on: 2nd WE}
    time: "14:00"
    invite: {required: [DVPC, POL]}
"""
LATER = taipei(2024, 2, 15, 9, 0)


def uid(key: str, nominal: str) -> str:
    return f"{key}-{nominal.replace('-', '')}@{DOMAIN}"


def _cases(app: App, *numbers: str) -> None:
    with app.transaction() as s:
        city = s.scalar(select(City))
        assert city is not None
        for case_no in numbers:
            s.add(
                Case(
                    city_id=city.id,
                    case_no=case_no,
                    case_type="兒少保護",
                    district="甲區",
                    status="開案",
                    reported_at=date(2022, 10, 1),
                    created_at=LATER,
                    updated_at=LATER,
                )
            )


def _present(app: App, u: str, agency: str, status: str = "present") -> None:
    with app.transaction() as s:
        record_attendance(s, AttendanceInput(u, agency, status), LATER)


def _size(app: App, u: str, **kw: float | int) -> None:
    with app.transaction() as s:
        record_size(s, get_occurrence(s, u), LATER, **kw)  # type: ignore[arg-type]


@pytest.fixture
def year(app: App) -> App:
    cfg = build_config([load_yaml(CONFIG, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2024, 12, 31), app.clock.now())
    _cases(app, "C1", "C2", "C3")
    _size(app, uid("sup", "2023-01-11"), hours=2.5, participants=14)
    _size(app, uid("sup", "2023-02-08"), participants=12)
    _present(app, uid("sup", "2023-03-08"), "DVPC")
    _present(app, uid("sup", "2024-01-10"), "DVPC")
    feb, may = uid("rev", "2023-02-15"), uid("rev", "2023-05-17")
    _present(app, feb, "DVPC")
    _present(app, feb, "POL", "delegated")
    _size(app, may, hours=3.5, participants=6)
    _present(app, uid("cp", "2023-01-11"), "DVPC")
    with app.transaction() as s:
        record_case_discussions(s, feb, ["C1", "C2"], LATER)
        record_case_discussions(s, may, ["C1"], LATER)
        record_case_discussions(s, uid("cp", "2023-01-11"), ["C2", "C3"], LATER)
    return app


def _rows(app: App) -> dict[str, dict[str, object]]:
    with app.transaction() as s:
        report = grant_report(s, 112)
    out = {str(t.kind): t.as_dict() for t in report.rows}
    out["total"] = report.total.as_dict()
    return out


def test_each_kind_counts_sessions_hours_participants_and_cases(year: App) -> None:
    rows = _rows(year)
    strip = {k: {f: v for f, v in r.items() if f != "kind"} for k, r in rows.items()}
    assert strip["case_review"] == {
        "sessions": 2,
        "hours": 6.5,
        "participants": 8,
        "case_discussions": 3,
        "cases_discussed": 2,
    }
    assert strip["group_supervision"] == {
        "sessions": 3,
        "hours": 6.5,
        "participants": 27,
        "case_discussions": 0,
        "cases_discussed": 0,
    }
    assert strip["network"] == {
        "sessions": 1,
        "hours": 2.0,
        "participants": 1,
        "case_discussions": 2,
        "cases_discussed": 2,
    }
    for kind in ("external_supervision", "training", "family_meeting"):
        assert strip[kind]["sessions"] == 0
    assert strip["total"] == {
        "sessions": 6,
        "hours": 15.0,
        "participants": 36,
        "case_discussions": 5,
        "cases_discussed": 3,
    }


def test_the_pure_summary_lists_every_kind_in_order() -> None:
    s = HeldSession(SeriesKind.TRAINING, "訓練", date(2023, 5, 1), 3.0, True, 20, True, 0)
    report = summarise("測試市", 2023, [s, s])
    assert [t.kind for t in report.rows] == list(SeriesKind)
    assert report.rows[3].sessions == 2 and report.total.participants == 40
    assert report.roc_year == 112


def test_cli_prints_json_and_writes_the_xlsx_in_the_grant_layout(
    year: App, cli: Cli, tmp_path: Path
) -> None:
    res = cli("grant-report", "--year", "2023", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["year"] == 112 and data["total"]["sessions"] == 6
    first = data["sessions"][:2]  # by day, then title
    assert [f["title"] for f in first] == ["兒少保護網絡會議", "社工團體督導"]
    assert first[1] == {
        "held_on": "2023-01-11",
        "kind": "group_supervision",
        "title": "社工團體督導",
        "hours": 2.5,
        "hours_recorded": True,
        "participants": 14,
        "participants_recorded": True,
        "case_discussions": 0,
    }
    out = tmp_path / "grant.xlsx"
    assert cli("grant-report", "--year", "112", "--out", str(out)).exit_code == 0
    wb = load_workbook(out)
    assert wb.sheetnames == ["辦理成效", "場次明細"]
    summary = [[c.value for c in row if c.value is not None] for row in wb["辦理成效"].iter_rows()]
    assert summary[0] == ["測試市民國112年度 專業督導、教育訓練、家庭會談及個案研討辦理成效"]
    assert summary[2] == ["項目", "辦理場次", "時數", "參與人數", "個案研討次數", "討論案數"]
    assert summary[3] == ["個案研討", 2, 6.5, 8, 3, 2]
    assert summary[-1] == ["合計", 6, 15, 36, 5, 3]
    detail = [[c.value for c in row] for row in wb["場次明細"].iter_rows(min_row=4)]
    assert detail[1][:6] == ["112年1月11日（星期三）", "團體督導", "社工團體督導", 2.5, 14, 0]
    march = next(r for r in detail if r[0] == "112年3月8日（星期三）")
    assert march[6] == "時數依排定時間；人數依簽到機關"
    # Counts only: no case number anywhere in the workbook.
    cells = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row]
    assert not any(n in cell for cell in cells for n in ("C1", "C2", "C3"))


def test_attendance_held_records_hours_and_participants(year: App, cli: Cli) -> None:
    u = uid("sup", "2023-04-12")
    res = cli("attendance", "held", u, "--hours", "1.5", "--participants", "9", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == {
        "uid": u,
        "held_on": "2023-04-12",
        "hours": 1.5,
        "participants": 9,
    }
    # Later, only the participants are corrected: the hours stay.
    assert cli("attendance", "held", u, "--participants", "10").exit_code == 0
    with year.transaction() as s:
        record = s.get(HeldMeeting, get_occurrence(s, u).id)
        assert record is not None and (record.hours, record.participants) == (1.5, 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hours", "30"), "--hours: 30 is not between 0 and 24"),
        (("--hours", "0"), "--hours: 0 is not between 0 and 24"),
        (("--participants", "-1"), "--participants: -1 is not between 0"),
        (("--held-at", "2023-13-01"), "--held-at"),
    ],
)
def test_attendance_held_refuses_bad_values_and_changes_nothing(
    year: App, cli: Cli, args: tuple[str, ...], message: str
) -> None:
    with year.transaction() as s:
        before = s.scalar(select(func.count()).select_from(HeldMeeting))
    res = cli("attendance", "held", uid("sup", "2023-04-12"), *args)
    assert res.exit_code == 2 and message in res.stderr
    with year.transaction() as s:
        assert s.scalar(select(func.count()).select_from(HeldMeeting)) == before


def test_grant_report_bad_input(year: App, cli: Cli) -> None:
    res = cli("grant-report", "--year", "112", "--out", "grant.csv")
    assert res.exit_code == 2 and "grant.csv must end in .xlsx" in res.stderr
    res = cli("grant-report", "--year", "5000")
    assert res.exit_code == 2 and "--year" in res.stderr


def test_an_unknown_kind_names_its_line(cli: Cli, tmp_path: Path) -> None:
    cfg = write(tmp_path / "city.yaml", CONFIG.replace("kind: case_review", "kind: 研討"))
    res = cli("config", "check", str(cfg))
    assert res.exit_code == 2
    assert "city.yaml:" in res.stderr and "kind" in res.stderr


def test_a_kind_left_out_is_not_stored(year: App) -> None:
    """Series without ``kind`` store the spec they had before kinds existed (same hash:
    loading this version changes nothing); the report counts them as network meetings."""
    with year.transaction() as s:
        specs = {row.id: row.spec for row in s.scalars(select(Series))}
    assert "kind" not in specs["cp"]
    assert specs["sup"]["kind"] == "group_supervision"
