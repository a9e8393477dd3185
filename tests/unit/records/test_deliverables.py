"""Series deliverables (成效檢核表 …): config, the one writer through the CLI, listing, KPI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from meetings.db import DeliverableSubmission, OutboxEvent
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.records.deliverables import (
    Owed,
    deliverable_on_time_counts,
    on_time_counts,
)
from meetings.schedule.config_build import build_config
from tests.conftest import Cli, write
from tests.support.cities import OTHER
from tests.support.configs import BASE

DOMAIN = "liaison.test.example"
JAN = f"cp-20230111@{DOMAIN}"
FEB = f"cp-20230208@{DOMAIN}"
MAR = f"cp-20230308@{DOMAIN}"
NOW = "2023-06-01T09:00"
DELIVERABLES = "    deliverables: [{name: 成效檢核表, due: 7d, to: POL}, {name: 檢討報告, due: 2w, to: DVPC}]\n"
INVITE = "    invite: {required: [DVPC, POL]}\n"
CITY = BASE.replace(INVITE, INVITE + DELIVERABLES, 1)


def _rows(db_url: str) -> list[tuple[str, str, date, str | None]]:
    engine = create_engine(db_url)
    with Session(engine) as s:
        rows = [
            (str(r.occurrence_id), r.name, r.submitted_on, r.note)
            for r in s.scalars(select(DeliverableSubmission).order_by(DeliverableSubmission.id))
        ]
    engine.dispose()
    return rows


@pytest.fixture
def loaded(cli: Cli, tmp_path: Path) -> Cli:
    cfg = write(tmp_path / "city.yaml", CITY)
    assert cli("config", "load", str(cfg), "--now", "2023-01-01T09:00").exit_code == 0
    r = cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-12-31",
            "--now", "2023-01-01T09:00")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    for uid in (JAN, MAR):
        r = cli("attendance", "record", uid, "--agency", "POL", "--status", "present",
                "--now", NOW)  # fmt: skip
        assert r.exit_code == 0, r.stderr
    return cli


# --- config ---------------------------------------------------------------------------


def test_deliverables_name_a_declared_agency() -> None:
    text = CITY.replace("to: POL}", "to: EDU}", 1)
    with pytest.raises(SourceError) as err:
        build_config([load_yaml(text, "city.yaml")])
    msg = str(err.value)
    assert (
        "city.yaml:" in msg
        and "series[0].deliverables[0].to" in msg
        and "(series cp)" in msg
        and "'EDU'" in msg
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("due: 7d", "due: -7d"),
        ("due: 7d", "due: soon"),
        ("name: 檢討報告", "name: 成效檢核表"),
    ],
)
def test_bad_deliverables_are_refused(change: str, words: str) -> None:
    with pytest.raises(SourceError) as err:
        build_config([load_yaml(CITY.replace(change, words, 1), "city.yaml")])
    assert "city.yaml:" in str(err.value) and "deliverables" in str(err.value)


def test_a_series_without_deliverables_stores_the_spec_it_stored_before() -> None:
    cfg = build_config([load_yaml(BASE, "city.yaml")])
    decl = next(iter(cfg.all_series())).decl
    assert decl.deliverables is None
    assert "deliverables" not in decl.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- record and list ------------------------------------------------------------------


def test_record_on_time_and_late_and_list(loaded: Cli) -> None:
    r = loaded("deliverables", "list", JAN, "--json", "--now", "2023-01-12T09:00")
    got = json.loads(r.stdout)
    assert [(d["name"], d["to"], d["due_on"], d["state"]) for d in got] == [
        ("成效檢核表", "POL", "2023-01-18", "pending"),
        ("檢討報告", "DVPC", "2023-01-25", "pending"),
    ]
    r = loaded("deliverables", "record", JAN, "成效檢核表", "--at", "2023-01-18", "--now", NOW,
               "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["submitted_on"], d["due_on"], d["on_time"], d["state"]) == (
        "2023-01-18", "2023-01-18", True, "submitted"
    )  # fmt: skip
    assert d["by"].startswith("cli:")
    r = loaded("deliverables", "record", MAR, "成效檢核表", "--at", "112/03/16", "--now", NOW)
    assert r.exit_code == 0 and "late" in r.stdout and "due 2023-03-15" in r.stdout
    # Recording again keeps the first date (like minutes).
    r = loaded("deliverables", "record", MAR, "成效檢核表", "--at", "2023-03-09", "--now", NOW,
               "--json")  # fmt: skip
    assert json.loads(r.stdout)["submitted_on"] == "2023-03-16"
    r = loaded("deliverables", "list", "--overdue", "--lookback", "200", "--now", NOW, "--json")
    overdue = [(d["uid"], d["name"]) for d in json.loads(r.stdout)]
    assert overdue == [(JAN, "檢討報告"), (MAR, "檢討報告")]
    r = loaded("deliverables", "list", "--overdue", "--now", NOW, "--json")  # 90 days back
    assert [(d["uid"], d["name"]) for d in json.loads(r.stdout)] == [(MAR, "檢討報告")]
    text = loaded("deliverables", "list", JAN, "--now", NOW).stdout
    assert "已繳交" in text and "逾期" in text


def test_refusals_exit_2_and_change_nothing(loaded: Cli, db_url: str) -> None:
    cases = [
        (("deliverables", "record", JAN, "會議簽到表"), "declares no deliverable '會議簽到表'"),
        (("deliverables", "record", FEB, "成效檢核表"), "not recorded as held"),
        (("deliverables", "record", JAN, "成效檢核表", "--at", "2023-01-10"), "before the meeting"),
        (("deliverables", "record", JAN, "成效檢核表", "--at", "2023-07-01"), "in the future"),
        (("deliverables", "record", JAN, "成效檢核表", "--at", "someday"), "--at"),
        (("deliverables", "record", "nope@x", "成效檢核表"), "unknown meeting UID"),
        (("deliverables", "record", JAN, "成效檢核表", "--note-file", "/nonexistent"), "no such"),
        (("deliverables", "list"), "a meeting UID or --overdue"),
        (("deliverables", "list", JAN, "--overdue"), "a meeting UID or --overdue"),
    ]
    for args, words in cases:
        r = loaded(*args, "--now", NOW)
        assert r.exit_code == 2, (args, r.stdout)
        assert words in r.stderr, (args, r.stderr)
    assert _rows(db_url) == []


def test_the_note_is_screened_and_never_in_an_event(
    loaded: Cli, db_url: str, tmp_path: Path
) -> None:
    note = write(tmp_path / "note.txt", "已送教育局，承辦人電話 0912-345-678\n")
    r = loaded("deliverables", "record", JAN, "成效檢核表", "--note-file", str(note),
               "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "warning: " in r.stderr and "已遮蔽" in r.stderr and "0912" not in r.stderr
    ((_occ, _name, _day, stored),) = _rows(db_url)
    assert stored is not None and "0912" not in stored and "已送教育局" in stored
    engine = create_engine(db_url)
    with Session(engine) as s:
        events = [e for e in s.scalars(select(OutboxEvent)) if e.kind == "deliverable.recorded"]
    engine.dispose()
    (event,) = events
    assert (
        event.payload["deliverable"] == "成效檢核表" and event.payload["on_time"] is False
    )  # handed in on Jun 1
    assert "已送教育局" not in json.dumps(event.payload, ensure_ascii=False)


def test_as_limits_to_the_users_city_and_names_who(cli: Cli, db_url: str, tmp_path: Path) -> None:
    from meetings.access.users import add_user
    from scheduler.bootstrap import build_app
    from scheduler.clock import FixedClock
    from scheduler.settings import Settings
    from tests.conftest import taipei

    files = [write(tmp_path / "city.yaml", CITY), write(tmp_path / "ny.yaml", OTHER)]
    assert cli("config", "load", *map(str, files), "--now", "2023-01-01T09:00").exit_code == 0
    cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-03-31",
        "--now", "2023-01-01T09:00")  # fmt: skip
    cli("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    app = build_app(Settings(database_url=db_url), FixedClock(taipei(2023, 1, 1, 9)))
    with app.transaction() as s:
        add_user(s, "ny@example.org", "secretariat", "correct horse battery", app.clock.now(),
                 city="紐約市")  # fmt: skip
        add_user(s, "chen@example.org", "secretariat", "correct horse battery", app.clock.now(),
                 city="測試市")  # fmt: skip
    app.close()
    r = cli("deliverables", "record", JAN, "成效檢核表", "--as", "ny@example.org", "--now", NOW)
    assert r.exit_code == 2 and "unknown meeting UID" in r.stderr
    r = cli("deliverables", "list", JAN, "--as", "ny@example.org", "--now", NOW)
    assert r.exit_code == 2 and "unknown meeting UID" in r.stderr
    r = cli("deliverables", "record", JAN, "成效檢核表", "--as", "chen@example.org",
            "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["by"] == "chen@example.org"


# --- the on-time KPI -------------------------------------------------------------------


def _owed(key: str, due: date, submitted: date | None) -> Owed:
    return Owed(f"{key}-{due}", "s", key, 1, "t", "成效檢核表", "EDU", due, due, submitted, None,
                None)  # fmt: skip


def test_on_time_counts_per_instance() -> None:
    items = [
        _owed("s-a", date(2023, 1, 18), date(2023, 1, 18)),  # on the day: on time
        _owed("s-a", date(2023, 2, 18), date(2023, 2, 19)),  # a day late
        _owed("s-a", date(2023, 3, 18), None),  # never
        _owed("s-b", date(2023, 1, 18), date(2023, 1, 1)),
    ]
    assert on_time_counts(items) == {("s", "s-a"): (1, 3), ("s", "s-b"): (1, 1)}
    assert on_time_counts([]) == {}


def test_deliverable_on_time_counts_for_a_year_and_as_of(loaded: Cli, db_url: str) -> None:
    loaded("deliverables", "record", JAN, "成效檢核表", "--at", "2023-01-18", "--now", NOW)
    loaded("deliverables", "record", JAN, "檢討報告", "--at", "2023-01-26", "--now", NOW)  # late
    loaded("deliverables", "record", MAR, "成效檢核表", "--at", "2023-03-10", "--now", NOW)
    engine = create_engine(db_url)
    with Session(engine) as s:
        # JAN: 2 due (1 on time), MAR: 2 due (1 on time) → 2 of 4.
        assert deliverable_on_time_counts(s, 112) == {("cp", "cp"): (2, 4)}
        assert deliverable_on_time_counts(s, 2023, series_id="cp") == {("cp", "cp"): (2, 4)}
        # As of 2023-03-20: MAR's 檢討報告 (due 03-22) was not due yet.
        assert deliverable_on_time_counts(s, 112, as_of=date(2023, 3, 20)) == {("cp", "cp"): (2, 3)}
        assert deliverable_on_time_counts(s, 111) == {}
        assert deliverable_on_time_counts(s, 112, district="甲區") == {}
    engine.dispose()


def test_the_kpi_report_has_the_deliverables_rate(loaded: Cli) -> None:
    loaded("deliverables", "record", JAN, "成效檢核表", "--at", "2023-01-18", "--now", NOW)
    loaded("deliverables", "record", JAN, "檢討報告", "--at", "2023-01-26", "--now", NOW)  # late
    loaded("deliverables", "record", MAR, "成效檢核表", "--at", "2023-03-10", "--now", NOW)

    def total(*extra: str) -> dict[str, object]:
        res = loaded("kpi", "--year", "112", "--json", *extra)
        assert res.exit_code == 0, res.stderr
        rows = json.loads(res.stdout)["rows"]
        return next(r for r in rows if r["series"] is None)

    assert total()["deliverables_on_time_rate"] == 50.0  # 2 of 4
    assert total("--as-of", "2023-03-20")["deliverables_on_time_rate"] == 66.7  # 2 of 3
