"""不定期 series: declared, checked, explained; no calendar meetings, ad-hoc ones only."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, write
from tests.support.configs import CONFIG

NOW = "2023-01-02T09:00"
IRREGULAR = CONFIG.replace("cadence: 每月召開1次", "cadence: 不定期召開")


def test_irregular_series_has_only_adhoc_meetings(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", IRREGULAR)
    assert cli("config", "check", str(path)).exit_code == 0
    assert cli("config", "load", str(path), "--now", NOW).exit_code == 0
    res = cli("schedule", "generate", "--from", "2023-01-01", "--to", "2024-12-31", "--now", NOW)
    assert res.exit_code == 0 and "0 created" in res.stdout
    explained = json.loads(cli("series", "explain", "cp", "--now", NOW, "--json").stdout)
    assert explained["cadence"] == "不定期召開" and explained["adhoc_allowed"] is True
    assert explained["description"].startswith("不定期召開")
    assert [i["next"] for i in explained["instances"]] == [[]]
    added = cli("meetings", "add", "cp", "--at", "2023-05-02T10:00", "--now", NOW)
    assert added.exit_code == 0, added.stderr
    listed = cli("schedule", "list", "--series", "cp", "--json")
    assert [m["nominal_date"] for m in json.loads(listed.stdout)] == ["2023-05-02"]
    # A second generation leaves the ad-hoc meeting alone.
    cli("schedule", "generate", "--from", "2023-01-01", "--to", "2024-12-31", "--now", NOW)
    kpi = json.loads(cli("kpi", "--year", "112").stdout)
    row = next(r for r in kpi["rows"] if r["series"] == "cp")
    assert row["meetings_scheduled"] == 1  # the ad-hoc meeting, nothing generated


def test_irregular_series_cannot_refuse_adhoc_meetings(cli: Cli, tmp_path: Path) -> None:
    text = IRREGULAR.replace('    time: "14:00"\n', '    time: "14:00"\n    adhoc: false\n')
    path = write(tmp_path / "c.yaml", text)
    res = cli("config", "check", str(path))
    assert res.exit_code == 2
    assert "c.yaml:" in res.stderr and "series[0] (cp)" in res.stderr
    assert "不定期" in res.stderr and "adhoc: false" in res.stderr


def test_unknown_phrase_hint_names_irregular(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", CONFIG.replace("每月召開1次", "有空再開"))
    res = cli("config", "check", str(path))
    assert res.exit_code == 2 and "不定期 (ad-hoc meetings only)" in res.stderr
