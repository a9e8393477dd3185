"""What a city's ``targets:`` may declare: a KPI key and a goal, for every year or by ROC year.

Checked when a config is validated (``FileDecl.targets``); the KPI report and the
look-up audit compare their figures with them (``meetings.kpis.targets``). The keys
live here, below both, so a config naming a figure no report computes is refused on
load rather than silently never shown.

Decisions (also in docs/config.md):

- Year keys are ROC years (111, as the plans write them); a Gregorian year (2022) is
  refused with the ROC year to write instead, so one year is never declared twice.
- Every target is "at least" except ``median_days_to_discussion`` (fewer days is
  better): "at most".
- Rates are percentages (0–100); counts and per-month averages are non-negative.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from meetings.kernel.errors import shorten
from meetings.kernel.rocdate import ROC_OFFSET

# Percentages of SPEC §7 (and TL3.1, the look-up audit's legitimate-reason rate).
RATE_TARGETS = (
    "held_on_schedule_rate",
    "required_attendance_rate",
    "listed_case_discussion_rate",
    "minutes_on_time_rate",
    "action_items_closed_on_time_rate",
    "deliverables_on_time_rate",
    "legitimate_reason_rate",
)
# Counts over the year, and averages per month of the period counted.
COUNT_TARGETS = (
    "meetings_held",
    "cases_discussed",
    "case_discussions",
    "meetings_per_month",
    "case_discussions_per_month",
)
AT_MOST_TARGETS = ("median_days_to_discussion",)
TARGET_KEYS = RATE_TARGETS + COUNT_TARGETS + AT_MOST_TARGETS

Goal = int | float
TargetSpec = Goal | dict[str, Goal]  # stored: {"111": 60} (JSON keys are text)


def check_target_key(key: object) -> str:
    """A known target key, or a ValueError listing the known ones, closest first: config
    messages are cut at 300 characters, so the likely ones must come before the cut."""
    if isinstance(key, str) and key in TARGET_KEYS:
        return key
    text = str(key)
    known = sorted(TARGET_KEYS, key=lambda k: -difflib.SequenceMatcher(None, text, k).ratio())
    raise ValueError(f"unknown target {shorten(text)!r} (known: {', '.join(known)})")


def _goal(value: object, where: str) -> Goal:
    # bool is an int in Python; "true" is no goal.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: a target must be a number, not {shorten(repr(value))}")
    if value < 0 or value != value:  # NaN compares unequal to itself
        raise ValueError(f"{where}: a target must be 0 or more, not {value}")
    return value


def _roc_year(key: object) -> str:
    year = int(key) if isinstance(key, str) and key.strip().isdigit() else key
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValueError(f"year {shorten(repr(key))} must be an ROC year such as 112")
    if year > ROC_OFFSET:
        raise ValueError(f"year {year}: write the ROC year {year - ROC_OFFSET}, not {year}")
    if not 1 <= year <= 300:
        raise ValueError(f"year {year} is not an ROC year (e.g. 112)")
    return str(year)


def check_target_value(value: object) -> TargetSpec:
    """A number, or {ROC year: number}; stored with the years as text."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError("give a number, or a goal per ROC year such as {112: 70}")
        return {_roc_year(y): _goal(v, f"year {y}") for y, v in value.items()}
    return _goal(value, "value")


def check_target_ranges(targets: dict[str, Any]) -> dict[str, Any]:
    """Rates are percentages: no goal above 100."""
    for key in RATE_TARGETS:
        spec = targets.get(key)
        goals = spec.values() if isinstance(spec, Mapping) else [] if spec is None else [spec]
        for goal in goals:
            if goal > 100:
                raise ValueError(f"{key}: {goal} is over 100 (rates are percentages)")
    return targets


def target_for(spec: object, roc: int) -> Goal | None:
    """The goal of a stored target for ROC year ``roc`` (None: no goal that year)."""
    if isinstance(spec, Mapping):
        goal = spec.get(str(roc))
        return goal if isinstance(goal, int | float) else None
    return spec if isinstance(spec, int | float) and not isinstance(spec, bool) else None


# The ``targets:`` of a city file or a series, checked as above.
Targets = Annotated[
    dict[
        Annotated[str, BeforeValidator(check_target_key)],
        Annotated[TargetSpec, BeforeValidator(check_target_value)],
    ],
    AfterValidator(check_target_ranges),
]
