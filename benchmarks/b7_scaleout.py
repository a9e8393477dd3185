"""B7: scale-out — 20,000 due messages, 1, 2 and 4 `liaison run` daemons on one PostgreSQL.

The daemons are real processes (tests/support/daemons.py, as the multi-daemon tests
start them) sending to the project's aiosmtpd sink (notifications/mailsink.py) in a
child process, which takes ``--delay-ms`` (2 ms) per message — an ``asyncio.sleep``,
so a slow server, not a busy one: it keeps serving other connections meanwhile.

The outbox is seeded once (tests/support/daemons.seed: a city with daily meetings,
their planned notices and ``--messages`` reminders due now) and then *parked*
(``next_attempt_at`` far ahead). Each run puts every seeded message back to pending,
starts the sink and N daemons, waits until all are up, then releases the messages in
one UPDATE; the run ends when the sink has them all. messages/s = messages ÷ (last
accepted − first accepted, as the sink saw them). Counted per run: messages the sink
got twice (goal 0), rows recorded ``sent`` (= messages), each daemon's share, and the
CPU seconds the daemons, the sink and the PostgreSQL server spent in that window
(/proc/PID/stat; the server's only when it runs on this machine) — per message, that
says how many messages/s the machine's cores can carry at all, however many daemons.

Goal: 4 daemons ≥ 3 × 1 daemon. Database: ``LIAISON_BENCH_DATABASE_URL`` (an empty
PostgreSQL database, as benchmarks/run gives), else a throwaway cluster
(tests/support/pg.py). SQLite is single-daemon by documentation: not measured.

    .venv/bin/python benchmarks/b7_scaleout.py [--messages 20000] [--delay-ms 2]
        [--daemons 1,2,4] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text, update  # noqa: E402

from meetings.db import OutboxMessage  # noqa: E402
from scheduler.bootstrap import build_app  # noqa: E402
from scheduler.settings import Settings  # noqa: E402

GOAL = 3.0
PARKED = datetime(2999, 1, 1, tzinfo=UTC)  # next_attempt_at of a message no daemon may take
DEADLINE = 900.0  # seconds: the bound on one run
PG_VARS = ("LIAISON_BENCH_DATABASE_URL", "LIAISON_DATABASE_URL")


# --- the sink (child process) -------------------------------------------------------------


@dataclass
class SinkProcess:
    """The project's MailSink in a child process (its own interpreter lock), watched."""

    port: int
    process: Any
    count: Any  # messages accepted so far
    first: Any  # time.monotonic() of the first and the last accepted (system-wide clock)
    last: Any
    stop: Any
    results: Any  # our end of the pipe the child sends the Message-IDs it got through

    def finish(self) -> list[str]:
        self.stop.set()
        ids: list[str] = self.results.recv()
        self.process.join(30)
        return ids


def _sink_main(port: int, delay: float, shared: tuple[Any, ...], ready: Any, out: Any) -> None:
    from notifications.mailsink import MailSink

    count, first, last, stop = shared
    sink = MailSink(port=port, delay=delay).start()
    ready.set()
    while not stop.wait(0.005):  # 5 ms resolution on the first/last times
        n = len(sink.handler.messages)
        if n != count.value:
            now = time.monotonic()
            if count.value == 0:
                first.value = now
            count.value, last.value = n, now
    sink.stop()
    out.send(sink.handler.message_ids())


def start_sink(delay: float) -> SinkProcess:
    from tests.support.processes import free_port

    ctx = mp.get_context("spawn")
    port = free_port()
    shared = (ctx.Value("i", 0), ctx.Value("d", 0.0), ctx.Value("d", 0.0), ctx.Event())
    ready = ctx.Event()
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_sink_main, args=(port, delay, shared, ready, theirs), daemon=True)
    proc.start()
    if not ready.wait(60):
        raise SystemExit("the mail sink did not start")
    return SinkProcess(port, proc, shared[0], shared[1], shared[2], shared[3], mine)


# --- the database -----------------------------------------------------------------------------


