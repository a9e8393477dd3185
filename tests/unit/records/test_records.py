"""Attendance, minutes, discussed cases and action items through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meetings.db import Attendance, HeldMeeting, Occurrence, OutboxEvent
from tests.conftest import Cli, write
from tests.support.configs import BASE

DOMAIN = "liaison.test.example"
JAN = f"cp-20230111@{DOMAIN}"
FEB = f"cp-20230208@{DOMAIN}"
MAR = f"cp-20230308@{DOMAIN}"
NOW = "2023-06-01T09:00"


@pytest.fixture
def loaded(cli: Cli, tmp_path: Path) -> Cli:
    cfg = write(tmp_path / "city.yaml", BASE)
    assert cli("config", "load", str(cfg), "--now", "2023-01-01T09:00").exit_code == 0
    r = cli(
        "schedule",
        "generate",
        "--from",
        "2023-01-01",
        "--to",
        "2023-12-31",
        "--now",
        "2023-01-01T09:00",
    )
    assert r.exit_code == 0, r.stderr
    return cli


def _scalar(db_url: str, stmt: object) -> object:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(db_url)
    with Session(engine) as s:
        value = s.scalar(stmt)  # type: ignore[call-overload]
    engine.dispose()
    return value


def _status(db_url: str, uid: str) -> object:
    return _scalar(db_url, select(Occurrence.status).where(Occurrence.uid == uid))


def _count_attendance(db_url: str) -> object:
    return _scalar(db_url, select(func.count()).select_from(Attendance))


# --- attendance ----------------------------------------------------------------------


def test_record_marks_held_on_the_scheduled_date(loaded: Cli, db_url: str) -> None:
    r = loaded(
        "attendance", "record", JAN, "--agency", "POL", "--person", "Li@Example.org",
        "--status", "delegated", "--rank", "組長", "--now", NOW, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {
        "uid": JAN,
        "agency": "POL",
        "person": "li@example.org",
        "status": "delegated",
        "rank": "組長",
        "held_on": "2023-01-11",
    }
    assert _status(db_url, JAN) == "held"
    kinds = _scalar(db_url, select(func.count()).where(OutboxEvent.kind == "occurrence.held"))
    assert kinds == 1
    # correcting the same line updates it rather than adding another
    r = loaded("attendance", "record", JAN, "--agency", "POL", "--person", "li@example.org",
               "--status", "present", "--now", NOW)  # fmt: skip
    assert r.exit_code == 0
    listed = json.loads(loaded("attendance", "list", JAN, "--json").stdout)
    assert listed == [
        {"agency": "POL", "person": "li@example.org", "status": "present", "rank": None}
    ]


def test_held_at_another_date(loaded: Cli, db_url: str) -> None:
    r = loaded("attendance", "record", MAR, "--agency", "DVPC", "--status", "present",
               "--held-at", "112/04/03", "--now", NOW)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "held on 2023-04-03" in r.stdout
    held = _scalar(db_url, select(HeldMeeting.held_on))
    assert str(held) == "2023-04-03"
    # its cycle stays the month of the nominal date
    assert str(_scalar(db_url, select(HeldMeeting.cycle_last))) == "2023-03-31"


def test_refusals_exit_2_and_change_nothing(loaded: Cli, db_url: str) -> None:
    from sqlalchemy import create_engine, update

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Occurrence).where(Occurrence.uid == FEB).values(status="cancelled"))
    engine.dispose()
    cases = [
        (("--agency", "POL", "--status", "present"), FEB, "is cancelled"),
        (("--agency", "POL", "--status", "present"), "nope@x", "unknown meeting UID 'nope@x'"),
        (("--agency", "FIRE", "--status", "present"), JAN, "unknown agency 'FIRE'"),
        (("--agency", "POL", "--status", "late"), JAN, "present, absent or delegated"),
        (("--agency", "POL", "--status", "present", "--person", "王"), JAN, "email"),
        (("--agency", "POL", "--status", "present", "--held-at", "2023-07-01"), JAN, "after today"),
    ]
    for opts, uid, message in cases:
        r = loaded("attendance", "record", uid, *opts, "--now", NOW)
        assert r.exit_code == 2, (opts, r.stdout)
        assert message in r.stderr, r.stderr
    assert _count_attendance(db_url) == 0
    assert _status(db_url, JAN) == "scheduled"


def test_import_csv(loaded: Cli, db_url: str, tmp_path: Path) -> None:
    f = write(
        tmp_path / "att.csv",
        "uid,agency,person,status,rank\n"
        f"{JAN},DVPC,chen@example.org,present,社工督導\n"
        f"{JAN},POL,,delegated,\n"
        f"{MAR},POL,,absent,\n",
    )
    r = loaded("attendance", "import", str(f), "--now", NOW, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"rows": 3, "meetings": [JAN, MAR]}
    assert _count_attendance(db_url) == 3
    assert _status(db_url, MAR) == "held"


def test_import_reports_every_bad_row_and_imports_nothing(
    loaded: Cli, db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, update

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Occurrence).where(Occurrence.uid == FEB).values(status="cancelled"))
    engine.dispose()
    f = write(
        tmp_path / "att.csv",
        "uid,agency,person,status,rank\n"
        f"{JAN},DVPC,,present,\n"
        f"{JAN},XX,,present,\n"
        f"{FEB},POL,,present,\n"
        f"nope@x,POL,,present,\n"
        f"{MAR},POL,not-an-email,maybe,\n"
        f"{JAN},DVPC,,absent,\n",
    )
    r = loaded("attendance", "import", str(f), "--now", NOW)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"{f}:3: agency: unknown agency 'XX'",
        f"{f}:4: uid: meeting {FEB} is cancelled",
        f"{f}:5: uid: unknown meeting 'nope@x'",
        f"{f}:6: status: must be present, absent or delegated, not 'maybe'",
        f"{f}:6: person: not an email address: 'not-an-email'",
        f"{f}:7: person: same meeting, agency and person as row 2",
    ]
    assert _count_attendance(db_url) == 0
    assert _status(db_url, JAN) == "scheduled"


def test_import_rejects_unknown_columns(loaded: Cli, tmp_path: Path) -> None:
    f = write(tmp_path / "att.csv", "uid,agency,status,phone\nx,POL,present,0912\n")
    r = loaded("attendance", "import", str(f), "--now", NOW)
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        f"{f}:1: phone: unknown column (columns: uid, agency, person, status, rank, held_at)"
    )


def test_import_xlsx(loaded: Cli, db_url: str, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["uid", "agency", "person", "status", "rank"])
    ws.append([JAN, "DVPC", None, "present", None])
    ws.append([JAN, "POL", "li@example.org", "absent", "巡佐"])
    path = tmp_path / "att.xlsx"
    wb.save(path)
    r = loaded("attendance", "import", str(path), "--now", NOW)
    assert r.exit_code == 0, r.stderr
    assert "imported 2 attendance lines for 1 meetings" in r.stdout
    assert _count_attendance(db_url) == 2


# --- minutes, discussions, action items ------------------------------------------------------


def test_minutes_day_7_on_time_day_8_late(loaded: Cli, tmp_path: Path) -> None:
    m = write(tmp_path / "minutes.md", "# 會議紀錄\n一、決議：…\n")
    r = loaded("minutes", "record", JAN, "--file", str(m), "--now", NOW)
    assert r.exit_code == 2 and "not recorded as held" in r.stderr
    for uid in (JAN, MAR):
        assert loaded("attendance", "record", uid, "--agency", "POL", "--status", "present",
                      "--now", NOW).exit_code == 0  # fmt: skip
    r = loaded(
        "minutes", "record", JAN, "--file", str(m), "--at", "2023-01-18", "--now", NOW, "--json"
    )
    assert json.loads(r.stdout) == {
        "uid": JAN, "recorded_on": "2023-01-18", "due_on": "2023-01-18", "on_time": True
    }  # fmt: skip
    r = loaded("minutes", "record", MAR, "--file", str(m), "--at", "2023-03-16", "--now", NOW)
    assert r.exit_code == 0 and "late" in r.stdout
    r = loaded("minutes", "record", MAR, "--file", str(m), "--at", "2023-03-01", "--now", NOW)
    assert r.exit_code == 2 and "before the meeting" in r.stderr
    shown = loaded("minutes", "show", JAN)
    assert shown.stdout.startswith("# 會議紀錄")


def test_minutes_never_reach_the_outbox(loaded: Cli, db_url: str, tmp_path: Path) -> None:
    m = write(tmp_path / "minutes.md", "機密內容ABC\n")
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    assert loaded("minutes", "record", JAN, "--file", str(m), "--now", NOW).exit_code == 0
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(db_url)
    with Session(engine) as s:
        payloads = [
            json.dumps(e.payload, ensure_ascii=False) for e in s.scalars(select(OutboxEvent))
        ]
    engine.dispose()
    assert any("minutes" in p or "recorded_on" in p for p in payloads)
    assert not any("機密內容" in p for p in payloads)


def test_action_items_add_close_list(loaded: Cli) -> None:
    r = loaded(
        "actions", "add", JAN, "--owner", "POL", "--due", "2023-02-28", "加強巡邏", "--now", NOW
    )
    assert r.exit_code == 2 and "not recorded as held" in r.stderr
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    r = loaded("actions", "add", JAN, "--owner", "POL", "--due", "112/02/28", "加強巡邏",
               "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    first = json.loads(r.stdout)["id"]
    r = loaded(
        "actions", "add", JAN, "--owner", "DVPC", "--due", "2023-03-31", "召開研討", "--now", NOW
    )
    assert r.exit_code == 0
    r = loaded("actions", "add", JAN, "--owner", "NOPE", "--due", "2023-03-31", "x", "--now", NOW)
    assert r.exit_code == 2 and "unknown agency 'NOPE'" in r.stderr
    r = loaded("actions", "close", str(first), "--at", "2023-03-02", "--now", NOW)
    assert r.exit_code == 0 and "late" in r.stdout
    r = loaded("actions", "close", str(first), "--now", NOW)
    assert r.exit_code == 2 and "already closed on 2023-03-02" in r.stderr
    r = loaded("actions", "close", "999", "--now", NOW)
    assert r.exit_code == 2 and "unknown action item #999" in r.stderr
    open_items = json.loads(loaded("actions", "list", "--open", "--json").stdout)
    assert [(i["owner"], i["text"], i["due"]) for i in open_items] == [
        ("DVPC", "召開研討", "2023-03-31")
    ]
    everything = json.loads(loaded("actions", "list", "--json").stdout)
    assert [i["open"] for i in everything] == [False, True]
    assert everything[0]["closed"] == "2023-03-02"


def test_discussed_needs_a_held_meeting_and_known_cases(loaded: Cli) -> None:
    r = loaded("discussed", JAN, "C-1", "--now", NOW)
    assert r.exit_code == 2 and "not recorded as held" in r.stderr
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    r = loaded("discussed", JAN, "C-404", "--now", NOW)
    assert r.exit_code == 2 and "C-404" in r.stderr


def test_minutes_can_confirm_the_frozen_agenda(loaded: Cli, tmp_path: Path) -> None:
    m = write(tmp_path / "minutes.md", "# 會議紀錄\n")
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    r = loaded("minutes", "record", JAN, "--file", str(m), "--confirm-agenda", "--now", NOW)
    assert r.exit_code == 2 and "no frozen agenda" in r.stderr
    # nothing was stored: the minutes and the confirmation are one transaction
    assert loaded("minutes", "show", JAN).exit_code == 2


def test_held_date_more_than_a_year_away_is_refused(
    loaded: Cli, db_url: str, tmp_path: Path
) -> None:
    # 2023-01-11 → 2024-01-13 is 367 days (2024-01-12, 366 days, would still be accepted)
    r = loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present",
               "--held-at", "2024-01-13", "--now", "2024-02-01T09:00")  # fmt: skip
    assert r.exit_code == 2 and "more than 366 days away" in r.stderr
    f = write(
        tmp_path / "att.csv",
        f"uid,agency,status,held_at\n{JAN},POL,present,2024-01-13\n{MAR},POL,present,2023-03-09\n",
    )
    r = loaded("attendance", "import", str(f), "--now", "2024-02-01T09:00")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"{f}:2: held_at: meeting {JAN} was scheduled for 2023-01-11; 2024-01-13 is more "
        "than 366 days away (add an ad-hoc meeting instead)"
    ]
    assert _count_attendance(db_url) == 0


def test_discussed_takes_cases_or_the_agenda(loaded: Cli) -> None:
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    r = loaded("discussed", JAN, "--now", NOW)
    assert r.exit_code == 2 and "or --agenda" in r.stderr
    r = loaded("discussed", JAN, "C-1", "--agenda", "--now", NOW)
    assert r.exit_code == 2 and "not both" in r.stderr
    r = loaded("discussed", JAN, "--agenda", "--now", NOW)
    assert r.exit_code == 2 and "no frozen agenda" in r.stderr


def test_minutes_missing_lists_overdue_meetings(loaded: Cli, tmp_path: Path) -> None:
    # 2023-01-11 held, minutes due 01-18 (7d); 2023-02-08 not recorded, due 02-15
    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present",
           "--now", "2023-01-11T17:00")  # fmt: skip
    r = loaded("minutes", "missing", "--now", "2023-01-18T18:00", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == []  # the deadline day itself is still on time
    r = loaded("minutes", "missing", "--now", "2023-02-16T09:00", "--json")
    assert [(m["uid"], m["held"], m["due_on"]) for m in json.loads(r.stdout)] == [
        (JAN, True, "2023-01-18"),
        (FEB, False, "2023-02-15"),
    ]
    m = write(tmp_path / "minutes.md", "# 會議紀錄\n")
    loaded("minutes", "record", JAN, "--file", str(m), "--now", "2023-02-16T10:00")
    r = loaded("minutes", "missing", "--now", "2023-02-16T11:00")
    assert r.exit_code == 0 and JAN not in r.stdout and FEB in r.stdout


# --- free text is screened at entry (issue 12) ----------------------------------------------

LEAK = "案母林美麗（身分證A223456789，0912-345-678）住桃園市中壢區中正路100號3樓"
SECRETS = ("林美麗", "A223456789", "0912-345-678", "中正路100號")


def test_action_items_and_minutes_are_stored_screened(
    loaded: Cli, db_url: str, tmp_path: Path
) -> None:
    from meetings.db import ActionItem, Minutes

    loaded("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    r = loaded("actions", "add", JAN, "--owner", "POL", "--due", "2023-02-28", "訪視" + LEAK,
               "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    m = write(tmp_path / "minutes.md", "決議：" + LEAK + "\n")
    assert loaded("minutes", "record", JAN, "--file", str(m), "--now", NOW).exit_code == 0
    stored = [
        str(_scalar(db_url, select(ActionItem.text))),
        str(_scalar(db_url, select(Minutes.text))),
    ]
    shown = loaded("actions", "list", "--json").stdout + r.stdout
    for secret in SECRETS:
        assert all(secret not in t for t in stored), secret
        assert secret not in shown, secret
    assert stored[0].startswith("訪視案母〔已遮蔽〕")
    assert "〔已遮蔽〕" in stored[1]


def test_attendance_messages_do_not_echo_names_or_long_values(loaded: Cli, tmp_path: Path) -> None:
    f = write(
        tmp_path / "att.csv",
        f"uid,agency,person,status,rank\n{JAN},陳美玲,,present,\n{JAN},POL,,{'x' * 300},\n",
    )
    r = loaded("attendance", "import", str(f), "--now", NOW)
    assert r.exit_code == 2
    assert f"{f}:2: agency: unknown agency (value not shown)" in r.stderr
    assert "x" * 30 not in r.stderr and "陳美玲" not in r.stderr
