"""Hostile and careless input, as real `liaison` processes meet it (issue 12).

- a city agenda template reaching for Python internals renders in Jinja's sandbox: a
  clear error naming the template, exit 2, and nothing runs;
- `closures add` racing `schedule generate`: write transactions begin immediately, so
  neither acts on what it read before the other committed; no meeting stays on the
  closed day;
- a 5 KB xlsx claiming a cell at XFD1048576 is refused within 200 MB peak RSS;
- a 20 MB YAML value and control characters in names give short FILE:LINE messages;
- unusable database locations give one line and exit 1; the daemon under a held lock
  logs one line per failure, never bound parameters.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from meetings.db import Occurrence
from meetings.kernel.localtime import local
from scheduler.bootstrap import build_app
from scheduler.settings import Settings
from tests.conftest import sqlite_only, write
from tests.support.configs import CONFIG
from tests.support.daemons import DAILY
from tests.support.processes import LIAISON, run

NOW = "2023-01-01T09:00"


def env_for(db_url: str) -> dict[str, str]:
    return {**os.environ, "LIAISON_DATABASE_URL": db_url}


def test_a_city_template_cannot_reach_python_internals(tmp_path: Path, db_url: str) -> None:
    env = env_for(db_url)
    folder = tmp_path / "cfg"
    write(folder / "city.yaml", CONFIG)
    witness = tmp_path / "ran"
    tpl = f"{{{{ cycler.__init__.__globals__.os.popen('touch {witness}; id').read() }}}}\n"
    write(folder / "templates" / "agenda.txt.j2", tpl)
    assert run(env, "config", "load", str(folder / "city.yaml")).returncode == 0
    gen = run(env, "schedule", "generate", "--from", "2023-01-01", "--to", "2023-01-31")
    assert gen.returncode == 0, gen.stderr
    out = run(env, "agenda", "show", "cp-20230111@liaison.test.example")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("agenda.txt.j2: template: "), out.stderr
    assert "unsafe" in out.stderr
    assert "uid=" not in out.stdout + out.stderr and "Traceback" not in out.stderr
    assert not witness.exists()


# --- BEGIN IMMEDIATE: a closure racing a generate ------------------------------------------

RACES = 20


def _pair(env: dict[str, str], day: date) -> list[subprocess.Popen[str]]:
    """`closures add DAY` and `schedule generate` over DAY ± 2, started together."""
    window = ["--from", str(day - timedelta(days=2)), "--to", str(day + timedelta(days=2))]
    commands = [
        ["closures", "add", str(day), "--reason", "颱風停班", "--now", NOW],
        ["schedule", "generate", *window, "--now", NOW],
    ]
    return [
        subprocess.Popen(
            [*LIAISON, *c], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]


def _scheduled_on(db_url: str, days: set[date]) -> list[str]:
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            occs = s.scalars(select(Occurrence).where(Occurrence.status == "scheduled"))
            return [o.uid for o in occs if local(o.start_at, None).date() in days]
    finally:
        app.close()


@sqlite_only
def test_closure_racing_generate_leaves_no_meeting_on_the_closed_day(
    tmp_path: Path, db_url: str
) -> None:
    env = env_for(db_url)
    cfg = write(tmp_path / "city.yaml", DAILY)
    assert run(env, "config", "load", str(cfg)).returncode == 0
    # Weekdays a week apart, so that each race has its own window of meetings.
    days = [date(2023, 2, 1) + timedelta(days=7 * i) for i in range(RACES)]
    for i in range(0, RACES, 2):  # two races at a time: 2 cores, 4 processes
        procs = [p for day in days[i : i + 2] for p in _pair(env, day)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert "Traceback" not in err
    assert _scheduled_on(db_url, set(days)) == []


# --- import limits: the 5 KB xlsx bomb ---------------------------------------------------

# Runs a command and prints its peak RSS (KiB) on the last line of stderr: this process's
# children are only that command, so the figure is not some earlier test's child.
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def _bomb(path: Path, *, header: bool, cell: str = "XFD1048576") -> Path:
    from openpyxl import Workbook

    from meetings.kernel.vocabulary import CASE_IMPORT_COLUMNS

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    if header:
        ws.append(list(CASE_IMPORT_COLUMNS))
    ws[cell] = "x"
    wb.save(path)
    return path


def test_a_5kb_xlsx_claiming_cell_xfd1048576_is_refused_within_200mb(
    tmp_path: Path, db_url: str
) -> None:
    env = env_for(db_url)
    assert run(env, "config", "load", str(write(tmp_path / "city.yaml", CONFIG))).returncode == 0
    cases = [
        (_bomb(tmp_path / "far.xlsx", header=True), ":1048576: file: more than 100,000 rows"),
        (_bomb(tmp_path / "wide.xlsx", header=True, cell="XFD2"), ":2: file: 16,384 columns"),
        (_bomb(tmp_path / "alone.xlsx", header=False), ":1: file: empty"),
    ]
    for bomb, message in cases:
        assert bomb.stat().st_size < 6_000
        res = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *LIAISON, "cases", "import", str(bomb)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        *lines, peak = res.stderr.strip().splitlines()
        assert res.returncode == 2, res.stderr
        assert len(lines) == 1 and lines[0].startswith(f"{bomb}{message}"), lines
        assert "Traceback" not in res.stderr
        assert int(peak) < 200 * 1024, f"peak RSS {int(peak) // 1024} MB"


# --- control characters and huge values in config ------------------------------------------


def test_control_characters_and_a_20mb_value_in_config_are_refused_in_one_line(
    tmp_path: Path, db_url: str
) -> None:
    env = env_for(db_url)
    crlf = write(
        tmp_path / "crlf.yaml", CONFIG.replace("name: 警察局", 'name: "警察局\\r\\nBcc: x@evil"')
    )
    big = tmp_path / "big.yaml"
    big.write_text(CONFIG.replace("city: 測試市\n", f"city: 測試市\nnotes: {'x' * 20_000_000}\n"))
    for command in ("check", "load"):
        res = run(env, "config", command, str(crlf))
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.startswith(f"{crlf}:5: agencies[1].name: control character U+000D")
        huge = run(env, "config", command, str(big))
        assert huge.returncode == 2
        assert huge.stderr.startswith(f"{big}:2: ") and len(huge.stderr) < 300, huge.stderr[:300]
    assert "no meetings" in run(env, "schedule", "list").stdout  # nothing was loaded
