"""The `liaison` command line. Exit 0 success, 1 failure, 2 bad input."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from meetings.kernel.yamlsource import SourceError, YamlDocument, load_yaml
from meetings.schedule.declarations import Config, build_config
from scheduler.bootstrap import App
from scheduler.cli import cases as cli_cases
from scheduler.cli import feeds as cli_feeds
from scheduler.cli import notify as cli_notify
from scheduler.cli import records as cli_records
from scheduler.cli import users as cli_users
from scheduler.cli.common import BadInput, date_opt, emit_json, handled, make_app
from scheduler.serialization import occurrence_json

app = typer.Typer(
    name="liaison",
    help="Liaison: meetings and case reviews of a city protection network (社會安全網).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check and load YAML series declarations.", no_args_is_help=True)
series_app = typer.Typer(help="Inspect declared series.", no_args_is_help=True)
schedule_app = typer.Typer(help="Generate and list meetings.", no_args_is_help=True)
closures_app = typer.Typer(help="Office closures (颱風停班 …).", no_args_is_help=True)
calendar_app = typer.Typer(help="The government office calendar.", no_args_is_help=True)
meetings_app = typer.Typer(help="Ad-hoc meetings (不定期會議).", no_args_is_help=True)
events_app = typer.Typer(help="Domain events waiting in the outbox.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(series_app, name="series")
app.add_typer(schedule_app, name="schedule")
app.add_typer(closures_app, name="closures")
app.add_typer(calendar_app, name="calendar")
app.add_typer(meetings_app, name="meetings")
app.add_typer(events_app, name="events")


def _config_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                problems.append(f"{p}: no .yaml files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    if problems:
        raise BadInput(*problems)
    return files


def read_config(paths: Sequence[Path]) -> Config:
    """Read and validate config files; all problems are reported together."""
    docs: list[YamlDocument] = []
    errors: list[str] = []
    for f in _config_files(paths):
        try:
            text = f.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            errors.append(f"{f}:1: not UTF-8 text ({exc.reason})")
            continue
        try:
            docs.append(load_yaml(text, str(f)))
        except SourceError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SourceError(errors)
    return build_config(docs)


PathsArg = Annotated[list[Path], typer.Argument(help="YAML files or folders of them.")]
NowOpt = Annotated[
    str | None, typer.Option("--now", help="Pretend it is this instant (ISO 8601; default: now).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


# --- init / config -------------------------------------------------------------


@app.command()
@handled
def init() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from scheduler.db import make_engine, migrate
    from scheduler.settings import Settings

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    typer.echo(f"database ready: {settings.database_url}")


@config_app.command("check")
@handled
def config_check(paths: PathsArg) -> None:
    """Validate config files without touching the database."""
    cfg = read_config(paths)
    n_series = sum(len(c.series) for c in cfg.cities.values())
    n_inst = sum(len(s.instances) for s in cfg.all_series())
    typer.echo(
        f"OK: {len(cfg.cities)} cities ({', '.join(cfg.cities)}), "
        f"{n_series} series, {n_inst} series instances"
    )


@config_app.command("load")
@handled
def config_load(paths: PathsArg, now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Validate and store config files (nothing is stored if any file is invalid)."""
    from meetings.cases.config import load_config

    cfg = read_config(paths)
    application = make_app(now)
    with application.transaction() as session:
        report = load_config(session, cfg, application.clock.now())
    if as_json:
        emit_json(report.as_dict())
        return
    typer.echo(f"loaded {', '.join(report.cities)}")
    typer.echo(
        f"series: {len(report.series_added)} added, {len(report.series_changed)} changed, "
        f"{len(report.series_retired)} retired"
    )
    _print_change_report(report.schedule, quiet_if_empty=True)


