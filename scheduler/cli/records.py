"""`liaison attendance|minutes|actions …`, `liaison discussed` and `liaison kpi`: what
happened at held meetings, and the coverage KPIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from meetings.cases.audit import record_audit
from meetings.db import CaseDiscussion, Minutes
from meetings.kernel.vocabulary import ATTENDANCE_ZH, AttendanceStatus
from meetings.kpis.reports import kpi_report_bytes
from meetings.records.action_items import add_action_item, close_action_item, list_action_items
from meetings.records.attendance import (
    AttendanceInput,
    RowErrors,
    attendance_of,
    import_attendance,
    record_attendance,
)
from meetings.records.discussions import confirm_agenda_discussions, record_case_discussions
from meetings.records.held import held_record
from meetings.records.minutes import meetings_missing_minutes, record_minutes
from meetings.schedule.occurrences import get_occurrence, get_series
from scheduler.cli.common import (
    AsOpt,
    BadInput,
    JsonOpt,
    NowOpt,
    ReasonOpt,
    check_report_year,
    date_opt,
    emit_json,
    handled,
    looking,
    make_app,
    report_city_id,
)

attendance_app = typer.Typer(help="Attendance (簽到) of held meetings.", no_args_is_help=True)
minutes_app = typer.Typer(help="Minutes (會議紀錄) of held meetings.", no_args_is_help=True)
actions_app = typer.Typer(help="Action items (決議事項) and their follow-up.", no_args_is_help=True)

UidArg = Annotated[str, typer.Argument(metavar="UID", help="Meeting UID (liaison schedule list).")]
HeldAtOpt = Annotated[
    str | None,
    typer.Option("--held-at", help="Date actually held (default: the scheduled date)."),
]


# --- attendance ------------------------------------------------------------------------


@attendance_app.command("record")
@handled
def attendance_record(
    uid: UidArg,
    agency: Annotated[str, typer.Option("--agency", help="Agency code, e.g. POL.")],
    status: Annotated[str, typer.Option("--status", help="present | absent | delegated")],
    person: Annotated[str | None, typer.Option("--person", help="Attendee's email.")] = None,
    rank: Annotated[str | None, typer.Option("--rank", help="Attendee's rank or title.")] = None,
    held_at: HeldAtOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record one attendance line; the meeting is marked held."""

    held_on = date_opt(held_at, "--held-at")
    application = make_app(now)
    with application.transaction() as session:
        row = record_attendance(
            session,
            AttendanceInput(uid, agency, status, person, rank, held_on),
            application.clock.now(),
        )
        occ = get_occurrence(session, uid)
        held = held_record(session, occ)
        assert held is not None
        data = {
            "uid": occ.uid,
            "agency": row.agency_code,
            "person": row.person_email,
            "status": row.status,
            "rank": row.rank,
            "held_on": held.held_on.isoformat(),
        }
    if as_json:
        emit_json(data)
        return
    who = f" ({data['person']})" if data["person"] else ""
    typer.echo(
        f"{data['uid']}: {data['agency']}{who} {ATTENDANCE_ZH[AttendanceStatus(str(data['status']))]}, "
        f"held on {data['held_on']}"
    )


