"""District units of agencies: declared, validated, stored, and picked by one lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import Agency
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.units import unit_for
from scheduler.bootstrap import App
from tests.conftest import Cli, write
from tests.support.configs import CONFIG

UNIT = "{甲區: {name: 甲分局, emails: [jia.pol@example.org]}}"
WITH_UNIT = CONFIG.replace(
    "emails: [pol@example.org]}", f"emails: [pol@example.org], units: {UNIT}}}"
)


def errors_of(*texts: tuple[str, str]) -> list[str]:
    with pytest.raises(SourceError) as exc:
        build_config([load_yaml(text, name) for name, text in texts])
    return exc.value.errors


def test_a_unit_is_declared_and_looked_up_falling_back_to_the_agency() -> None:
    cfg = build_config([load_yaml(WITH_UNIT, "city.yaml")])
    pol = cfg.cities["測試市"].agencies["POL"]
    assert unit_for(pol, "甲區").name == "甲分局"
    assert unit_for(pol, "甲區").emails == ("jia.pol@example.org",)
    assert unit_for(pol, "乙區").name == "警察局"  # no unit there: the agency
    assert unit_for(pol, "乙區").emails == ("pol@example.org",)
    assert unit_for(pol, None).district is None  # a city-wide or zoned meeting


def test_unknown_district_names_the_agency_the_unit_and_the_districts() -> None:
    text = WITH_UNIT.replace("{甲區: {name: 甲分局", "{丙區: {name: 丙分局")
    assert errors_of(("city.yaml", text)) == [
        "city.yaml:5: agencies[1].units: agency 'POL' unit '丙分局': district '丙區' "
        "is not declared in 'districts' (known: 甲區、乙區)"
    ]


def test_districts_declared_in_another_file_of_the_city_count() -> None:
    agencies, rest = WITH_UNIT.split("districts:\n", 1)
    other = "city: 測試市\ndistricts:\n" + rest.split("series:\n", 1)[0]
    # The agencies' file declares no districts; the second file of the same city does.
    first = agencies + "series:\n" + rest.split("series:\n", 1)[1]
    cfg = build_config([load_yaml(first, "a.yaml"), load_yaml(other, "b.yaml")])
    assert unit_for(cfg.cities["測試市"].agencies["POL"], "甲區").name == "甲分局"


@pytest.mark.parametrize(
    ("unit", "complaint"),
    [
        ("{甲區: {name: 甲分局, emails: [not-an-address]}}", "agencies[1].units.甲區.emails[0]"),
        ("{甲區: {name: 甲分局, emails: []}}", "agencies[1].units.甲區.emails"),
        ("{甲區: {name: 甲分局}}", "missing required key 'emails'"),
        ('{甲區: {name: "甲\\n分局", emails: [a@example.org]}}', "must be one line"),
        ("{甲區: {name: 甲分局, emails: [a@example.org], phone: 1}}", "unknown key 'phone'"),
    ],
)
def test_bad_unit_is_rejected_with_its_line(unit: str, complaint: str) -> None:
    text = WITH_UNIT.replace(UNIT, unit)
    errs = errors_of(("city.yaml", text))
    assert len(errs) == 1 and errs[0].startswith("city.yaml:5: "), errs
    assert complaint in errs[0]


def test_units_are_stored_and_replaced_on_reload(app: App) -> None:
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(WITH_UNIT, "c.yaml")]), app.clock.now())
    with app.transaction() as s:
        pol = s.scalar(select(Agency).where(Agency.code == "POL"))
        assert pol is not None
        assert pol.units == {"甲區": {"name": "甲分局", "emails": ["jia.pol@example.org"]}}
        assert unit_for(pol, "甲區").emails == ("jia.pol@example.org",)
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(CONFIG, "c.yaml")]), app.clock.now())
    with app.transaction() as s:
        pol = s.scalar(select(Agency).where(Agency.code == "POL"))
        assert pol is not None and pol.units == {}


def test_config_check_exits_2_on_an_unknown_district(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "city.yaml", WITH_UNIT.replace("甲區: {name", "丁區: {name"))
    result = cli("config", "check", str(bad))
    assert result.exit_code == 2
    assert "district '丁區' is not declared" in result.stderr
