"""A throwaway PostgreSQL cluster for tests and CI (standard library only).

    python3 -m tests.support.pg start --dir DIR     # initdb + pg_ctl start; prints the admin URL
    python3 -m tests.support.pg stop --dir DIR      # pg_ctl stop (fast), keeps DIR
    python3 -m tests.support.pg run -- CMD ARGS…    # start in a temp dir, run CMD with
                                            # LIAISON_TEST_DATABASE_URL set, stop, remove

The cluster listens on 127.0.0.1 only (a free port), its socket in DIR, trust
authentication for the superuser ``postgres``; durability is switched off (fsync,
synchronous_commit) because the data is thrown away. PostgreSQL refuses to run as
root: as root the server runs as the ``postgres`` user (created if missing) via
``runuser``. The binaries come from ``$PG_BINDIR``, ``/usr/lib/postgresql/*/bin``
or the PATH.

The test suite (tests/conftest.py) creates a fresh database per test through the
admin URL and drops it afterwards.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"
SUPERUSER = "postgres"


def bin_dir() -> Path:
    """Where initdb and pg_ctl live."""
    explicit = os.environ.get("PG_BINDIR")
    if explicit:
        if not (Path(explicit) / "initdb").exists():
            raise RuntimeError(f"PG_BINDIR={explicit}: no initdb there")
        return Path(explicit)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found (initdb, pg_ctl): install the 'postgresql' "
        "package or set PG_BINDIR"
    )


def available() -> bool:
    try:
        bin_dir()
    except RuntimeError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_server_user() -> None:
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
        )


def _cmd(args: list[str]) -> list[str]:
    """Run as the server user when we are root."""
    if _as_root():
        return ["runuser", "-u", SERVER_USER, "--", *args]
    return args


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the maintenance database, as the superuser."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        subprocess.run(
            _cmd([str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )


def start(directory: Path, port: int | None = None) -> Cluster:
    """initdb into ``directory``/data and start the server; returns when it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cluster = Cluster(directory, port)
    bindir = bin_dir()
    if _as_root():
        _ensure_server_user()
        shutil.chown(directory, SERVER_USER)
        directory.chmod(0o700)
        # the server user must be able to reach the directory
        for parent in directory.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
    if not (cluster.data / "PG_VERSION").exists():
        subprocess.run(
            _cmd(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(cluster.data),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-p {port}",
            f"-k {directory}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ]
    )
    result = subprocess.run(
        _cmd(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(cluster.data),
                "-l",
                str(cluster.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=False,
        stdout=subprocess.DEVNULL,
        timeout=90,
    )
    if result.returncode != 0:
        log = cluster.log.read_text(errors="replace") if cluster.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed (exit {result.returncode}):\n{log[-3000:]}")
    return cluster


def _port_of(directory: Path) -> int:
    # postmaster.pid line 4 is the port
    lines = (directory / "data" / "postmaster.pid").read_text().splitlines()
    return int(lines[3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.pg", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a cluster in DIR and print its admin URL")
    p_start.add_argument("--dir", type=Path, required=True)
    p_start.add_argument("--port", type=int, default=None)
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR")
    p_stop.add_argument("--dir", type=Path, required=True)
    p_run = sub.add_parser("run", help="run a command against a throwaway cluster")
    p_run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "start":
        cluster = start(args.dir.resolve(), args.port)
        print(cluster.admin_url)
        return 0
    if args.command == "stop":
        directory = args.dir.resolve()
        if (directory / "data" / "postmaster.pid").exists():
            Cluster(directory, _port_of(directory)).stop()
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("run: no command")
    directory = Path(tempfile.mkdtemp(prefix="liaison-pg-"))

    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        cluster = start(directory)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        print(f"tests.support.pg: cannot start PostgreSQL: {exc}", file=sys.stderr)
        return 2
    try:
        env = dict(os.environ, LIAISON_TEST_DATABASE_URL=cluster.admin_url)
        print(f"tests.support.pg: PostgreSQL at {cluster.admin_url}", file=sys.stderr, flush=True)
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
