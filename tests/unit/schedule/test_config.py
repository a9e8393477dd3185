"""Config validation: precise FILE:LINE messages, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from meetings.db import Series
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.config_build import build_config
from tests.conftest import EXAMPLES, Cli, write
from tests.support.configs import BASE


def errors_of(text: str, name: str = "city.yaml") -> list[str]:
    with pytest.raises(SourceError) as exc:
        build_config([load_yaml(text, name)])
    return exc.value.errors


def test_base_config_is_valid() -> None:
    cfg = build_config([load_yaml(BASE, "city.yaml")])
    spec = cfg.cities["測試市"].series["cp"]
    assert spec.cadence is not None
    assert spec.cadence.rrule == "FREQ=MONTHLY;BYDAY=+2WE"
    assert [i.key for i in spec.instances] == ["cp"]


def test_unknown_cadence_phrase_is_quoted_with_its_line() -> None:
    text = BASE.replace("每月召開1次", "每兩週喝茶一次")
    errs = errors_of(text)
    assert len(errs) == 1
    assert errs[0].startswith("city.yaml:13: series[0].cadence:")
    assert "每兩週喝茶一次" in errs[0]


def test_undeclared_agency_names_the_line() -> None:
    text = BASE.replace("required: [DVPC, POL]", "required: [DVPC, EDU]")
    errs = errors_of(text)
    assert errs == [
        "city.yaml:15: series[0].invite.required: agency 'EDU' is not declared in 'agencies'"
    ]


def test_time_25_00_rejected() -> None:
    errs = errors_of(BASE.replace('"14:00"', '"25:00"'))
    assert len(errs) == 1 and errs[0].startswith("city.yaml:14: series[0].time:")
    assert "25:00" in errs[0]


def test_unquoted_time_is_not_sexagesimal() -> None:
    cfg = build_config([load_yaml(BASE.replace('"14:00"', "09:30"), "c.yaml")])
    assert str(cfg.cities["測試市"].series["cp"].start_time) == "09:30:00"


def test_unknown_key_rejected_with_line() -> None:
    errs = errors_of(BASE.replace("    organizer: DVPC\n", "    organiser: DVPC\n"))
    assert errs == ["city.yaml:12: series[0].organiser: unknown key 'organiser'"]


def test_duplicate_series_id_across_files() -> None:
    with pytest.raises(SourceError) as exc:
        build_config([load_yaml(BASE, "a.yaml"), load_yaml(BASE, "b.yaml")])
    assert any(
        e.startswith("b.yaml:10: series[0].id: duplicate series id 'cp'") for e in exc.value.errors
    )
    assert any("a.yaml:10" in e for e in exc.value.errors)


def test_per_district_without_districts() -> None:
    text = BASE.replace(
        "districts:\n  - {name: 甲區, code: jia}\n  - {name: 乙區, code: yi}\n", ""
    ).replace("    organizer: DVPC\n", "    organizer: DVPC\n    per_district: true\n")
    errs = errors_of(text)
    assert len(errs) == 1
    assert "per_district: true but the city declares no districts" in errs[0]
    assert errs[0].startswith("city.yaml:7: series[0] (cp)")


def test_per_district_fans_out_with_stable_keys() -> None:
    text = BASE.replace(
        "    organizer: DVPC\n", "    organizer: DVPC\n    per_district: true\n"
    ).replace("title: 兒少保護網絡會議", 'title: "{district}聯繫會議"')
    spec = build_config([load_yaml(text, "c.yaml")]).cities["測試市"].series["cp"]
    assert [(i.key, i.title) for i in spec.instances] == [
        ("cp-jia", "甲區聯繫會議"),
        ("cp-yi", "乙區聯繫會議"),
    ]
    # different instances get different default days
    assert spec.instances[0].cadence != spec.instances[1].cadence


def test_invalid_yaml_reports_line() -> None:
    errs = errors_of("city: x\nseries:\n  - id: [unclosed\n")
    assert errs[0].startswith("city.yaml:")
    assert "invalid YAML" in errs[0]


def test_zone_count_must_match_phrase() -> None:
    text = BASE.replace("每月召開1次", "每月5區各召開1次")
    errs = errors_of(text)
    assert "fans out over 5 zones" in errs[0]
    text2 = text.replace(
        "    organizer: DVPC\n", "    organizer: DVPC\n    zones: [北, 南, 東, 西, 中]\n"
    )
    spec = build_config([load_yaml(text2, "c.yaml")]).cities["測試市"].series["cp"]
    assert [i.zone for i in spec.instances] == ["北", "南", "東", "西", "中"]
    assert len({i.cadence.rrule for i in spec.instances if i.cadence}) == 5


def test_every_error_is_reported_at_once() -> None:
    text = BASE.replace('"14:00"', '"25:00"').replace(
        "    organizer: DVPC\n", "    organiser: DVPC\n"
    )
    assert len(errors_of(text)) == 2
    # Reference problems are collected together too.
    text = BASE.replace("[DVPC, POL]", "[DVPC, XX]").replace("每月召開1次", "隨便開")
    assert len(errors_of(text)) == 2


def test_example_configs_are_valid_and_cover_the_seed_systems(cli: Cli) -> None:
    res = cli("config", "check", str(EXAMPLES))
    assert res.exit_code == 0, res.stderr
    assert "3 cities" in res.stdout
    from scheduler.configfiles import read_config

    cfg = read_config([EXAMPLES])
    titles = " ".join(s.title for s in cfg.all_series())
    for needle in [
        "府級聯繫會議",
        "區級聯繫會議",
        "區級個案研討會議",
        "兒童及少年保護個案跨網絡合作會議",
        "網絡工作小組會議",
        "性剝削防制諮詢會",
        "家庭暴力暨性侵害防治委員會",
        "家暴高危機跨網絡合作會議",
        "少年輔導委員暨幹事會議",
        "幹事會議",
        "社勞政就業服務聯繫會議",
        "心理健康及自殺防治推動會",
        "心理健康委員會跨局處工作會議",
        "毒品防制聯繫會議",
        "毒品危害防制推動會議",
        "中輟",
        "中離學生輔導業務聯繫會議",
        "就業服務策進委員會",
        "性侵害加害人評估小組會議",
        "府層級跨局處會議",
        "需求評估會議",
        "成效評估會議",
        "期滿前轉銜會議",
    ]:
        assert needle in titles, needle
    ty = cfg.cities["桃園市"]
    assert len(ty.districts) == 13
    assert len(ty.series["ty-district-liaison"].instances) == 13
    assert len(ty.series["ty-dv-high-risk"].instances) == 5
    # Cases are imported by district: every city declares all of its own.
    assert len(cfg.cities["臺北市"].districts) == 12
    assert len(cfg.cities["臺中市"].districts) == 29
    # Every series invites: a reminder list without an invitation leaves the agencies
    # without a calendar entry (桃園's 兒少 network meeting once had one).
    for city in cfg.cities.values():
        for sid, series in city.series.items():
            kinds = {r.kind for r in series.decl.reminders or []}
            assert series.decl.reminders is None or "invitation" in kinds, sid


def test_every_shipped_city_takes_a_case_of_its_districts(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    """臺北市 and 臺中市 both have a 大安區: each city's import accepts its own."""
    assert cli("config", "load", str(EXAMPLES), "--now", "2023-01-02T09:00").exit_code == 0
    header = "case_no,case_type,district,sdm_risk,service,status,reported_at\n"
    for city, prefix in (("臺北市", "TP"), ("臺中市", "TC")):
        path = tmp_path / f"{prefix}.csv"
        path.write_text(header + f"{prefix}-CP-0001,兒少保護,大安區,高,家庭維繫,處遇中,112/01/05\n")
        res = cli("cases", "import", str(path), "--city", city, "--now", "2023-01-06T09:00")
        assert res.exit_code == 0, res.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "TP-CP-0002,兒少保護,西屯區,高,家庭維繫,處遇中,112/01/05\n")
    res = cli("cases", "import", str(bad), "--city", "臺北市", "--now", "2023-01-06T09:00")
    # 臺中's district, not 臺北's (the value is not echoed: a cell may hold case data)
    assert res.exit_code == 2 and "bad.csv:2: district: unknown district" in res.stderr


def test_config_load_with_an_invalid_file_writes_nothing(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    good = write(tmp_path / "good.yaml", BASE)
    bad = write(
        tmp_path / "bad.yaml",
        BASE.replace("測試市", "壞市")
        .replace("id: cp", "id: cp2")
        .replace("每月召開1次", "每月看心情"),
    )
    res = cli("config", "load", str(good), str(bad))
    assert res.exit_code == 2
    assert f"{bad}:13: series[0].cadence:" in res.stderr
    assert "每月看心情" in res.stderr
    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    with engine.connect() as conn:
        from sqlalchemy import inspect

        if inspect(conn).has_table("series"):
            assert conn.execute(select(func.count()).select_from(Series)).scalar() == 0
    engine.dispose()
    ok = cli("config", "load", str(good))
    assert ok.exit_code == 0, ok.stderr
    assert "1 added" in ok.stdout
