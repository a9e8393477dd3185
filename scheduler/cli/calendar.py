"""`liaison closures …` and `liaison calendar …`: the days the offices are closed or open."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from meetings.db import City, Closure
from meetings.kernel.rocdate import format_roc_date
from meetings.schedule.closures import add_closure, import_office_calendar, remove_closure
from meetings.schedule.registry import office_calendar_for
from meetings.schedule.workdays import parse_dgpa_calendar
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

closures_app = typer.Typer(help="Office closures (颱風停班 …).", no_args_is_help=True)
calendar_app = typer.Typer(help="The government office calendar.", no_args_is_help=True)

DayArg = Annotated[str, typer.Argument(metavar="DATE", help="2024-07-25 or 113/07/25")]


@closures_app.command("add")
@handled
def closures_add(
    day: DayArg,
    reason: Annotated[str, typer.Option("--reason", help="e.g. 颱風停班")],
    city: Annotated[str | None, typer.Option(help="Only this city (default: every city).")] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close the offices on DATE; affected meetings move by their holiday policy."""
    d = date_opt(day, "DATE")
    assert d is not None
    application = make_app(now)
    with application.transaction() as session:
        report = add_closure(session, d, reason, application.clock.now(), city=city)
    if as_json:
        emit_json(report.as_dict())
        return
    typer.echo(f"closed {format_roc_date(d)}: {reason}")
    print_change_report(report)


@closures_app.command("remove")
@handled
def closures_remove(
    day: Annotated[str, typer.Argument(metavar="DATE")],
    city: Annotated[str | None, typer.Option(help="The city the closure was for.")] = None,
    now: NowOpt = None,
) -> None:
    """Reopen DATE; meetings moved because of it move back."""
    d = date_opt(day, "DATE")
    assert d is not None
    application = make_app(now)
    with application.transaction() as session:
        report = remove_closure(session, d, application.clock.now(), city=city)
    typer.echo(f"reopened {format_roc_date(d)}")
    print_change_report(report)


@closures_app.command("list")
@handled
def closures_list(as_json: JsonOpt = False) -> None:
    """List closures."""
    application = make_app()
    with application.transaction() as session:
        rows = session.execute(
            select(Closure, City.name)
            .outerjoin(City, City.id == Closure.city_id)
            .order_by(Closure.day)
        ).all()
        data = [
            {"date": c.day.isoformat(), "reason": c.reason, "city": name, "source": c.source}
            for c, name in rows
        ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        typer.echo(f"{d['date']}  {d['reason']}  {d['city'] or '全部城市'}  ({d['source']})")


def read_text_any(path: Path) -> str:
    """A DGPA calendar file's text: UTF-8 (with or without BOM) or Big5 (CP950)."""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp950"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise BadInput(f"{path}:1: cannot read the file as UTF-8 or Big5 (CP950)")


@calendar_app.command("import")
@handled
def calendar_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="DGPA 辦公日曆表 CSV")],
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the DGPA office calendar; meetings on changed days move."""
    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    days = parse_dgpa_calendar(read_text_any(file), str(file))
    if not days:
        raise BadInput(f"{file}:1: no days in the file")
    application = make_app(now)
    with application.transaction() as session:
        report = import_office_calendar(session, days, application.clock.now())
    if as_json:
        data = report.as_dict()
        data["days"] = len(days)
        emit_json(data)
        return
    years = sorted({d.year for d in days})
    typer.echo(f"imported {len(days)} days ({', '.join(map(str, years))})")
    print_change_report(report)


@calendar_app.command("show")
@handled
def calendar_show(
    from_: Annotated[str, typer.Option("--from")],
    to: Annotated[str, typer.Option("--to")],
    city: Annotated[str | None, typer.Option(help="Include this city's closures.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the days off (and make-up working days) between two dates."""
    start, end = date_opt(from_, "--from"), date_opt(to, "--to")
    assert start and end
    if end < start or (end - start).days > 3660:
        raise BadInput("--to: must be after --from and within 10 years of it")
    application = make_app()
    with application.transaction() as session:
        cid = session.scalar(select(City.id).where(City.name == city)) if city else None
        if city and cid is None:
            raise BadInput(f"--city: unknown city {city!r}")
        cal = office_calendar_for(session, cid)
    out = []
    d = start
    while d <= end:
        info = cal.day_info(d)
        weekend = d.weekday() >= 5
        if (not info.working and not weekend) or (info.working and weekend):
            out.append({"date": d.isoformat(), "working": info.working, "reason": info.reason})
        d += timedelta(days=1)
    if as_json:
        emit_json(out)
        return
    for o in out:
        mark = "上班" if o["working"] else "放假"
        typer.echo(
            f"{format_roc_date(date.fromisoformat(str(o['date'])))}  {mark}  {o['reason'] or ''}"
        )


def register(app: typer.Typer) -> None:
    """Add `closures` and `calendar` to the `liaison` app."""
    app.add_typer(closures_app, name="closures")
    app.add_typer(calendar_app, name="calendar")
