"""Benchmark B2: calendar feeds.

1. Cold build of a 2,000-event feed (goal ≤ 100 ms).
2. A cached feed under load, served by `liaison serve` (one uvicorn process) vs
   nginx (one worker) serving the same bytes as a static file, both on loopback,
   measured in the same run with wrk (or a bounded Python load loop if wrk is
   missing). Goals: ≥ 50 % of nginx's requests/s, p99 ≤ 10 ms.

Run:  .venv/bin/python benchmarks/b2_feed.py [--seconds 5] [--connections 16] [--json]
Everything runs on 127.0.0.1, is bounded in time and is cleaned up at exit.
`liaison serve` runs exactly as deployed: one uvicorn process, its fastest
installed HTTP parser and loop (httptools, uvloop), no access log. nginx runs one
worker with sendfile and an open-file cache: its best static-file setup.
With --json the last line printed is one JSON object
{"rows": [{"name", "measured", "goal", "ok"}]}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from meetings.kernel.localtime import DEFAULT_TIMEZONE  # noqa: E402
from notifications import ics  # noqa: E402
from notifications.ics import FeedEvent, build_feed, build_feed_reference  # noqa: E402

TITLES = [
    "兒童及少年保護個案跨網絡合作會議",
    "中壢區區級聯繫會議",
    "家暴高危機跨網絡合作會議（第四區）",
]


def events(n: int) -> list[FeedEvent]:
    base = datetime(2023, 1, 2, 6, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        start = base + timedelta(hours=9 * i)
        uid = f"ty-district-liaison-zhongli-{start:%Y%m%d}-{i}@liaison.taoyuan.example"
        out.append(
            FeedEvent(
                uid=uid,
                sequence=i % 3,
                start=start,
                end=start + timedelta(hours=2),
                summary=TITLES[i % 3],
                location="市府大樓13樓第1會議室",
                status="cancelled" if i % 17 == 0 else "scheduled",
                organizer_name="家庭暴力暨性侵害防治中心",
                organizer_email="dvpc@taoyuan.example",
                description_url=f"https://liaison.taoyuan.example/meetings/{uid}",
                last_modified=base,
            )
        )
    return out


def time_build(n: int, runs: int, reference: bool = False) -> tuple[float, float]:
    """(median, best) milliseconds of ``runs`` cold builds of an ``n``-event feed."""
    evs = events(n)
    now = datetime(2023, 1, 1, tzinfo=UTC)
    samples = []
    for _ in range(runs):
        ics._vtimezone.cache_clear()  # cold: nothing cached from a previous build
        t0 = time.perf_counter()
        (build_feed_reference if reference else build_feed)(
            evs, calname="桃園市 家防中心 會議", now=now, tz=DEFAULT_TIMEZONE
        )
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), min(samples)


# --- servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(
    url: str, deadline_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"exited with status {proc.returncode}: {err.strip()[-300:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        threading.Event().wait(0.05)
    raise RuntimeError(f"{url} did not come up within {deadline_s} s")


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def prepare_db(workdir: Path) -> tuple[dict[str, str], str]:
    """A database with the three example cities and two years of meetings; a feed token."""
    env = dict(os.environ)
    env["LIAISON_DATABASE_URL"] = f"sqlite:///{workdir / 'b2.db'}"
    liaison = [sys.executable, "-m", "scheduler.cli.main"]
    run = {"env": env, "cwd": REPO, "check": True, "capture_output": True, "timeout": 300}
    today = date.today()
    subprocess.run([*liaison, "config", "load", "config"], **run)  # type: ignore[call-overload]
    subprocess.run(  # type: ignore[call-overload]
        [
            *liaison,
            "schedule",
            "generate",
            "--from",
            (today - timedelta(days=220)).isoformat(),
            "--to",
            (today + timedelta(days=570)).isoformat(),
        ],
        **run,
    )
    out = subprocess.run(  # type: ignore[call-overload]
        [*liaison, "feeds", "create", "--agency", "POL", "--city", "桃園市"], **run
    ).stdout.decode()
    match = re.search(r"/feeds/([A-Za-z0-9_-]+)\.ics", out)
    assert match, out
    return env, match.group(1)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=60s;
    types {{ text/calendar ics; }}
    client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp; uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location / {{ etag on; }}
    }}
}}
"""


# --- load ----------------------------------------------------------------------------


def wrk(url: str, seconds: int, connections: int, etag: str | None = None) -> tuple[float, float]:
    """(requests/s, p99 ms) from wrk."""
    extra = ["-H", f"If-None-Match: {etag}"] if etag else []
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "5s",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, p99


