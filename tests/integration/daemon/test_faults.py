"""Fault tests: real processes on loopback, every wait bounded, on SQLite and PostgreSQL.

- a daemon killed with SIGKILL in the middle of a batch, then restarted: nothing is
  lost; the only repeats are messages of the batch that was in flight, with the same
  Message-ID (SPEC §4);
- the SMTP server down for a while, then up: everything is delivered;
- one address answering 550: that message is failed and reported, the rest delivered;
- SQLite "database is locked" under concurrent CLI writes: retried, never a traceback;
- the web server killed and restarted: feeds identical.

Time is never waited out: lease expiry and retry back-off are reached with
``liaison notify dispatch --now``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from meetings.db import OutboxMessage
from notifications.mailsink import MailSink, SinkHandler
from notifications.outbox.store import LEASE, MAX_ATTEMPTS
from scheduler.bootstrap import build_app
from scheduler.settings import Settings
from tests.conftest import sqlite_only, write
from tests.support.daemons import DAILY, Daemons, process_env, seed, statuses
from tests.support.processes import LIAISON, free_port, wait_for

TIMEOUT = 120  # seconds, the bound on any one CLI run


def iso(t: datetime) -> str:
    return t.isoformat()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LIAISON, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def no_traceback(res: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in res.stdout + res.stderr


def rows(db_url: str) -> list[OutboxMessage]:
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            return list(s.scalars(select(OutboxMessage)))
    finally:
        app.close()


# --- kill -9 mid-batch ---------------------------------------------------------------------


@dataclass
class HoldingHandler(SinkHandler):
    """Accepts ``accept`` messages, then holds every further DATA until ``release``
    is set (and answers 451): a daemon killed while held dies mid-batch, after the
    server accepted part of its batch and before it recorded anything."""

    accept: int = 0
    held: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            holding = len(self.messages) >= self.accept and not self.release.is_set()
            if holding:
                self.held += 1
        if holding:
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_kill_9_mid_batch_then_restart_loses_nothing_and_repeats_only_the_batch_in_flight(
    tmp_path: Path, db_url: str
) -> None:
    handler = HoldingHandler(accept=120)
    sink = MailSink()
    sink.handler = handler
    with sink:
        env = process_env(db_url, sink.url)
        build_app(Settings(database_url=db_url)).close()
        seeded = seed(db_url, 300)
        due = seeded.message_ids
        daemons = Daemons(env, tmp_path)
        try:
            victim = daemons.start()
            assert wait_for(lambda: handler.held >= 1, 90), daemons.log(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            handler.release.set()

            before = Counter(handler.message_ids())
            in_flight = {
                r.message_id for r in rows(db_url) if r.status == "pending" and r.claimed_by
            }
            assert in_flight, "the daemon died holding a batch"
            assert len(in_flight) <= 50  # one batch (dispatch_due's default)
            accepted_not_recorded = {
                r.message_id
                for r in rows(db_url)
                if r.status == "pending" and r.message_id in before
            }
            assert accepted_not_recorded <= in_flight
            assert accepted_not_recorded, "killed after the server accepted part of the batch"

            # Restart: the new daemon sends everything except the dead one's leased rows.
            daemons.start()
            assert wait_for(
                lambda: statuses(db_url).get("sent", 0) == len(due) - len(in_flight), 90
            ), (statuses(db_url), daemons.log(1))
            daemons.stop_all()
        finally:
            daemons.stop_all()
        # The lease runs out (reached with --now, not waited for): those rows go too.
        later = datetime.now(UTC) + LEASE + timedelta(minutes=1)
        res = cli(env, "notify", "dispatch", "--now", iso(later))
        assert res.returncode == 0, res.stderr
        assert no_traceback(res)
        assert f"sent {len(in_flight)}," in res.stdout

    delivered = Counter(handler.message_ids())
    assert set(delivered) == due  # nothing lost
    repeated = {m for m, n in delivered.items() if n > 1}
    assert repeated == accepted_not_recorded  # only the batch in flight, same Message-ID
    assert max(delivered.values()) == 2
    assert statuses(db_url) == {"sent": len(due), "pending": seeded.later}


# --- SMTP down, then up ----------------------------------------------------------------------


def test_smtp_server_down_for_a_while_then_up_everything_is_delivered(db_url: str) -> None:
    port = free_port()
    env = process_env(db_url, f"smtp://127.0.0.1:{port}")
    build_app(Settings(database_url=db_url)).close()
    seeded = seed(db_url, 120)
    t0 = datetime.now(UTC)
    # Down: three dispatch runs over six minutes; each tries, fails to connect, backs off.
    for minutes in (0, 2, 6):
        res = cli(env, "notify", "dispatch", "--now", iso(t0 + timedelta(minutes=minutes)))
        assert res.returncode == 0, res.stderr  # temporary: not a failure
        assert no_traceback(res)
        assert "sent 0, failed 0" in res.stdout
        assert "to retry 0" not in res.stdout
    tried = [r for r in rows(db_url) if r.attempts]
    assert tried and all(r.status == "pending" and r.attempts < MAX_ATTEMPTS for r in tried)
    assert all("cannot connect" in (r.last_error or "") for r in tried)
    # Up again: the next run (after the longest back-off) delivers everything, once.
    with MailSink(port=port) as sink:
        res = cli(env, "notify", "dispatch", "--now", iso(t0 + timedelta(minutes=30)))
        assert res.returncode == 0, res.stderr
        assert f"sent {len(seeded.message_ids)}, failed 0, to retry 0" in res.stdout
        delivered = Counter(sink.handler.message_ids())
    assert set(delivered) == seeded.message_ids
    assert max(delivered.values()) == 1
    assert statuses(db_url) == {"sent": len(seeded.message_ids), "pending": seeded.later}


# --- 550 for one address ---------------------------------------------------------------------


def test_one_address_answering_550_is_failed_and_reported_the_rest_delivered(
    db_url: str,
) -> None:
    bad = "nobody@example.org"
    with MailSink() as sink:
        sink.handler.scripted[bad] = ["550 5.1.1 no such user here"]
        env = process_env(db_url, sink.url)
        build_app(Settings(database_url=db_url)).close()
        seeded = seed(db_url, 80, bad=(bad,))
        res = cli(env, "notify", "dispatch")
        assert res.returncode == 1, res.stdout + res.stderr  # a permanent failure is reported
        assert no_traceback(res)
        assert f"sent {len(seeded.message_ids) - 1}, failed 1" in res.stdout
        assert f"→ {bad}: 550" in res.stderr
        status = json.loads(cli(env, "notify", "status", "--json").stdout)
        assert [f["recipient"] for f in status["failed"]] == [bad]
        assert "550" in status["failed"][0]["error"]
        # A failed message is not retried; nothing is sent again.
        again = cli(env, "notify", "dispatch")
        assert again.returncode == 0 and "sent 0, failed 0" in again.stdout
        delivered = Counter(sink.handler.message_ids())
    failed_id = next(r.message_id for r in rows(db_url) if r.recipient == bad)
    assert set(delivered) == seeded.message_ids - {failed_id}
    assert max(delivered.values()) == 1
    assert statuses(db_url) == {
        "sent": len(seeded.message_ids) - 1,
        "failed": 1,
        "pending": seeded.later,
    }


# --- SQLite: database is locked ---------------------------------------------------------------


@sqlite_only
def test_sqlite_locked_by_concurrent_writers_is_retried_not_a_traceback(
    tmp_path: Path, db_url: str
) -> None:
    path = db_url.removeprefix("sqlite:///")
    env = process_env(db_url, "smtp://127.0.0.1:9")
    env["LIAISON_SQLITE_BUSY_TIMEOUT"] = "0.3"  # meet the lock quickly
    cfg = write(tmp_path / "c.yaml", DAILY)
    assert cli(env, "config", "load", str(cfg)).returncode == 0
    # Another writer holds the write lock while four CLI writers start.
    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE cities SET name = name")
    procs = []
    for month in range(1, 5):
        out = (tmp_path / f"w{month}.out").open("w+")
        err = (tmp_path / f"w{month}.err").open("w+")
        p = subprocess.Popen(
            [
                *LIAISON,
                "schedule",
                "generate",
                "--from",
                f"2024-{month:02d}-01",
                "--to",
                f"2024-{month:02d}-28",
            ],
            env=env,
            stdout=out,
            stderr=err,
            text=True,
        )
        procs.append((p, tmp_path / f"w{month}.out", tmp_path / f"w{month}.err"))

    def retrying() -> list[bool]:
        return ["database is locked; trying again" in e.read_text() for _, _, e in procs]

    try:
        # Hold the lock until a writer has met it and is retrying; release it then, well
        # inside that writer's retry budget (slow interpreter start-up under load is fine).
        wait_for(lambda: any(retrying()), 60)
        assert any(retrying())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for p, out, err in procs:
        assert p.wait(timeout=TIMEOUT) == 0, err.read_text()
        assert "Traceback" not in out.read_text() + err.read_text()
        assert "28 created" in out.read_text()
    app = build_app(Settings(database_url=db_url))
    try:
        from meetings.db import Occurrence

        with app.transaction() as s:
            assert s.scalar(select(func.count()).select_from(Occurrence)) == 4 * 28
    finally:
        app.close()


@sqlite_only
def test_a_lock_held_past_every_retry_is_a_clear_error_not_a_traceback(
    tmp_path: Path, db_url: str
) -> None:
    path = db_url.removeprefix("sqlite:///")
    env = process_env(db_url, "smtp://127.0.0.1:9")
    env["LIAISON_SQLITE_BUSY_TIMEOUT"] = "0.05"
    cfg = write(tmp_path / "c.yaml", DAILY)
    assert cli(env, "config", "load", str(cfg)).returncode == 0
    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE cities SET name = name")
    try:
        res = cli(env, "schedule", "generate", "--from", "2024-01-01", "--to", "2024-01-10")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert res.returncode == 1
    assert no_traceback(res)
    assert res.stderr.count("trying again") == 4
    assert "database error: database is locked" in res.stderr


# --- the web server killed and restarted -----------------------------------------------------


@pytest.fixture
def server_env(tmp_path: Path, db_url: str) -> Iterator[dict[str, Any]]:
    port = free_port()
    env = process_env(db_url, "smtp://127.0.0.1:9")
    env["LIAISON_BASE_URL"] = f"http://127.0.0.1:{port}"
    yield {"env": env, "port": port}


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except OSError:
        return 0, b"", {}


def test_server_killed_and_restarted_serves_identical_feeds(
    tmp_path: Path, server_env: dict[str, Any]
) -> None:
    env, port = server_env["env"], server_env["port"]
    cfg = write(tmp_path / "c.yaml", DAILY.replace('{rrule: "FREQ=DAILY"}', "每月召開1次"))
    assert cli(env, "config", "load", str(cfg)).returncode == 0
    today = date.today()
    res = cli(
        env,
        "schedule",
        "generate",
        "--from",
        str(today),
        "--to",
        str(today.replace(year=today.year + 1)),
    )
    assert res.returncode == 0, res.stderr
    urls = []
    for scope in (("--series", "cp"), ("--agency", "POL")):
        made = cli(env, "feeds", "create", *scope, "--json")
        assert made.returncode == 0, made.stderr
        urls.append(json.loads(made.stdout)["url"])
    health = f"http://127.0.0.1:{port}/healthz"

    def serve() -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [*LIAISON, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert wait_for(lambda: _get(health)[0] == 200, 60)
        return p

    server = serve()
    try:
        first = [_get(u) for u in urls]
        assert all(code == 200 and b"BEGIN:VCALENDAR" in body for code, body, _ in first)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        assert _get(health)[0] == 0
        server = serve()
        second = [_get(u) for u in urls]
    finally:
        server.kill()
        server.wait(timeout=10)
    for (_, b1, h1), (c2, b2, h2) in zip(first, second, strict=True):
        assert c2 == 200
        assert b1 == b2  # byte-identical after a crash and restart
        assert h1.get("etag") == h2.get("etag")
