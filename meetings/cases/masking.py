"""Masking of personal names (個資遮罩). The full name never leaves this function."""

from __future__ import annotations

import re
import unicodedata

MASK = "○"

# Two-character surnames (複姓) seen in Taiwanese registers, incl. 張簡/范姜-style ones.
COMPOUND_SURNAMES = frozenset(
    {
        "歐陽", "司馬", "上官", "諸葛", "東方", "皇甫", "尉遲", "公孫", "慕容", "長孫",
        "宇文", "司徒", "令狐", "夏侯", "西門", "南宮", "端木", "澹臺", "澹台", "軒轅",
        "申屠", "太史", "鍾離", "呼延", "獨孤", "東郭", "張簡", "張廖", "范姜", "簡張",
        "廖張", "周黃", "江謝", "劉張", "萬俟",
    }
)  # fmt: skip

_PARTS = re.compile(r"([\s·・‧．.\-]+)")


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY"))


def _mask_cjk(part: str) -> str:
    n = len(part)
    if n == 1:
        return MASK
    if n == 2:
        return part[0] + MASK
    if n == 3 and part[:2] in COMPOUND_SURNAMES:
        return part[0] + MASK * 2  # 歐陽明 → 歐○○: the given name is one character
    return part[0] + MASK * (n - 2) + part[-1]


def _mask_other(part: str) -> str:
    """Latin or other scripts: the initial only (Maria → M○), length not revealed."""
    return part[0] + MASK if len(part) > 1 else MASK


def mask_name(name: str | None) -> str | None:
    """王小明→王○明, 王明→王○, 歐陽小明→歐○○明, 王→○, Maria Santos→M○ S○.

    Parts separated by spaces or middle dots (原住民族 names) are masked one by one.
    Returns None for an empty name.
    """
    if name is None:
        return None
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        return None
    out: list[str] = []
    for piece in _PARTS.split(text):
        if not piece:
            continue
        if _PARTS.fullmatch(piece):
            out.append(" " if piece.isspace() else piece[0])
        elif all(_is_cjk(ch) for ch in piece):
            out.append(_mask_cjk(piece))
        else:
            out.append(_mask_other(piece))
    return "".join(out)
