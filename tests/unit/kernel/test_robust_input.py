"""Huge, binary and control-character input: short messages, refused sheets (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meetings.kernel.errors import control_character, shorten
from meetings.kernel.tabular import Limits, TableError, open_table
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.config_build import build_config
from tests.support.configs import CONFIG


def test_shorten_cuts_long_values_and_shows_controls() -> None:
    assert shorten("abc") == "abc"
    cut = shorten("x" * 20_000_000)
    assert cut.startswith("x" * 80 + "…") and "20,000,000 characters" in cut and len(cut) < 120
    assert shorten("a\r\nb\u2028") == "a\\x0d\\x0ab\\u2028"


@pytest.mark.parametrize(
    "ch", ["\r", "\n", "\t", "\x00", "\x1b", "\x85", "\x9f", "\u2028", "\u2029"]
)
def test_control_character_finds_c0_c1_and_separators(ch: str) -> None:
    assert control_character(f"家防{ch}中心") == f"U+{ord(ch):04X}"
    assert control_character("家防中心 DV-1（甲區）") is None


def _errors(text: str) -> list[str]:
    with pytest.raises(SourceError) as info:
        build_config([load_yaml(text, "city.yaml")])
    return info.value.errors


def test_a_20mb_yaml_value_gives_a_short_message_naming_its_line() -> None:
    big = CONFIG.replace("city: 測試市\n", "city: 測試市\ntimezone: " + "x" * 20_000_000 + "\n")
    (msg,) = _errors(big)
    assert msg.startswith("city.yaml:2: ") and len(msg) <= 200, msg[:300]


def test_a_long_value_within_the_line_limit_is_cut_in_messages() -> None:
    (msg,) = _errors(CONFIG.replace("code: POL", "code: P" + "!" * 9_000))
    assert msg.startswith("city.yaml:5: agencies[1].code: ") and len(msg) <= 200, msg


def test_binary_yaml_gives_a_clear_line() -> None:
    with pytest.raises(SourceError) as info:
        load_yaml("city: a\nname: \x01\x02\x03\n", "city.yaml")
    assert info.value.errors == [
        "city.yaml:2: invalid YAML: unacceptable character #x0001 (binary data?)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("name: 家防中心", 'name: "家防\\r\\nBcc: x@evil"', "city.yaml:4: agencies[0].name"),
        ("name: 甲區", 'name: "甲\\n區"', "city.yaml:7: districts[0].name"),
        ("title: 兒少保護網絡會議", 'title: "兒少\\t會議"', "city.yaml:11: series[0].title"),
        ("city: 測試市", 'city: "測試\\u2028市"', "city.yaml:1: city"),
        (
            'time: "14:00"',
            'time: "14:00"\n    location: "A\\x85B"',
            "city.yaml:15: series[0].location",
        ),
    ],
)
def test_control_characters_in_names_titles_and_addresses_are_refused(
    old: str, new: str, where: str
) -> None:
    assert old in CONFIG
    (msg,) = _errors(CONFIG.replace(old, new, 1))
    assert msg.startswith(where + ": control character U+"), msg


# --- tabular limits ----------------------------------------------------------------------


def _read(path: Path, limits: Limits) -> list[tuple[int, list[str]]]:
    with open_table(path, limits) as table:
        return list(table.rows)


SMALL = Limits(max_rows=3, max_columns=3, max_cell=5)


def test_sheets_within_the_limits_are_read(tmp_path: Path) -> None:
    f = tmp_path / "ok.csv"
    f.write_text("a,b,c\n1,2,3\n\n4,5,6\n", encoding="utf-8")
    assert _read(f, SMALL) == [(2, ["1", "2", "3"]), (4, ["4", "5", "6"])]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1\n2\n3\n4\n", "t.csv:5: file: more than 3 rows"),
        ("a,b\n1,2,3,4\n", "t.csv:2: file: 4 columns, more than 3"),
        ("a,b,c,d\n", "t.csv:1: file: 4 columns, more than 3"),
        ("a,b\n1,123456\n", "t.csv:2: column 2: cell too long (6 characters; at most 5)"),
    ],
)
def test_csv_beyond_the_limits_is_refused(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "t.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(TableError) as info:
        _read(f, SMALL)
    (error,) = info.value.errors
    assert error.startswith(f"{tmp_path}/{message}"), error


def test_an_xlsx_cell_at_xfd1048576_is_refused_without_a_million_wide_rows(
    tmp_path: Path,
) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["case_no", "name"])
    ws.append(["DV-1", "王"])
    ws["XFD1048576"] = "x"
    f = tmp_path / "bomb.xlsx"
    wb.save(f)
    with open_table(f) as table:
        rows = table.rows
        assert next(rows) == (2, ["DV-1", "王"])
        with pytest.raises(TableError, match=r"bomb.xlsx:1048576: file: more than 100,000 rows"):
            next(rows)
    with pytest.raises(TableError, match=r"bomb.xlsx:1048576: file: 16,384 columns"):
        _read(f, Limits(max_rows=2_000_000))


def test_an_xlsx_that_unpacks_beyond_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["case_no"])
    for i in range(2000):
        ws.append([f"DV-{i}"])
    f = tmp_path / "big.xlsx"
    wb.save(f)
    with pytest.raises(TableError, match="unpacks to"):
        _read(f, Limits(max_bytes=10_000))
