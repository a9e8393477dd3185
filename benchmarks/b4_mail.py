"""B4: 10,000 reminders through our dispatch pipeline vs a bare aiosmtplib loop.

Both send to the same local aiosmtpd sink, run in a child process (so the sink
does not share this process's interpreter lock) with a handler that only counts.
The anchor is a bare aiosmtplib loop sending the very same prepared messages over
as many reused connections as the pipeline opens (``dispatch_due``'s ``concurrency``
default, read from its signature and passed to both), taking the next message from a
shared queue — what a hand-written concurrent script would do, with nothing to build.
The pipeline is the real thing: claim rows (lease), re-check each meeting, render
the zh-TW multipart email, send over the workers' connections, record ``sent``.
Goal: the pipeline reaches ≥ 90% of the anchor's messages/s.

    .venv/bin/python benchmarks/b4_mail.py [--messages 10000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from meetings.cases.config import load_config  # noqa: E402
from meetings.db import OutboxMessage
from meetings.kernel.yamlsource import load_yaml  # noqa: E402
from meetings.schedule.config_build import build_config  # noqa: E402
from meetings.schedule.operations import generate_schedule  # noqa: E402
from notifications.outbox.dispatch import dispatch_due, prepare  # noqa: E402
from notifications.outbox.planner import plan_messages  # noqa: E402
from notifications.smtp import SmtpMailer, parse_smtp_url  # noqa: E402
from scheduler.bootstrap import App, build_app  # noqa: E402
from scheduler.clock import FixedClock  # noqa: E402
from scheduler.settings import Settings  # noqa: E402

GOAL = 0.90
# The pipeline's connection count: dispatch_due's own default, used by both senders.
CONNECTIONS: int = inspect.signature(dispatch_due).parameters["concurrency"].default
ROUNDS = 5
BASE_URL = "https://liaison.bench.example"
MEETING_DAY = date(2023, 3, 8)  # 2nd Wednesday: every series meets then, at 14:00
PLAN_AT = datetime(2023, 2, 1, 1, 0, tzinfo=UTC)
SEND_AT = datetime(2023, 3, 7, 8, 0, tzinfo=UTC)  # the reminders (1 day before) are due


# --- the sink (child process) -----------------------------------------------------------


class CountingHandler:
    """Accepts everything; counts messages. No parsing, no disk: the sink stays cheap."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 Message accepted"


