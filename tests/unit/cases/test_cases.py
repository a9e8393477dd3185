"""Case import, masking, listing rules, case events, escalation and the look-up audit."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from meetings.cases.audit import audit_report, record_audit
from meetings.cases.config import load_config
from meetings.cases.escalation import check_escalations
from meetings.cases.events import record_case_event
from meetings.cases.importing import read_cases
from meetings.cases.listing import matches
from meetings.cases.masking import mask_name
from meetings.db import Case, CaseListing, ListingRule, Occurrence, OutboxEvent
from meetings.kernel.errors import OperationError
from meetings.kernel.yamlsource import load_yaml
from meetings.records.discussions import record_discussions
from meetings.records.held import mark_held
from meetings.schedule.config_build import build_config
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import Cli, taipei, write
from tests.support.cases import (
    CITY,
    FULL_NAMES,
    HEADER,
    ROWS,
    csv_text,
    import_text,
    load_city,
    uid,
)
from tests.support.configs import city_config


def cases(app: App) -> dict[str, Case]:
    with app.transaction() as s:
        return {c.case_no: c for c in s.scalars(select(Case))}


def listings(app: App) -> list[tuple[str, str, str, str | None, str | None]]:
    """(case_no, rule, listed_at, delisted_at, reason) in id order."""
    with app.transaction() as s:
        rows = s.execute(
            select(Case.case_no, ListingRule.rule_id, CaseListing)
            .join(CaseListing, CaseListing.case_id == Case.id)
            .join(ListingRule, ListingRule.id == CaseListing.rule_id)
            .order_by(CaseListing.id)
        ).all()
        return [
            (
                c,
                r,
                lst.listed_at.isoformat(),
                lst.delisted_at.isoformat() if lst.delisted_at else None,
                lst.delisted_reason,
            )
            for c, r, lst in rows
        ]


# --- masking and rules (pure) -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王小明", "王○明"),
        ("王明", "王○"),
        ("歐陽小明", "歐○○明"),
        ("歐陽明", "歐○○"),
        ("張簡大同", "張○○同"),
        ("王", "○"),
        (" 李大華 ", "李○華"),
        ("Maria Santos", "M○ S○"),
        ("瓦歷斯·諾幹", "瓦○斯·諾○"),
        ("", None),
        (None, None),
    ],
)
def test_mask_name(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


def test_rules_are_evaluated_declaratively() -> None:
    rule = {
        "any": [
            {
                "all": [
                    {"field": "sdm_risk", "eq": "高"},
                    {"not": {"field": "status", "eq": "結案"}},
                ]
            },
            {"field": "tipvda_score", "gte": 8},
            {"field": "order_expiry", "lte": "2023-06-30"},
        ]
    }
    base = {"sdm_risk": "中", "status": "開案", "tipvda_score": None, "order_expiry": None}
    assert not matches(rule, base)
    assert matches(rule, {**base, "sdm_risk": "高"})
    assert not matches(rule, {**base, "sdm_risk": "高", "status": "結案"})
    assert matches(rule, {**base, "tipvda_score": 8})
    assert not matches(rule, {**base, "tipvda_score": 7})
    assert matches(rule, {**base, "order_expiry": date(2023, 6, 30)})
    assert not matches(rule, {**base, "order_expiry": date(2023, 7, 1)})
    # A rule's text is data, never code: an "expression" is just an unequal string.
    assert not matches({"field": "service", "eq": "__import__('os')"}, {"service": "家庭維繫"})
    assert matches({"field": "service", "in": ["家庭維繫", "家庭重整"]}, {"service": "家庭重整"})
    assert matches({"field": "order_expiry", "exists": False}, {"order_expiry": None})


# --- import -------------------------------------------------------------------------------


def test_import_masks_upserts_and_lists(app: App, tmp_path: Path) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    got = cases(app)
    assert {k: c.masked_name for k, c in got.items()} == {
        "CP-001": "王○明",
        "CP-002": "歐○○明",
        "CP-003": "林○華",
        "CP-004": "張○明",
        "DV-001": "陳○文",
        "DV-002": "M○ S○",
    }
    assert got["DV-001"].reported_at == date(2023, 1, 2)  # 112/01/02
    assert got["CP-002"].status == "開案"  # 處遇中 is an open case
    # Listed on the date of the event that met the rule: the re-report for CP cases (the
    # rule looks at it), the report for DV ones (DV-002, 2022-12-28); DV-001's report
    # (2023-01-02) is after the import day, so it is listed on the import day (2023-01-01).
    assert listings(app) == [
        ("CP-001", "cp-high-risk", "2022-12-20", None, None),
        ("CP-002", "cp-high-risk", "2022-11-15", None, None),
        ("CP-003", "cp-high-risk", "2022-12-28", None, None),
        ("DV-001", "dv-high-risk", "2023-01-01", None, None),
        ("DV-002", "dv-high-risk", "2022-12-28", None, None),
    ]
    # Re-import: CP-004 becomes high risk (listed), CP-003 drops to 中 (delisted), rest unchanged.
    rows = list(ROWS)
    rows[2] = rows[2].replace(",高,", ",中,")
    rows[3] = rows[3].replace(",中,", ",高,")
    app.clock.set(taipei(2023, 1, 9, 9, 0))  # type: ignore[attr-defined]
    import_text(app, tmp_path, csv_text(rows))
    assert len(cases(app)) == 6
    assert listings(app)[2] == (
        "CP-003",
        "cp-high-risk",
        "2022-12-28",
        "2023-01-09",
        "不再符合列管指標",
    )
    assert listings(app)[-1] == ("CP-004", "cp-high-risk", "2023-01-09", None, None)


def test_bad_rows_are_all_reported_and_nothing_is_imported(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    bad = [
        ROWS[0],
        "CP-010,兒少保護,中壢區,王小華,高,,家庭維繫,開案,,,2023-02-30,,,",
        "CP-011,家庭暴力,信義區,,,,,開案,,,2023-01-02,,,",
        "CP-012,虐待,中壢區,,,,,開案,,,2023-01-02,,,",
        "CP-013,家庭暴力,中壢區,,,九,,開案,,,2023-01-02,,,",
        "CP-001,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-10-03,,,",
    ]
    f = write(tmp_path / "bad.csv", csv_text(bad))
    result = cli("cases", "import", str(f))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{f}:3: reported_at: not a date: '2023-02-30' (use 2023-03-08 or 112/03/08)",
        f"{f}:4: district: unknown district (not one of the city's districts: "
        "中壢區、八德區、桃園區)",
        f"{f}:5: case_type: unknown case type '虐待' (one of 兒少保護、家庭暴力、性侵害、性剝削、"
        "老人保護、身障保護、高風險家庭、脆弱家庭、偏差行為、其他)",
        f"{f}:6: tipvda_score: not a whole number: '九'",
        f"{f}:7: case_no: duplicate case_no 'CP-001' (also on row 2)",
    ]
    assert "王小華" not in result.stderr + result.stdout
    assert cases(app) == {}


def test_unknown_column_and_wrong_encoding(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    f = write(tmp_path / "extra.csv", HEADER + ",nickname\n" + ROWS[0] + ",x\n")
    result = cli("cases", "import", str(f))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{f}:1: nickname: unknown column (known: case_no,")
    g = tmp_path / "garbage.csv"
    g.write_bytes(HEADER.encode() + b"\n\xff\xfe\xfa\x80\x81,\n")
    result = cli("cases", "import", str(g))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{g}:1: encoding: not UTF-8 or Big5 (CP950) text"
    assert cases(app) == {}


def test_big5_bom_and_xlsx_exports(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    big5 = tmp_path / "big5.csv"
    big5.write_bytes(csv_text(ROWS[:2]).encode("cp950"))
    assert cli("cases", "import", str(big5)).exit_code == 0
    bom = tmp_path / "bom.csv"
    bom.write_bytes(csv_text(ROWS[2:4]).encode("utf-8-sig"))
    assert cli("cases", "import", str(bom)).exit_code == 0
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    ws.append(
        ["DV-001", "家庭暴力", "桃園區", "陳大文", None, 9, None, "開案", None, None,
         date(2023, 1, 2), None, date(2023, 12, 10), None]
    )  # fmt: skip
    xlsx = tmp_path / "cases.xlsx"
    wb.save(xlsx)
    result = cli("cases", "import", str(xlsx), "--now", "2023-01-03T09:00")
    assert result.exit_code == 0, result.stderr
    got = cases(app)
    assert [got[k].masked_name for k in sorted(got)] == [
        "王○明",
        "歐○○明",
        "林○華",
        "張○明",
        "陳○文",
    ]
    assert got["DV-001"].tipvda_score == 9
    assert got["DV-001"].order_expiry == date(2023, 12, 10)


def test_xlsx_rows_are_numbered_like_the_sheet(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    ws.append(["DV-001", "家庭暴力", "桃園區", "陳大文", None, 9, None, "開案", None, None,
               "2023-01-02", None, None, None])  # fmt: skip
    ws.append(["DV-002", "家庭暴力", "桃園區", "陳小文", None, "高", None, "開案", None, None,
               "2023/13/02", None, None, None])  # fmt: skip
    xlsx = tmp_path / "bad.xlsx"
    wb.save(xlsx)
    result = cli("cases", "import", str(xlsx))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{xlsx}:3: tipvda_score: not a whole number: '高'",
        f"{xlsx}:3: reported_at: not a date: '2023/13/02' (month must be in 1..12)",
    ]
    assert "陳小文" not in result.stdout + result.stderr
    assert cases(app) == {}
    garbage = write(tmp_path / "not.xlsx", "this is not a workbook")
    result = cli("cases", "import", str(garbage))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{garbage}:1: file: not a readable xlsx workbook")


def test_progress_goes_to_stderr_only_when_asked_or_on_a_terminal(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    rows = [f"BIG-{i:05d},兒少保護,中壢區,王小明,低,,,開案,,,2022-10-03,,," for i in range(2500)]
    f = write(tmp_path / "big.csv", csv_text(rows))
    # Not a terminal (a pipe, a cron log): no progress unless asked for.
    quiet = cli("cases", "import", str(f))
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""
    assert "2500 rows — 2500 created" in quiet.stdout
    # --progress on a pipe: plain lines on stderr; stdout stays valid JSON.
    loud = cli("cases", "import", str(f), "--progress", "--json")
    assert loud.exit_code == 0, loud.stderr
    assert json.loads(loud.stdout)["unchanged"] == 2500
    lines = loud.stderr.splitlines()
    assert lines[0] == "importing big.csv: 1,000/2,500 rows (40%)"
    assert lines[-1] == "importing big.csv: 2,500/2,500 rows (100%)"
    assert "王小明" not in loud.stderr


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.cli import cases as cli_cases

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli_cases._progress_wanted(None, 5000) == (True, True)
    assert cli_cases._progress_wanted(None, 10) == (False, True)
    assert cli_cases._progress_wanted(False, 5000) == (False, True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli_cases._progress_wanted(None, 5000) == (False, False)
    assert cli_cases._progress_wanted(True, 10) == (True, False)


def test_full_names_never_stored_logged_or_printed(
    app: App, cli: Cli, tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # log SQL parameters too
    load_city(app)
    f = write(tmp_path / "cases.csv", csv_text())
    outputs = [cli("cases", "import", str(f), "--json")]
    outputs.append(cli("cases", "event", "CP-004", "rereported", "--at", "2022-12-30"))
    outputs.append(
        cli("cases", "list", "--as", "chen@example.org", "--reason", "會前準備", "--json")
    )
    for fmt in ("text", "html", "json"):
        outputs.append(
            cli(
                "agenda", "show", uid("cp-network", "20230111"), "--format", fmt,
                "--as", "chen@example.org", "--reason", "會前準備",
            )
        )  # fmt: skip
    outputs.append(cli("agenda", "freeze", uid("cp-network", "20230111")))
    outputs.append(cli("cases", "escalate", "--now", "2023-03-01T09:00", "--json"))
    outputs.append(cli("events", "list", "--json"))
    outputs.append(cli("audit", "report", "--year", "112", "--json"))
    assert all(o.exit_code == 0 for o in outputs), [o.stderr for o in outputs]
    assert "王○明" in "".join(o.stdout for o in outputs)  # the masked form is shown
    app.close()
    blobs = b""
    if db_url.startswith("sqlite:///"):  # the database file itself, WAL and shared memory
        db = Path(db_url.removeprefix("sqlite:///"))
        blobs = b"".join(
            p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
        )
        assert len(blobs) > 10_000
    text = "".join(o.stdout + o.stderr for o in outputs) + caplog.text
    assert "INSERT INTO cases" in caplog.text  # the SQL log was captured
    for name in FULL_NAMES:
        assert name.encode() not in blobs, name
        assert name.encode("utf-16-le") not in blobs, name
        assert name not in text, name


# --- case events and listing history -----------------------------------------------------


def test_events_list_delist_and_relist(app: App, tmp_path: Path, clock: FixedClock) -> None:
    load_city(app)
    rows = ["CP-020,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-10-03,,,"]
    import_text(app, tmp_path, csv_text(rows))
    assert listings(app) == []  # not re-reported yet
    clock.set(taipei(2023, 2, 1, 9, 0))
    with app.transaction() as s:
        report = record_case_event(s, "CP-020", "rereported", date(2023, 1, 30), clock.now())
    assert report.listing.listed == [("CP-020", "cp-high-risk")]
    with app.transaction() as s:
        report = record_case_event(s, "CP-020", "closed", date(2023, 2, 1), clock.now())
    assert report.listing.delisted == [("CP-020", "cp-high-risk")]
    # Reopened by re-import (status 開案, re-reported again): listed anew, history kept.
    clock.set(taipei(2023, 3, 1, 9, 0))
    rows = ["CP-020,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-10-03,2023-02-27,,"]
    import_text(app, tmp_path, csv_text(rows))
    assert listings(app) == [
        ("CP-020", "cp-high-risk", "2023-01-30", "2023-02-01", "結案"),
        ("CP-020", "cp-high-risk", "2023-02-27", None, None),
    ]
    with app.transaction() as s, pytest.raises(OperationError, match="unknown case event"):
        record_case_event(s, "CP-020", "exploded", date(2023, 3, 1), clock.now())
    with app.transaction() as s, pytest.raises(OperationError, match="unknown case"):
        record_case_event(s, "NOPE", "closed", date(2023, 3, 1), clock.now())


def test_case_event_cli(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    import_text(
        app, tmp_path, csv_text(["CP-030,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-10-03,,,"])
    )
    result = cli(
        "cases", "event", "CP-030", "rereported", "--at", "112/01/05", "--now", "2023-01-06T09:00"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "CP-030: rereported on 2023-01-05",
        "  listed under cp-high-risk",
    ]
    bad = cli("cases", "event", "CP-030", "rereported", "--at", "yesterday")
    assert bad.exit_code == 2


# --- escalation ------------------------------------------------------------------------------


def test_escalation_is_raised_once_per_listing(app: App, tmp_path: Path, clock: FixedClock) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s:
        assert check_escalations(s, taipei(2023, 1, 14, 9, 0)) == []  # CP-002 due 2023-01-14
    with app.transaction() as s:
        raised = check_escalations(s, taipei(2023, 1, 15, 9, 0))
    assert [(e["case_no"], e["deadline"], e["uid"]) for e in raised] == [
        ("CP-002", "2023-01-14", uid("cp-network", "20230208"))
    ]
    assert raised[0]["masked_name"] == "歐○○明"
    with app.transaction() as s:
        assert check_escalations(s, taipei(2023, 1, 16, 9, 0)) == []  # idempotent
        ev = s.scalars(select(OutboxEvent).where(OutboxEvent.kind == "escalation")).all()
        assert [(e.occurrence_uid, e.payload["rule"]) for e in ev] == [
            (uid("cp-network", "20230208"), "cp-high-risk")
        ]
    # CP-001 is discussed at the February meeting (held); CP-003 (due 2023-02-26) is not.
    clock.set(taipei(2023, 2, 9, 9, 0))
    with app.transaction() as s:
        feb = s.scalar(select(Occurrence).where(Occurrence.uid == uid("cp-network", "20230208")))
        assert feb is not None
        mark_held(s, feb, clock.now())
        assert record_discussions(s, uid("cp-network", "20230208"), ["CP-001"], clock.now()) == [
            "CP-001"
        ]
    with app.transaction() as s:
        raised = check_escalations(s, taipei(2023, 3, 1, 9, 0))
    assert [e["case_no"] for e in raised] == ["CP-003"]


def test_discussion_rules(app: App, tmp_path: Path, clock: FixedClock) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s, pytest.raises(OperationError, match="not started yet"):
        record_discussions(s, uid("cp-network", "20230111"), ["CP-001"], clock.now())
    clock.set(taipei(2023, 1, 12, 9, 0))
    with app.transaction() as s, pytest.raises(OperationError, match="unknown case number"):
        record_discussions(s, uid("cp-network", "20230111"), ["CP-999"], clock.now())
    with app.transaction() as s:
        first = record_discussions(
            s, uid("cp-network", "20230111"), ["CP-001", "CP-002"], clock.now()
        )
        again = record_discussions(s, uid("cp-network", "20230111"), ["CP-001"], clock.now())
    assert (first, again) == (["CP-001", "CP-002"], [])


# --- audit -------------------------------------------------------------------------------------


def test_agenda_case_rows_need_who_and_why_and_are_audited(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    u = uid("cp-network", "20230111")
    plain = cli("agenda", "show", u, "--now", "2023-01-02T09:00")
    assert plain.exit_code == 0
    assert "CP-001" not in plain.stdout and "個案資料未顯示" in plain.stdout
    half = cli("agenda", "show", u, "--as", "chen@example.org")
    assert half.exit_code == 2 and "--reason" in half.stderr
    ok = cli(
        "agenda",
        "show",
        u,
        "--as",
        "chen@example.org",
        "--reason",
        "會前準備個案資料",
        "--now",
        "2023-01-02T09:00",
    )
    assert "CP-002" in ok.stdout
    cli(
        "agenda",
        "show",
        u,
        "--as",
        "lin@example.org",
        "--reason",
        "test",
        "--now",
        "2023-01-03T09:00",
    )
    cli(
        "agenda",
        "show",
        u,
        "--as",
        "lin@example.org",
        "--reason",
        "會前準備",
        "--now",
        "2024-01-03T09:00",
    )
    with app.transaction() as s:
        report = audit_report(s, 112)
        assert audit_report(s, 2023)["lookups"] == 2
    assert (
        report["lookups"],
        report["with_legitimate_reason"],
        report["legitimate_reason_rate"],
    ) == (2, 1, 50.0)
    assert report["records"][0]["cases"] == ["CP-002", "CP-001"]
    assert report["records"][0]["uid"] == u
    text = cli("audit", "report", "--year", "112")
    assert text.stdout.splitlines()[:4] == [
        "民國112年 個案資料查閱稽核 (TL3.1)",
        "  查閱次數: 2",
        "  載明正當事由: 1",
        "  比率: 50.0%",
    ]


def test_cases_list_requires_a_reason(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    assert cli("cases", "list").exit_code == 2
    result = cli(
        "cases",
        "list",
        "--listed",
        "--district",
        "中壢區",
        "--as",
        "chen@example.org",
        "--reason",
        "追蹤",
    )
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["CP-001", "CP-002"]


def test_listing_rules_are_stored_from_config(app: App) -> None:
    load_city(app)
    with app.transaction() as s:
        rules = {r.rule_id: (r.window, r.active) for r in s.scalars(select(ListingRule))}
    assert rules == {"cp-high-risk": ("60d", True), "dv-high-risk": (None, True)}
    assert "cp-high-risk" in CITY


def test_audit_year_runs_in_the_city_zone(app: App) -> None:
    """A city in a DST zone: a look-up on its New Year's Eve belongs to the old year."""
    cfg = build_config([load_yaml(city_config(timezone="America/New_York"), "city.yaml")])
    eve = datetime(2023, 1, 1, 3, 0, tzinfo=UTC)  # 2022-12-31 22:00 in New York
    with app.transaction() as s:
        load_config(s, cfg, eve)
        record_audit(
            s, viewer="chen@example.org", reason="會前準備", action="cases.list", uid=None,
            case_nos=["CP-001"], now=eve,
        )  # fmt: skip
        old, new = audit_report(s, 111), audit_report(s, 112)
    assert (old["lookups"], new["lookups"]) == (1, 0)
    assert old["records"][0]["viewed_at"] == "2022-12-31T22:00:00-05:00"