@contextmanager
def database() -> Iterator[tuple[str, str]]:
    """(URL, where): the benchmark database, or one in a throwaway cluster."""
    given = os.environ.get("LIAISON_BENCH_DATABASE_URL")
    if given:
        if not given.startswith("postgresql"):
            raise SystemExit("B7 needs PostgreSQL: LIAISON_BENCH_DATABASE_URL is not postgresql")
        yield given, "LIAISON_BENCH_DATABASE_URL"
        return
    import psycopg

    from tests.support import pg

    folder = Path(tempfile.mkdtemp(prefix="liaison-b7-pg-"))
    cluster = pg.start(folder)
    try:
        admin = cluster.admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "b7"')
        yield cluster.admin_url.rsplit("/", 1)[0] + "/b7", "a throwaway cluster"
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def park(url: str, cutoff: datetime, release: bool) -> int:
    """Every seeded message (due by ``cutoff``) pending again and parked — or released:
    due at once, for whichever daemon claims it first."""
    app = build_app(Settings(database_url=url))
    try:
        with app.transaction() as s:
            values: dict[str, Any] = {"next_attempt_at": None}
            if not release:
                values = {
                    "status": "pending",
                    "next_attempt_at": PARKED,
                    "sent_at": None,
                    "claimed_by": None,
                    "claimed_until": None,
                    "attempts": 0,
                    "last_error": None,
                }
            done = s.execute(
                update(OutboxMessage).where(OutboxMessage.due_at <= cutoff).values(**values)
            )
            return int(done.rowcount or 0)  # type: ignore[attr-defined]
    finally:
        app.close()


def sent_and_left(url: str, cutoff: datetime) -> tuple[int, int]:
    """Seeded rows recorded sent, and those still pending."""
    app = build_app(Settings(database_url=url))
    try:
        with app.transaction() as s:
            by = dict(
                s.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.due_at <= cutoff)
                    .group_by(OutboxMessage.status)
                ).all()  # type: ignore[arg-type]
            )
    finally:
        app.close()
    return int(by.get("sent", 0)), int(by.get("pending", 0))