def python_load(
    url: str, seconds: int, connections: int, etag: str | None = None
) -> tuple[float, float]:
    """A bounded Python load loop: `connections` threads, each with a keep-alive client."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        mine: list[float] = []
        headers = {"If-None-Match": etag} if etag else {}
        with httpx.Client(timeout=5, headers=headers) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                client.get(url).raise_for_status()
                mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    elapsed = time.monotonic() - t0
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99) - 1]


def server_stack() -> str:
    """What uvicorn will use in this venv (it picks httptools/uvloop when installed)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"1 uvicorn process, {http}, {loop}, no access log"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="Also print the rows as JSON.")
    args = parser.parse_args()
    # (name, goal, measured, note, ok)
    table: list[tuple[str, str, str, str, bool]] = []

    cold, best = time_build(args.events, runs=7)
    ref, _ = time_build(args.events, runs=3, reference=True)
    table.append(
        (
            f"cold build, {args.events} events (median of 7)",
            "≤ 100 ms",
            f"{cold:.1f} ms",
            f"best {best:.1f} ms",
            cold <= 100,
        )
    )
    table.append(("  (icalendar alone, same feed)", "—", f"{ref:.1f} ms", "reference", True))

    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    load_tool = "wrk" if shutil.which("wrk") else "python loop"
    load = wrk if shutil.which("wrk") else python_load

    with tempfile.TemporaryDirectory(prefix="liaison-b2-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        env, token = prepare_db(workdir)
        port = free_port()
        env["LIAISON_BASE_URL"] = f"http://127.0.0.1:{port}"
        liaison_cmd = [
            sys.executable,
            "-m",
            "scheduler.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        with process(liaison_cmd, env=env):
            wait_until_up(f"http://127.0.0.1:{port}/healthz")
            feed_url = f"http://127.0.0.1:{port}/feeds/{token}.ics"
            t0 = time.perf_counter()
            first = httpx.get(feed_url, timeout=10)
            first_ms = (time.perf_counter() - t0) * 1000
            body, etag = first.content, first.headers["etag"]
            n_events = body.count(b"BEGIN:VEVENT")
            l_rps, l_p99 = load(feed_url, args.seconds, args.connections)
            c_rps, c_p99 = load(feed_url, args.seconds, args.connections, etag)
        n_rps = n_p99 = nc_rps = nc_p99 = None
        if nginx:
            (workdir / "www").mkdir()
            (workdir / "tmp").mkdir()
            (workdir / "www" / "feed.ics").write_bytes(body)
            for p in (workdir / "www", workdir / "www" / "feed.ics"):
                p.chmod(0o755 if p.is_dir() else 0o644)
            nport = free_port()
            conf = workdir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=workdir, port=nport))
            with process([nginx, "-c", str(conf), "-p", str(workdir)]) as proc:
                nginx_url = f"http://127.0.0.1:{nport}/feed.ics"
                try:
                    wait_until_up(nginx_url, proc=proc)
                except RuntimeError as exc:
                    print(f"nginx did not start: {exc}", file=sys.stderr)
                else:
                    n_rps, n_p99 = load(nginx_url, args.seconds, args.connections)
                    n_etag = httpx.get(nginx_url, timeout=10).headers.get("etag")
                    nc_rps, nc_p99 = load(nginx_url, args.seconds, args.connections, n_etag)

    size = f"{len(body) / 1024:.0f} KiB, {n_events} events"
    table.append(
        (f"first request, empty cache ({size}, DB + build)", "—", f"{first_ms:.1f} ms", "", True)
    )
    table.append(
        (f"liaison serve, cached feed ({size})", "—", f"{l_rps:,.0f} req/s", load_tool, True)
    )
    table.append(("liaison serve p99", "≤ 10 ms", f"{l_p99:.2f} ms", "", l_p99 <= 10))
    table.append(("liaison serve, If-None-Match → 304", "—", f"{c_rps:,.0f} req/s", "", True))
    table.append(("liaison serve 304 p99", "≤ 10 ms", f"{c_p99:.2f} ms", "", c_p99 <= 10))
    if n_rps is not None and n_p99 is not None and nc_rps is not None and nc_p99 is not None:
        ratio = l_rps / n_rps
        table.append(("nginx static file, same bytes", "—", f"{n_rps:,.0f} req/s", "", True))
        table.append(("nginx p99", "—", f"{n_p99:.2f} ms", "", True))
        table.append(("nginx 304", "—", f"{nc_rps:,.0f} req/s", f"p99 {nc_p99:.2f} ms", True))
        table.append(("liaison / nginx requests/s", "≥ 50 %", f"{ratio:.0%}", "", ratio >= 0.5))
        table.append(("liaison / nginx 304s", "—", f"{c_rps / nc_rps:.0%}", "", True))
    else:
        state = "not installed" if not nginx else "did not start"
        table.append(("nginx", "—", state, "skipped", True))

    print(
        f"B2 — feeds ({args.connections} connections, {args.seconds} s per run, loopback, "
        f"{os.cpu_count()} CPUs; liaison: {server_stack()}; nginx: 1 worker)"
    )
    header = ("measure", "goal", "measured", "")
    rows = [
        (
            name,
            goal,
            measured,
            (("ok " if ok else "MISSED ") + note).strip() if goal != "—" else note,
        )
        for name, goal, measured, note, ok in table
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if args.json:
        print(
            json.dumps(
                {
                    "rows": [
                        {"name": name.strip(), "measured": measured, "goal": goal, "ok": ok}
                        for name, goal, measured, _note, ok in table
                    ]
                },
                ensure_ascii=False,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
