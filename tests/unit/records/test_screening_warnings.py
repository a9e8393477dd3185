"""`minutes record` and `actions add` warn on stderr (and in --json) when the text they
stored was screened (issue 12): the kinds redacted, never the values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from meetings.db import ActionItem, Minutes
from tests.conftest import Cli, write
from tests.support.configs import BASE

JAN = "cp-20230111@liaison.test.example"
NOW = "2023-06-01T09:00"
PHONE = "0912-345-678"
NATIONAL_ID = "A223456789"


@pytest.fixture
def held(cli: Cli, tmp_path: Path) -> Cli:
    """The base city, its 2023 meetings, January's recorded as held."""
    cfg = write(tmp_path / "city.yaml", BASE)
    assert cli("config", "load", str(cfg), "--now", "2023-01-01T09:00").exit_code == 0
    r = cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-12-31",
            "--now", "2023-01-01T09:00")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    r = cli("attendance", "record", JAN, "--agency", "POL", "--status", "present", "--now", NOW)
    assert r.exit_code == 0, r.stderr
    return cli


def stored(db_url: str, column: object) -> list[str]:
    engine = create_engine(db_url)
    with Session(engine) as s:
        values = list(s.scalars(select(column)))  # type: ignore[call-overload]
    engine.dispose()
    return values


def test_minutes_record_warns_what_was_screened(held: Cli, db_url: str, tmp_path: Path) -> None:
    m = write(tmp_path / "minutes.md", f"決議：請聯絡 {PHONE}，身分證 {NATIONAL_ID}。\n")
    r = held("minutes", "record", JAN, "--file", str(m), "--now", NOW)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == ["warning: minutes.md: 已遮蔽 2 項（身分證字號/電話）"]
    assert "recorded on" in r.stdout
    r = held("minutes", "record", JAN, "--file", str(m), "--now", NOW, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["warnings"] == ["minutes.md: 已遮蔽 2 項（身分證字號/電話）"]
    for out in (r.stdout, r.stderr):
        assert PHONE not in out and NATIONAL_ID not in out
    [text] = stored(db_url, Minutes.text)
    assert text == "決議：請聯絡 〔已遮蔽〕，身分證 〔已遮蔽〕。\n"


def test_actions_add_warns_what_was_screened(held: Cli, db_url: str) -> None:
    r = held("actions", "add", JAN, f"電話 {PHONE} 聯繫案家", "--owner", "POL",
             "--due", "2023-02-28", "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["warnings"] == [f"action item #{data['id']}: 已遮蔽 1 項（電話）"]
    assert r.stderr.splitlines() == [f"warning: action item #{data['id']}: 已遮蔽 1 項（電話）"]
    assert PHONE not in r.stdout + r.stderr and "345" not in r.stdout + r.stderr
    assert stored(db_url, ActionItem.text) == ["電話 〔已遮蔽〕 聯繫案家"]


def test_clean_text_has_no_warning(held: Cli, tmp_path: Path) -> None:
    r = held("actions", "add", JAN, "加強訪視", "--owner", "POL", "--due", "2023-02-28",
             "--now", NOW, "--json")  # fmt: skip
    assert r.exit_code == 0 and r.stderr == ""
    assert "warnings" not in json.loads(r.stdout)
    m = write(tmp_path / "minutes.md", "# 會議紀錄\n")
    r = held("minutes", "record", JAN, "--file", str(m), "--now", NOW, "--json")
    assert r.exit_code == 0 and r.stderr == ""
    assert "warnings" not in json.loads(r.stdout)