# --- one run ----------------------------------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_of(pid: int, reaped: bool = False) -> float:
    """CPU seconds process ``pid`` used so far (``reaped``: with its ended children); 0 if
    it cannot be read (gone, not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def postmaster(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (else None)."""
    app = build_app(Settings(database_url=url))
    try:
        with app.transaction() as s:
            backend = int(s.scalar(text("SELECT pg_backend_pid()")) or 0)
    finally:
        app.close()
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the whole PostgreSQL server so far: the postmaster, its ended
    backends (reaped) and the live ones."""
    if pid is None:
        return 0.0
    return cpu_of(pid, reaped=True) + sum(cpu_of(c) for c in children_of(pid))


@dataclass
class Run:
    daemons: int
    messages: int
    seconds: float
    duplicates: int
    sent_rows: int
    all_delivered: bool
    shares: list[int]
    # CPU seconds spent from the release to the last message accepted
    daemon_cpu: float
    sink_cpu: float
    db_cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_message(self) -> float:
        """Seconds of CPU one message costs: daemons, sink and database together."""
        return (self.daemon_cpu + self.sink_cpu + self.db_cpu) / max(1, self.messages)


def cpu_now(daemons: list[int], sink: int, server: int | None) -> tuple[float, float, float]:
    return sum(cpu_of(p) for p in daemons), cpu_of(sink), server_cpu(server)


def run_once(url: str, n: int, expected: set[str], cutoff: datetime, delay: float) -> Run:
    from tests.support.daemons import Daemons, process_env
    from tests.support.processes import wait_for

    park(url, cutoff, release=False)
    sink = start_sink(delay)
    logs = Path(tempfile.mkdtemp(prefix=f"liaison-b7-{n}-"))
    daemons = Daemons(process_env(url, f"smtp://127.0.0.1:{sink.port}"), logs)
    try:
        for _ in range(n):
            daemons.start(interval=1)
        if not wait_for(lambda: all(daemons.started(i) for i in range(n)), 120):
            raise SystemExit(f"daemons did not start: {[daemons.log(i)[-300:] for i in range(n)]}")
        pids, server = [p.pid for p in daemons.procs], postmaster(url)
        before = cpu_now(pids, sink.process.pid, server)
        park(url, cutoff, release=True)
        delivered = wait_for(lambda: sink.count.value >= len(expected), DEADLINE)
        after = cpu_now(pids, sink.process.pid, server)
        wait_for(lambda: sent_and_left(url, cutoff)[0] >= len(expected), 60)
    finally:
        daemons.stop_all()
        ids = sink.finish()
    shares = [daemons.sent_by(i) for i in range(n)]
    shutil.rmtree(logs, ignore_errors=True)
    twice = sum(c - 1 for c in Counter(ids).values() if c > 1)
    sent_rows, _ = sent_and_left(url, cutoff)
    return Run(
        daemons=n,
        messages=len(ids),
        seconds=sink.last.value - sink.first.value,
        duplicates=twice,
        sent_rows=sent_rows,
        all_delivered=delivered and set(ids) == expected,
        shares=shares,
        daemon_cpu=after[0] - before[0],
        sink_cpu=after[1] - before[1],
        db_cpu=after[2] - before[2],
    )


# --- the report -------------------------------------------------------------------------------


def run_note(r: Run) -> str:
    ms = 1000 / max(1, r.messages)
    return (
        f"{r.messages} in {r.seconds:.1f} s, shares {r.shares}; CPU/message: daemons "
        f"{r.daemon_cpu * ms:.2f} ms, sink {r.sink_cpu * ms:.2f} ms, PostgreSQL "
        f"{r.db_cpu * ms:.2f} ms; daemons busy {r.daemon_cpu / max(r.seconds, 1e-9):.2f} cores"
    )


def ratio_note(one: Run, four: Run, cores: int, ratio: float) -> str:
    """Why ≥ GOAL was not reached, when the cores are the limit."""
    if ratio >= GOAL:
        return ""
    cap = cores / max(four.cpu_per_message, 1e-9)
    return (
        f"CPU-bound on {cores} cores: one daemon (one interpreter) keeps "
        f"{one.daemon_cpu / max(one.seconds, 1e-9):.2f} core busy — the sink waits, it does "
        f"not compute; a message costs {four.cpu_per_message * 1000:.2f} ms CPU in all "
        f"(daemons + sink + PostgreSQL), so {cores} cores carry at most ~{cap:.0f} msg/s "
        f"= {cap / max(one.rate, 1e-9):.1f}x one daemon, however many daemons"
    )


def rows_of(runs: list[Run], cores: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in runs:
        ok = r.duplicates == 0 and r.all_delivered and r.sent_rows == r.messages
        rows.append(
            {
                "name": f"B7 {r.daemons} daemon{'s' if r.daemons > 1 else ''} (msg/s)",
                "measured": round(r.rate, 1),
                "goal": None,
                "ok": ok,
                "note": run_note(r),
            }
        )
    dups = sum(r.duplicates for r in runs)
    rows.append({"name": "B7 messages sent twice", "measured": dups, "goal": 0, "ok": dups == 0})
    one = next((r for r in runs if r.daemons == 1), None)
    four = next((r for r in runs if r.daemons == 4), None)
    if one is not None and four is not None and one.rate > 0:
        ratio = four.rate / one.rate
        rows.append(
            {
                "name": "B7 4 daemons ÷ 1 daemon",
                "measured": round(ratio, 2),
                "goal": GOAL,
                "ok": ratio >= GOAL and dups == 0,
                "note": ratio_note(one, four, cores, ratio),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], n: int, where: str, delay_ms: float) -> None:
    print(f"B7 scale-out — {n:,} messages, sink {delay_ms:g} ms/message, PostgreSQL ({where})")
    print(f"{'measure':<34}{'goal':>8}{'result':>10}  note")
    for r in rows:
        goal = "" if r["goal"] is None else (f"≥ {r['goal']:g}" if r["goal"] else "0")
        print(f"{r['name']:<34}{goal:>8}{r['measured']:>10}  {r.get('note', '')}")
    print(f"{'verdict':<34}{'':>8}{'PASS' if all(r['ok'] for r in rows) else 'FAIL':>10}")


def main() -> int:
    from tests.support.daemons import seed, utcnow

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000, help="reminders due (1–100000)")
    ap.add_argument("--delay-ms", type=float, default=2.0, help="the sink's time per message")
    ap.add_argument("--daemons", default="1,2,4", help="comma-separated daemon counts (1–16)")
    ap.add_argument("--json", action="store_true", help="print JSON rows")
    args = ap.parse_args()
    try:
        counts = [int(c) for c in args.daemons.split(",")]
    except ValueError:
        ap.error("--daemons: comma-separated whole numbers, e.g. 1,2,4")
    if not all(1 <= c <= 16 for c in counts) or not 1 <= args.messages <= 100_000:
        ap.error("--daemons: each 1–16; --messages: 1–100000")
    if not 0 <= args.delay_ms <= 1000:
        ap.error("--delay-ms: 0–1000")
    cores = os.cpu_count() or 1
    with database() as (url, where):
        for var in PG_VARS:  # the daemons read LIAISON_DATABASE_URL from process_env only
            os.environ.pop(var, None)
        seeded = seed(url, args.messages)
        cutoff = utcnow() + timedelta(seconds=1)
        runs = []
        for n in counts:
            runs.append(run_once(url, n, seeded.message_ids, cutoff, args.delay_ms / 1000))
            print(f"  {n} daemon(s): {runs[-1].rate:.0f} msg/s", file=sys.stderr)
    rows = rows_of(runs, cores)
    if args.json:
        print(json.dumps({"rows": rows}, ensure_ascii=False))
    else:
        print_table(rows, len(seeded.message_ids), where, args.delay_ms)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
