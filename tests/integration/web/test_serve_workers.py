"""`liaison serve --workers N`: several real server processes on one port.

Every worker builds its own app (feed cache, database pool) from the environment, so
what must hold is that a feed is the same whoever answers: the same ETag, the same
bytes, the same 304 to a conditional request. Which worker answered is read from the
operating system, not from a header: on Linux, the server side of each client
connection is a socket that exactly one worker process holds open (/proc/net/tcp
gives its inode, /proc/PID/fd names its holder).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import EXAMPLES, REPO
from tests.support.processes import LIAISON, free_port, wait_for

WORKERS = 2
TIMEOUT = 120  # seconds, the bound on any one CLI run
MAX_REQUESTS = 400  # the bound on trying to see every worker answer


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LIAISON, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    def started_workers(self) -> int:
        return self.log.read_text().count("Application startup complete")

    def workers(self) -> list[int]:
        """The worker processes' ids (the supervisor's children holding a server socket)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []


@dataclass(frozen=True)
class Answer:
    status: int
    etag: str
    body: bytes
    worker: int | None  # None: not observable here


@pytest.fixture
def feed_env(tmp_path: Path, db_url: str) -> tuple[dict[str, str], int, str]:
    """A database with the 臺北市 example, a year of meetings and a POL feed token."""
    port = free_port()
    env = dict(
        os.environ,
        LIAISON_DATABASE_URL=db_url,
        LIAISON_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.pop("LIAISON_SMTP_URL", None)
    assert cli(env, "config", "load", str(EXAMPLES / "taipei.yaml")).returncode == 0
    today = date.today()
    made = cli(
        env, "schedule", "generate", "--from", str(today), "--to", str(today + timedelta(days=365))
    )
    assert made.returncode == 0, made.stderr
    feed = cli(env, "feeds", "create", "--agency", "POL", "--json")
    assert feed.returncode == 0, feed.stderr
    return env, port, urlsplit(json.loads(feed.stdout)["url"]).path


@pytest.fixture
def server(tmp_path: Path, feed_env: tuple[dict[str, str], int, str]) -> Iterator[Server]:
    env, port, _ = feed_env
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*LIAISON, "serve", "--port", str(port), "--workers", str(WORKERS)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    srv = Server(proc, port, log)
    try:
        ready = wait_for(lambda: srv.started_workers() >= WORKERS or proc.poll() is not None, 90)
        assert ready and proc.poll() is None, log.read_text()
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def holder(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker holding the server side of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if local.endswith(f":{server_port:04X}") and remote.endswith(f":{client_port:04X}"):
            inode = fields[9]
    if inode is None:
        return None
    for pid in workers:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def fetch(srv: Server, path: str, workers: list[int], etag: str | None = None) -> Answer:
    """One GET over a fresh connection; the worker is looked up while it is still open."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("GET", path, headers={"If-None-Match": etag} if etag else {})
        resp = conn.getresponse()
        body = resp.read()
        assert conn.sock is not None
        worker = holder(srv.port, conn.sock.getsockname()[1], workers)
        return Answer(resp.status, resp.getheader("ETag") or "", body, worker)
    finally:
        conn.close()


def test_two_workers_serve_the_same_feed_bytes_and_etag(
    server: Server, feed_env: tuple[dict[str, str], int, str]
) -> None:
    path = feed_env[2]
    workers = server.workers()
    assert len(workers) >= WORKERS, workers  # the supervisor's children (+ its resource tracker)
    first = fetch(server, path, workers)
    assert first.status == 200 and b"BEGIN:VCALENDAR" in first.body and first.etag
    answers = [first]
    seen = {first.worker}
    observable = first.worker is not None and Path("/proc/net/tcp").exists()
    # Fresh connections, four at a time, until both workers answered (bounded).
    with ThreadPoolExecutor(4) as pool:
        while len(answers) < 40 or (observable and len(seen - {None}) < WORKERS):
            if len(answers) >= MAX_REQUESTS:
                break
            batch = list(pool.map(lambda _: fetch(server, path, workers), range(8)))
            answers += batch
            seen |= {a.worker for a in batch}
    for a in answers:
        assert (a.status, a.etag, a.body) == (200, first.etag, first.body)
    if observable:
        assert len(seen - {None}) >= WORKERS, f"answered by {seen} of {workers}"
    # A calendar app revalidating gets 304 whichever worker it reaches.
    again = [fetch(server, path, workers, etag=first.etag) for _ in range(20)]
    assert {(a.status, a.etag, a.body) for a in again} == {(304, first.etag, b"")}


def test_sigterm_stops_every_worker(server: Server) -> None:
    workers = [pid for pid in server.workers() if Path(f"/proc/{pid}").exists()]
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0
    assert wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 30)


@pytest.mark.parametrize("n", ["0", "65", "-3"])
def test_workers_outside_1_to_64_is_refused_naming_the_option(
    tmp_path: Path, db_url: str, n: str
) -> None:
    env = dict(os.environ, LIAISON_DATABASE_URL=db_url, PYTHONPATH=str(REPO))
    res = cli(env, "serve", "--port", str(free_port()), "--workers", n)
    assert res.returncode == 2
    assert "--workers: between 1 and 64" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