@attendance_app.command("import")
@handled
def attendance_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV or xlsx: uid, agency, person, status, rank")
    ],
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import attendance lines; any bad row → nothing imported, every bad row reported."""

    application = make_app(now)
    try:
        with application.transaction() as session:
            report = import_attendance(session, file, application.clock.now())
    except RowErrors as exc:
        raise BadInput(*exc.errors) from None
    if as_json:
        emit_json({"rows": report.rows, "meetings": report.meetings})
        return
    typer.echo(f"imported {report.rows} attendance lines for {len(report.meetings)} meetings")


@attendance_app.command("list")
@handled
def attendance_list(uid: UidArg, as_json: JsonOpt = False) -> None:
    """Show the attendance recorded for a meeting."""

    application = make_app()
    with application.transaction() as session:
        data = [
            {
                "agency": a.agency_code,
                "person": a.person_email,
                "status": a.status,
                "rank": a.rank,
            }
            for a in attendance_of(session, uid)
        ]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("no attendance recorded")
    for d in data:
        typer.echo(
            f"{d['agency']:<10} {ATTENDANCE_ZH[AttendanceStatus(str(d['status']))]:<6} {d['person'] or ''} {d['rank'] or ''}"
        )


# --- minutes and discussions -------------------------------------------------------------


def _warn(data: dict[str, Any], warnings: list[str]) -> None:
    """Say on stderr what was screened out of stored text (as `cases import` does), so
    the writer learns their phone number became 〔已遮蔽〕; the same list under
    ``warnings`` for --json (only when there is one: the output is otherwise unchanged)."""
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if warnings:
        data["warnings"] = warnings


@minutes_app.command("record")
@handled
def minutes_record(
    uid: UidArg,
    file: Annotated[Path, typer.Option("--file", help="The minutes (Markdown or text).")],
    at: Annotated[
        str | None, typer.Option("--at", help="Date the minutes were done (default: today).")
    ] = None,
    confirm_agenda: Annotated[
        bool,
        typer.Option(
            "--confirm-agenda", help="The minutes confirm the frozen agenda's cases as discussed."
        ),
    ] = False,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store the minutes of a held meeting (kept out of feeds and emails)."""

    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{file}:1: not UTF-8 text") from None
    day = date_opt(at, "--at")
    application = make_app(now)
    screened: list[str] = []  # 已遮蔽 N 項（…）, never the values
    with application.transaction() as session:
        row = record_minutes(session, uid, text, application.clock.now(), on=day, warnings=screened)
        held = held_record(session, get_occurrence(session, uid))
        assert held is not None
        data: dict[str, Any] = {
            "uid": uid,
            "recorded_on": row.recorded_on.isoformat(),
            "due_on": held.minutes_due_on.isoformat(),
            "on_time": row.recorded_on <= held.minutes_due_on,
        }
        if confirm_agenda:
            data["discussed"] = confirm_agenda_discussions(session, uid, application.clock.now())
    _warn(data, [f"{file.name}: {w}" for w in screened])
    if as_json:
        emit_json(data)
        return
    flag = "on time" if data["on_time"] else "late"
    typer.echo(f"minutes of {uid} recorded on {data['recorded_on']} (due {data['due_on']}: {flag})")


@minutes_app.command("show")
@handled
def minutes_show(
    uid: UidArg, as_: AsOpt = None, reason: ReasonOpt = None, as_json: JsonOpt = False
) -> None:
    """Print the stored minutes of a meeting (they discuss cases: audited, as --as, else
    the login running it)."""

    application = make_app()
    with application.transaction() as session:
        scope, viewer, why = looking(session, as_, reason, "會議紀錄查閱（minutes show）")
        occ = get_occurrence(session, uid, scope.city_ids)
        row = session.get(Minutes, occ.id)
        if row is None:
            raise BadInput(f"no minutes recorded for {uid}")
        discussed = session.scalars(
            select(CaseDiscussion.case_no).where(CaseDiscussion.occurrence_uid == occ.uid)
        ).all()
        record_audit(
            session,
            viewer=viewer,
            reason=why,
            action="minutes.show",
            uid=occ.uid,
            case_nos=sorted(discussed),
            now=application.clock.now(),
        )
        data = {
            "uid": occ.uid,
            "recorded_on": row.recorded_on.isoformat(),
            "revised_on": row.revised_on.isoformat(),
            "text": row.text,
        }
    if as_json:
        emit_json(data)
        return
    typer.echo(str(data["text"]))


