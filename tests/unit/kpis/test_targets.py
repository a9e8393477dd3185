"""KPI targets from config beside each figure, and TL3.1 per team.

The comparison is checked on hand-made counts (7 of 10 listed cases discussed against
70 % is 達成, 6 of 10 is not, none listed is 無資料), then end to end on the fixture
year of test_kpis.py (民國112年), whose totals are worked out there: 2 of 3 listed
cases discussed (66.7 %), 6 meetings held over 12 months (0.5 a month), median 160.5
days over those 2 cases.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from meetings.cases.audit import record_audit
from meetings.cases.config import load_config
from meetings.db import City, Person, Series
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.kpis.audit import audit_kpis
from meetings.kpis.formulas import RowCounts
from meetings.kpis.queries import compute_kpis
from meetings.kpis.reports import kpi_report_bytes, render_csv, target_table
from meetings.kpis.targets import Figure, compare, per_month
from meetings.schedule.config_build import build_config
from meetings.schedule.targets import TARGET_KEYS, target_for
from scheduler.bootstrap import App
from tests.conftest import Cli, taipei, write
from tests.unit.kpis.test_kpis import CONFIG, year  # noqa: F401  (the fixture year)

BC31 = {"listed_case_discussion_rate": {"111": 60, "112": 70, "113": 80}}


def _bc31(discussed: int, listed: int, roc: int = 112) -> dict[str, object]:
    row = RowCounts(series=None, listed=listed, listed_discussed=discussed)
    (result,) = compare(BC31, roc, row.figures(12))
    return {**result.as_json(), "status": result.status}


# --- the comparison (pure) --------------------------------------------------------------


def test_rate_against_its_target_with_numerator_and_denominator() -> None:
    assert _bc31(7, 10) == {
        "target": 70,
        "value": 70.0,
        "numerator": 7,
        "denominator": 10,
        "met": True,
        "status": "達成",
    }
    assert _bc31(6, 10)["met"] is False and _bc31(6, 10)["status"] == "未達成"
    assert _bc31(6, 10, roc=111)["met"] is True  # 60 % was the 111 target
    nothing = _bc31(0, 0)
    assert (nothing["value"], nothing["met"], nothing["status"]) == (None, None, "無資料")


def test_a_year_without_a_goal_shows_no_target() -> None:
    row = RowCounts(series=None, listed=10, listed_discussed=7)
    assert compare(BC31, 114, row.figures(12)) == []
    assert target_for({"112": 70}, 112) == 70 and target_for(70, 999) == 70
    assert target_for({"112": 70}, 113) is None and target_for(None, 112) is None


def test_median_days_is_at_most_and_averages_are_per_month() -> None:
    (fast,) = compare(
        {"median_days_to_discussion": 30}, 112, {"median_days_to_discussion": Figure(30.0, None, 2)}
    )
    (slow,) = compare(
        {"median_days_to_discussion": 30}, 112, {"median_days_to_discussion": Figure(30.5, None, 2)}
    )
    assert (fast.met, slow.met) == (True, False)
    assert per_month(36, 12) == Figure(3.0, 36, 12)
    assert per_month(35, 12) == Figure(2.9, 35, 12)  # 2.916… shown as 2.9: 未達成 against 3
    (avg,) = compare({"meetings_per_month": 3}, 112, {"meetings_per_month": per_month(35, 12)})
    assert avg.met is False


def test_every_target_key_has_a_figure_somewhere() -> None:
    figures = set(RowCounts(series=None).figures(12)) | {"legitimate_reason_rate"}
    assert set(TARGET_KEYS) == figures


# --- config -------------------------------------------------------------------------------


def _check(cli: Cli, tmp_path: Path, extra: str) -> tuple[int, str]:
    path = write(tmp_path / "city.yaml", CONFIG + extra)
    r = cli("config", "check", str(path))
    return r.exit_code, r.stderr


def test_config_refuses_bad_targets_naming_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    code, err = _check(cli, tmp_path, "targets:\n  meeting_held: 6\n")
    assert code == 2 and "city.yaml:" in err and "targets.meeting_held" in err
    assert "unknown target 'meeting_held' (known: meetings_held," in err  # closest first
    code, err = _check(cli, tmp_path, "targets:\n  listed_case_discussion_rate: {2023: 70}\n")
    assert code == 2 and "write the ROC year 112, not 2023" in err
    code, err = _check(cli, tmp_path, "targets:\n  meetings_held: 六場\n")
    assert code == 2 and "targets.meetings_held" in err and "must be a number" in err
    code, err = _check(cli, tmp_path, "targets:\n  minutes_on_time_rate: {112: 120}\n")
    assert code == 2 and "120 is over 100" in err
    code, err = _check(cli, tmp_path, "targets:\n  meetings_held: -1\n")
    assert code == 2 and "0 or more" in err
    code, err = _check(
        cli, tmp_path, "people:\n  - {email: a@example.org, name: A, team: " + "組" * 51 + "}\n"
    )
    assert code == 2 and "people[0].team" in err


def test_targets_merge_over_a_citys_files_and_are_stored_with_teams(app: App) -> None:
    other = (
        "city: 測試市\ntargets:\n  meetings_per_month: 3\n"
        "people:\n  - {email: Lin@Example.org, name: 林, team: 兒少組}\n"
        "series:\n  - {id: extra, title: 額外會議, organizer: DVPC, cadence: 每月召開1次,\n"
        '     time: "14:00", targets: {meetings_held: {112: 12}}}\n'
    )
    first = CONFIG + "targets:\n  listed_case_discussion_rate: {111: 60, 112: 70}\n"
    cfg = build_config([load_yaml(first, "a.yaml"), load_yaml(other, "b.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        city = s.scalar(select(City))
        person = s.scalar(select(Person))
        assert city is not None and person is not None
        assert city.targets == {
            "listed_case_discussion_rate": {"111": 60, "112": 70},
            "meetings_per_month": 3,
        }
        assert person.team == "兒少組"
        extra = s.get(Series, "extra")
        assert extra is not None and extra.spec["targets"] == {"meetings_held": {"112": 12}}
    twice = load_yaml("city: 測試市\ntargets:\n  meetings_per_month: 4\n", "c.yaml")
    with pytest.raises(SourceError) as exc:
        build_config([load_yaml(first, "a.yaml"), load_yaml(other, "b.yaml"), twice])
    assert "c.yaml:3: target 'meetings_per_month' declared twice" in str(exc.value)


# --- the KPI report -------------------------------------------------------------------------

CITY_TARGETS = {
    "listed_case_discussion_rate": {"111": 60, "112": 70, "113": 80},
    "meetings_per_month": 3,
    "median_days_to_discussion": 200,
    "held_on_schedule_rate": {"113": 90},  # no goal for 112: not shown
}


def _set_targets(app: App, targets: dict[str, object]) -> None:
    with app.transaction() as s:
        s.execute(update(City).values(targets=targets))


def test_report_json_shows_each_target_beside_the_total(year: App, cli: Cli) -> None:  # noqa: F811
    _set_targets(year, CITY_TARGETS)
    r = cli("kpi", "--year", "112")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["targets"] for row in rows[:-1]] == [{}, {}, {}]  # the series declare none
    assert rows[-1]["targets"] == {
        "listed_case_discussion_rate": {
            "target": 70,
            "value": 66.7,
            "numerator": 2,
            "denominator": 3,
            "met": False,
        },
        "meetings_per_month": {
            "target": 3,
            "value": 0.5,
            "numerator": 6,
            "denominator": 12,
            "met": False,
        },
        "median_days_to_discussion": {
            "target": 200,
            "value": 160.5,
            "numerator": None,
            "denominator": 2,
            "met": True,
        },
    }
    as_of_june = json.loads(cli("kpi", "--year", "112", "--as-of", "2023-06-30").stdout)
    assert as_of_june["rows"][-1]["targets"]["meetings_per_month"]["denominator"] == 6


def test_csv_xlsx_and_html_render_the_same_comparison(year: App) -> None:  # noqa: F811
    _set_targets(year, CITY_TARGETS)
    with year.transaction() as s:
        report = compute_kpis(s, 112)
        xlsx, _ = kpi_report_bytes(s, 112, "xlsx")
        html, _ = kpi_report_bytes(s, 112, "html")
    lines = list(csv.DictReader(io.StringIO(render_csv(report))))
    total = lines[-1]
    assert total["target[listed_case_discussion_rate]"] == "70"
    assert total["numerator[listed_case_discussion_rate]"] == "2"
    assert total["denominator[listed_case_discussion_rate]"] == "3"
    assert total["met[listed_case_discussion_rate]"] == "未達成"
    assert total["met[median_days_to_discussion]"] == "達成"
    assert lines[0]["met[listed_case_discussion_rate]"] == ""  # cp declares no targets
    header, body = target_table(report)
    assert body[0] == ["合計", "列管案件納入定期會議討論比率(%)", "≥ 70", 66.7, 2, 3, "未達成"]
    assert body[2][1:3] == ["列管至討論天數中位數", "≤ 200"]
    sheet = load_workbook(io.BytesIO(xlsx))["目標達成"]
    assert [c.value for c in sheet[3]] == header
    assert [c.value for c in sheet[4]] == body[0]
    page = html.decode("utf-8")
    assert "<h2>目標達成情形</h2>" in page and "<td>≥ 70</td><td>66.7</td>" in page


def test_a_series_report_uses_the_series_own_targets(year: App, cli: Cli) -> None:  # noqa: F811
    _set_targets(year, CITY_TARGETS)
    with year.transaction() as s:  # as `targets:` on the series in config stores it
        cp = s.get(Series, "cp")
        assert cp is not None
        cp.spec = {**cp.spec, "targets": {"meetings_held": {"112": 4}}}
    rows = json.loads(cli("kpi", "--year", "112").stdout)["rows"]
    assert rows[0]["targets"]["meetings_held"]["met"] is True  # 4 held
    assert "meetings_held" not in rows[-1]["targets"]  # the city's total: the city's targets
    only_cp = json.loads(cli("kpi", "--year", "112", "--series", "cp").stdout)["rows"]
    assert list(only_cp[-1]["targets"]) == ["meetings_held"]


def test_no_targets_no_target_sheet_or_section(year: App) -> None:  # noqa: F811
    with year.transaction() as s:
        xlsx, _ = kpi_report_bytes(s, 112, "xlsx")
        html, _ = kpi_report_bytes(s, 112, "html")
        report = compute_kpis(s, 112)
    assert "目標達成" not in load_workbook(io.BytesIO(xlsx)).sheetnames
    assert "目標達成" not in html.decode("utf-8")
    assert "target[" not in render_csv(report).splitlines()[0]


# --- TL3.1 by team ----------------------------------------------------------------------------


def test_tl31_per_team_against_its_target(app: App, cli: Cli) -> None:
    people = (
        "targets:\n  legitimate_reason_rate: {111: 98.5, 112: 99, 113: 99}\n"
        "people:\n"
        "  - {email: chen@example.org, name: 陳, team: 兒少組}\n"
        "  - {email: lin@example.org, name: 林, team: 行政組}\n"
    )
    cfg = build_config([load_yaml(CONFIG + people, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        looks = [
            ("Chen@example.org", "會前準備個案資料"),
            ("chen@example.org", "追蹤處遇"),
            ("lin@example.org", "test"),  # a placeholder: no legitimate reason
            ("lin@example.org", "會議紀錄"),
            ("guest@example.org", "會前準備"),  # not in people: 未分組
        ]
        for i, (viewer, reason) in enumerate(looks):
            record_audit(
                s,
                viewer=viewer,
                reason=reason,
                action="cases.list",
                uid=None,
                case_nos=["C1"],
                now=taipei(2023, 3, 1 + i, 10, 0),
            )
        report = audit_kpis(s, 112)
    assert report["targets"] == {
        "legitimate_reason_rate": {
            "target": 99,
            "value": 80.0,
            "numerator": 4,
            "denominator": 5,
            "met": False,
        }
    }
    teams = report["by_team"]
    assert list(teams) == ["兒少組", "行政組", "未分組"]
    assert teams["兒少組"]["targets"]["legitimate_reason_rate"]["met"] is True  # 2 of 2
    assert teams["行政組"]["legitimate_reason_rate"] == 50.0
    assert teams["行政組"]["targets"]["legitimate_reason_rate"]["met"] is False
    assert (teams["未分組"]["lookups"], teams["未分組"]["legitimate"]) == (1, 1)
    text = cli("audit", "report", "--year", "112").stdout.splitlines()
    assert "  比率: 80.0%（目標 ≥ 99：未達成）" in text
    assert "  兒少組: 2/2 (100.0%)（目標 ≥ 99：達成）" in text
    assert "  未分組: 1/1 (100.0%)（目標 ≥ 99：達成）" in text
    as_json = json.loads(cli("audit", "report", "--year", "111", "--json").stdout)
    assert as_json["by_team"] == {} and as_json["targets"]["legitimate_reason_rate"]["met"] is None
