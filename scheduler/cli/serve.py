"""The long-running commands: `liaison serve`, `liaison run` (the daemon),
`liaison mailsink` and `liaison demo`.

Each imports what it runs — the web app (FastAPI), the daemon (APScheduler, the mail
rendering), the mail sink (aiosmtpd), the demo (all of them) — inside the command.
At the top they would be loaded by every `liaison` command: measured, `liaison --help`
then takes 1.2 s of CPU instead of 0.85 s. Nothing here hides a cycle: these modules
never import the CLI.
"""

from __future__ import annotations

import signal
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from notifications.outbox.store import new_worker_id
from scheduler.cli.common import BadInput, NowOpt, clock_for, handled, make_app, smtp_mailers
from scheduler.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from notifications.outbox.dispatch import DispatchReport


MAX_WORKERS = 64
WEB_APP_FACTORY = "scheduler.cli.serve:web_app_from_env"


@handled
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help=f"Server processes sharing the port (1–{MAX_WORKERS}); more than 1 for "
            "machines with more cores."
        ),
    ] = 1,
) -> None:
    """Serve calendar feeds, the JSON API (/api, /openapi.json), the secretariat pages and /healthz."""
    from scheduler.web.app import run_server

    if not 1 <= workers <= MAX_WORKERS:
        raise BadInput(f"--workers: between 1 and {MAX_WORKERS} (got {workers})")
    # Built here even with several workers: a bad LIAISON_DATABASE_URL stops us before any
    # process starts, and an empty database is migrated once, not raced on by N workers.
    application = make_app()
    typer.echo(
        f"Liaison on http://{host}:{port}  (feeds: /feeds/TOKEN.ics, API: /docs)"
        + (f"  {workers} worker processes" if workers > 1 else "")
    )
    if workers > 1:
        application.close()
        run_workers(host, port, workers)
        return
    try:
        run_server(application, host, port)
    finally:
        application.close()


def web_app_from_env() -> FastAPI:
    """The ASGI app of one `serve --workers` process (uvicorn calls it in each worker):
    built from the environment's settings, the system clock, at call time — never at
    import, so importing this module connects to nothing. Its engine lives as long as
    the worker process; the connections close when it exits."""
    from scheduler.bootstrap import build_app
    from scheduler.web.app import create_web_app

    return create_web_app(build_app(Settings.from_env()))


def run_workers(host: str, port: int, workers: int) -> None:
    """uvicorn's supervisor: ``workers`` processes accepting on one socket, each its own
    app (feed cache, database pool); a worker that dies is replaced. Same server options
    as `run_server` (no access log: a feed URL is its secret token)."""
    import uvicorn

    uvicorn.run(
        WEB_APP_FACTORY,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        server_header=False,
        http="auto",
        loop="auto",
    )


@handled
def run(
    interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 15.0,
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
) -> None:
    """The daemon: plans and sends due messages continuously (APScheduler ticker)."""
    from scheduler.daemon import Daemon, housekeeping, tick

    if not 1 <= interval <= 3600:
        raise BadInput("--interval: between 1 and 3600 seconds")
    application = make_app()
    smtp_mailers(application)  # a bad LIAISON_SMTP_URL stops the daemon before it starts
    worker = new_worker_id()
    if once:
        housekeeping(application)
        r = tick(application, worker)
        typer.echo(f"sent {r.sent} failed {r.failed} retry {r.retried} skipped {r.skipped}")
        return

    def on_report(when: datetime, r: DispatchReport) -> None:
        if r.sent or r.failed or r.retried:
            typer.echo(
                f"{when:%Y-%m-%d %H:%M:%S} sent {r.sent} failed {r.failed} retry {r.retried}"
            )

    daemon = Daemon(application, worker, interval, on_report=on_report)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    typer.echo(
        f"liaison run: worker {worker}, every {interval:g}s, SMTP {application.settings.smtp_url}"
    )
    try:
        daemon.run_forever()
    except KeyboardInterrupt:
        daemon.stop()


@handled
def mailsink(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8025,
    directory: Annotated[Path, typer.Option("--dir", help="Where .eml files go.")] = Path(
        "var/mail"
    ),
) -> None:
    """A local SMTP server that stores every message as .eml (demos and tests)."""
    from notifications.mailsink import MailSink

    if not 1 <= port <= 65535:
        raise BadInput("--port: 1–65535")
    sink = MailSink(port=port, directory=directory).start()
    typer.echo(f"mail sink on smtp://127.0.0.1:{sink.port}, storing in {directory}/")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


def free_port(host: str, port: int, option: str) -> int:
    """``port`` if it is free on ``host`` (0: pick a free one); else exit 2 naming the option."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise BadInput(
                f"{option}: cannot listen on {host}:{port} ({exc.strerror}); choose another port"
            ) from None
        free: int = s.getsockname()[1]
        return free


@handled
def demo(
    now: NowOpt = None,
    keep: Annotated[bool, typer.Option(help="Keep an existing demo database.")] = False,
    once: Annotated[
        bool,
        typer.Option(
            "--no-serve",
            "--once",
            help="Set up, send what is due once, print the summary and exit (no server, no daemon).",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Web server interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Web server port (0: any free port).")] = 8000,
    smtp_port: Annotated[int, typer.Option(help="Mail sink port (0: any free port).")] = 8025,
    mail_dir: Annotated[
        Path, typer.Option("--mail-dir", help="Where the mail sink stores .eml files.")
    ] = Path("var/mail"),
    interval: Annotated[float, typer.Option(help="Seconds between daemon ticks.")] = 15.0,
) -> None:
    """Embedded defaults: SQLite under var/, the example cities, the mail sink, server and daemon.

    Generates this year's and next year's meetings, imports the sample cases, prints
    an agenda and the feed URLs, then runs the mail sink, the web server and the
    notification daemon in this process until Ctrl-C (``--no-serve``: dispatch once, exit).
    """
    from scheduler.demo import DEMO_DATABASE_URL, DemoOptions, run_demo

    for option, value in (("--port", port), ("--smtp-port", smtp_port)):
        if not 0 <= value <= 65535:
            raise BadInput(f"{option}: 0–65535")
    if not 1 <= interval <= 3600:
        raise BadInput("--interval: between 1 and 3600 seconds")
    web_port = 0 if once else free_port(host, port, "--port")
    options = DemoOptions(
        host=host,
        port=web_port,
        public_port=web_port or port,
        smtp_port=free_port("127.0.0.1", smtp_port, "--smtp-port"),
        mail_dir=mail_dir,
        interval=interval,
        keep=keep,
        once=once,
    )
    # The demo's own database unless LIAISON_DATABASE_URL names one.
    settings = Settings.from_env(default_database_url=DEMO_DATABASE_URL)
    run_demo(settings, clock_for(now), options)


def register(app: typer.Typer) -> None:
    """Add `demo`, `serve`, `run` and `mailsink` to the `liaison` app."""
    app.command("demo")(demo)
    app.command("serve")(serve)
    app.command("run")(run)
    app.command("mailsink")(mailsink)
