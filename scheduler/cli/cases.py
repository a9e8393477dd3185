"""`liaison cases|agenda|audit …`: protection cases (import, events, escalation), meeting
agendas and the audit of case-data look-ups."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.access.principals import Scope
from meetings.agendas.freeze import freeze_agenda
from meetings.agendas.model import withhold_cases
from meetings.agendas.queries import load_agenda
from meetings.agendas.render import (
    FORMATS,
    AgendaTemplateError,
    city_template_dirs,
    render_agenda,
)
from meetings.cases.audit import record_audit
from meetings.cases.events import record_case_event
from meetings.cases.importing import CaseFileError, read_cases
from meetings.cases.imports import import_cases
from meetings.cases.jobs import run_case_jobs
from meetings.cases.lookup import resolve_city
from meetings.db import Case, CaseListing, City, District, ListingRule
from meetings.kpis.audit import audit_kpis
from meetings.kpis.targets import target_note
from meetings.schedule.occurrences import get_occurrence
from scheduler.cli.common import (
    AsOpt,
    BadInput,
    JsonOpt,
    NowOpt,
    ReasonOpt,
    date_opt,
    emit_json,
    handled,
    looking,
    make_app,
)

cases_app = typer.Typer(
    help="Protection cases (個案) and their listing (列管).", no_args_is_help=True
)
agenda_app = typer.Typer(help="Meeting agendas (議程).", no_args_is_help=True)
audit_app = typer.Typer(help="Audit of case-data look-ups (TL3.1).", no_args_is_help=True)

CityOpt = Annotated[
    str | None, typer.Option("--city", help="The city (needed when several are loaded).")
]
PROGRESS_FROM = 2000  # rows; smaller files import without a progress bar unless --progress


class ImportProgress:
    """Progress of a case import on stderr (never stdout, so --json stays clean).

    On a terminal it is a click progress bar; when forced with ``--progress`` on a
    pipe or file, it is one plain line per tenth of the work.
    """

    def __init__(self, label: str, *, tty: bool) -> None:
        self.label = label
        self.tty = tty
        self._bar: Any = None
        self._next_tenth = 1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.tty:
            if self._bar is None:
                self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
                self._bar.__enter__()
            self._bar.update(done - self._bar.pos)
            return
        tenth = done * 10 // total
        if tenth >= self._next_tenth:
            click.echo(f"{self.label}: {done:,}/{total:,} rows ({done * 100 // total}%)", err=True)
            self._next_tenth = tenth + 1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _progress_wanted(flag: bool | None, rows: int) -> tuple[bool, bool]:
    """(show progress, as a terminal bar): --progress forces it, else a large file on a TTY."""
    tty = sys.stderr.isatty()
    if flag is None:
        return tty and rows >= PROGRESS_FROM, tty
    return flag, tty


def _city_of(session: Session, scope: Scope, city: str | None) -> City:
    """The city a view shows: --city if the viewer may see it, else the viewer's own."""
    if city is None and (own := scope.only_city(session)) is not None:
        found = session.get(City, own)
        assert found is not None
        return found
    c = resolve_city(session, city)
    if not scope.sees(c.id):  # said as for an unknown city: nothing about another city
        raise BadInput(f"--city: unknown city {city!r}")
    return c


# --- cases -------------------------------------------------------------------------