def test_audit_report_asks_for_the_city_when_zones_differ(app: App, cli: Cli) -> None:
    """Two cities in different zones: the CLI names the fix, and --city picks the year."""
    ny = city_config(timezone="America/New_York").replace("city: 測試市", "city: 紐約市", 1)
    ny = ny.replace("id: cp\n", "id: ny\n", 1).replace("liaison.test.example", "ny.example", 1)
    cfg = build_config([load_yaml(ny, "ny.yaml"), load_yaml(city_config(), "city.yaml")])
    eve = datetime(2023, 1, 1, 3, 0, tzinfo=UTC)  # 2022-12-31 22:00 in New York
    with app.transaction() as s:
        load_config(s, cfg, eve)
        record_audit(
            s, viewer="chen@example.org", reason="會前準備", action="cases.list", uid=None,
            case_nos=["CP-001"], now=eve,
        )  # fmt: skip
    refused = cli("audit", "report", "--year", "111", "--json")
    assert refused.exit_code == 2 and "give --city" in refused.stderr
    in_ny = cli("audit", "report", "--year", "111", "--city", "紐約市", "--json")
    assert in_ny.exit_code == 0, in_ny.stderr
    assert json.loads(in_ny.stdout)["lookups"] == 1


# --- screening and hostile cells (issue 12) -------------------------------------------------

