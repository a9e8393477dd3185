"""`liaison events …`: the domain events the notifications act on (``outbox_events``)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from meetings.db import OutboxEvent
from scheduler.cli.common import JsonOpt, emit_json, handled, make_app

events_app = typer.Typer(help="Domain events waiting in the outbox.", no_args_is_help=True)


@events_app.command("list")
@handled
def events_list(
    limit: Annotated[int, typer.Option(help="Newest N events.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show the newest domain events (what notifications will act on)."""
    application = make_app()
    with application.transaction() as session:
        rows = session.scalars(
            select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
        ).all()
        data = [
            {
                "id": e.id,
                "kind": e.kind,
                "uid": e.occurrence_uid,
                "sequence": e.sequence,
                "created_at": e.created_at.isoformat(),
                "processed": e.processed_at is not None,
            }
            for e in reversed(rows)
        ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        typer.echo(f"#{d['id']} {d['kind']:<22} {d['uid']} seq={d['sequence']}")


def register(app: typer.Typer) -> None:
    """Add `events` to the `liaison` app."""
    app.add_typer(events_app, name="events")