@cases_app.command("import")
@handled
def cases_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv|FILE.xlsx")],
    city: CityOpt = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help=f"Progress on stderr (default: on a terminal, for files of {PROGRESS_FROM}+ rows).",
        ),
    ] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upsert cases by case_no; the whole file is one transaction. Names are masked."""

    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    application = make_app(now)
    bars: list[ImportProgress] = []

    def phase(label: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            show, tty = _progress_wanted(progress, total)
            if not show:
                return
            if not bars or bars[-1].label != label:
                if bars:
                    bars[-1].close()
                bars.append(ImportProgress(label, tty=tty))
            bars[-1](done, total)

        return report

    try:
        with application.transaction() as session:
            city_row = resolve_city(session, city)
            districts = list(
                session.scalars(select(District.name).where(District.city_id == city_row.id))
            )
            screened: list[str] = []  # FILE:ROW: column: 已遮蔽 N 項（…）, never the values
            rows = read_cases(file, districts, phase(f"importing {file.name}"), screened)
            try:
                report = import_cases(session, city_row, rows, application.clock.now())
            except CaseFileError as exc:  # raised while streaming: the transaction rolls back
                raise BadInput(*exc.errors) from None
            report.warnings[:0] = screened
            count = report.created + report.updated + report.unchanged
            city_name = city_row.name
    finally:
        if bars:
            bars[-1].close()
    for w in report.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        emit_json({"city": city_name, "rows": count, **report.as_dict()})
        return
    typer.echo(
        f"{city_name}: {count} rows — {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )
    typer.echo(
        f"listing: {len(report.listing.listed)} listed, {len(report.listing.delisted)} delisted; "
        f"case events: {len(report.events)}; meetings created: {len(report.meetings.created)}"
    )


@cases_app.command("event")
@handled
def cases_event(
    case_no: Annotated[str, typer.Argument(metavar="CASE_NO")],
    kind: Annotated[
        str,
        typer.Argument(
            metavar="EVENT",
            help="rereported | order_issued | order_expiry | deviant_behaviour_report | "
            "needs_assessment_held | closed",
        ),
    ],
    at: Annotated[str, typer.Option("--at", help="Date of the event (2023-03-08 or 112/03/08).")],
    city: CityOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a case event: listing rules are re-evaluated, triggered meetings created."""

    day = date_opt(at, "--at")
    assert day is not None
    application = make_app(now)
    with application.transaction() as session:
        report = record_case_event(session, case_no, kind, day, application.clock.now(), city=city)
    for w in report.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        emit_json(report.as_dict())
        return
    typer.echo(f"{case_no}: {kind} on {day}")
    for _c, r in report.listing.listed:
        typer.echo(f"  listed under {r}")
    for _c, r in report.listing.delisted:
        typer.echo(f"  delisted from {r}")
    for uid in report.meetings.created:
        typer.echo(f"  meeting created: {uid}")
    for uid in report.meetings.cancelled:
        typer.echo(f"  meeting cancelled: {uid}")


