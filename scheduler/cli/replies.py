"""`liaison replies list|quarantine` (who is coming, what could not be used) and
`liaison inbound` (the receiver of calendar replies: SMTP, or one IMAP poll).

Replies carry no case data, so nothing here is audited; ``--as`` limits a listing to
that user's city (another city's meeting is the same error as an unknown UID).
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy import select

from meetings.db import City
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.vocabulary import SEAT_STATE_ZH, SeatState
from meetings.schedule.occurrences import get_occurrence
from meetings.seats.queries import SeatRow, seat_rows
from notifications.inbound.imap import ImapError, poll_mailbox
from notifications.inbound.process import Outcome, receive
from notifications.inbound.queries import counters_of, quarantined
from notifications.inbound.smtp import InboundReceiver
from scheduler.cli.common import (
    BadInput,
    JsonOpt,
    NowOpt,
    emit_json,
    handled,
    make_app,
    viewer,
)
from scheduler.cli.serve import free_port
from scheduler.serialization import inbound_json, seats_json

replies_app = typer.Typer(
    help="Who is coming: each agency's seat and reply (回條, calendar replies).",
    no_args_is_help=True,
)

ScopeOpt = Annotated[
    str | None,
    typer.Option("--as", help="Act as this active user: only their city's meetings and mail."),
]


def _when(value: str | None) -> str:
    return format_roc_datetime(datetime.fromisoformat(value)) if value else ""


def _seat_line(seat: dict[str, Any]) -> str:
    who = " ".join(x for x in (seat["person"], seat["title"]) if x)
    if seat["for_whom"]:
        who += f"（代理 {seat['for_whom']}）"
    if seat["reason"]:
        who += f"（{seat['reason']}）"
    how = f"  {_when(seat['answered_at'])} {seat['channel']}" if seat["channel"] else ""
    need = "必要" if seat["required"] else "選擇"
    return f"  {seat['role_zh']} {need} {seat['agency_name']}  {seat['state_zh']}  {who}{how}"


@replies_app.command("list")
@handled
def replies_list(
    uid: Annotated[str, typer.Argument(metavar="UID", help="Meeting UID (liaison schedule list).")],
    as_: ScopeOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each agency's seat at a meeting (state, who, when, how), counts, COUNTER proposals."""
    application = make_app(now)
    with application.transaction() as session:
        scope = viewer(session, as_)
        occ = get_occurrence(session, uid, scope.city_ids)
        rows: list[SeatRow] = seat_rows(session, occ)
        tz = occ.series.city.timezone
        data = seats_json(occ, rows)
        data["counters"] = [inbound_json(m, tz) for m in counters_of(session, occ)]
    if as_json:
        emit_json(data)
        return
    typer.echo(f"{data['uid']}  {data['title']}  {_when(data['start'])}")
    for seat in data["seats"]:
        typer.echo(_seat_line(seat))
    counts = data["counts"]
    shown = "，".join(f"{SEAT_STATE_ZH[s]} {counts[str(s)]}" for s in SeatState)
    typer.echo(f"共 {counts['total']} 席：{shown}")
    for c in data["counters"]:
        span = f"{_when(c['proposed_start'])}–{_when(c['proposed_end'])}"
        note = f"（{c['reason']}）" if c["reason"] else ""
        typer.echo(f"  提議改期 (COUNTER) {c['sender']}: {span}{note}")


@replies_app.command("quarantine")
@handled
def replies_quarantine(as_: ScopeOpt = None, as_json: JsonOpt = False) -> None:
    """Inbound mail that could not be used, newest first: received, sender, subject, reason."""
    application = make_app()
    with application.transaction() as session:
        scope = viewer(session, as_)
        zones = dict(session.execute(select(City.id, City.timezone)).all())
        data = [
            inbound_json(m, zones.get(m.city_id or 0)) for m in quarantined(session, scope.city_ids)
        ]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("nothing quarantined")
    for m in data:
        received = datetime.fromisoformat(m["received_at"]).strftime("%Y-%m-%d %H:%M")
        sender, subject = m["sender"] or "(no sender)", m["subject"] or ""
        typer.echo(f"{received}  {sender}  {subject}  — {m['reason']}")


def _print_outcome(outcome: Outcome) -> None:
    why = f"  ({outcome.reason})" if outcome.reason else ""
    typer.echo(f"{outcome.status} {outcome.message_id}{why}")


@handled
def inbound(
    port: Annotated[int, typer.Option(help="SMTP port to listen on (0: any free port).")] = 2525,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    imap_once: Annotated[
        bool,
        typer.Option("--imap-once", help="Poll LIAISON_IMAP_URL once, then exit (no SMTP)."),
    ] = False,
    now: NowOpt = None,
) -> None:
    """Receive calendar replies (iTIP REPLY, COUNTER) to the organiser address over SMTP."""
    if not 0 <= port <= 65535:
        raise BadInput("--port: 0–65535")
    application = make_app(now)
    if imap_once:
        _imap_once(application)
        return
    bound = free_port(host, port, "--port")

    def deliver(raw: bytes) -> Outcome:
        return receive(application.sessions, raw, application.clock.now())

    receiver = InboundReceiver(deliver, host, bound, on_outcome=_print_outcome).start()
    typer.echo(f"liaison inbound on smtp://{host}:{bound}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        application.close()


def _imap_once(application: Any) -> None:
    url = application.settings.imap_url
    if not url:
        raise BadInput("--imap-once: LIAISON_IMAP_URL is not set (imap://USER:PASSWORD@HOST/INBOX)")
    try:
        report = poll_mailbox(url, application.sessions, application.clock.now)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    except ImapError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"imap: {report.seen} read, {report.stored} stored, {report.failed} left for the next poll"
    )
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `inbound` and `replies` to the `liaison` app."""
    app.command("inbound")(inbound)
    app.add_typer(replies_app, name="replies")
