"""A cadence in words, for admins: ``每4個月1次（3月、7月、11月），第2個星期三``."""

from __future__ import annotations

from collections.abc import Mapping

from meetings.kernel.rocdate import WEEKDAYS_ZH
from meetings.schedule.cadence.expand import PLAN_KEYS
from meetings.schedule.cadence.model import Cadence
from meetings.schedule.cadence.ruletext import byday_items, split_rule, until_date

_PERIOD_ZH = {1: "每月", 3: "每季", 6: "每半年", 12: "每年"}
IRREGULAR_ZH = "不定期召開（不自動排定，由秘書單位視需要新增會議）"


def _day_zh(key: str, value: str) -> str | None:
    if key == "BYMONTHDAY":
        if "," in value:
            return None
        md = int(value)
        return "每月最後一天" if md == -1 else (f"{md}日" if md > 0 else None)
    items = byday_items(value)
    if len(items) != 1:
        return None
    n, wd = items[0]
    if n is None:
        return None
    if n > 0:
        return f"第{n}個星期{WEEKDAYS_ZH[wd]}"
    if n == -1:
        return f"最後一個星期{WEEKDAYS_ZH[wd]}"
    return f"倒數第{-n}個星期{WEEKDAYS_ZH[wd]}"


def _weekly_zh(parts: Mapping[str, str], once: str, tail: str) -> str | None:
    items = byday_items(parts["BYDAY"])
    if not all(n is None for n, _ in items):
        return None
    interval = int(parts.get("INTERVAL", "1"))
    every = "每週" if interval == 1 else f"每{interval}週"
    days = "、".join(f"星期{WEEKDAYS_ZH[wd]}" for _, wd in items)
    count = once if len(items) == 1 else f"{len(items)}次"
    return f"{every}{count}，{days}{tail}"


def _monthly_zh(cadence: Cadence, parts: Mapping[str, str], once: str, tail: str) -> str | None:
    day_key = "BYDAY" if "BYDAY" in parts else "BYMONTHDAY"
    day = _day_zh(day_key, parts[day_key]) if day_key in parts else None
    months_zh = "、".join(f"{m}月" for m in cadence.months) if cadence.months else ""
    p = cadence.period_months
    head: str | None = None
    if p is not None:
        head = _PERIOD_ZH.get(p, f"每{p}個月") + once
        if months_zh:
            head += f"（{months_zh}）"
    elif cadence.months:
        head = f"每年{len(cadence.months)}次（{months_zh}）"
        if cadence.fan_out:
            head += f"，{cadence.fan_out}區各自召開"
    if head is not None and day is not None:
        return f"{head}，{day}{tail}"
    return None


def describe_zh(cadence: Cadence) -> str:
    """A short Chinese description, e.g. ``每4個月1次（3月、7月、11月），第2個星期三``."""
    if cadence.irregular:
        return IRREGULAR_ZH
    parts = split_rule(cadence.rrule)
    freq = parts.get("FREQ")
    tail = ""
    if "UNTIL" in parts:
        tail += f"，至{until_date(parts['UNTIL']).isoformat()}止"
    if cadence.adhoc_allowed:
        tail += "，得視需要召開不定期會議"
    once = f"{cadence.fan_out}區各1次" if cadence.fan_out else "1次"
    simple = set(parts) <= PLAN_KEYS
    text: str | None = None
    if freq == "WEEKLY" and simple and "BYDAY" in parts:
        text = _weekly_zh(parts, once, tail)
    elif freq in ("MONTHLY", "YEARLY") and simple:
        text = _monthly_zh(cadence, parts, once, tail)
    if text is not None:
        return text
    return f"依RRULE {cadence.rrule}（自{cadence.dtstart.isoformat()}起）{tail}"
