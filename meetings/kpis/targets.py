"""A report's figures beside the city's targets: goal, value, numerator, denominator, 達成.

Pure: the figures come in as :class:`Figure` (from ``RowCounts.figures`` or the look-up
audit), the targets as stored from config (``meetings.schedule.targets``). Every
format (JSON, CSV, xlsx, HTML, the page, the audit text) renders the same
:class:`TargetResult` list, so they cannot disagree.

``met`` compares the figure as shown (a rate to one decimal), so the 達成 beside it
never contradicts the number; it is None (無資料) when the denominator is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from meetings.schedule.targets import AT_MOST_TARGETS, TARGET_KEYS, Goal, target_for

# Labels of the figures that are not SPEC §7 columns (those are in reports.KEY_ZH).
TARGET_ZH = {
    "meetings_per_month": "平均每月召開次數",
    "case_discussions_per_month": "平均每月個案研討次數",
    "legitimate_reason_rate": "查閱載明正當事由比率(%)（TL3.1）",
}
MET_ZH = {True: "達成", False: "未達成", None: "無資料"}


@dataclass(frozen=True)
class Figure:
    """One figure of a report: its value and, where it is a ratio, the two counts.

    A count has no denominator; a median has the number of values as its denominator
    and no numerator."""

    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None


@dataclass(frozen=True)
class TargetResult:
    key: str
    target: Goal
    figure: Figure

    @property
    def at_most(self) -> bool:
        return self.key in AT_MOST_TARGETS

    @property
    def met(self) -> bool | None:
        value = self.figure.value
        if value is None or self.figure.denominator == 0:
            return None
        return value <= self.target if self.at_most else value >= self.target

    @property
    def status(self) -> str:
        return MET_ZH[self.met]

    def as_json(self) -> dict[str, Any]:
        f = self.figure
        return {
            "target": self.target,
            "value": f.value,
            "numerator": f.numerator,
            "denominator": f.denominator,
            "met": self.met,
        }


def per_month(count: int, months: int) -> Figure:
    """An average per month, one decimal (half up): ``count`` over ``months``."""
    if months <= 0:
        return Figure(None, count, months)
    value = (Decimal(count) / Decimal(months)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return Figure(float(value), count, months)


def compare(
    targets: Mapping[str, Any], roc_year: int, figures: Mapping[str, Figure]
) -> list[TargetResult]:
    """The targets that have a goal for ``roc_year`` and a figure here, in key order."""
    out: list[TargetResult] = []
    for key in TARGET_KEYS:
        goal = target_for(targets.get(key), roc_year)
        if goal is not None and key in figures:
            out.append(TargetResult(key, goal, figures[key]))
    return out


def results_json(results: list[TargetResult]) -> dict[str, dict[str, Any]]:
    return {r.key: r.as_json() for r in results}


def _goal_text(key: str, goal: Goal) -> str:
    shown = int(goal) if float(goal).is_integer() else goal
    return f"{'≤' if key in AT_MOST_TARGETS else '≥'} {shown}"


def format_goal(r: TargetResult) -> str:
    """The goal as people read it: ≥ 70 / ≤ 30."""
    return _goal_text(r.key, r.target)


def target_note(judged: Mapping[str, Mapping[str, Any]]) -> str:
    """A line's suffix from ``results_json`` output: （目標 ≥ 99：達成）, or nothing."""
    return "".join(
        f"（目標 {_goal_text(key, t['target'])}：{MET_ZH[t['met']]}）" for key, t in judged.items()
    )
