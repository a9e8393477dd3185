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
import math
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Load:
    """One load run: requests/s, p99 in ms (None when nothing succeeded), failed requests."""

    rps: float
    p99: float | None
    errors: int


def wrk(url: str, seconds: int, connections: int, etag: str | None = None) -> Load:
    """Load from wrk; non-2xx/3xx answers and socket errors are the errors."""
    extra = ["-H", f"If-None-Match: {etag}"] if etag else []
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
        + [*extra, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else None
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    if sock := re.search(r"Socket errors:(.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", sock.group(1)))
    return Load(float(rps.group(1)) if rps else 0.0, p99, errors)


def python_load(url: str, seconds: int, connections: int, etag: str | None = None) -> Load:
    """A bounded Python load loop: `connections` threads, each with a keep-alive client.

    A 200 is a success; so is a 304 when the request is conditional (``etag``).
    Anything else, and any transport error, counts as an error and the loop goes on."""
    ok_status = {200, 304} if etag else {200}
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        headers = {"If-None-Match": etag} if etag else {}
        with httpx.Client(timeout=5, headers=headers) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError:
                    failed += 1
                    continue
                if status in ok_status:
                    mine.append((time.perf_counter() - t0) * 1000)
                else:
                    failed += 1
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    elapsed = time.monotonic() - t0
    return Load(len(latencies) / elapsed, percentile(latencies, 0.99), errors)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def load_tool() -> tuple[str, Callable[..., Load]]:
    """wrk when installed and not disabled (LIAISON_BENCH_NO_WRK=1), else the Python loop."""
    if os.environ.get("LIAISON_BENCH_NO_WRK") == "1":
        return "Python loop (wrk disabled: LIAISON_BENCH_NO_WRK=1)", python_load
    if shutil.which("wrk"):
        return "wrk", wrk
    return "Python loop (wrk not installed)", python_load


def find_nginx() -> tuple[str | None, str]:
    """nginx's path, or None and why (LIAISON_BENCH_NO_NGINX=1 skips it)."""
    if os.environ.get("LIAISON_BENCH_NO_NGINX") == "1":
        return None, "skipped (LIAISON_BENCH_NO_NGINX=1)"
    path = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    return path, "" if path else "not installed"


