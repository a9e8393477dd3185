"""Several `liaison run` daemons on one database: every due message goes out exactly once.

PostgreSQL is the multi-daemon backend: workers claim outbox rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and a lease, so they share the work without a
leader and never overlap. SQLite is documented as single-daemon; its compare-and-set
claim still keeps two concurrent dispatchers from sending a message twice, which is
checked here on a smaller outbox.

Everything runs as real processes against a real SMTP server (aiosmtpd) on loopback,
and every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from meetings.cases.config import load_config
from meetings.db import City, Occurrence, OutboxMessage
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.declarations import build_config
from meetings.schedule.operations import generate_schedule
from notifications.mailsink import MailSink
from notifications.outbox.planner import message_id_for, plan_messages
from scheduler.bootstrap import build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings
from tests.conftest import REPO, postgresql_only
from tests.integration.daemon.test_daemon import LIAISON, wait_for
from tests.unit.notifications.test_notify import CONFIG

DAILY = CONFIG.replace("每月召開1次", '{rrule: "FREQ=DAILY"}')


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Seeded:
    uid: str
    message_ids: set[str]  # every message due now, planned ones included
    later: int  # planned messages not yet due (reminders): stay pending


def seed(db_url: str, n: int, *, bad: tuple[str, ...] = ()) -> Seeded:
    """A city with daily meetings 3–5 days ahead (real time: daemons use the system clock),
    its planned invitations/agendas, and ``n`` extra reminders due now to distinct
    recipients (``bad`` addresses among them)."""
    now = utcnow()
    app = build_app(Settings(database_url=db_url), FixedClock(now))
    try:
        cfg = build_config([load_yaml(DAILY, "city.yaml")])
        today = date.today()
        with app.transaction() as s:
            load_config(s, cfg, now)
            generate_schedule(s, today + timedelta(days=3), today + timedelta(days=5), now)
            plan_messages(s, now)
        with app.transaction() as s:
            occ = s.scalars(select(Occurrence).order_by(Occurrence.start_at)).first()
            assert occ is not None
            city = s.get(City, occ.series.city_id)
            assert city is not None
            recipients = [f"r{i:05d}@example.org" for i in range(n - len(bad))] + list(bad)
            rows = [
                {
                    "message_id": message_id_for("reminder", occ.uid, occ.sequence, r, city.domain),
                    "kind": "reminder",
                    "occurrence_uid": occ.uid,
                    "sequence": occ.sequence,
                    "city_id": city.id,
                    "recipient": r,
                    "recipient_name": "警察局",
                    "role": "REQ-PARTICIPANT",
                    "due_at": now - timedelta(minutes=1),
                    "status": "pending",
                    "attempts": 0,
                    "context": {"uid": occ.uid},
                    "created_at": now,
                }
                for r in recipients
            ]
            if rows:
                s.execute(insert(OutboxMessage), rows)
            uid = occ.uid
        with app.transaction() as s:
            ids = set(
                s.scalars(select(OutboxMessage.message_id).where(OutboxMessage.due_at <= now))
            )
            total = s.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        return Seeded(uid, ids, total - len(ids))
    finally:
        app.close()


def statuses(db_url: str) -> dict[str, int]:
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            return dict(
                s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()  # type: ignore[arg-type]
            )
    finally:
        app.close()


def process_env(db_url: str, smtp_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LIAISON_DATABASE_URL=db_url,
        LIAISON_SMTP_URL=smtp_url,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    return env


class Daemons:
    """`liaison run` processes, stopped (SIGTERM, then SIGKILL) when the test ends."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, interval: int = 1) -> subprocess.Popen[str]:
        log = (self.log_dir / f"daemon-{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(
            [*LIAISON, "run", "--interval", str(interval)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def log(self, i: int) -> str:
        return (self.log_dir / f"daemon-{i}.log").read_text()

    def started(self, i: int) -> bool:
        return "liaison run: worker" in self.log(i)

    def sent_by(self, i: int) -> int:
        """Messages daemon ``i`` reported as sent (its `… sent N failed …` tick lines)."""
        total = 0
        for line in self.log(i).splitlines():
            words = line.split()
            if "sent" in words and "failed" in words and "liaison" not in words:
                total += int(words[words.index("sent") + 1])
        return total

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@pytest.fixture
def daemons(tmp_path: Path, db_url: str, sink: MailSink) -> Iterator[Daemons]:
    d = Daemons(process_env(db_url, sink.url), tmp_path)
    yield d
    d.stop_all()


def run_daemons_until_delivered(
    db_url: str, sink: MailSink, daemons: Daemons, count: int, n: int, timeout: float
) -> Seeded:
    """Start ``count`` daemons, wait until all are up, then make ``n`` messages due."""
    build_app(Settings(database_url=db_url)).close()  # schema first: daemons don't race on it
    for _ in range(count):
        daemons.start()
    assert wait_for(lambda: all(daemons.started(i) for i in range(count)), 60), [
        daemons.log(i) for i in range(count)
    ]
    seeded = seed(db_url, n)
    # len(messages), not message_ids(): parsing 2,000 headers every poll starves the sink
    assert wait_for(lambda: len(sink.handler.messages) >= len(seeded.message_ids), timeout), (
        f"{len(sink.handler.messages)} of {len(seeded.message_ids)} delivered"
    )
    assert wait_for(lambda: statuses(db_url).get("sent", 0) >= len(seeded.message_ids), 30)
    daemons.stop_all()
    return seeded


def assert_each_exactly_once(sink: MailSink, seeded: Seeded) -> None:
    delivered = Counter(sink.handler.message_ids())
    twice = {m: c for m, c in delivered.items() if c > 1}
    assert not twice, f"sent more than once: {list(twice.items())[:5]}"
    assert set(delivered) == seeded.message_ids


@postgresql_only
def test_three_daemons_on_postgresql_send_2000_messages_each_exactly_once(
    db_url: str, sink: MailSink, daemons: Daemons
) -> None:
    seeded = run_daemons_until_delivered(db_url, sink, daemons, 3, 2000, timeout=240)
    assert len(seeded.message_ids) >= 2000
    assert_each_exactly_once(sink, seeded)
    assert statuses(db_url) == {"sent": len(seeded.message_ids), "pending": seeded.later}
    # No leader: all three took part.
    shares = [daemons.sent_by(i) for i in range(3)]
    assert sum(shares) == len(seeded.message_ids), shares
    assert all(share > 0 for share in shares), shares


def test_two_concurrent_daemons_never_send_a_message_twice(
    db_url: str, sink: MailSink, daemons: Daemons, backend: str
) -> None:
    """On SQLite too (single-daemon by documentation): the compare-and-set claim holds."""
    seeded = run_daemons_until_delivered(db_url, sink, daemons, 2, 300, timeout=120)
    assert_each_exactly_once(sink, seeded)
    assert statuses(db_url) == {"sent": len(seeded.message_ids), "pending": seeded.later}
    assert sum(daemons.sent_by(i) for i in range(2)) == len(seeded.message_ids)


def test_seed_is_due_at_once(db_url: str) -> None:
    """The helper's rows are what the daemons see as due (guards the tests above)."""
    seeded = seed(db_url, 5)
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            due = s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.due_at <= utcnow())
            )
    finally:
        app.close()
    assert due == len(seeded.message_ids) >= 5
