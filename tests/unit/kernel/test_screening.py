"""The free-text screener: what it redacts, what it leaves alone, and that it never
returns the values it found."""

from __future__ import annotations

import pytest

from meetings.kernel.screening import REDACTED, Kind, cap, looks_like_name, quoted, screen

ISSUE = "案母林美麗（身分證A223456789，0912-345-678）住桃園市中壢區中正路100號3樓"


def test_the_issue_example_is_fully_redacted() -> None:
    got = screen(ISSUE)
    for secret in ("林美麗", "A223456789", "0912", "345-678", "中正路", "100號", "3樓", "中壢區"):
        assert secret not in got.text, secret
    assert got.text == f"案母{REDACTED}（身分證{REDACTED}，{REDACTED}）住{REDACTED}"
    assert got.count == 4
    assert got.kinds == (Kind.NATIONAL_ID, Kind.PHONE, Kind.ADDRESS, Kind.NAME)
    assert got.summary() == "已遮蔽 4 項（身分證字號/電話/地址/姓名）"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("身分證A123456789", Kind.NATIONAL_ID),
        ("ID: F223456789。", Kind.NATIONAL_ID),
        ("id a123456789", Kind.NATIONAL_ID),
        ("居留證AC01234567", Kind.NATIONAL_ID),
        ("新式居留證A800000014", Kind.NATIONAL_ID),
        ("全形Ａ２２３４５６７８９", Kind.NATIONAL_ID),
        ("手機0912345678", Kind.PHONE),
        ("手機 0912 345 678", Kind.PHONE),
        ("0912.345.678", Kind.PHONE),
        ("市話(03)123-4567", Kind.PHONE),
        ("（０３）１２３－４５６７", Kind.PHONE),
        ("02-2345-6789", Kind.PHONE),
        ("037-123456" + "7", Kind.PHONE),
        ("0223456789", Kind.PHONE),
        ("+886-912-345-678", Kind.PHONE),
        ("+886 3 123 4567", Kind.PHONE),
        ("+886 (0)2 2345 6789", Kind.PHONE),
        ("電話2345-6789", Kind.PHONE),
        ("02-2345-6789#123", Kind.PHONE),
        ("住桃園市中壢區中正路100號3樓", Kind.ADDRESS),
        ("中正路100號", Kind.ADDRESS),
        ("臺北市大安區忠孝東路四段100巷5弄3號", Kind.ADDRESS),
        ("遷至民生街25之1號", Kind.ADDRESS),
        ("大園區橫峰里5鄰12號", Kind.ADDRESS),
        ("新北市板橋區文化路一段188巷", Kind.ADDRESS),
        ("案母林美麗到校", Kind.NAME),
        ("相對人：陳大明", Kind.NAME),
        ("案主歐陽小明", Kind.NAME),
        ("父親王明因酒後", Kind.NAME),
    ],
)
def test_positive_examples(text: str, kind: Kind) -> None:
    got = screen(text)
    assert got.count >= 1, text
    assert kind in got.kinds, (text, got)
    assert REDACTED in got.text


@pytest.mark.parametrize(
    "text",
    [
        "SDM高風險且家庭維繫處遇中再通報",
        "桃園市政府社會局轉介",
        "中壢分局家防官通報",
        "中正路派出所",
        "桃園市中壢區",
        "保護令第100號",
        "112年3月8日再通報，TIPVDA 12分",
        "2023-03-08 至 2023-06-30",
        "案號 TY-DV-0001",
        "案父陳述遭毆",
        "相對人施暴後離家",
        "案母表示已搬家",
        "會議時間 0900-1200",
        "第3次訪視，案童就學中",
        "",
        "王○明",
        REDACTED,
    ],
)
def test_negative_examples(text: str) -> None:
    got = screen(text)
    assert got.text == text
    assert got.count == 0 and got.kinds == ()


def test_names_given_by_the_caller() -> None:
    # The full name before masking, and the masked form (catching the full name).
    assert screen("王小明今日未到校", ["王小明"]).text == f"{REDACTED}今日未到校"
    assert screen("王小明今日未到校", ["王○明"]).kinds == (Kind.NAME,)
    assert screen("歐陽小明", ["歐○○明"]).text == REDACTED
    assert screen("王○明今日未到校", ["王○明"]).count == 0  # the masked form may be shown
    # Too little known to match on: 王○ would match every 王.
    assert screen("王先生來電", ["王○"]).count == 0
    assert screen("其他", [None, "", "王"]).count == 0


def test_screening_is_idempotent_and_never_returns_values() -> None:
    once = screen(ISSUE)
    assert screen(once.text).text == once.text
    assert screen(once.text).count == 0
    assert "A223456789" not in repr(once)


def test_cap_and_quoted() -> None:
    assert cap("一二三", 3) == "一二三"
    assert cap("一二三四", 3) == "一二…"
    assert looks_like_name("陳美玲") and looks_like_name("歐陽小明")
    assert not looks_like_name("中壢區") and not looks_like_name("兒少保護")
    assert quoted("陳美玲") == "(value not shown)"
    assert quoted("A223456789") == "(value not shown)"
    assert quoted("信義區") == "'信義區'"
    assert len(quoted("x" * 500)) < 60
