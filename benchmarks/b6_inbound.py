"""B6: 10,000 inbound calendar replies (iTIP METHOD:REPLY mail), each applied exactly once.

A city of 20 agencies (each on its own mail domain) and one weekday series inviting all
of them; every meeting gets its seats as the invitations would (``sync_seats``), so
10,000 replies answer 10,000 distinct seats (500 meetings × 20 agencies). The replies
are built beforehand (not timed) in the shapes real clients send, with the test suite's
builders (tests/integration/inbound/clients.py): Outlook (base64, no ORGANIZER), Google
Calendar (inline + invite.ics), Apple Calendar (quoted-printable .ics attachment) and
Thunderbird (delegation, 8bit), PARTSTAT ACCEPTED / TENTATIVE / DECLINED / DELEGATED,
a fifth of them sent from a colleague's address on the agency's domain.

Timed: ``receive_batch`` over the messages in batches of 50 (the IMAP poll's path:
parse, dedup by Message-ID, map to the seat, record the answer, a savepoint per message,
one commit per batch). Then all 10,000 are delivered again: none may be applied twice
(10,000 answers, 10,000 ``inbound_messages``, nothing quarantined). Goal: ≥ 500
replies/s. With ``--single N`` (default 2,000; 0: skip) another N replies to other
meetings go through ``receive``, one transaction (one commit) each: the SMTP receiver's
path, an extra row, no goal. With ``--smtp N`` (default 2,000; 0: skip) another N go over
one real SMTP connection (aiosmtplib) to a `liaison inbound` process on loopback: an
extra row, no goal.

    .venv/bin/python benchmarks/b6_inbound.py [--messages 10000] [--single 2000] [--smtp 2000] [--json]

LIAISON_BENCH_DATABASE_URL (an empty PostgreSQL database) runs it there instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from meetings.access.users import secret  # noqa: E402
from meetings.cases.config import load_config  # noqa: E402
from meetings.db import InboundMessage, Occurrence, Seat, SeatAnswer  # noqa: E402
from meetings.kernel.vocabulary import InboundStatus, SeatState  # noqa: E402
from meetings.kernel.yamlsource import load_yaml  # noqa: E402
from meetings.schedule.config_build import build_config  # noqa: E402
from meetings.schedule.operations import generate_schedule  # noqa: E402
from meetings.seats.seats import REPLY_SECRET, sync_seats  # noqa: E402
from notifications.inbound.imap import BATCH  # noqa: E402
from notifications.inbound.process import DUPLICATE, receive, receive_batch  # noqa: E402
from scheduler.bootstrap import App, build_app  # noqa: E402
from scheduler.clock import FixedClock  # noqa: E402
from scheduler.settings import Settings  # noqa: E402
from tests.integration.inbound.clients import (  # noqa: E402
    ORGANIZER,
    Who,
    apple_reply,
    google_reply,
    outlook_reply,
    thunderbird_delegation,
)

GOAL = 500.0  # replies/s
AGENCIES = 20
NOW = datetime(2023, 1, 1, 1, 0, tzinfo=UTC)  # before every meeting: replies are open
FIRST_DAY = date(2023, 1, 2)
NOW_CLI = "2023-01-01T09:00"  # the same instant for `liaison inbound --now` (Asia/Taipei)


def agency_code(n: int) -> str:
    return f"A{n:02d}"


def agency_address(n: int) -> str:
    return f"liaison@a{n:02d}.bench.example"


def city_yaml() -> str:
    lines = [
        "city: 基準市",
        "domain: liaison.bench.example",
        "agencies:",
        "  - {code: DVPC, name: 家庭暴力暨性侵害防治中心, emails: [dvpc@bench.example]}",
    ]
    lines += [
        f"  - {{code: {agency_code(n)}, name: 網絡單位{n}, emails: [{agency_address(n)}]}}"
        for n in range(1, AGENCIES + 1)
    ]
    invited = ", ".join(agency_code(n) for n in range(1, AGENCIES + 1))
    lines += [
        "series:",
        "  - id: net",
        "    title: 兒童及少年保護個案跨網絡合作會議",
        "    organizer: DVPC",
        '    cadence: {rrule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}',
        '    time: "14:00"',
        "    location: 市府大樓8樓會議室",
        f"    invite: {{required: [{invited}]}}",
    ]
    return "\n".join(lines) + "\n"


def seed(app: App, meetings: int) -> list[str]:
    """The city, ``meetings`` weekday meetings with their seats; their UIDs, by start."""
    cfg = build_config([load_yaml(city_yaml(), "bench.yaml")])
    last = FIRST_DAY + timedelta(days=meetings * 7 // 5 + 60)  # weekdays, holidays aside
    with app.transaction() as s:
        load_config(s, cfg, NOW)
        generate_schedule(s, FIRST_DAY, last, NOW)
    with app.transaction() as s:
        occs = list(s.scalars(select(Occurrence).order_by(Occurrence.start_at).limit(meetings)))
        if len(occs) < meetings:
            raise SystemExit(f"seeding: {len(occs)} meetings generated, {meetings} wanted")
        key = secret(s, REPLY_SECRET, NOW)
        for occ in occs:  # the invitations went out: every meeting has its seats
            sync_seats(s, occ, key, NOW)
        return [o.uid for o in occs]


def reply(n: int, uid: str, agency: int) -> bytes:
    """Reply number ``n``: agency ``agency`` answering meeting ``uid``, in one of the
    client shapes, with one of the answers."""
    domain = f"a{agency:02d}.bench.example"
    own = agency_address(agency)
    sender = own if n % 5 else f"staff{n % 97}@{domain}"  # a colleague: mapped by domain
    mid = f"<b6-{n}@{domain}>"
    shape = n % 4
    if shape == 0:
        partstat = ("ACCEPTED", "DECLINED", "TENTATIVE")[n // 4 % 3]
        comment = "另有公務" if partstat == "DECLINED" else None
        return outlook_reply(uid, Who(sender, "王小明", partstat), message_id=mid, comment=comment)
    if shape == 1:
        partstat = ("ACCEPTED", "DECLINED")[n // 4 % 2]
        comment = "當日另有會議" if partstat == "DECLINED" else None
        return google_reply(uid, Who(sender, "林老師", partstat), message_id=mid, comment=comment)
    if shape == 2:
        partstat = ("TENTATIVE", "ACCEPTED")[n // 4 % 2]
        return apple_reply(uid, Who(sender, "陳社工", partstat), message_id=mid)
    return thunderbird_delegation(
        uid, Who(own, "張科長"), Who(f"deputy{n % 89}@mail.example.net", "李代理"), message_id=mid
    )


def build_replies(uids: list[str], count: int) -> list[bytes]:
    """``count`` replies: each meeting's agencies in turn, so each seat gets one."""
    out = []
    for n in range(count):
        uid, agency = uids[n // AGENCIES], n % AGENCIES + 1
        out.append(reply(n, uid, agency))
    return out


def more_replies(uids: list[str], first: int, count: int) -> list[bytes]:
    """``count`` replies numbered from ``first`` (their Message-IDs unlike the others')."""
    return [reply(first + k, uids[k // AGENCIES], k % AGENCIES + 1) for k in range(count)]


def deliver_all(
    app: App, messages: list[bytes], label: str, batch: int
) -> tuple[float, dict[str, int]]:
    """Seconds to receive every message (``batch`` a transaction; 0: ``receive`` each
    in its own), and the outcomes by status."""
    statuses: dict[str, int] = {}
    size = batch or 1
    step = max(size, len(messages) // 5 // size * size)
    t0 = time.perf_counter()
    for k in range(0, len(messages), size):
        chunk = messages[k : k + size]
        if batch:
            outcomes = receive_batch(app.sessions, [(raw, None) for raw in chunk], NOW)
        else:
            outcomes = [receive(app.sessions, raw, NOW) for raw in chunk]
        for outcome in outcomes:
            statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
        done = k + len(chunk)
        if done % step == 0:
            took = time.perf_counter() - t0
            print(f"  {label}: {done:,} in {took:.1f} s, {done / took:.0f}/s", file=sys.stderr)
    return time.perf_counter() - t0, statuses


def counts(app: App, uids: list[str]) -> dict[str, int]:
    """What the database holds about the replies to ``uids``' meetings."""
    with app.transaction() as s:
        seat_ids = (
            select(Seat.id)
            .join(Occurrence, Occurrence.id == Seat.occurrence_id)
            .where(Occurrence.uid.in_(uids))
        )
        answers = select(SeatAnswer).where(SeatAnswer.seat_id.in_(seat_ids)).subquery()
        inbound = select(InboundMessage).where(InboundMessage.occurrence_uid.in_(uids)).subquery()
        return {
            "answers": s.scalar(select(func.count()).select_from(answers)) or 0,
            "answered_seats": s.scalar(select(func.count(func.distinct(answers.c.seat_id)))) or 0,
            "applied_answers": s.scalar(
                select(func.count()).select_from(answers).where(answers.c.applied.is_(True))
            )
            or 0,
            "seats_not_invited": s.scalar(
                select(func.count())
                .select_from(Seat)
                .where(Seat.id.in_(seat_ids), Seat.state != SeatState.INVITED)
            )
            or 0,
            "inbound": s.scalar(select(func.count()).select_from(inbound)) or 0,
            "inbound_applied": s.scalar(
                select(func.count())
                .select_from(inbound)
                .where(inbound.c.status == InboundStatus.APPLIED)
            )
            or 0,
            "quarantined": s.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.status == InboundStatus.QUARANTINED)
            )
            or 0,
        }


# --- over SMTP: a real `liaison inbound` process ------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def send_over_one_connection(port: int, messages: list[bytes]) -> tuple[float, int]:
    """Seconds to send every message over one SMTP connection (connecting untimed), and
    how many were answered 250."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
    await client.connect()
    accepted = 0
    t0 = time.perf_counter()
    for raw in messages:
        errors, _response = await client.sendmail("mailer@bench.example", [ORGANIZER], raw)
        accepted += not errors
    elapsed = time.perf_counter() - t0
    await client.quit()
    return elapsed, accepted


def over_smtp(url: str, tmp: Path, messages: list[bytes]) -> tuple[float, int]:
    """`liaison inbound` on ``url`` (its clock at NOW), the messages sent to it."""
    port = free_port()
    log = tmp / "inbound.log"
    env = dict(os.environ, LIAISON_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "scheduler.cli.main", "inbound", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*cmd, "--now", NOW_CLI], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        deadline = time.monotonic() + 60
        while "liaison inbound on" not in log.read_text(encoding="utf-8"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"liaison inbound did not start: {log.read_text()[-300:]}")
            time.sleep(0.05)
        return asyncio.run(send_over_one_connection(port, messages))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000, help="replies (distinct seats)")
    ap.add_argument("--single", type=int, default=2_000, help="replies via `receive` (0: skip)")
    ap.add_argument("--smtp", type=int, default=2_000, help="replies over SMTP (0: skip)")
    ap.add_argument("--json", action="store_true", help="print JSON rows")
    args = ap.parse_args()
    n, n_single, n_smtp = max(1, args.messages), max(0, args.single), max(0, args.smtp)
    meetings = -(-n // AGENCIES)
    single_meetings, smtp_meetings = -(-n_single // AGENCIES), -(-n_smtp // AGENCIES)

    # LIAISON_BENCH_DATABASE_URL: an empty database to use instead of a temp SQLite file
    pg_url = os.environ.get("LIAISON_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        url = pg_url or f"sqlite:///{Path(tmp) / 'b6.db'}"
        backend = "PostgreSQL" if pg_url else "SQLite"
        app = build_app(Settings(database_url=url), FixedClock(NOW))
        t0 = time.perf_counter()
        uids = seed(app, meetings + single_meetings + smtp_meetings)
        seeding = time.perf_counter() - t0
        main_uids = uids[:meetings]
        single_uids = uids[meetings : meetings + single_meetings]
        smtp_uids = uids[meetings + single_meetings :]
        t0 = time.perf_counter()
        messages = build_replies(main_uids, n)
        single_messages = more_replies(single_uids, n, n_single)
        smtp_messages = more_replies(smtp_uids, n + n_single, n_smtp)
        building = time.perf_counter() - t0

        took, first = deliver_all(app, messages, "first delivery", BATCH)
        again_took, again = deliver_all(app, messages, "re-delivery", BATCH)
        got = counts(app, main_uids)
        single_took, single = deliver_all(app, single_messages, "one by one", 0)
        single_got = counts(app, single_uids) if n_single else {}
        smtp_took = smtp_accepted = 0.0
        smtp_got: dict[str, int] = {}
        if n_smtp:
            app.close()  # the receiver process is the writer now
            smtp_took, smtp_accepted = over_smtp(url, Path(tmp), smtp_messages)
            app = build_app(Settings(database_url=url), FixedClock(NOW))
            smtp_got = counts(app, smtp_uids)
        app.close()

    rate = n / took
    applied_once = (
        first.get(InboundStatus.APPLIED, 0) == n
        and again.get(DUPLICATE, 0) == n
        and got["answers"] == got["answered_seats"] == got["applied_answers"] == n
        and got["seats_not_invited"] == got["inbound"] == got["inbound_applied"] == n
        and got["quarantined"] == 0
    )
    duplicates = got["answers"] - got["answered_seats"]
    rows = [
        {
            "name": f"B6 {n:,} inbound replies processed (`receive_batch`, {BATCH} a commit)",
            "measured": f"{rate:.0f} replies/s ({took:.1f} s)",
            "goal": f"≥ {GOAL:.0f} replies/s",
            "ok": rate >= GOAL and first.get(InboundStatus.APPLIED, 0) == n,
        },
        {
            "name": f"B6 each applied exactly once (re-delivery of all {n:,})",
            "measured": (
                f"{got['answers']:,} answers, {duplicates} duplicates, "
                f"{got['quarantined']} quarantined"
            ),
            "goal": "exactly once",
            "ok": applied_once,
        },
    ]
    if n_single:
        single_ok = (
            single.get(InboundStatus.APPLIED, 0) == n_single
            and single_got["answers"] == single_got["inbound_applied"] == n_single
        )
        rows.append(
            {
                "name": f"B6 {n_single:,} replies by `receive`, one commit each (the SMTP path)",
                "measured": f"{n_single / single_took:.0f} replies/s ({single_took:.1f} s)",
                "goal": None,
                "ok": single_ok,
            }
        )
    if n_smtp:
        smtp_ok = (
            smtp_accepted == n_smtp
            and smtp_got["answers"] == smtp_got["answered_seats"] == n_smtp
            and smtp_got["inbound_applied"] == n_smtp
            and smtp_got["quarantined"] == 0
        )
        rows.append(
            {
                "name": f"B6 {n_smtp:,} replies over SMTP to `liaison inbound` (aiosmtplib, 1 connection)",
                "measured": f"{n_smtp / smtp_took:.0f} replies/s ({smtp_took:.1f} s)",
                "goal": None,
                "ok": smtp_ok,
            }
        )
    if args.json:
        print(json.dumps({"rows": rows}, ensure_ascii=False))
        return 0 if all(r["ok"] for r in rows) else 1
    print(f"B6 inbound — {n:,} replies ({meetings} meetings × {AGENCIES} agencies), {backend}")
    print(f"{'measure':<78}{'goal':>16}  result")
    print(f"{'seeding: city, meetings, seats (not timed by goal)':<78}{'—':>16}  {seeding:.1f} s")
    print(f"{'building the reply mails (not timed by goal)':<78}{'—':>16}  {building:.1f} s")
    for r in rows:
        print(f"{r['name']:<78}{r['goal'] or '—':>16}  {r['measured']}")
    print(f"{'  outcomes, first delivery':<78}{'—':>16}  {first}")
    print(f"{'  outcomes, re-delivery':<78}{'—':>16}  {again} ({n / again_took:.0f}/s)")
    print(f"{'  database':<78}{'—':>16}  {got}")
    if n_smtp:
        print(f"{'  database, SMTP meetings':<78}{'—':>16}  {smtp_got}")
    ok = all(r["ok"] for r in rows)
    print(f"{'verdict':<78}{'':>16}  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
