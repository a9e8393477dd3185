"""`liaison notify …`: send the email notifications that are due, and their status.

`notify dispatch` imports the mail rendering (Jinja templates, icalendar, the agenda
renderer) inside the command, as the long-running commands do (``scheduler.cli.serve``):
every other command starts without it.
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from meetings.db import OutboxMessage
from meetings.kernel.localtime import start_of_day
from meetings.kernel.vocabulary import MessageKind, MessageStatus
from notifications.outbox.store import requeue_failed
from scheduler.cli.common import (
    BadInput,
    JsonOpt,
    NowOpt,
    date_opt,
    emit_json,
    handled,
    make_app,
    smtp_mailers,
)

RETRY_HINT = (
    "once the cause is fixed, `liaison notify retry` re-queues failed messages "
    "(--kind KIND, --since DATE)"
)

notify_app = typer.Typer(
    help="Email notifications: dispatch, status and retry.", no_args_is_help=True
)


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
        failed: list[dict[str, Any]] = [
            {
                "message_id": m.message_id,
                "recipient": m.recipient,
                "kind": m.kind,
                "error": m.last_error,
                "requeued": (
                    {"at": m.requeued_at.isoformat(), "by": m.requeued_by, "times": m.requeue_count}
                    if m.requeued_at
                    else None
                ),
            }
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == MessageStatus.FAILED).limit(100)
            )
        ]
    data = {"counts": counts, "by_kind": by_kind, "failed": failed}
    if failed:
        data["retry"] = RETRY_HINT
    if as_json:
        emit_json(data)
        return
    for status in MessageStatus:
        typer.echo(f"{status:<11} {counts.get(status, 0)}")
    for f in failed:
        typer.echo(f"failed: {f['kind']} {f['message_id']} → {f['recipient']}: {f['error']}")
        if f["requeued"]:
            r = f["requeued"]
            typer.echo(f"  re-queued {r['times']}× (last {r['at']} by {r['by']})")
    if failed:
        typer.echo(RETRY_HINT)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli"


@notify_app.command("retry")
@handled
def notify_retry(
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Only messages of this kind (repeatable): " + ", ".join(MessageKind)
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only messages due on or after this date.")
    ] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-queue failed messages (after fixing the cause): pending again, sent at the next
    dispatch; the row keeps who re-queued it and the error it had."""
    kinds = list(kind or [])
    unknown = [k for k in kinds if k not in set(MessageKind)]
    if unknown:
        raise BadInput(f"--kind: unknown kind {unknown[0]!r} (one of {', '.join(MessageKind)})")
    day = date_opt(since, "--since")
    application = make_app(now)
    with application.transaction() as session:
        n = requeue_failed(
            session,
            application.clock.now(),
            by=_who(),
            kinds=kinds,
            due_since=start_of_day(day, None) if day is not None else None,
        )
    if as_json:
        emit_json({"requeued": n})
    else:
        typer.echo(f"re-queued {n} failed message(s); `liaison notify dispatch` sends them")


def register(app: typer.Typer) -> None:
    """Add `notify` to the `liaison` app."""
    app.add_typer(notify_app, name="notify")
