"""`liaison demo`: the example cities on a throw-away SQLite database, mail to an embedded
sink, the web server and the notification daemon — all in one process.

The demo builds its own :class:`Settings` (its database, the sink's SMTP URL, the
server's base URL) and hands them to ``build_app``; it never writes the environment.
Option checking (ports, ranges) is the CLI's (``scheduler.cli.serve``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import typer
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from config import EXAMPLES_DIR
from meetings.access.feeds import demo_feed_urls
from meetings.access.users import add_user, find_user, set_password
from meetings.agendas.queries import load_agenda
from meetings.agendas.render import city_template_dirs, render_agenda
from meetings.cases.config import load_config
from meetings.cases.importing import CaseRow, read_cases
from meetings.cases.imports import import_cases
from meetings.cases.lookup import resolve_city
from meetings.db import City, District, Occurrence, Series
from meetings.kernel.localtime import DEFAULT_TIMEZONE, local, local_today
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.vocabulary import ROLE_ZH, OccurrenceStatus, Role
from meetings.schedule.cadence.describe import describe_zh
from meetings.schedule.citywide import city_conflicts
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.operations import generate_schedule
from meetings.schedule.registry import SpecRegistry
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import DispatchReport
from notifications.outbox.store import new_worker_id
from scheduler.bootstrap import App, build_app
from scheduler.clock import Clock
from scheduler.configfiles import read_config
from scheduler.daemon import Daemon, housekeeping, tick
from scheduler.settings import Settings
from scheduler.web.app import run_server

DEMO_DATABASE = Path("var/demo.db")
DEMO_DATABASE_URL = f"sqlite:///{DEMO_DATABASE}"
SAMPLE_CASES = EXAMPLES_DIR / "sample_cases.csv"
SAMPLE_AS_OF = (2023, 3)  # config/sample_cases.csv reads as an export of mid-March 2023
SAMPLE_CITY = "桃園市"
SAMPLE_SERIES = "ty-child-protection-network"


@dataclass(frozen=True)
class DemoOptions:
    """What `liaison demo` was asked for (ports already checked free by the CLI)."""

    host: str
    port: int  # the web server's (0 with ``once``: no server runs)
    public_port: int  # the port feed URLs name
    smtp_port: int
    mail_dir: Path
    interval: float
    keep: bool
    once: bool


def run_demo(settings: Settings, clock: Clock, options: DemoOptions) -> None:
    """Set up the demo database and mail folder, then dispatch once or serve until Ctrl-C.

    ``settings.database_url`` is the demo's own SQLite file unless one was configured;
    the demo's file is started afresh unless ``options.keep``.
    """
    if settings.database_url == DEMO_DATABASE_URL and not options.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(DEMO_DATABASE) + suffix).unlink(missing_ok=True)
    if not options.keep and options.mail_dir.is_dir():
        for old in options.mail_dir.glob("*.eml"):
            old.unlink()
    sink = MailSink(port=options.smtp_port, directory=options.mail_dir)
    sink.start()
    try:
        demo_settings = replace(
            settings,
            smtp_url=sink.url,
            base_url=f"http://{options.host}:{options.public_port}",
        )
        application = build_app(demo_settings, clock)
        if not options.once:
            typer.echo(f"Pages: {demo_settings.base_url}/login  (logins below)")
        setup_schedule(application)
        setup_cases(application)
        logins = setup_logins(application)
        print_feeds(application)
        print_logins(demo_settings.base_url, logins)
        if options.once:
            dispatch_once(application, options.mail_dir)
        else:
            serve(application, options)
    finally:
        sink.stop()


# --- the schedule ------------------------------------------------------------------


def setup_schedule(application: App) -> None:
    """Load the example cities, generate this year and next, print a summary per series."""
    cfg = read_config([EXAMPLES_DIR])
    now = application.clock.now()
    # The example cities may declare different zones: "this year" is the default zone's.
    year = local(now, DEFAULT_TIMEZONE).year
    # This year and next, so that "next meeting" is never empty late in the year.
    with application.transaction() as session:
        load_config(session, cfg, now)
        report = generate_schedule(session, date(year, 1, 1), date(year + 1, 12, 31), now)
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
            occs = session.scalars(
                select(Occurrence)
                .where(Occurrence.series_id == series.id)
                .order_by(Occurrence.start_at)
            ).all()
            typer.echo(series_summary(series, registry.spec(series), list(occs), now))
        clashes = [
            c
            for city in session.scalars(select(City).order_by(City.name))
            for c in city_conflicts(
                session, registry, city, date(year, 1, 1), date(year + 1, 12, 31), now
            )
        ]
    typer.echo("")
    typer.echo(
        f"Double-booked required agencies {year}–{year + 1}: {len(clashes)} "
        f"({sum(c.avoidable for c in clashes)} avoidable) — liaison schedule conflicts"
    )
    typer.echo("Try:  liaison series explain ty-city-liaison")
    typer.echo("      liaison schedule list --series ty-district-liaison --district 中壢區")


def series_summary(series: Series, spec: SeriesSpec, occs: list[Occurrence], now: datetime) -> str:
    """Two lines on a series: its title, then its cadence, meetings and the next one."""
    upcoming = [o for o in occs if o.start_at > now and o.status == OccurrenceStatus.SCHEDULED]
    tz = series.city.timezone
    nxt = format_roc_datetime(local(upcoming[0].start_at, tz)) if upcoming else "—"
    if spec.cadence:
        how = describe_zh(spec.cadence)
        if len(spec.instances) > 1:
            unit = "區" if spec.decl.per_district else "組"
            how = f"{how}（{len(spec.instances)}個{unit}，日期錯開）"
    else:
        trig = spec.decl.trigger
        how = f"事件觸發：{trig.event if trig else ''}"
    moved = sum(1 for o in occs if o.moved_reason and o.status != OccurrenceStatus.CANCELLED)
    title = spec.title.replace("{district}", "各區").replace("{zone}", "各區")
    return (
        f"  {series.id}  {title}\n"
        f"      {how} · {len(occs)} meetings ({moved} moved by holidays) · next {nxt}"
    )


# --- the sample cases ------------------------------------------------------------------


def shifted_sample(rows: list[CaseRow], today: date) -> list[CaseRow]:
    """The sample rows with every date moved by whole months so the export looks recent."""
    months = (today.year - SAMPLE_AS_OF[0]) * 12 + today.month - SAMPLE_AS_OF[1]
    if months <= 0:
        return rows

    shift = relativedelta(months=months)

    def move(d: date | None) -> date | None:
        return None if d is None else d + shift

    return [
        replace(
            r,
            reported_at=r.reported_at + shift,
            rereported_at=move(r.rereported_at),
            order_expiry=move(r.order_expiry),
        )
        for r in rows
    ]


def setup_cases(application: App) -> None:
    """Import config/sample_cases.csv into 桃園市 and print the next network meeting's agenda.

    The sample's dates are moved to the months before today, so the agenda of the
    next 兒少保護 network meeting looks like one a secretariat would print now.
    """
    now = application.clock.now()
    with application.transaction() as session:
        city = resolve_city(session, SAMPLE_CITY)
        districts = list(session.scalars(select(District.name).where(District.city_id == city.id)))
        sample = list(read_cases(SAMPLE_CASES, districts))  # the small bundled sample
        rows = shifted_sample(sample, local_today(now, city.timezone))
        report = import_cases(session, city, rows, now)
        occ = session.scalar(
            select(Occurrence)
            .where(
                Occurrence.series_id == SAMPLE_SERIES,
                Occurrence.status == OccurrenceStatus.SCHEDULED,
                Occurrence.start_at > now,
            )
            .order_by(Occurrence.start_at)
            .limit(1)
        )
        text = None
        if occ is not None:
            agenda = load_agenda(session, occ, now)
            text = render_agenda(agenda, "text", city_template_dirs(session, city.name))
    typer.echo("")
    typer.echo(
        f"Sample cases ({SAMPLE_CITY}, {SAMPLE_CASES.name}, dates moved to recent months): "
        f"{report.created} imported, {len(report.listing.listed)} listed, "
        f"{len(report.meetings.created)} case meetings created"
    )
    if text is not None and occ is not None:
        typer.echo(f"Agenda of the next 兒少保護 network meeting ({occ.uid}):")
        typer.echo("")
        typer.echo(text)
        typer.echo("(the demo shows case rows; outside the demo they need --as USER --reason TEXT)")


# --- feeds, mail and the running service ---------------------------------------------


# Who can log in to the demo's pages: one of each role, of 桃園市 (the secretariat and the
# admin are the config's people; the participant is 警察局's address).
DEMO_LOGINS = (
    (Role.ADMIN, "admin@taoyuan.example"),
    (Role.SECRETARIAT, "chen@taoyuan.example"),
    (Role.PARTICIPANT, "police@taoyuan.example"),
)


def setup_logins(application: App) -> list[tuple[Role, str, str]]:
    """Give each demo login a fresh random password (printed once, never stored in clear):
    a kept database's logins get new ones, so the printed ones always work."""
    now = application.clock.now()
    out = []
    with application.transaction() as session:
        for role, email in DEMO_LOGINS:
            password = secrets.token_urlsafe(12)
            if find_user(session, email) is None:
                add_user(session, email, role, password, now, city=SAMPLE_CITY)
            else:
                set_password(session, email, password, now)
            out.append((role, email, password))
    return out


