"""No agency in two places at once: the shipped schedules, pinned clashes, one series alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli, write
from tests.support.configs import BASE

# A second monthly series needing 警察局 at the same default time as BASE's ``cp``.
SECOND = """\
  - id: police
    title: 警政聯繫會議
    organizer: POL
    cadence: 每月召開1次
    time: "15:00"
    invite: {required: [POL]}
"""
PINNED = BASE.replace(
    "cadence: 每月召開1次", "cadence: {every: month, on: 2nd WE}"
) + SECOND.replace("cadence: 每月召開1次", "cadence: {every: month, on: 2nd WE}")


def conflicts(cli: Cli, year: int) -> list[dict[str, object]]:
    res = cli("schedule", "conflicts", "--year", str(year), "--json", "--now", "2022-12-01")
    assert res.exit_code == 0, res.stderr
    found: list[dict[str, object]] = json.loads(res.stdout)["conflicts"]
    return found


def starts(cli: Cli, series: str) -> dict[str, str]:
    rows = json.loads(cli("schedule", "list", "--series", series, "--json").stdout)
    return {r["uid"]: r["start"] for r in rows}


def test_the_shipped_2023_to_2027_schedules_have_no_double_booking(cli: Cli) -> None:
    assert cli("config", "load", str(EXAMPLES), "--now", "2022-12-01").exit_code == 0
    span = ("--from", "2023-01-01", "--to", "2027-12-31", "--now", "2022-12-01")
    res = cli("schedule", "generate", *span)
    assert res.exit_code == 0, res.stderr
    for year in range(2023, 2028):
        assert conflicts(cli, year) == [], year


def test_a_free_day_moves_off_the_clash_and_keeps_its_identity(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "c.yaml", BASE + SECOND)
    cli("config", "load", str(tmp_path / "c.yaml"))
    cli("schedule", "generate", "--from", "2023-03-01", "--to", "2023-03-31", "--now", "2023-01-01")
    cp, police = starts(cli, "cp"), starts(cli, "police")
    # Both default to the 2nd Wednesday, 3/8: cp needs two agencies and keeps the day;
    # the police meeting (14:00–16:00 vs 15:00–17:00 overlap) takes Thursday 3/9.
    assert list(cp.values()) == ["2023-03-08T14:00:00+08:00"]
    assert police == {"police-20230308@liaison.test.example": "2023-03-09T15:00:00+08:00"}
    assert conflicts(cli, 2023) == []
    listed = cli("schedule", "list", "--series", "police").stdout
    assert "避開警察局同一時段的其他會議" in listed


def test_one_series_generated_alone_lands_where_generating_all_puts_it(
    cli: Cli, tmp_path: Path
) -> None:
    write(tmp_path / "c.yaml", BASE + SECOND)
    cli("config", "load", str(tmp_path / "c.yaml"))
    span = ("--from", "2023-01-01", "--to", "2023-12-31", "--now", "2022-12-01")
    assert cli("schedule", "generate", "--series", "police", *span).exit_code == 0
    assert cli("schedule", "generate", "--series", "cp", *span).exit_code == 0
    again = cli("schedule", "generate", *span, "--json")
    assert json.loads(again.stdout)["moved"] == 0
    assert conflicts(cli, 2023) == []


def test_a_clash_forced_by_pinned_days_is_listed_not_moved(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "c.yaml", PINNED)
    cli("config", "load", str(tmp_path / "c.yaml"))
    cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-12-31", "--now", "2022-12-01")
    found = conflicts(cli, 2023)
    assert len(found) == 12 and not any(c["avoidable"] for c in found)
    first = found[0]
    assert first["agency_names"] == ["警察局"]
    titles = [first[side]["title"] for side in ("first", "second")]  # type: ignore[index]
    assert titles == ["兒少保護網絡會議", "警政聯繫會議"] and first["city"] == "測試市"
    text = cli("schedule", "conflicts", "--year", "112", "--now", "2022-12-01").stdout
    assert (
        "112年1月11日（星期三）下午2時  兒少保護網絡會議 × 112年1月11日（星期三）下午3時 警政聯繫會議"
        in text
    )
    assert "12 conflicts (0 avoidable) in 2023 (民國112年)" in text


@pytest.mark.parametrize("year", ["1911", "abc", "99999"])
def test_a_bad_year_is_refused(cli: Cli, year: str) -> None:
    res = cli("schedule", "conflicts", "--year", year)
    assert res.exit_code == 2
    assert "--year" in res.stderr