def discussed(
    uid: UidArg,
    case_nos: Annotated[
        list[str] | None,
        typer.Argument(metavar="[CASE_NO]...", help="Case numbers discussed."),
    ] = None,
    agenda: Annotated[
        bool,
        typer.Option("--agenda", help="Confirm the frozen agenda: every case on it was discussed."),
    ] = False,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the cases discussed at a held meeting (個案研討)."""

    if agenda == bool(case_nos):
        raise BadInput("give the case numbers discussed, or --agenda (not both)")
    application = make_app(now)
    with application.transaction() as session:
        if agenda:
            done = confirm_agenda_discussions(session, uid, application.clock.now())
        else:
            done = record_case_discussions(session, uid, case_nos or [], application.clock.now())
    if as_json:
        emit_json({"uid": uid, "cases": done})
        return
    typer.echo(f"{uid}: {len(done)} cases discussed ({', '.join(done)})")


@minutes_app.command("missing")
@handled
def minutes_missing(
    lookback: Annotated[
        int, typer.Option("--lookback", min=1, help="Deadlines in the last N days.")
    ] = 90,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Meetings whose minutes are past their deadline (minutes_due) and not recorded."""

    application = make_app(now)
    with application.transaction() as session:
        missing = meetings_missing_minutes(session, application.clock.now(), lookback_days=lookback)
        data = [m.as_dict() for m in missing]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("no minutes overdue")
    for d in data:
        state = "held" if d["held"] else "not recorded as held"
        typer.echo(f"{d['uid']}  {d['meeting_on']} ({state})  due {d['due_on']}  {d['title']}")


# --- action items ----------------------------------------------------------------------------


@actions_app.command("add")
@handled
def actions_add(
    uid: UidArg,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What is to be done.")],
    owner: Annotated[str, typer.Option("--owner", help="Responsible agency code.")],
    due: Annotated[str, typer.Option("--due", help="Due date (2023-04-30 or 112/04/30).")],
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an action item (決議事項) to a held meeting."""

    due_on = date_opt(due, "--due")
    assert due_on is not None
    application = make_app(now)
    screened: list[str] = []  # 已遮蔽 N 項（…）, never the values
    with application.transaction() as session:
        item = add_action_item(
            session, uid, owner, due_on, text, application.clock.now(), warnings=screened
        )
        data: dict[str, Any] = {
            "id": item.id,
            "uid": uid,
            "owner": item.owner_code,
            "due": due_on.isoformat(),
        }
    _warn(data, [f"action item #{data['id']}: {w}" for w in screened])
    if as_json:
        emit_json(data)
        return
    typer.echo(f"action item #{data['id']} for {data['owner']}, due {data['due']}")


@actions_app.command("close")
@handled
def actions_close(
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    at: Annotated[
        str | None, typer.Option("--at", help="Date it was done (default: today).")
    ] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close an action item."""

    day = date_opt(at, "--at")
    application = make_app(now)
    with application.transaction() as session:
        item = close_action_item(session, item_id, application.clock.now(), on=day)
        assert item.closed_on is not None
        data = {
            "id": item.id,
            "closed": item.closed_on.isoformat(),
            "on_time": item.closed_on <= item.due_on,
        }
    if as_json:
        emit_json(data)
        return
    flag = "on time" if data["on_time"] else "late"
    typer.echo(f"action item #{data['id']} closed on {data['closed']} ({flag})")


@actions_app.command("list")
@handled
def actions_list(
    open_only: Annotated[bool, typer.Option("--open", help="Only open items.")] = False,
    series: Annotated[str | None, typer.Option("--series", help="Only this series.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List action items, oldest due first."""

    application = make_app()
    with application.transaction() as session:
        if series is not None:
            get_series(session, series)
        items = list_action_items(session, open_only=open_only, series_id=series)
        data = [i.as_dict() for i in items]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("no action items")
    for d in data:
        state = "open" if d["open"] else f"closed {d['closed']}"
        typer.echo(f"#{d['id']:<4} due {d['due']}  {d['owner']:<8} {state:<18} {d['text']}")


# --- KPIs ----------------------------------------------------------------------------------------

FORMATS = ("json", "csv", "xlsx", "html")


def kpi(
    year: Annotated[int, typer.Option("--year", help="ROC year (112) or Gregorian (2023).")],
    series: Annotated[str | None, typer.Option("--series", help="Only this series.")] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="Only this district (or zone).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Count discussions up to this date (default: 31 Dec)."),
    ] = None,
    city: Annotated[
        str | None, typer.Option("--city", help="The city (needed when several are loaded).")
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option("--as", help="Count as this active user: only their city may be asked."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | csv | xlsx | html")] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (xlsx needs it).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Coverage KPIs of a year (SPEC §7) of one city, per series instance and in total."""

    if as_json:
        fmt = "json"
    if fmt not in FORMATS:
        raise BadInput(f"--format: must be one of {', '.join(FORMATS)}, not {fmt!r}")
    check_report_year(year)
    cutoff = date_opt(as_of, "--as-of")
    if fmt == "xlsx" and out is None:
        raise BadInput("--out: an xlsx report needs a file, e.g. --out kpi-112.xlsx")
    application = make_app()
    with application.transaction() as session:
        city_id = report_city_id(session, city, as_)
        content, _media = kpi_report_bytes(
            session, year, fmt, series_id=series, district=district, as_of=cutoff, city_id=city_id
        )
    if out is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add these commands to the `liaison` app."""
    app.add_typer(attendance_app, name="attendance")
    app.add_typer(minutes_app, name="minutes")
    app.add_typer(actions_app, name="actions")
    app.command("discussed")(handled(discussed))
    app.command("kpi")(handled(kpi))