def print_logins(base_url: str, logins: list[tuple[Role, str, str]]) -> None:
    typer.echo("")
    typer.echo(f"Pages: {base_url}/login — logins of {SAMPLE_CITY} (passwords shown only now):")
    for role, email, password in logins:
        typer.echo(f"  {ROLE_ZH[role]:<6} {email:<24} {password}")


def print_feeds(application: App) -> None:
    """Print a feed URL per example agency and series."""
    with application.transaction() as session:
        urls = demo_feed_urls(session, application.settings.base_url, application.clock.now())
    typer.echo("")
    typer.echo("Calendar feeds:")
    for label, url in urls:
        typer.echo(f"  {label}: {url}")


def mail_summary(report: DispatchReport, mail_dir: Path) -> str:
    files = len(list(mail_dir.glob("*.eml"))) if mail_dir.is_dir() else 0
    return (
        f"sent {report.sent}, failed {report.failed}, to retry {report.retried}, "
        f"skipped {report.skipped} — {files} messages in {mail_dir}/*.eml"
    )


def dispatch_once(application: App, mail_dir: Path) -> None:
    """`--no-serve`: raise case escalations, send what is due now, print the summary."""
    typer.echo("")
    typer.echo(f"Mail sink: {application.settings.smtp_url} → {mail_dir}/*.eml")
    housekeeping(application)
    report = tick(application, new_worker_id())
    typer.echo(f"Notifications: {mail_summary(report, mail_dir)}")
    for error in report.errors:
        typer.echo(f"failed: {error}", err=True)
    typer.echo("(`liaison demo` without --no-serve keeps the sink, server and daemon running)")


def serve(application: App, options: DemoOptions) -> None:
    """Run the daemon (background threads) and the web server (this thread) until Ctrl-C."""
    mail_dir = options.mail_dir

    def on_report(when: datetime, report: DispatchReport) -> None:
        if report.sent or report.failed or report.retried:
            typer.echo(f"{when:%Y-%m-%d %H:%M:%S} mail: {mail_summary(report, mail_dir)}")

    typer.echo("")
    typer.echo(f"Mail sink:  {application.settings.smtp_url} — mail lands in {mail_dir}/*.eml")
    typer.echo(f"Web server: {application.settings.base_url}  (feeds above, API /docs, /healthz)")
    typer.echo(f"Daemon:     sends what is due now, then every {options.interval:g}s")
    daemon = Daemon(application, new_worker_id(), options.interval, on_report=on_report)
    daemon.start()
    typer.echo("Running — press Ctrl-C to stop.")
    try:
        run_server(application, options.host, options.port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        daemon.shutdown()
        application.close()
        typer.echo("Liaison demo stopped.")
