"""`liaison schedule …`: generate the meetings the declarations ask for, and list them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy import select

from meetings.cases.lookup import resolve_city
from meetings.db import City, Occurrence, Series
from meetings.kernel.localtime import DEFAULT_TIMEZONE, local_today, start_of_day
from meetings.kernel.rocdate import format_roc_datetime, gregorian_year
from meetings.kernel.vocabulary import OccurrenceStatus
from meetings.schedule.occurrences import get_series
from meetings.schedule.operations import generate_schedule
from meetings.schedule.registry import SpecRegistry
from scheduler.cli.common import (
    BadInput,
    JsonOpt,
    NowOpt,
    date_opt,
    emit_json,
    handled,
    make_app,
    print_change_report,
)
from scheduler.serialization import city_conflicts_json, occurrence_json

schedule_app = typer.Typer(help="Generate and list meetings.", no_args_is_help=True)

STATUS_FLAG = {OccurrenceStatus.CANCELLED: " [取消]", OccurrenceStatus.HELD: " [已召開]"}


@schedule_app.command("generate")
@handled
def schedule_generate(
    from_: Annotated[
        str | None, typer.Option("--from", help="First nominal date (default: 1 Jan this year).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last nominal date (default: 31 Dec next year).")
    ] = None,
    series: Annotated[list[str] | None, typer.Option("--series", help="Only these series.")] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create, move or cancel meetings so the schedule matches the declarations."""
    application = make_app(now)
    now_dt = application.clock.now()
    # The window covers every city's series at once, so "this year" is the default zone's.
    today = local_today(now_dt, DEFAULT_TIMEZONE)
    start = date_opt(from_, "--from") or date(today.year, 1, 1)
    end = date_opt(to, "--to") or date(today.year + 1, 12, 31)
    if end < start:
        raise BadInput(f"--to: {end} is before --from {start}")
    if (end - start).days > 366 * 20:
        raise BadInput("--to: a window longer than 20 years is refused; generate in parts")
    with application.transaction() as session:
        if series:
            for sid in series:
                get_series(session, sid)
        report = generate_schedule(session, start, end, now_dt, series_ids=series or None)
    if as_json:
        data = report.as_dict()
        data["from"], data["to"] = start.isoformat(), end.isoformat()
        emit_json(data)
        for w in report.warnings:
            typer.echo(f"warning: {w}", err=True)
        return
    typer.echo(f"schedule {start} … {end}")
    print_change_report(report)


@schedule_app.command("list")
@handled
def schedule_list(
    series: Annotated[str | None, typer.Option("--series", help="Only this series.")] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="Only this district or zone.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="From this date (by meeting date).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to this date, inclusive.")] = None,
    status: Annotated[str | None, typer.Option(help="scheduled | cancelled | held")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List meetings."""
    start = date_opt(from_, "--from")
    end = date_opt(to, "--to")
    if status is not None and status not in tuple(OccurrenceStatus):
        raise BadInput(f"--status: must be scheduled, cancelled or held, not {status!r}")
    application = make_app()
    with application.transaction() as session:
        q = select(Occurrence).join(Series).order_by(Occurrence.start_at, Occurrence.uid)
        # Meeting dates are the series' city's; without --series the list may span
        # cities, and the dates are read in the default zone.
        tz = DEFAULT_TIMEZONE
        if series:
            tz = get_series(session, series).city.timezone
            q = q.where(Occurrence.series_id == series)
        if district:
            q = q.where((Occurrence.district == district) | (Occurrence.zone == district))
        if start:
            q = q.where(Occurrence.start_at >= start_of_day(start, tz))
        if end:
            q = q.where(Occurrence.start_at < start_of_day(end + timedelta(days=1), tz))
        if status:
            q = q.where(Occurrence.status == status)
        rows = [(occurrence_json(o, staff=True), o) for o in session.scalars(q)]
    if as_json:
        emit_json([r for r, _ in rows])
        return
    if not rows:
        typer.echo("no meetings (run `liaison schedule generate` first?)")
        return
    for data, o in rows:
        local = datetime.fromisoformat(data["start"])
        flag = STATUS_FLAG.get(OccurrenceStatus(o.status), "")
        if data["moved"]:
            flag += f" [改期: {o.moved_reason}]"
        typer.echo(f"{format_roc_datetime(local)}  {o.title}{flag}  {o.uid} seq={o.sequence}")


@schedule_app.command("conflicts")
@handled
def schedule_conflicts(
    year: Annotated[
        int | None, typer.Option("--year", help="ROC (112) or Gregorian year (default: this year).")
    ] = None,
    city: Annotated[str | None, typer.Option("--city", help="Only this city.")] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Meetings that need one agency in two places at once (required agencies only)."""
    application = make_app(now)
    now_dt = application.clock.now()
    if year is not None and not (1 <= year <= 300 or 1912 <= year <= 2300):
        raise BadInput(f"--year: {year} is neither an ROC (e.g. 112) nor a Gregorian year")
    y = gregorian_year(year) if year is not None else local_today(now_dt, DEFAULT_TIMEZONE).year
    found: list[dict[str, object]] = []
    with application.transaction() as session:
        cities = [resolve_city(session, city)] if city else session.scalars(select(City)).all()
        registry = SpecRegistry(session)
        for c in sorted(cities, key=lambda c: c.name):
            found += city_conflicts_json(
                session, registry, c, date(y, 1, 1), date(y, 12, 31), now_dt
            )
    if as_json:
        emit_json({"year": y, "conflicts": found})
        return
    for item in found:
        a, b = item["first"], item["second"]
        assert isinstance(a, dict) and isinstance(b, dict)
        flag = "  [可避免：schedule generate 會移開]" if item["avoidable"] else ""
        typer.echo(
            f"{a['when']}  {a['title']} × {b['when']} {b['title']}"
            f"  共同應出席：{'、'.join(item['agency_names'])}{flag}"  # type: ignore[arg-type]
        )
    avoidable = sum(1 for item in found if item["avoidable"])
    typer.echo(f"{len(found)} conflicts ({avoidable} avoidable) in {y} (民國{y - 1911}年)")


def register(app: typer.Typer) -> None:
    """Add `schedule` to the `liaison` app."""
    app.add_typer(schedule_app, name="schedule")