@cases_app.command("list")
@handled
def cases_list(
    as_: AsOpt = None,
    reason: ReasonOpt = None,
    listed: Annotated[bool, typer.Option("--listed", help="Only cases listed now.")] = False,
    district: Annotated[str | None, typer.Option("--district")] = None,
    city: CityOpt = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List cases (masked). Needs --as and --reason; every look-up is audited."""

    if as_ is None or reason is None:
        raise BadInput("listing cases shows case data: give --as USER --reason TEXT")
    application = make_app(now)
    with application.transaction() as session:
        scope, viewer, why = looking(session, as_, reason)
        c = _city_of(session, scope, city)
        q = (
            select(Case, ListingRule.rule_id, CaseListing.listed_at)
            .outerjoin(
                CaseListing,
                (CaseListing.case_id == Case.id) & CaseListing.delisted_at.is_(None),
            )
            .outerjoin(ListingRule, ListingRule.id == CaseListing.rule_id)
            .where(Case.city_id == c.id)
            .order_by(Case.case_no, ListingRule.rule_id)
        )
        if listed:
            q = q.where(CaseListing.id.is_not(None))
        if district:
            q = q.where(Case.district == district)
        data = [
            {
                "case_no": case.case_no,
                "masked_name": case.masked_name,
                "district": case.district,
                "case_type": case.case_type,
                "sdm_risk": case.sdm_risk,
                "tipvda_score": case.tipvda_score,
                "status": case.status,
                "rule": rule,
                "listed_at": listed_at.isoformat() if listed_at else None,
            }
            for case, rule, listed_at in session.execute(q)
        ]
        record_audit(
            session,
            viewer=viewer,
            reason=why,
            action="cases.list",
            uid=None,
            case_nos=sorted({str(d["case_no"]) for d in data}),
            now=application.clock.now(),
        )
    if as_json:
        emit_json(data)
        return
    for d in data:
        mark = f"  列管 {d['rule']} {d['listed_at']}" if d["rule"] else ""
        typer.echo(
            f"{d['case_no']}  {d['masked_name'] or ''}  {d['district']}  {d['case_type']}  "
            f"{d['status']}{mark}"
        )


@cases_app.command("escalate")
@handled
def cases_escalate(
    now: NowOpt = None, as_: AsOpt = None, reason: ReasonOpt = None, as_json: JsonOpt = False
) -> None:
    """The daemon's case pass, by hand: events from held needs-assessment meetings, the
    next round of repeating case meetings (成效評估), and escalations of listed cases
    undiscussed past their rule's window (once per listing). The case numbers it prints
    are audited (as --as, else the login running it)."""

    application = make_app(now)
    with application.transaction() as session:
        _scope, viewer, why = looking(session, as_, reason, "案件排程（cases escalate）")
        report = run_case_jobs(session, application.clock.now())
        shown = sorted(
            {str(c) for c, _k, _d in report.events}
            | {str(e["case_no"]) for e in report.escalations}
        )
        if shown:
            record_audit(
                session,
                viewer=viewer,
                reason=why,
                action="cases.escalate",
                uid=None,
                case_nos=shown,
                now=application.clock.now(),
            )
    for w in report.meetings.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        emit_json(report.as_dict())
        return
    for c, k, d in report.events:
        typer.echo(f"case event: {c} {k} on {d}")
    for e in report.escalations:
        typer.echo(
            f"escalation: {e['case_no']} ({e['rule']}) listed {e['listed_at']}, "
            f"window {e['window']} passed {e['deadline']}"
        )
    for uid in report.meetings.created:
        typer.echo(f"meeting created: {uid}")
    typer.echo(
        f"{len(report.escalations)} escalations, {len(report.meetings.created)} meetings created"
    )


# --- agendas -----------------------------------------------------------------------------


@agenda_app.command("show")
@handled
def agenda_show(
    uid: Annotated[str, typer.Argument(metavar="UID")],
    fmt: Annotated[str, typer.Option("--format", help="text | html | json")] = "text",
    as_: AsOpt = None,
    reason: ReasonOpt = None,
    now: NowOpt = None,
) -> None:
    """Show a meeting's agenda. Case rows need --as and --reason (audited); without
    them the agenda is shown with the case rows withheld."""

    if fmt not in FORMATS:
        raise BadInput(f"--format: must be text, html or json, not {fmt!r}")
    application = make_app(now)
    now_dt = application.clock.now()
    with application.transaction() as session:
        who = None if as_ is None and reason is None else looking(session, as_, reason)
        occ = get_occurrence(session, uid, None if who is None else who[0].city_ids)
        agenda = load_agenda(session, occ, now_dt)
        if who is None:
            agenda = withhold_cases(agenda)
        else:
            record_audit(
                session,
                viewer=who[1],
                reason=who[2],
                action="agenda.show",
                uid=uid,
                case_nos=[c.case_no for c in agenda.cases],
                now=now_dt,
            )
        dirs = city_template_dirs(session, occ.series.city.name)
        try:  # inside the transaction: a broken template leaves no audit record
            out = render_agenda(agenda, fmt, dirs)
        except AgendaTemplateError as exc:
            raise BadInput(str(exc)) from None
    typer.echo(out, nl=fmt == "json")


@agenda_app.command("freeze")
@handled
def agenda_freeze(
    uid: Annotated[str, typer.Argument(metavar="UID")],
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Freeze the agenda as it is now (done when the agenda email is sent)."""

    application = make_app(now)
    with application.transaction() as session:
        agenda = freeze_agenda(session, uid, application.clock.now())
    data = {
        "uid": uid,
        "frozen_at": agenda.frozen_at.isoformat() if agenda.frozen_at else None,
        "cases": len(agenda.cases),
        "deferred": agenda.deferred,
    }
    if as_json:
        emit_json(data)
        return
    typer.echo(
        f"{uid}: agenda frozen with {data['cases']} cases"
        + (f" ({data['deferred']} carried to the next meeting)" if data["deferred"] else "")
    )


# --- audit ---------------------------------------------------------------------------------


@audit_app.command("report")
@handled
def audit_report_cmd(
    year: Annotated[int, typer.Option("--year", help="ROC (112) or Gregorian (2023) year.")],
    city: Annotated[
        str | None,
        typer.Option("--city", help="Whose calendar year (time zone) to count in."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Look-ups of case data in a year and the share with a legitimate reason (TL3.1).

    The year runs in the city's time zone; --city is needed only when the loaded cities
    keep different zones.
    """

    if not (1 <= year <= 300 or 1912 <= year <= 2300):
        raise BadInput(f"--year: not a year: {year}")
    application = make_app()
    with application.transaction() as session:
        report = audit_kpis(session, year, city=city)
    if as_json:
        emit_json(report)
        return
    rate = report["legitimate_reason_rate"]
    typer.echo(f"民國{report['year']}年 個案資料查閱稽核 (TL3.1)")
    typer.echo(f"  查閱次數: {report['lookups']}")
    typer.echo(f"  載明正當事由: {report['with_legitimate_reason']}")
    typer.echo(f"  比率: {'—' if rate is None else f'{rate}%'}{target_note(report['targets'])}")
    for viewer, v in sorted(report["by_viewer"].items()):
        typer.echo(f"  {viewer}: {v['lookups']} 次, 正當事由 {v['legitimate']} 次")
    for team, t in report["by_team"].items():
        share = t["legitimate_reason_rate"]
        typer.echo(
            f"  {team}: {t['legitimate']}/{t['lookups']} "
            f"({'—' if share is None else f'{share}%'}){target_note(t['targets'])}"
        )


def register(app: typer.Typer) -> None:
    """Add these commands to the `liaison` app."""
    app.add_typer(cases_app, name="cases")
    app.add_typer(agenda_app, name="agenda")
    app.add_typer(audit_app, name="audit")
