"""CLI: `liaison notify …`, `liaison run` (the daemon) and `liaison mailsink`.

The notification modules (icalendar, aiosmtplib, templates) are imported inside the
commands, so that every other `liaison` command starts without them.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from scheduler.cli.common import BadInput, emit_json, handled, make_app

notify_app = typer.Typer(help="Email notifications: dispatch and status.", no_args_is_help=True)

NowOpt = Annotated[str | None, typer.Option("--now", help="Pretend it is this instant (ISO 8601).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _smtp(url: str) -> Any:
    from notifications.mailer import parse_smtp_url

    try:
        return parse_smtp_url(url)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


@notify_app.command("dispatch")
@handled
def notify_dispatch(now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Plan from new events and minutes deadlines, send every message that is due, exit."""
    from notifications.mailer import SmtpMailer
    from notifications.outbox.dispatch import dispatch_due

    application = make_app(now)
    smtp = _smtp(application.settings.smtp_url)
    when = application.clock.now()
    report = asyncio.run(
        dispatch_due(
            application.sessions,
            lambda: SmtpMailer(smtp),
            when,
            base_url=application.settings.base_url,
        )
    )
    if as_json:
        emit_json(report.as_dict())
    else:
        typer.echo(
            f"sent {report.sent}, failed {report.failed}, to retry {report.retried}, "
            f"skipped {report.skipped}"
        )
        for e in report.errors:
            typer.echo(f"failed: {e}", err=True)
    if report.failed:
        raise typer.Exit(1)


@notify_app.command("status")
@handled
def notify_status(as_json: JsonOpt = False) -> None:
    """Counts of pending, sent and failed messages, and the failures."""
    from meetings.db import OutboxMessage

    application = make_app()
    with application.transaction() as session:
        counts = dict(
            session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            ).all()
        )
        by_kind = [
            {"kind": k, "status": s, "count": n}
            for k, s, n in session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count())
                .group_by(OutboxMessage.kind, OutboxMessage.status)
                .order_by(OutboxMessage.kind, OutboxMessage.status)
            ).all()
        ]
        failed = [
            {
                "message_id": m.message_id,
                "recipient": m.recipient,
                "kind": m.kind,
                "error": m.last_error,
            }
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "failed").limit(100)
            )
        ]
    data = {"counts": counts, "by_kind": by_kind, "failed": failed}
    if as_json:
        emit_json(data)
        return
    for status in ("pending", "sent", "failed", "superseded", "cancelled"):
        typer.echo(f"{status:<11} {counts.get(status, 0)}")
    for f in failed:
        typer.echo(f"failed: {f['kind']} {f['message_id']} → {f['recipient']}: {f['error']}")


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")

    @app.command("run")
    @handled
    def run(
        interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 15.0,
        once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    ) -> None:
        """The daemon: plans and sends due messages continuously (APScheduler ticker)."""
        from notifications.outbox.planner import new_worker_id
        from scheduler.daemon import Daemon

        if not 1 <= interval <= 3600:
            raise BadInput("--interval: between 1 and 3600 seconds")
        application = make_app()
        _smtp(application.settings.smtp_url)
        worker = new_worker_id()
        if once:
            from scheduler.daemon import housekeeping, tick

            housekeeping(application)
            r = tick(application, worker)
            typer.echo(f"sent {r.sent} failed {r.failed} retry {r.retried} skipped {r.skipped}")
            return
        daemon = Daemon(
            application,
            worker,
            interval,
            on_report=lambda when, r: (
                typer.echo(
                    f"{when:%Y-%m-%d %H:%M:%S} sent {r.sent} failed {r.failed} retry {r.retried}"
                )
                if (r.sent or r.failed or r.retried)
                else None
            ),
        )
        signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
        typer.echo(
            f"liaison run: worker {worker}, every {interval:g}s, SMTP {application.settings.smtp_url}"
        )
        try:
            daemon.run_forever()
        except KeyboardInterrupt:
            daemon.stop()

    @app.command("mailsink")
    @handled
    def mailsink(
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8025,
        directory: Annotated[Path, typer.Option("--dir", help="Where .eml files go.")] = Path(
            "var/mail"
        ),
    ) -> None:
        """A local SMTP server that stores every message as .eml (demos and tests)."""
        import threading

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
