"""The one screener of free text: national IDs, phone numbers, street addresses and
names are replaced by 〔已遮蔽〕 before text is stored, shown or mailed. Pure.

These are child-protection cases: a listing reason or a minute that names the
mother, her ID and her address is a leak to every agency mailed. Screening errs
towards redacting too much. It returns what *kinds* were found, never the values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from meetings.kernel.errors import shorten

REDACTED = "〔已遮蔽〕"


class Kind(StrEnum):
    NATIONAL_ID = "身分證字號"
    PHONE = "電話"
    ADDRESS = "地址"
    NAME = "姓名"


@dataclass(frozen=True)
class Screened:
    """The screened text, how many spans were redacted and their kinds (in Kind order)."""

    text: str
    count: int
    kinds: tuple[Kind, ...]

    def summary(self) -> str:
        """``已遮蔽 2 項（身分證字號/電話）`` — names the kinds, never the values."""
        return f"已遮蔽 {self.count} 項（{'/'.join(self.kinds)}）"


# 身分證字號 ([A-Z][12]) and 居留證 numbers, old ([A-Z][A-D]) and new ([A-Z][89]) forms.
_ID = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][12ABCDabcd89]\d{8}(?!\d)")
_SEP = r"[-\s.]?"
_PHONE = re.compile(
    r"(?<!\d)(?:"
    r"(?:\+|00)886[-\s]?\(?0?\)?[-\s]?\d{1,3}[-\s]?\d{3,4}[-\s]?\d{3,4}"  # +886 …
    rf"|09\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{3}}"  # mobile 0912-345-678
    r"|\(0\d{1,3}\)\s?\d{3,4}[-\s]?\d{4}"  # (03)123-4567
    r"|0\d{1,3}[-\s]\d{3,4}[-\s]?\d{4}"  # 02-2345-6789
    r"|0[2-8]\d{7,8}"  # 0223456789
    r")(?:\s?(?:#|分機|ext\.?)\s?\d{1,6})?(?!\d)"
)
# A number after a word that says it is one (電話 2345-6789), with no area code.
_PHONE_CUE = re.compile(
    r"(?:電話|手機|市話|專線|行動|聯絡|tel|phone)[:：\s]*(\d[\d\s-]{5,14}\d)", re.IGNORECASE
)

_CITIES = (
    "臺北市|台北市|新北市|桃園市|臺中市|台中市|臺南市|台南市|高雄市|基隆市|新竹市|嘉義市|"
    "新竹縣|苗栗縣|彰化縣|南投縣|雲林縣|嘉義縣|屏東縣|宜蘭縣|花蓮縣|臺東縣|台東縣|澎湖縣|"
    "金門縣|連江縣|桃園縣|臺北縣|台北縣|臺中縣|台中縣|臺南縣|台南縣|高雄縣"
)
# A place-name character: CJK, but not the words that lead into an address (住、於 …).
_P = r"(?:(?![住居在於至到往址為是及和與或的近旁即係現搬遷前後轉介由經送請交赴返回、，。；：（）])[\u4e00-\u9fff])"
_NUM = r"(?:\d+|[一二三四五六七八九十百]+)"
_ADDRESS = re.compile(
    rf"(?:{_CITIES})?(?:{_P}{{1,3}}?[區鄉鎮市])?(?:{_P}{{1,3}}?[村里])?(?:\d+鄰)?"
    rf"(?:{_P}{{1,4}}?(?:路|街|大道))?(?:{_NUM}段)?(?:{_NUM}巷)?(?:{_NUM}弄)?"
    rf"(?:\d+(?:[之\-]\d+)?號)?(?:(?:{_NUM}|[Bb]\d)(?:樓|[Ff])(?:之\d+)?)?(?:\d+室)?"
)
_ADDRESS_CORE = re.compile(r"(?:路|街|大道|[村里]\d*鄰?)[^號巷弄]*?\d+\s*(?:號|巷|弄)|\d+鄰\d+號")

# Surnames common in Taiwan (and 複姓), for names that follow a word naming a person.
_SURNAMES = (
    "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高潘簡朱鍾游彭詹施胡沈余"
    "盧梁趙顏柯翁魏孫戴范方宋鄧杜傅侯曹薛丁卓阮馬董温溫唐藍石蔣古紀姚連馮歐程湯田康姜白"
    "汪鄒尤巫鐘黎涂龔嚴韓袁金童陸夏柳凃邵錢伍倪于譚駱熊任甘秦顧毛章史官萬俞雷粘饒"
)
_COMPOUND = "歐陽|司馬|上官|諸葛|東方|皇甫|公孫|慕容|張簡|張廖|范姜|簡張|廖張|周黃|江謝"
# Words that start with a surname character but are not names (案父陳述、相對人施暴 …).
_NOT_NAMES = frozenset(
    "陳述 曾經 曾於 曾有 曾被 曾在 曾向 曾遭 許多 許可 何時 何處 高度 高風 高中 高職 方面 方式 "
    "方才 方可 周遭 周末 周邊 程度 連續 連同 連絡 連繫 連日 白天 任何 任職 施暴 施虐 施以 孫子 "
    "孫女 馬上 紀錄 尤其 嚴重 嚴厲 陸續 顧及 簡訊 簡單 金錢 金額 童年 黃昏 溫和 康復 杜絕 萬一 "
    "石頭 史上 毛病 雷同 卓越 董事 顏面 胡亂 謝謝 江湖 于是 官方 余下".split()
)
_PERSON_CUE = (
    "案主|案母|案父|案兄|案姊|案姐|案弟|案妹|案祖母|案祖父|案外祖母|案外祖父|案夫|案妻|案子|"
    "案女|案童|案生|案嬤|案叔|案姑|案舅|案姨|母親|父親|生母|生父|繼母|繼父|養母|養父|祖母|"
    "祖父|外婆|外公|阿嬤|阿公|相對人|被害人|加害人|施虐者|同居人|男友|女友|前夫|前妻|丈夫|"
    "妻子|監護人|法定代理人|姓名|名為|名叫"
)
_NAME_CHAR = r"(?:(?![於在因與及和表說稱住等之的是為有無已曾將被對向把以並而且也都就才又再還亦即])[\u4e00-\u9fff])"
_CUED_NAME = re.compile(
    rf"(?:{_PERSON_CUE})[:：\s]*((?:{_COMPOUND}|[{_SURNAMES}]){_NAME_CHAR}{_NAME_CHAR}?)"
)
_LOOKS_LIKE_NAME = re.compile(rf"^(?:{_COMPOUND}|[{_SURNAMES}])[\u4e00-\u9fff]{{1,3}}$")
_MASKS = "○◯〇＊*Ｏ"


def _fold(text: str) -> str:
    """Full-width ASCII (Ａ２２３…, （０３）) as ASCII, one character for one, so
    matches found in the folded text are spans of the original."""
    return "".join(
        chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else (" " if ch == "\u3000" else ch)
        for ch in text
    )


def _name_pattern(name: str) -> re.Pattern[str] | None:
    """A given name: itself; a masked one (王○明): any characters where the masks are,
    when at least two characters are known (王○ alone would match every 王)."""
    name = name.strip()
    if not name or REDACTED in name:
        return None
    if not any(ch in _MASKS for ch in name):
        return re.compile(re.escape(name)) if len(name) >= 2 else None
    known = [ch for ch in name if ch not in _MASKS and not ch.isspace()]
    if len(known) < 2:
        return None
    parts = [r"[\u4e00-\u9fffA-Za-z]" if ch in _MASKS else re.escape(ch) for ch in name]
    return re.compile("".join(parts))


def _spans(text: str, names: Iterable[str]) -> list[tuple[int, int, Kind]]:
    folded = _fold(text)
    found = [(m.start(), m.end(), Kind.NATIONAL_ID) for m in _ID.finditer(folded)]
    found += [(m.start(), m.end(), Kind.PHONE) for m in _PHONE.finditer(folded)]
    found += [(m.start(1), m.end(1), Kind.PHONE) for m in _PHONE_CUE.finditer(folded)]
    for m in _ADDRESS.finditer(folded):
        if m.end() > m.start() and _ADDRESS_CORE.search(m.group()):
            found.append((m.start(), m.end(), Kind.ADDRESS))
    for m in _CUED_NAME.finditer(folded):
        if m.group(1)[:2] not in _NOT_NAMES:
            found.append((m.start(1), m.end(1), Kind.NAME))
    for name in names:
        pattern = _name_pattern(_fold(name))
        if pattern is not None:
            found += [(m.start(), m.end(), Kind.NAME) for m in pattern.finditer(folded)]
    return sorted(found)


def screen(text: str, names: Iterable[str | None] = ()) -> Screened:
    """``text`` with every ID, phone number, address and name-like span redacted.

    ``names`` are names the text must not carry: a case's full name (before it is
    masked) or its masked form (王○明 also catches 王小明).
    """
    spans = _spans(text, [n for n in names if n])
    merged: list[list[int]] = []
    kinds: set[Kind] = set()
    for start, end, kind in spans:
        kinds.add(kind)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return Screened("".join(out), len(merged), tuple(k for k in Kind if k in kinds))


def screen_text(text: str, names: Iterable[str | None] = ()) -> str:
    """Only the screened text (for rendering)."""
    return screen(text, names).text


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_name(value: str) -> bool:
    """2–4 CJK characters starting with a common surname: perhaps a person's name."""
    return bool(_LOOKS_LIKE_NAME.match(value.strip()))


ECHO = 20  # characters of a cell value an importer's message may quote


def quoted(value: str, limit: int = ECHO) -> str:
    """A cell value fit for an error message: quoted and cut to ``limit``, or
    "(value not shown)" when it screens as sensitive or looks like a name (shifted
    columns put names where codes were expected)."""
    if looks_like_name(value) or screen(value).count:
        return "(value not shown)"
    short = shorten(value, limit)
    return repr(short)