def _print_change_report(report: Any, *, quiet_if_empty: bool = False) -> None:
    if quiet_if_empty and not report.changed:
        return
    typer.echo(
        f"meetings: {len(report.created)} created, {len(report.moved)} moved, "
        f"{len(report.updated)} updated, {len(report.cancelled)} cancelled, "
        f"{len(report.reinstated)} reinstated, {report.unchanged} unchanged"
    )
    for label, uids in (
        ("moved", report.moved),
        ("cancelled", report.cancelled),
        ("reinstated", report.reinstated),
    ):
        for uid in uids[:50]:
            typer.echo(f"  {label}: {uid}")
    for w in report.warnings:
        typer.echo(f"warning: {w}", err=True)


# --- series --------------------------------------------------------------------


@series_app.command("list")
@handled
def series_list(as_json: JsonOpt = False) -> None:
    """List stored series."""
    from meetings.db import Series

    application = make_app()
    with application.transaction() as session:
        rows = session.scalars(select(Series).order_by(Series.city_id, Series.id)).all()
        data = [
            {
                "id": s.id,
                "city": s.city.name,
                "title": s.title,
                "rrule": s.rrule,
                "active": s.active,
                "trigger": s.spec.get("trigger"),
            }
            for s in rows
        ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        flag = "" if d["active"] else " (retired)"
        typer.echo(f"{d['id']:<40} {d['city']}  {d['title']}{flag}")


@series_app.command("explain")
@handled
def series_explain(
    series_id: Annotated[str, typer.Argument(metavar="ID")],
    now: NowOpt = None,
    count: Annotated[int, typer.Option(help="How many dates to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Show the normalised rule and the next dates as ROC dates."""
    from meetings.schedule.explain import explain_series
    from meetings.schedule.occurrences import get_series

    if count < 1 or count > 100:
        raise BadInput("--count: must be between 1 and 100")
    application = make_app(now)
    now_dt = application.clock.now()
    with application.transaction() as session:
        series = get_series(session, series_id)
        today = now_dt.astimezone(ZoneInfo(series.city.timezone)).date()
        out = explain_series(session, series, today, count)
    if as_json:
        emit_json(out)
        return
    typer.echo(f"{out['id']}  {out['title']}（{out['city']}）")
    if "trigger" in out:
        t = out["trigger"]
        typer.echo(
            f"  觸發: 個案事件 {t['event']}，"
            + (f"{t['within']} 內" if "within" in t else f"偏移 {t['offset']}")
        )
        typer.echo("  (meetings are created when the case event arrives)")
        return
    typer.echo(f"  cadence:   {out['cadence']}")
    typer.echo(f"  rule:      RRULE:{out['rrule']}")
    typer.echo(f"  meaning:   {out['description']}，{out['time']}，{out['duration']}")
    typer.echo(f"  holidays:  {out['holidays']}（{out['policy_zh']}）")
    for inst in out["instances"]:
        label = inst["district"] or inst["zone"]
        head = f"  next {count}" + (f" — {label} (RRULE:{inst['rrule']})" if label else "") + ":"
        typer.echo(head)
        for u in inst["next"]:
            typer.echo(f"    {u['roc']}")


# --- schedule ------------------------------------------------------------------


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
    from meetings.schedule.occurrences import get_series
    from meetings.schedule.operations import generate_schedule

    application = make_app(now)
    now_dt = application.clock.now()
    today = now_dt.astimezone(ZoneInfo("Asia/Taipei")).date()
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
    _print_change_report(report)


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
    from meetings.db import Occurrence, Series
    from meetings.schedule.occurrences import get_series

    start = date_opt(from_, "--from")
    end = date_opt(to, "--to")
    if status is not None and status not in ("scheduled", "cancelled", "held"):
        raise BadInput(f"--status: must be scheduled, cancelled or held, not {status!r}")
    application = make_app()
    tz = ZoneInfo("Asia/Taipei")
    with application.transaction() as session:
        q = select(Occurrence).join(Series).order_by(Occurrence.start_at, Occurrence.uid)
        if series:
            get_series(session, series)
            q = q.where(Occurrence.series_id == series)
        if district:
            q = q.where((Occurrence.district == district) | (Occurrence.zone == district))
        if start:
            q = q.where(Occurrence.start_at >= datetime.combine(start, time(0), tz))
        if end:
            q = q.where(Occurrence.start_at < datetime.combine(end, time(23, 59, 59), tz))
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
        flag = {"cancelled": " [取消]", "held": " [已召開]"}.get(o.status, "")
        if data["moved"]:
            flag += f" [改期: {o.moved_reason}]"
        typer.echo(f"{format_roc_datetime(local)}  {o.title}{flag}  {o.uid} seq={o.sequence}")


# --- closures / calendar ---------------------------------------------------------


@closures_app.command("add")
@handled
def closures_add(
    day: Annotated[str, typer.Argument(metavar="DATE", help="2024-07-25 or 113/07/25")],
    reason: Annotated[str, typer.Option("--reason", help="e.g. 颱風停班")],
    city: Annotated[str | None, typer.Option(help="Only this city (default: every city).")] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close the offices on DATE; affected meetings move by their holiday policy."""
    from meetings.schedule.operations import add_closure

    d = date_opt(day, "DATE")
    assert d is not None
    application = make_app(now)
    with application.transaction() as session:
        report = add_closure(session, d, reason, application.clock.now(), city=city)
    if as_json:
        emit_json(report.as_dict())
        return
    typer.echo(f"closed {format_roc_date(d)}: {reason}")
    _print_change_report(report)


@closures_app.command("remove")
@handled
def closures_remove(
    day: Annotated[str, typer.Argument(metavar="DATE")],
    city: Annotated[str | None, typer.Option(help="The city the closure was for.")] = None,
    now: NowOpt = None,
) -> None:
    """Reopen DATE; meetings moved because of it move back."""
    from meetings.schedule.operations import remove_closure

    d = date_opt(day, "DATE")
    assert d is not None
    application = make_app(now)
    with application.transaction() as session:
        report = remove_closure(session, d, application.clock.now(), city=city)
    typer.echo(f"reopened {format_roc_date(d)}")
    _print_change_report(report)


@closures_app.command("list")
@handled
def closures_list(as_json: JsonOpt = False) -> None:
    """List closures."""
    from meetings.db import City, Closure

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


def _read_text_any(path: Path) -> str:
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
    from meetings.schedule.operations import import_office_calendar
    from meetings.schedule.workdays import parse_dgpa_calendar

    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    days = parse_dgpa_calendar(_read_text_any(file), str(file))
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
    _print_change_report(report)


@calendar_app.command("show")
@handled
def calendar_show(
    from_: Annotated[str, typer.Option("--from")],
    to: Annotated[str, typer.Option("--to")],
    city: Annotated[str | None, typer.Option(help="Include this city's closures.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the days off (and make-up working days) between two dates."""
    from datetime import timedelta

    from meetings.db import City
    from meetings.schedule.operations import office_calendar_for

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


# --- ad-hoc meetings -----------------------------------------------------------------


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
    from meetings.schedule.declarations import parse_duration
    from meetings.schedule.operations import add_adhoc_meeting

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
    typer.echo(
        f"added {data['uid']}: {format_roc_datetime(datetime.fromisoformat(data['start']))} {data['title']}"
    )


# --- events ----------------------------------------------------------------------------


@events_app.command("list")
@handled
def events_list(
    limit: Annotated[int, typer.Option(help="Newest N events.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show the newest domain events (what notifications will act on)."""
    from meetings.db import OutboxEvent

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


# --- demo --------------------------------------------------------------------------------


@app.command()
@handled
def demo(
    now: NowOpt = None,
    keep: Annotated[bool, typer.Option(help="Keep an existing demo database.")] = False,
    once: Annotated[
        bool,
        typer.Option(
            "--no-serve",
            "--once",
            help="Set up, send what is due once, print the summary and exit (no server, no daemon).",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Web server interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Web server port (0: any free port).")] = 8000,
    smtp_port: Annotated[int, typer.Option(help="Mail sink port (0: any free port).")] = 8025,
    mail_dir: Annotated[
        Path, typer.Option("--mail-dir", help="Where the mail sink stores .eml files.")
    ] = Path("var/mail"),
    interval: Annotated[float, typer.Option(help="Seconds between daemon ticks.")] = 15.0,
) -> None:
    """Embedded defaults: SQLite under var/, the example cities, the mail sink, server and daemon.

    Generates this year's and next year's meetings, imports the sample cases, prints
    an agenda and the feed URLs, then runs the mail sink, the web server and the
    notification daemon in this process until Ctrl-C (``--no-serve``: dispatch once, exit).
    """
    from notifications.mailsink import MailSink

    for option, value in (("--port", port), ("--smtp-port", smtp_port)):
        if not 0 <= value <= 65535:
            raise BadInput(f"{option}: 0–65535")
    if not 1 <= interval <= 3600:
        raise BadInput("--interval: between 1 and 3600 seconds")
    web_port = 0 if once else _demo_port(host, port, "--port")
    if "LIAISON_DATABASE_URL" not in os.environ:
        db = Path("var/demo.db")
        if db.exists() and not keep:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        os.environ["LIAISON_DATABASE_URL"] = f"sqlite:///{db}"
    if not keep and mail_dir.is_dir():
        for old in mail_dir.glob("*.eml"):
            old.unlink()
    sink = MailSink(port=_demo_port("127.0.0.1", smtp_port, "--smtp-port"), directory=mail_dir)
    sink.start()
    try:
        application = make_app(now)
        application.settings = replace(
            application.settings,
            smtp_url=sink.url,
            base_url=f"http://{host}:{web_port or port}",
        )
        _demo_setup(application)
        _demo_cases(application)
        _demo_feeds(application)
        if once:
            _demo_dispatch_once(application, mail_dir)
        else:
            _demo_serve(application, host, web_port, mail_dir, interval)
    finally:
        sink.stop()


def _demo_port(host: str, port: int, option: str) -> int:
    """``port`` if it is free on ``host`` (0: pick a free one); else exit 2 naming the option."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise BadInput(
                f"{option}: cannot listen on {host}:{port} ({exc.strerror}); choose another port"
            ) from None
        free: int = s.getsockname()[1]
        return free


def _demo_setup(application: App) -> None:
    """Load the example cities, generate this year and next, print a summary per series."""
    from config import EXAMPLES_DIR
    from meetings.cases.config import load_config
    from meetings.db import Occurrence, Series
    from meetings.schedule.cadence import describe_zh
    from meetings.schedule.operations import SpecRegistry, generate_schedule

    cfg = read_config([EXAMPLES_DIR])
    now_dt = application.clock.now()
    year = now_dt.astimezone(ZoneInfo("Asia/Taipei")).year
    # This year and next, so that "next meeting" is never empty late in the year.
    with application.transaction() as session:
        load_config(session, cfg, now_dt)
        report = generate_schedule(session, date(year, 1, 1), date(year + 1, 12, 31), now_dt)
    typer.echo(f"Liaison demo — database {application.settings.database_url}")
    typer.echo(
        f"民國{year - 1911}–{year - 1910}年 ({year}–{year + 1}): "
        f"{len(report.created)} meetings generated for {len(cfg.cities)} cities"
    )
    for w in report.warnings:
        typer.echo(f"warning: {w}")
    with application.transaction() as session:
        registry = SpecRegistry(session)
        city_name = ""
        for series in session.scalars(select(Series).order_by(Series.city_id, Series.id)):
            if series.city.name != city_name:
                city_name = series.city.name
                typer.echo(f"\n{city_name}")
            spec = registry.spec(series)
            occs = session.scalars(
                select(Occurrence)
                .where(Occurrence.series_id == series.id)
                .order_by(Occurrence.start_at)
            ).all()
            tz = ZoneInfo(series.city.timezone)
            upcoming = [o for o in occs if o.start_at > now_dt and o.status == "scheduled"]
            nxt = format_roc_datetime(upcoming[0].start_at.astimezone(tz)) if upcoming else "—"
            if spec.cadence:
                how = describe_zh(spec.cadence)
                if len(spec.instances) > 1:
                    how = f"{how}（{len(spec.instances)}個{'區' if spec.decl.per_district else '組'}，日期錯開）"
            else:
                trig = spec.decl.trigger
                how = f"事件觸發：{trig.event if trig else ''}"
            moved = sum(1 for o in occs if o.moved_reason and o.status != "cancelled")
            title = spec.title.replace("{district}", "各區").replace("{zone}", "各區")
            typer.echo(f"  {series.id}  {title}")
            typer.echo(
                f"      {how} · {len(occs)} meetings ({moved} moved by holidays) · next {nxt}"
            )
    typer.echo("")
    typer.echo("Try:  liaison series explain ty-city-liaison")
    typer.echo("      liaison schedule list --series ty-district-liaison --district 中壢區")


def _demo_cases(application: App) -> None:
    """Import the sample cases into 桃園市 and print the next network meeting's agenda."""
    cli_cases.demo_cases(application)


def _demo_feeds(application: App) -> None:
    """Print a feed URL per example agency and series."""
    from meetings.access.feeds import demo_feed_urls

    with application.transaction() as session:
        urls = demo_feed_urls(session, application.settings.base_url, application.clock.now())
    typer.echo("")
    typer.echo("Calendar feeds:")
    for label, url in urls:
        typer.echo(f"  {label}: {url}")


def _mail_summary(report: Any, mail_dir: Path) -> str:
    files = len(list(mail_dir.glob("*.eml"))) if mail_dir.is_dir() else 0
    return (
        f"sent {report.sent}, failed {report.failed}, to retry {report.retried}, "
        f"skipped {report.skipped} — {files} messages in {mail_dir}/*.eml"
    )


def _demo_dispatch_once(application: App, mail_dir: Path) -> None:
    """`--no-serve`: raise case escalations, send what is due now, print the summary."""
    from notifications.outbox.planner import new_worker_id
    from scheduler.daemon import housekeeping, tick

    typer.echo("")
    typer.echo(f"Mail sink: {application.settings.smtp_url} → {mail_dir}/*.eml")
    housekeeping(application)
    report = tick(application, new_worker_id())
    typer.echo(f"Notifications: {_mail_summary(report, mail_dir)}")
    for error in report.errors:
        typer.echo(f"failed: {error}", err=True)
    typer.echo("(`liaison demo` without --no-serve keeps the sink, server and daemon running)")


def _demo_serve(application: App, host: str, port: int, mail_dir: Path, interval: float) -> None:
    """Run the daemon (background threads) and the web server (this thread) until Ctrl-C."""
    from notifications.outbox.planner import new_worker_id
    from scheduler.daemon import Daemon
    from scheduler.web.app import run_server

    def on_report(when: datetime, report: Any) -> None:
        if report.sent or report.failed or report.retried:
            typer.echo(f"{when:%Y-%m-%d %H:%M:%S} mail: {_mail_summary(report, mail_dir)}")

    typer.echo("")
    typer.echo(f"Mail sink:  {application.settings.smtp_url} — mail lands in {mail_dir}/*.eml")
    typer.echo(f"Web server: {application.settings.base_url}  (feeds above, API /docs, /healthz)")
    typer.echo(f"Daemon:     sends what is due now, then every {interval:g}s")
    daemon = Daemon(application, new_worker_id(), interval, on_report=on_report)
    daemon.start()
    typer.echo("Running — press Ctrl-C to stop.")
    try:
        run_server(application, host, port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        daemon.shutdown()
        application.close()
        typer.echo("Liaison demo stopped.")


cli_feeds.register(app)
cli_notify.register(app)
cli_records.register(app)
cli_cases.register(app)
cli_users.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
