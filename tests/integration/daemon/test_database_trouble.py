"""Unusable databases, as real processes meet them (issue 12, item 16).

- a database path under a regular file, in a missing folder, or a folder: one line on
  stderr, exit 1, no traceback, for any command;
- a read-only database: reads work, a write is one line and exit 1, and `/healthz` says
  503 "database read-only" (the pages' logins would fail);
- a held SQLite lock: the daemon logs one line per failed tick, never a traceback or a
  bound parameter, and delivers once the lock is released.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from notifications.mailsink import MailSink
from tests.conftest import sqlite_only, write
from tests.support.configs import CONFIG
from tests.support.daemons import Daemons, process_env, seed, statuses
from tests.support.processes import LIAISON, free_port, run, wait_for


def _one_clear_line(res: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_unusable_database_locations_give_one_line_and_exit_1(tmp_path: Path) -> None:
    a_file = write(tmp_path / "plain.txt", "not a folder\n")
    cases = [
        (f"sqlite:///{a_file}/x.db", f"{a_file} is a file, not a folder"),
        (f"sqlite:///{tmp_path}/missing/deeper/x.db", "does not exist"),
        (f"sqlite:///{tmp_path}", "is a folder, not a file"),
    ]
    for url, message in cases:
        env = process_env(url, "smtp://127.0.0.1:9")
        for command in (["schedule", "list"], ["run", "--once"], ["notify", "status"]):
            _one_clear_line(run(env, *command), "LIAISON_DATABASE_URL", message)
    assert not (tmp_path / "missing").exists()  # nothing created on the way


def _healthz(port: int) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


@sqlite_only
def test_a_read_only_database_reads_refuses_writes_and_healthz_says_so(
    tmp_path: Path, db_url: str
) -> None:
    env = process_env(db_url, "smtp://127.0.0.1:9")
    assert run(env, "config", "load", str(write(tmp_path / "c.yaml", CONFIG))).returncode == 0
    assert (
        run(env, "schedule", "generate", "--from", "2023-01-01", "--to", "2023-02-28").returncode
        == 0
    )
    copy = tmp_path / "ro" / "liaison.db"
    copy.parent.mkdir()
    shutil.copy(db_url.removeprefix("sqlite:///"), copy)
    # Tests run as root, which file modes do not stop: open the file read-only instead.
    ro = process_env(f"sqlite:///file:{copy}?mode=ro&uri=true", "smtp://127.0.0.1:9")
    listed = run(ro, "schedule", "list")
    assert listed.returncode == 0 and "cp-20230111" in listed.stdout, listed.stderr
    wrote = run(ro, "closures", "add", "2023-02-08", "--reason", "颱風", "--now", "2023-01-01")
    _one_clear_line(wrote, "readonly database")
    port = free_port()
    server = subprocess.Popen(
        [*LIAISON, "serve", "--port", str(port)],
        env=ro,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: _healthz(port)[0] != 0, 60)
        assert _healthz(port) == (503, {"detail": "database read-only"})
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    assert "Traceback" not in err
    # The writable original is healthy.
    port = free_port()
    ok = subprocess.Popen(
        [*LIAISON, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: _healthz(port)[0] != 0, 60)
        assert _healthz(port) == (200, {"status": "ok"})
    finally:
        ok.terminate()
        ok.wait(timeout=20)


@sqlite_only
def test_the_daemon_under_a_held_lock_logs_one_line_per_failure(
    tmp_path: Path, db_url: str
) -> None:
    with MailSink() as sink:
        env = process_env(db_url, sink.url)
        env["LIAISON_SQLITE_BUSY_TIMEOUT"] = "0.2"  # meet the lock quickly
        due = len(seed(db_url, 5).message_ids)
        daemons = Daemons(env, tmp_path)
        try:
            daemons.start()
            # Recorded as sent (not only accepted by the server) before the lock is taken.
            assert wait_for(lambda: statuses(db_url).get("sent", 0) >= due, 60), daemons.log(0)
            holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            # What the holder commits at the end: everything sent is due again.
            holder.execute(
                "UPDATE outbox_messages SET status = 'pending', sent_at = NULL "
                "WHERE status = 'sent'"
            )
            try:
                assert wait_for(lambda: daemons.log(0).count("tick failed") >= 3, 60), daemons.log(
                    0
                )
            finally:
                holder.execute("COMMIT")
                holder.close()
            # The daemon lived through it: the next tick sends what the holder queued.
            assert wait_for(lambda: len(sink.handler.messages) >= 2 * due, 60), daemons.log(0)
        finally:
            daemons.stop_all()
    log = daemons.log(0)
    failures = [line for line in log.splitlines() if "tick failed" in line]
    assert failures and all("database is locked" in line for line in failures), log
    assert "Traceback" not in log and "[SQL" not in log and "parameters" not in log
    assert "@example.org" not in log
