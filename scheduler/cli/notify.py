"""`liaison notify …`: send the email notifications that are due, and their status.

`notify dispatch` imports the mail rendering (Jinja templates, icalendar, the agenda
renderer) inside the command, as the long-running commands do (``scheduler.cli.serve``):
every other command starts without it.
"""

from __future__ import annotations

import asyncio

import typer
from sqlalchemy import func, select

from meetings.db import OutboxMessage
from meetings.kernel.vocabulary import MessageStatus
from scheduler.cli.common import JsonOpt, NowOpt, emit_json, handled, make_app, smtp_mailers

notify_app = typer.Typer(help="Email notifications: dispatch and status.", no_args_is_help=True)


@notify_app.command("dispatch")
@handled
def notify_dispatch(now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Plan from new events and minutes deadlines, send every message that is due, exit."""
    from notifications.outbox.dispatch import dispatch_due

    application = make_app(now)
    mailers = smtp_mailers(application)
    report = asyncio.run(
        dispatch_due(
            application.sessions,
            mailers,
            application.clock.now(),
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
                select(OutboxMessage).where(OutboxMessage.status == MessageStatus.FAILED).limit(100)
            )
        ]
    data = {"counts": counts, "by_kind": by_kind, "failed": failed}
    if as_json:
        emit_json(data)
        return
    for status in MessageStatus:
        typer.echo(f"{status:<11} {counts.get(status, 0)}")
    for f in failed:
        typer.echo(f"failed: {f['kind']} {f['message_id']} → {f['recipient']}: {f['error']}")


def register(app: typer.Typer) -> None:
    """Add `notify` to the `liaison` app."""
    app.add_typer(notify_app, name="notify")
