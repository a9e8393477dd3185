"""Helpers shared by the CLI modules: errors → exit codes, common options, parsing, output."""

from __future__ import annotations

import functools
import getpass
import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import DataError, OperationalError

from meetings.access.principals import ALL, Scope
from meetings.access.users import viewer_scope
from meetings.cases.lookup import resolve_city
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import DEFAULT_TIMEZONE, local
from meetings.kernel.rocdate import parse_date
from meetings.kernel.yamlsource import SourceError
from meetings.schedule.operations import ChangeReport
from meetings.schedule.workdays import CalendarFileError
from notifications.smtp import SmtpMailer
from scheduler.bootstrap import App, build_app
from scheduler.clock import Clock, FixedClock, SystemClock
from scheduler.db import DatabaseUnavailable

AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who is looking at case data: an active user; the view is limited to their city "
        "(recorded in the audit).",
    ),
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Why the case data is needed (audited).")
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Pretend it is this instant (ISO 8601; without a zone: "
        f"{DEFAULT_TIMEZONE}; default: now).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class BadInput(Exception):
    """User input that cannot be accepted: printed, exit status 2."""

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


F = TypeVar("F", bound=Callable[..., Any])


def _fail(code: int, lines: Iterable[str]) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


LOCKED_ATTEMPTS = 5  # a command that meets "database is locked" (SQLite) runs again, 4 times


def _locked(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def handled(fn: F) -> F:
    """Turn domain errors into clear messages and the contract's exit codes.

    A SQLite "database is locked" (another writer held the lock past the busy
    timeout) rolls the command's transaction back; the command is then run again,
    a bounded number of times with a growing pause, before it is reported (exit 1).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except (SourceError, CalendarFileError) as exc:
                _fail(2, exc.errors)
            except BadInput as exc:
                _fail(2, exc.messages)
            except OperationError as exc:
                _fail(2, [f"error: {exc}"])
            except DatabaseUnavailable as exc:  # LIAISON_DATABASE_URL names an unusable path
                _fail(1, [f"error: {exc}"])
            except DataError as exc:  # a value the database refuses (e.g. NUL on PostgreSQL)
                _fail(2, [f"error: the database refused a value: {str(exc.orig).splitlines()[0]}"])
            except OperationalError as exc:
                if attempt < LOCKED_ATTEMPTS and _locked(exc):
                    typer.echo(
                        f"database is locked; trying again ({attempt}/{LOCKED_ATTEMPTS - 1})",
                        err=True,
                    )
                    threading.Event().wait(min(2.0, 0.2 * 2**attempt))
                    continue
                _fail(1, [f"database error: {exc.orig}"])
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]


# --- who is looking -------------------------------------------------------------


def operator() -> str:
    """The audit's name for whoever runs a command without --as: the login running it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container): still say it was the CLI
        return "cli:operator"


def looking(
    session: Any, as_: str | None, reason: str | None, default_reason: str | None = None
) -> tuple[Scope, str, str]:
    """(scope, viewer, reason) of a command that shows case data.

    ``--as`` must name an active user with a city; the view is then limited to it.
    Without ``--as`` the operator sees every city, under ``default_reason`` (a command
    with none needs both options).
    """
    why = (reason or "").strip()
    if as_ is None and default_reason is not None:
        return ALL, operator(), why or default_reason
    if not (as_ or "").strip() or not why:
        raise BadInput("case data needs both --as USER and --reason TEXT")
    assert as_ is not None
    scope = viewer_scope(session, as_)
    return scope, scope.who, why


def viewer(session: Any, as_: str | None) -> Scope:
    """The scope of ``--as`` (an active user with a city), or the operator's (every city)."""
    return ALL if as_ is None else viewer_scope(session, as_)


# --- small parsers -------------------------------------------------------------


def date_opt(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None


def now_opt(value: str | None) -> datetime:
    """--now ISO → aware UTC instant.

    A date-time without a zone is read in ``DEFAULT_TIMEZONE``: ``--now`` may concern
    several cities, and the sample cities and every example in the docs are in it.
    """
    if value is None:
        return SystemClock().now()
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            dt = datetime.combine(parse_date(value), time(0, 0))
        except ValueError:
            raise BadInput(f"--now: not a date-time: {value!r} (e.g. 2023-03-01T09:00)") from None
    return local(dt, DEFAULT_TIMEZONE).astimezone(UTC)


def clock_for(now: str | None) -> Clock:
    """A clock fixed at ``--now``, or the system clock when it is not given."""
    return FixedClock(now_opt(now)) if now is not None else SystemClock()


def make_app(now: str | None = None) -> App:
    """The application from the environment's settings, with the ``--now`` clock."""
    return build_app(clock=clock_for(now))


def smtp_mailers(application: App) -> Callable[[], SmtpMailer]:
    """The application's SMTP connection maker; exit 2 naming LIAISON_SMTP_URL if it is bad."""
    try:
        return application.mailer_factory()
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def print_change_report(report: ChangeReport, *, quiet_if_empty: bool = False) -> None:
    """The meetings a schedule change created, moved, cancelled … (and its warnings)."""
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
    whys = {"held": "held", "past": "already past"}
    for uid, why in report.kept[:50]:
        typer.echo(f"  left as it was ({whys.get(why, why)}: history is not rewritten): {uid}")
    for w in report.warnings:
        typer.echo(f"warning: {w}", err=True)


def check_report_year(year: int) -> None:
    """A report's --year: ROC (112) or Gregorian (2023)."""
    if not (1 <= year <= 300 or 1912 <= year <= 2300):
        raise BadInput(f"--year: {year} is neither an ROC (e.g. 112) nor a Gregorian year")


def report_city_id(session: Any, city: str | None, as_: str | None) -> int | None:
    """The city a report counts: --city (one the --as user sees), else the --as user's
    own, else None (the report's only city)."""
    scope = viewer(session, as_)
    city_id = scope.only_city(session) if city is None and as_ is not None else None
    if city is not None:
        city_id = resolve_city(session, city).id
        if not scope.sees(city_id):
            raise BadInput(f"--city: unknown city {city!r}")
    return city_id
