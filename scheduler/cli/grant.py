"""`liaison attendance held` and `liaison grant-report`: sessions, hours and participants
of supervision, training, family meetings and case reviews (the grant report, seed 003)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meetings.kernel.rocdate import format_roc_date
from meetings.kpis.grant_sheets import grant_json, grant_title, grant_xlsx_bytes, summary_table
from meetings.kpis.grants import grant_report
from meetings.records.held import record_size
from meetings.schedule.occurrences import get_occurrence
from scheduler.cli.common import (
    BadInput,
    JsonOpt,
    NowOpt,
    check_report_year,
    date_opt,
    emit_json,
    handled,
    make_app,
    report_city_id,
)
from scheduler.cli.records import HeldAtOpt, UidArg, attendance_app


def attendance_held(
    uid: UidArg,
    hours: Annotated[
        float | None, typer.Option("--hours", help="How long it lasted, e.g. 2.5.")
    ] = None,
    participants: Annotated[
        int | None,
        typer.Option("--participants", help="How many people took part (社工、講師、與會者)."),
    ] = None,
    held_at: HeldAtOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a meeting held, with its hours and participants (the grant report's counts)."""

    held_on = date_opt(held_at, "--held-at")
    application = make_app(now)
    with application.transaction() as session:
        occ = get_occurrence(session, uid)
        record = record_size(
            session,
            occ,
            application.clock.now(),
            hours=hours,
            participants=participants,
            held_on=held_on,
        )
        data = {
            "uid": occ.uid,
            "held_on": record.held_on.isoformat(),
            "hours": record.hours,
            "participants": record.participants,
        }
    if as_json:
        emit_json(data)
        return
    parts = [f"held on {format_roc_date(record.held_on)}"]
    if data["hours"] is not None:
        parts.append(f"{data['hours']:g} 小時")
    if data["participants"] is not None:
        parts.append(f"{data['participants']} 人")
    typer.echo(f"{data['uid']}: " + ", ".join(parts))


def grant_report_cmd(
    year: Annotated[int, typer.Option("--year", help="ROC year (112) or Gregorian (2023).")],
    city: Annotated[
        str | None, typer.Option("--city", help="The city (needed when several are loaded).")
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option("--as", help="Count as this active user: only their city may be asked."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the xlsx to this file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The grant report (衛福部補助成果) of a year: sessions, hours, participants, case
    discussions and cases discussed per kind of meeting; xlsx with --out."""

    check_report_year(year)
    if out is not None and out.suffix.lower() != ".xlsx":
        raise BadInput(f"--out: {out.name} must end in .xlsx")
    application = make_app()
    with application.transaction() as session:
        city_id = report_city_id(session, city, as_)
        report = grant_report(session, year, city_id=city_id)
    if as_json:
        emit_json(grant_json(report))
    elif out is None:
        typer.echo(grant_title(report))
        for label, sessions, hours, people, discussions, cases in summary_table(report):
            typer.echo(
                f"  {label:<6} {sessions:>4} 場 {hours:>7g} 小時 {people:>5} 人"
                f"  個案研討 {discussions} 次、{cases} 案"
            )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(grant_xlsx_bytes(report))
        typer.echo(f"wrote {out}", err=as_json)


def register(app: typer.Typer) -> None:
    """Add these commands to the `liaison` app (after ``records``: ``attendance`` is its)."""
    attendance_app.command("held")(handled(attendance_held))
    app.command("grant-report")(handled(grant_report_cmd))
