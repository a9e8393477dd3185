"""`liaison meetings …`: ad-hoc meetings (不定期會議) added to a series by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from meetings.kernel.rocdate import format_roc_datetime
from meetings.schedule.adhoc import add_adhoc_meeting
from meetings.schedule.spans import parse_duration
from scheduler.cli.common import BadInput, JsonOpt, NowOpt, emit_json, handled, make_app
from scheduler.serialization import occurrence_json

meetings_app = typer.Typer(help="Ad-hoc meetings (不定期會議).", no_args_is_help=True)


@meetings_app.command("add")
@handled
def meetings_add(
    series_id: Annotated[str, typer.Argument(metavar="SERIES")],
    at: Annotated[str, typer.Option("--at", help="Local start, e.g. 2024-05-02T10:00")],
    district: Annotated[
        str | None, typer.Option(help="District or zone of a per-district series.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="e.g. 2h, 90m (default: the series').")
    ] = None,
    location: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an ad-hoc meeting (不定期會議) to a series."""
    try:
        at_dt = datetime.fromisoformat(at.strip())
    except ValueError:
        raise BadInput(f"--at: not a date-time: {at!r} (e.g. 2024-05-02T10:00)") from None
    if duration is not None:
        try:
            parse_duration(duration)
        except ValueError as exc:
            raise BadInput(f"--duration: {exc}") from None
    application = make_app(now)
    with application.transaction() as session:
        occ, warnings = add_adhoc_meeting(
            session,
            series_id,
            at_dt,
            application.clock.now(),
            district=district,
            duration=duration,
            location=location,
            title=title,
        )
        data = occurrence_json(occ, staff=True)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        emit_json(data)
        return
    start = format_roc_datetime(datetime.fromisoformat(data["start"]))
    typer.echo(f"added {data['uid']}: {start} {data['title']}")


def register(app: typer.Typer) -> None:
    """Add `meetings` to the `liaison` app."""
    app.add_typer(meetings_app, name="meetings")
