"""`liaison deliverables record|list`: what held meetings owe afterwards (成效檢核表 …).

Deliverables carry no case data, so nothing here is audited; ``--as`` limits the
command to that user's city and names who recorded it (else the login running it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from meetings.db import City
from meetings.kernel.localtime import local_today
from meetings.records.deliverables import (
    DELIVERABLE_STATE_ZH,
    DeliverableState,
    deliverables_of,
    overdue_deliverables,
    record_deliverable,
)
from meetings.schedule.occurrences import get_occurrence
from scheduler.cli.common import (
    AsOpt,
    BadInput,
    JsonOpt,
    NowOpt,
    date_opt,
    emit_json,
    handled,
    make_app,
    operator,
    viewer,
)

deliverables_app = typer.Typer(
    help="Deliverables (成效檢核表 …) a held meeting owes after it.", no_args_is_help=True
)

ScopeOpt = Annotated[
    str | None,
    typer.Option("--as", help="Act as this active user: only their city's meetings."),
]


def _read_note(file: Path | None) -> str | None:
    if file is None:
        return None
    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{file}:1: not UTF-8 text") from None


@deliverables_app.command("record")
@handled
def deliverables_record(
    uid: Annotated[str, typer.Argument(metavar="UID", help="Meeting UID (liaison schedule list).")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The deliverable, e.g. 成效檢核表.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Date it was handed in (default: today).")
    ] = None,
    note_file: Annotated[
        Path | None, typer.Option("--note-file", help="A short note (UTF-8 text, screened).")
    ] = None,
    as_: ScopeOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a held meeting's deliverable was handed in."""

    day = date_opt(at, "--at")
    note = _read_note(note_file)
    application = make_app(now)
    screened: list[str] = []  # 已遮蔽 N 項（…）, never the values
    with application.transaction() as session:
        scope = viewer(session, as_)
        by = operator() if as_ is None else scope.who
        row = record_deliverable(
            session,
            uid,
            name,
            application.clock.now(),
            by,
            on=day,
            note=note,
            warnings=screened,
            cities=scope.city_ids,
        )
        occ = get_occurrence(session, uid)
        today = local_today(application.clock.now(), occ.series.city.timezone)
        (item,) = [o for o in deliverables_of(session, occ) if o.name == row.name]
        data: dict[str, Any] = item.as_dict(today)
    for w in screened:
        typer.echo(f"warning: {note_file}: {w}", err=True)
    if screened:
        data["warnings"] = [f"{note_file}: {w}" for w in screened]
    if as_json:
        emit_json(data)
        return
    flag = "on time" if data["on_time"] else "late"
    typer.echo(
        f"{data['name']} of {uid} handed in on {data['submitted_on']} "
        f"(due {data['due_on']}: {flag})"
    )


@deliverables_app.command("list")
@handled
def deliverables_list(
    uid: Annotated[
        str | None, typer.Argument(metavar="[UID]", help="One meeting's deliverables.")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Every deliverable past its due date, not in.")
    ] = False,
    lookback: Annotated[
        int, typer.Option("--lookback", min=1, help="With --overdue: due in the last N days.")
    ] = 90,
    as_: AsOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The deliverables of a held meeting, or every overdue one (--overdue)."""

    if overdue == (uid is not None):
        raise BadInput("give a meeting UID or --overdue (not both)")
    application = make_app(now)
    at = application.clock.now()
    with application.transaction() as session:
        scope = viewer(session, as_)
        if uid is not None:
            items = deliverables_of(session, get_occurrence(session, uid, scope.city_ids))
        else:
            items = overdue_deliverables(session, at, lookback_days=lookback, cities=scope.city_ids)
        zones = dict(session.execute(select(City.id, City.timezone)).all())
        data = [o.as_dict(local_today(at, zones[o.city_id])) for o in items]
    if as_json:
        emit_json(data)
        return
    if not data:
        typer.echo("no deliverables overdue" if overdue else "no deliverables owed")
    for d in data:
        state = DELIVERABLE_STATE_ZH[DeliverableState(d["state"])]
        done = f" {d['submitted_on']}" if d["submitted_on"] else ""
        typer.echo(f"{d['uid']}  {d['name']} → {d['to']}  due {d['due_on']}  {state}{done}")


def register(app: typer.Typer) -> None:
    """Add these commands to the `liaison` app."""
    app.add_typer(deliverables_app, name="deliverables")