ISSUE_REASON = "案母林美麗（身分證A223456789，0912-345-678）住桃園市中壢區中正路100號3樓"
SECRETS = ("林美麗", "A223456789", "0912-345-678", "中正路100號")


def test_listed_reason_is_screened_on_import_with_a_warning(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    rows = [
        "CP-001,兒少保護,中壢區,王小明,高,,家庭維繫,開案,DVPC,陳社工,2022-10-03,2022-12-20,,"
        f'"{ISSUE_REASON}"',
        "CP-002,兒少保護,中壢區,歐陽小明,高,,家庭維繫,開案,DVPC,,2022-09-01,,,歐陽小明拒絕返家",
        "CP-003,兒少保護,桃園區,林美華,高,,家庭維繫,開案,DVPC,,2022-08-01,,,SDM高風險",
    ]
    f = write(tmp_path / "cases.csv", csv_text(rows))
    result = cli("cases", "import", str(f))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {f}:2: listed_reason: 已遮蔽 4 項（身分證字號/電話/地址/姓名）",
        f"warning: {f}:3: listed_reason: 已遮蔽 1 項（姓名）",
    ]
    got = cases(app)
    assert (
        got["CP-001"].listed_reason == "案母〔已遮蔽〕（身分證〔已遮蔽〕，〔已遮蔽〕）住〔已遮蔽〕"
    )
    assert got["CP-002"].listed_reason == "〔已遮蔽〕拒絕返家"  # the case's own name
    assert got["CP-003"].listed_reason == "SDM高風險"
    for secret in (*SECRETS, "歐陽小明"):
        assert secret not in result.stdout + result.stderr
        assert all(secret not in (c.listed_reason or "") for c in got.values())


