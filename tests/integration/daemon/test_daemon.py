"""`liaison mailsink` and `liaison run` as real processes on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import REPO, write
from tests.support.configs import CONFIG
from tests.support.processes import LIAISON, free_port, run, wait_for


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["LIAISON_DATABASE_URL"] = f"sqlite:///{tmp_path / 'd.db'}"
    e["PYTHONPATH"] = str(REPO)
    return e


@pytest.fixture
def sink_process(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[int, Path]]:
    port, maildir = free_port(), tmp_path / "mail"
    proc = subprocess.Popen(
        [*LIAISON, "mailsink", "--port", str(port), "--dir", str(maildir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    assert "mail sink on" in proc.stdout.readline()
    yield port, maildir
    proc.terminate()
    proc.wait(timeout=10)


def test_daemon_delivers_and_a_restart_sends_nothing_twice(
    tmp_path: Path, env: dict[str, str], sink_process: tuple[int, Path]
) -> None:
    port, maildir = sink_process
    env["LIAISON_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    cfg = write(tmp_path / "c.yaml", CONFIG.replace("每月召開1次", '{rrule: "FREQ=DAILY"}'))
    assert run(env, "config", "load", str(cfg)).returncode == 0
    today = date.today()
    res = run(
        env,
        "schedule",
        "generate",
        "--from",
        str(today + timedelta(days=2)),
        "--to",
        str(today + timedelta(days=4)),
    )
    assert res.returncode == 0, res.stderr
    daemon = subprocess.Popen(
        [*LIAISON, "run", "--interval", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Meetings 2–4 days ahead: invitations and agendas are overdue and go at once.
        assert wait_for(lambda: len(list(maildir.glob("*.eml"))) >= 4)
    finally:
        daemon.kill()  # no goodbye: like a crash
        daemon.wait(timeout=10)
    res = run(env, "run", "--once")
    assert res.returncode == 0, res.stderr
    res2 = run(env, "notify", "dispatch")
    assert "sent 0" in res2.stdout
    from email import message_from_bytes, policy

    ids = [
        str(message_from_bytes(p.read_bytes(), policy=policy.default)["Message-ID"]).strip()
        for p in maildir.glob("*.eml")
    ]
    assert len(ids) == len(set(ids)) and len(ids) >= 4
    status = run(env, "notify", "status", "--json")
    assert '"failed": []' in status.stdout