def _sink_main(port: int, counter: Any, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(CountingHandler(counter), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


# --- seeding ------------------------------------------------------------------------------


def city_yaml(n_series: int, n_recipients: int) -> str:
    emails = ", ".join(f"p{i:04d}@agency.example" for i in range(n_recipients))
    lines = [
        "city: 基準市",
        "domain: liaison.bench.example",
        "agencies:",
        "  - {code: DVPC, name: 家庭暴力暨性侵害防治中心, emails: [dvpc@bench.example]}",
        f"  - {{code: NET, name: 網絡單位, emails: [{emails}]}}",
        "series:",
    ]
    for i in range(n_series):
        lines += [
            f"  - id: s{i:03d}",
            f"    title: 兒童及少年保護個案跨網絡合作會議第{i + 1}組",
            "    organizer: DVPC",
            '    cadence: {rrule: "FREQ=MONTHLY;BYDAY=2WE"}',
            '    time: "14:00"',
            "    location: 市府大樓8樓會議室",
            "    invite: {required: [NET]}",
            "    reminders: [{before: 1d, kind: reminder}]",
        ]
    return "\n".join(lines) + "\n"


def seed(app: App, n_series: int, n_recipients: int) -> int:
    cfg = build_config([load_yaml(city_yaml(n_series, n_recipients), "bench.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, PLAN_AT)
        generate_schedule(s, MEETING_DAY, MEETING_DAY, PLAN_AT)
    with app.transaction() as s:
        plan_messages(s, PLAN_AT)
    with app.transaction() as s:
        n: int = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "reminder", OutboxMessage.due_at <= SEND_AT)
        )
    return n


def prepared_messages(app: App) -> list[tuple[EmailMessage, str, str]]:
    """The emails the pipeline would send, built once, for the bare loop (not timed)."""
    out = []
    with app.transaction() as s:
        for row in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            p = prepare(s, row, SEND_AT, BASE_URL)
            assert p.message is not None
            out.append((p.message, p.envelope_from, p.recipient))
    return out


# --- the two senders -----------------------------------------------------------------------


async def bare_loop(port: int, messages: list[tuple[EmailMessage, str, str]]) -> float:
    """Seconds to send ``messages`` over CONNECTIONS reused connections (connecting untimed)."""
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) for _ in range(CONNECTIONS)
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    queue = iter(messages)  # shared: each connection takes the next message when free

    async def send_from(client: aiosmtplib.SMTP) -> None:
        for msg, sender, rcpt in queue:
            await client.send_message(msg, sender=sender, recipients=[rcpt])

    t0 = time.perf_counter()
    await asyncio.gather(*(send_from(c) for c in clients))
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*(c.quit() for c in clients))
    return elapsed


def pipeline(app: App, port: int, batches: int) -> tuple[float, Any]:
    """One ``dispatch_due`` call sending ``batches`` batches of 50 over CONNECTIONS."""
    smtp = parse_smtp_url(f"smtp://127.0.0.1:{port}")
    t0 = time.perf_counter()
    report = asyncio.run(
        dispatch_due(
            app.sessions,
            lambda: SmtpMailer(smtp),
            SEND_AT,
            base_url=BASE_URL,
            plan=False,
            concurrency=CONNECTIONS,
            max_batches=batches,
        )
    )
    return time.perf_counter() - t0, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000, help="reminders (multiple of 100)")
    ap.add_argument("--json", action="store_true", help="print JSON rows")
    args = ap.parse_args()
    n_recipients = 100
    n_series = max(1, args.messages // n_recipients)

    ctx = mp.get_context("spawn")
    counter, ready, stop = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = ctx.Process(target=_sink_main, args=(port, counter, ready, stop), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the sink did not start")
        with tempfile.TemporaryDirectory() as tmp:
            app = build_app(
                Settings(database_url=f"sqlite:///{Path(tmp) / 'b4.db'}"), FixedClock(SEND_AT)
            )
            t0 = time.perf_counter()
            n = seed(app, n_series, n_recipients)
            seeding = time.perf_counter() - t0
            messages = prepared_messages(app)
            assert len(messages) == n
            # Rounds alternate the two senders over slices of the messages, so that a
            # change in the machine's load during the run weighs on both alike.
            step = max(50, -(-n // ROUNDS) // 50 * 50)
            bare_time = pipe_time = 0.0
            sent = failed = delivered = 0
            for start in range(0, n, step):
                chunk = messages[start : start + step]
                bare_time += asyncio.run(bare_loop(port, chunk))
                before = counter.value
                t, report = pipeline(app, port, batches=-(-len(chunk) // 50))
                pipe_time += t
                delivered += counter.value - before
                sent, failed = sent + report.sent, failed + report.failed
                print(
                    f"  round {start // step + 1}: bare {(start + len(chunk)) / bare_time:.0f}/s, "
                    f"pipeline {delivered / pipe_time:.0f}/s (cumulative)",
                    file=sys.stderr,
                )
            with app.transaction() as s:
                sent_rows = s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "sent")
                )
                s.execute(update(OutboxMessage).values(status="pending"))  # leave nothing odd
            app.close()
    finally:
        stop.set()
        sink.join(10)

    bare_rate = n / bare_time
    pipe_rate = n / pipe_time
    ratio = pipe_rate / bare_rate
    ok_delivery = sent == n == delivered == sent_rows and failed == 0
    rows = [
        {
            "name": f"B4 bare aiosmtplib loop, {CONNECTIONS} connections (msg/s)",
            "measured": round(bare_rate, 1),
            "goal": None,
            "ok": True,
        },
        {
            "name": f"B4 pipeline: claim, re-check, render, send, record; {CONNECTIONS} connections (msg/s)",
            "measured": round(pipe_rate, 1),
            "goal": None,
            "ok": ok_delivery,
        },
        {
            "name": "B4 pipeline ÷ bare",
            "measured": round(ratio, 3),
            "goal": GOAL,
            "ok": ratio >= GOAL and ok_delivery,
        },
    ]
    if args.json:
        print(json.dumps({"rows": rows}, ensure_ascii=False))
        return
    print(
        f"B4 mail — {n:,} reminders ({n_series} meetings × {n_recipients} recipients) to aiosmtpd"
    )
    print(f"{'measure':<78}{'goal':>10}{'result':>14}")
    print(
        f"{'seeding: config, meetings, planning (not timed by goal)':<78}{'—':>10}{seeding:>13.1f}s"
    )
    print(f"{rows[0]['name']:<78}{'—':>10}{bare_rate:>10.0f} /s")
    print(f"{rows[1]['name']:<78}{'—':>10}{pipe_rate:>10.0f} /s")
    print(
        f"{'  delivered / recorded sent / failed':<78}{'—':>10}{f'{delivered}/{sent_rows}/{failed}':>14}"
    )
    print(f"{rows[2]['name']:<78}{f'≥ {GOAL:.2f}':>10}{ratio:>14.2f}")
    print(f"{'verdict':<78}{'':>10}{'PASS' if rows[2]['ok'] else 'FAIL':>14}")


if __name__ == "__main__":
    main()
