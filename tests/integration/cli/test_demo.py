"""`liaison demo`: the example cities, mail to the embedded sink, the server and the daemon."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import urllib.request
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKEND, EXAMPLES, REPO
from tests.support.mail import everything
from tests.support.processes import LIAISON, free_port, run, wait_for

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the demo is SQLite under var/")

NOW = "2023-03-01T15:00"  # the 3月8日 meetings: agendas due at 14:00


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["LIAISON_DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    e["PYTHONPATH"] = str(REPO)
    return e


def sample_full_names() -> list[str]:
    with (EXAMPLES / "sample_cases.csv").open(encoding="utf-8-sig") as f:
        return [row["name"] for row in csv.DictReader(f) if row["name"]]


def mails(maildir: Path) -> list[EmailMessage]:
    out = []
    for path in sorted(maildir.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def test_demo_once_then_serve_sink_server_and_daemon(tmp_path: Path, env: dict[str, str]) -> None:
    maildir = tmp_path / "mail"
    res = run(
        env, "demo", "--no-serve", "--now", NOW, "--smtp-port", "0", "--mail-dir", str(maildir)
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "meetings generated for 3 cities" in out
    assert re.search(r"Double-booked required agencies \d+–\d+: 0 \(0 avoidable\)", out), out
    assert re.search(r"http://127\.0\.0\.1:8000/feeds/[A-Za-z0-9_-]{40,}\.ics", out)
    m = re.search(r"Notifications: sent (\d+), failed 0, .* — (\d+) messages in (\S+)/\*\.eml", out)
    assert m is not None, out
    sent, files = int(m.group(1)), int(m.group(2))
    assert m.group(3) == str(maildir)
    messages = mails(maildir)
    assert sent == files == len(messages) > 0
    ids = [str(msg["Message-ID"]) for msg in messages]
    assert len(ids) == len(set(ids))
    kinds = Counter(i.split(".")[1] for i in ids)
    assert kinds["invitation"] > 0 and kinds["agenda"] > 0
    names = sample_full_names()
    assert names
    for msg in messages:
        text = everything(msg)
        assert not [n for n in names if n in text], msg["Subject"]
    # The agenda of the next 兒少保護 meeting went out with its masked case table.
    cp = [
        msg
        for msg in messages
        if ".agenda." in str(msg["Message-ID"]) and "兒童及少年保護個案" in str(msg["Subject"])
    ]
    assert cp and any("王○明" in everything(msg) for msg in cp)
    # Again with --keep: the sink, the server and the daemon in one process; the
    # daemon's first tick sends nothing twice.
    serve_keeps_running_until_interrupted(env, maildir, files)


def serve_keeps_running_until_interrupted(env: dict[str, str], maildir: Path, files: int) -> None:
    """`liaison demo --keep` on free ports: sink, server and daemon until SIGINT."""
    web, smtp = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *LIAISON,
            "demo",
            "--keep",
            "--now",
            NOW,
            "--port",
            str(web),
            "--smtp-port",
            str(smtp),
            "--mail-dir",
            str(maildir),
            "--interval",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        out = "".join(lines)
        assert f"smtp://127.0.0.1:{smtp} — mail lands in {maildir}/*.eml" in out, out
        feed = re.search(rf"http://127\.0\.0\.1:{web}/feeds/[A-Za-z0-9_-]+\.ics", out)
        assert feed is not None, out

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        assert wait_for(healthy)
        # The pages' address comes first, then one login of each role, each of which works.
        assert lines[0].startswith(f"Pages: http://127.0.0.1:{web}/login"), lines[0]
        found = re.findall(r"^  (\S+)\s+(\S+@taoyuan\.example)\s+(\S+)$", out, re.M)
        assert [role for role, _e, _p in found] == ["系統管理者", "幕僚單位", "與會機關"], out
        for _role, email, password in found:
            assert logs_in(f"http://127.0.0.1:{web}", email, password), email
        with urllib.request.urlopen(feed.group(0), timeout=10) as r:
            body = r.read().decode()
        assert r.status == 200 and body.startswith("BEGIN:VCALENDAR")
        # The daemon's first tick (at start) ran before "press Ctrl-C": nothing was due
        # that the first run had not sent.
        assert "mail: sent" not in out
        assert len(list(maildir.glob("*.eml"))) == files
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode in (0, 130)


def logs_in(base: str, email: str, password: str) -> bool:
    """Log in through the login form (CSRF token and all); True on the redirect to the pages."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        r = client.post("/login", data={"email": email, "password": password, "csrf": token[1]})
        return r.status_code == 303