def test_shifted_columns_never_echo_the_name(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    # The district cell is missing: the name lands in district, the risk in name, …
    shifted = "CP-020,兒少保護,陳美玲,高,,家庭維繫,開案,DVPC,陳社工,2022-10-03,,,,"
    also = "CP-021,兒少保護,中壢區,x,高,陳美玲,家庭維繫,開案,DVPC,,林美麗,,,"
    f = write(tmp_path / "shifted.csv", csv_text([shifted, also]))
    result = cli("cases", "import", str(f))
    assert result.exit_code == 2
    out = result.stdout + result.stderr
    assert f"{f}:2: district: unknown district (not one of the city's districts:" in out
    assert "tipvda_score: not a whole number: (value not shown)" in out
    assert "reported_at: not a date: (value not shown)" in out
    for part in ("陳美玲", "美玲", "林美麗", "美麗"):
        assert part not in out
    assert cases(app) == {}


def test_bad_row_after_good_rows_leaves_the_database_unchanged(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    good = [f"OK-{i:04d},兒少保護,中壢區,王小明,高,,,開案,,,2022-10-03,,," for i in range(1200)]
    bad = "BAD-1,兒少保護,中壢區,,高,,,開案,,,2022-02-30,,,"
    f = write(tmp_path / "late.csv", csv_text([*good, bad]))
    result = cli("cases", "import", str(f))
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"{f}:1202: reported_at: not a date:")
    assert cases(app) == {}
    assert listings(app) == []


def test_read_cases_streams_rows(tmp_path: Path) -> None:
    rows = [f"S-{i:05d},兒少保護,中壢區,,高,,,開案,,,2022-10-03,,," for i in range(3000)]
    f = write(tmp_path / "s.csv", csv_text(rows))
    stream = read_cases(f, ["中壢區"])
    assert not isinstance(stream, list)
    assert next(iter(stream)).case_no == "S-00000"  # before the file has been read through