def server_stack() -> str:
    """What uvicorn will use in this venv (it picks httptools/uvloop when installed)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"1 uvicorn process, {http}, {loop}, no access log"


Row = tuple[str, str, str, str, bool | None]  # (name, goal, measured, note, ok)
# Under the Python loop the client, not the server, bounds latency and requests/s:
# those goals are printed but not judged (ok None).
NOT_JUDGED = "not judged: the Python loop is client-bound"


def measure_liaison(
    args: argparse.Namespace, load: Callable[..., Load], workdir: Path
) -> dict[str, Any]:
    """The first request and the two load runs against `liaison serve`, and the feed."""
    env, token = prepare_db(workdir)
    port = free_port()
    env["LIAISON_BASE_URL"] = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "scheduler.cli.main", "serve"]
    with process([*cmd, "--host", "127.0.0.1", "--port", str(port)], env=env):
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
        feed_url = f"http://127.0.0.1:{port}/feeds/{token}.ics"
        t0 = time.perf_counter()
        first = httpx.get(feed_url, timeout=10)
        first_ms = (time.perf_counter() - t0) * 1000
        full = load(feed_url, args.seconds, args.connections)
        cond = load(feed_url, args.seconds, args.connections, first.headers["etag"])
    return {"body": first.content, "first_ms": first_ms, "full": full, "cond": cond}


def measure_nginx(
    args: argparse.Namespace, load: Callable[..., Load], nginx: str, workdir: Path, body: bytes
) -> tuple[Load, Load] | str:
    """(full, 304) load runs against nginx serving ``body`` as a static file, or why not."""
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
            return "did not start"
        full = load(nginx_url, args.seconds, args.connections)
        etag = httpx.get(nginx_url, timeout=10).headers.get("etag")
        return full, load(nginx_url, args.seconds, args.connections, etag)


def judged(name: str, goal: str, measured: str, ok: bool, by_wrk: bool) -> Row:
    """A row with a goal: judged under wrk; printed but not judged under the Python loop."""
    if by_wrk:
        return (name, goal, measured, "", ok)
    return (name, goal, f"{measured} (not judged)", NOT_JUDGED, None)


def p99_row(name: str, run: Load, by_wrk: bool) -> Row:
    ok = run.p99 is not None and run.p99 <= 10
    return judged(name, "≤ 10 ms", ms(run.p99), ok, by_wrk)


def errors_row(runs: list[Load]) -> Row:
    errors = sum(r.errors for r in runs)
    return ("failed requests (all load runs)", "0", f"{errors:,}", "", errors == 0)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.0%}" if b else "n/a"


def load_rows(tool: str, liaison: dict[str, Any], nginx: tuple[Load, Load] | str) -> list[Row]:
    size = f"{len(liaison['body']) / 1024:.0f} KiB, {liaison['body'].count(b'BEGIN:VEVENT')} events"
    full, cond = liaison["full"], liaison["cond"]
    by_wrk = tool == "wrk"
    rows: list[Row] = [
        ("load generator", "—", tool, "", True),
        (
            f"first request, empty cache ({size}, DB + build)",
            "—",
            f"{liaison['first_ms']:.1f} ms",
            "",
            True,
        ),
        (f"liaison serve, cached feed ({size})", "—", f"{full.rps:,.0f} req/s", "", True),
        p99_row("liaison serve p99", full, by_wrk),
        ("liaison serve, If-None-Match → 304", "—", f"{cond.rps:,.0f} req/s", "", True),
        p99_row("liaison serve 304 p99", cond, by_wrk),
    ]
    if isinstance(nginx, str):
        share_row = ("liaison / nginx requests/s", "≥ 50 %", "n/a (no nginx)", "", None)
        return [*rows, ("nginx", "—", nginx, "", True), share_row, errors_row([full, cond])]
    n_full, n_cond = nginx
    share = full.rps / n_full.rps if n_full.rps else 0.0
    return [
        *rows,
        ("nginx static file, same bytes", "—", f"{n_full.rps:,.0f} req/s", "", True),
        ("nginx p99", "—", ms(n_full.p99), "", True),
        ("nginx 304", "—", f"{n_cond.rps:,.0f} req/s", f"p99 {ms(n_cond.p99)}", True),
        judged(
            "liaison / nginx requests/s",
            "≥ 50 %",
            ratio(full.rps, n_full.rps),
            share >= 0.5,
            by_wrk,
        ),
        ("liaison / nginx 304s", "—", ratio(cond.rps, n_cond.rps), "", True),
        errors_row([full, cond, n_full, n_cond]),
    ]


def build_rows(args: argparse.Namespace) -> list[Row]:
    cold, best = time_build(args.events, runs=7)
    ref, _ = time_build(args.events, runs=3, reference=True)
    rows: list[Row] = [
        (f"cold build, {args.events} events (median of 7)", "≤ 100 ms", f"{cold:.1f} ms")
        + (f"best {best:.1f} ms", cold <= 100),
        ("  (icalendar alone, same feed)", "—", f"{ref:.1f} ms", "reference", True),
    ]
    tool, load = load_tool()
    nginx, why_not = find_nginx()
    with tempfile.TemporaryDirectory(prefix="liaison-b2-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        liaison = measure_liaison(args, load, workdir)
        served = measure_nginx(args, load, nginx, workdir, liaison["body"]) if nginx else why_not
    return rows + load_rows(tool, liaison, served)


def print_table(args: argparse.Namespace, table: list[Row]) -> None:
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
            (("" if ok is None else "ok " if ok else "MISSED ") + note).strip()
            if goal != "—"
            else note,
        )
        for name, goal, measured, note, ok in table
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="Also print the rows as JSON.")
    args = parser.parse_args()
    table = build_rows(args)
    print_table(args, table)
    if args.json:
        rows = [
            {"name": name.strip(), "measured": measured, "goal": goal, "ok": ok}
            for name, goal, measured, _note, ok in table
        ]
        print(json.dumps({"rows": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
