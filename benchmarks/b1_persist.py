"""B1 (persist half): generate + persist 1,000 series × 10 years into SQLite.

Goal: ≤ 5 s. Prints a table; not a test. Run from the repo root:
    .venv/bin/python benchmarks/b1_persist.py
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from meetings.cases.config import load_config  # noqa: E402
from meetings.db import Occurrence, OutboxEvent  # noqa: E402
from meetings.kernel.yamlsource import load_yaml  # noqa: E402
from meetings.schedule.config_build import build_config  # noqa: E402
from meetings.schedule.operations import generate_schedule  # noqa: E402
from scheduler.bootstrap import build_app  # noqa: E402
from scheduler.clock import FixedClock  # noqa: E402
from scheduler.settings import Settings  # noqa: E402

PHRASES = [
    "每月召開1次",
    "每季召開1次",
    "原則每4個月召開1次",
    "每半年辦理1次",
    "每年召開2次",
    "每年召開3次",
    "3月、7月、11月",
    "{every: month, on: 3rd TU}",
]


def config_text(n: int) -> str:
    lines = [
        "city: 基準市",
        "domain: bench.example",
        "agencies:",
        "  - {code: DVPC, name: 家防中心, emails: [dvpc@example.org]}",
        "series:",
    ]
    for i in range(n):
        phrase = PHRASES[i % len(PHRASES)]
        cadence = phrase if phrase.startswith("{") else f'"{phrase}"'
        lines += [
            f"  - id: s{i:04d}",
            f"    title: 基準會議{i}",
            "    organizer: DVPC",
            f"    cadence: {cadence}",
            f"    anchor_month: {1 + i % 3}" if "月、" not in phrase else "    anchor_month: 3",
            '    time: "14:00"',
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    n_series, years = 1000, 10
    # LIAISON_BENCH_DATABASE_URL: an empty database to use instead of a temp SQLite file
    url = os.environ.get("LIAISON_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock(datetime(2023, 1, 1, tzinfo=UTC))
        app = build_app(Settings(database_url=url or f"sqlite:///{tmp}/bench.db"), clock)
        t0 = time.perf_counter()
        cfg = build_config([load_yaml(config_text(n_series), "bench.yaml")])
        with app.transaction() as s:
            load_config(s, cfg, clock.now())
        t1 = time.perf_counter()
        with app.transaction() as s:
            report = generate_schedule(
                s, date(2023, 1, 1), date(2023 + years - 1, 12, 31), clock.now()
            )
        t2 = time.perf_counter()
        with app.transaction() as s:
            again = generate_schedule(
                s, date(2023, 1, 1), date(2023 + years - 1, 12, 31), clock.now()
            )
        t3 = time.perf_counter()
        with app.transaction() as s:
            n_occ = s.scalar(select(func.count()).select_from(Occurrence))
            n_ev = s.scalar(select(func.count()).select_from(OutboxEvent))
        app.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend = "SQLite file" if url is None else url.split(":", 1)[0]
    print(f"B1 persist — {n_series} series × {years} years, {backend}")
    print("| measure | goal | measured |")
    print("|---|---|---|")
    print(f"| validate + load config ({n_series} series) | — | {t1 - t0:.2f} s |")
    print(
        f"| generate + persist ({len(report.created)} meetings, {n_ev} events) | ≤ 5 s | {t2 - t1:.2f} s |"
    )
    print(f"| regenerate, nothing changes ({again.unchanged} unchanged) | — | {t3 - t2:.2f} s |")
    print(f"| rows | — | {n_occ} occurrences |")
    print(f"| peak RSS | — | {rss:.0f} MB |")
    if "--json" in sys.argv[1:]:
        row = {
            "name": "B1 generate + persist 1,000 series x 10 years",
            "measured": f"{t2 - t1:.2f} s",
            "goal": "<= 5 s",
            "ok": t2 - t1 <= 5.0,
        }
        print(json.dumps({"rows": [row]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
