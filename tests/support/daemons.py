"""Seeding a due outbox and running several `liaison run` daemons on it, for tests."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from meetings.cases.config import load_config
from meetings.db import City, Occurrence, OutboxMessage
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.outbox.planner import plan_messages
from notifications.outbox.recipients import message_id_for
from scheduler.bootstrap import build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings
from tests.conftest import REPO
from tests.support.configs import CONFIG
from tests.support.processes import LIAISON

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
