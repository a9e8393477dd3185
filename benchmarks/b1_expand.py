"""B1 (expansion half): expand 1,000 cadences over 10 years.

Goal: pure expansion of 1,000 series × 10 years ≤ 1 s. Prints a table; not a test.
Run from the repo root:
    .venv/bin/python benchmarks/b1_expand.py
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meetings.schedule.cadence import Cadence, CadenceError, expand, for_instance, parse_cadence  # noqa: E402

START = date(2025, 1, 1)
END = date(2034, 12, 31)
N_SERIES = 1_000

# What admins write, roughly in the proportions the city plans use them. The last entries
# take the slower general dateutil path (weekly rules and rules with BYSETPOS).
DECLARATIONS: list[str | dict[str, object]] = [
    "每月召開1次",
    "每月辦理",
    "每月5區各召開1次",
    "每季召開1次",
    "原則上每季召開1次",
    "原則每4個月召開1次，得視需要召開不定期會議。",
    "每半年辦理1次",
    "每半年召開 1 次，由市府一層首長擔任主席。",
    "每年召開2次",
    "每年召開3次",
    "每年3月、7月、11月召開",
    {"every": "month", "on": "3rd TU"},
    {"every": "quarter", "on": "last FR"},
    {"months": [3, 6]},
    {"every": "2 weeks"},
    {"rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
]


def build(n: int) -> list[Cadence]:
    out: list[Cadence] = []
    for i in range(n):
        decl = DECLARATIONS[i % len(DECLARATIONS)]
        anchor = 1 + (i // len(DECLARATIONS)) % 12
        try:
            c = parse_cadence(decl, anchor_month=anchor)
        except CadenceError:  # the declaration fixes its own months
            c = parse_cadence(decl)
        out.append(for_instance(c, i % 13))
    return out


def clear_caches() -> None:
    """Empty the cadence package's memo caches, so B1 measures a cold expansion."""
    # The package exports a function named ``expand``: name the modules explicitly.
    for module, name in (
        ("meetings.schedule.cadence.expand", "_plan"),
        ("meetings.schedule.cadence.expand", "dateutil_rule"),
        ("meetings.schedule.cadence.rrule", "analyse"),
    ):
        fn = getattr(importlib.import_module(module), name)
        fn.cache_clear()


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = fn()
    return time.perf_counter() - t0, count


def main() -> None:
    clear_caches()
    parse_s, _ = timed(lambda: len(build(N_SERIES)))
    cadences = build(N_SERIES)

    def pure() -> int:
        return sum(len(expand(c, START, END)) for c in cadences)

    clear_caches()  # cold: per-rule plans are rebuilt inside the timed run
    cold_s, n_dates = timed(pure)
    warm_s, _ = timed(pure)

    rows = [
        ("parse 1,000 declarations (+ for_instance)", "—", f"{parse_s:.3f} s"),
        (
            "pure expansion of 1,000 series × 10 years",
            "≤ 1 s",
            f"{cold_s:.3f} s cold, {warm_s:.3f} s warm ({n_dates:,} dates)",
        ),
    ]

    try:
        from meetings.schedule.workdays import OfficeCalendar
    except ImportError:
        rows.append(("expansion + next_working_day on every date", "—", "skipped (no workdays)"))
    else:
        calendar = OfficeCalendar()

        def with_policy() -> int:
            moved = 0
            for c in cadences:
                for d in expand(c, START, END):
                    if calendar.apply_policy(d, "next_working_day") != d:
                        moved += 1
            return moved

        policy_s, moved = timed(with_policy)
        rows.append(
            (
                "expansion + next_working_day on every date",
                "—",
                f"{policy_s:.3f} s ({moved:,} moved)",
            )
        )

    widths = [max(len(r[i]) for r in [("measure", "goal", "measured"), *rows]) for i in range(3)]

    def line(cells: tuple[str, str, str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(("measure", "goal", "measured")))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    if "--json" in sys.argv[1:]:
        out = [
            {
                "name": "B1 pure expansion 1,000 series x 10 years",
                "measured": f"{cold_s:.3f} s",
                "goal": "<= 1 s",
                "ok": cold_s <= 1.0,
            },
        ]
        print(json.dumps({"rows": out}, ensure_ascii=False))
    if cold_s > 1.0:
        print("GOAL MISSED: pure expansion took more than 1 s", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
