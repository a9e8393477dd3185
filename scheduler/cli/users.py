"""`liaison users …`: logins for the web pages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from meetings.access.principals import check_role
from meetings.access.users import (
    add_user,
    check_email,
    check_password,
    city_label,
    list_users,
    set_active,
    set_city,
    set_password,
    set_role,
)
from scheduler.cli.common import BadInput, JsonOpt, emit_json, handled, make_app

users_app = typer.Typer(
    help="Logins for the web pages (admin, secretariat, participant).", no_args_is_help=True
)

CityOpt = Annotated[
    str | None, typer.Option("--city", help="The city the login belongs to (sees only it).")
]
AllCitiesOpt = Annotated[
    bool, typer.Option("--all-cities", help="A ministry login: sees every city.")
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (scripts).",
    ),
]


def _read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or asked twice on the terminal (hidden)."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise BadInput("--password-stdin: standard input is empty")
        return password
    if not sys.stdin.isatty():
        # Piped input without --password-stdin: read it the same way rather than hang.
        return _read_password(True)
    answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return answer


@users_app.command("add")
@handled
def users_add(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Option("--role", help="admin | secretariat | participant")],
    city: CityOpt = None,
    all_cities: AllCitiesOpt = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a login of one city (--city) or of all cities (--all-cities); the password
    is asked for (or read from stdin), never an argument."""
    check_email(email)
    check_role(role)
    if (city is None) == (not all_cities):
        raise BadInput("give --city NAME (the login's city) or --all-cities (a ministry login)")
    password = check_password(_read_password(password_stdin), email)
    application = make_app()
    with application.transaction() as session:
        user = add_user(
            session,
            email,
            role,
            password,
            application.clock.now(),
            city=city,
            all_cities=all_cities,
        )
        where = city_label(session, user.city_id, user.all_cities)
        typer.echo(f"added {user.email} ({user.role}, {where})")


@users_app.command("passwd")
@handled
def users_passwd(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password (every open session of the user ends)."""

    password = check_password(_read_password(password_stdin), email)
    application = make_app()
    with application.transaction() as session:
        user = set_password(session, email, password, application.clock.now())
        typer.echo(f"password changed for {user.email}")


@users_app.command("role")
@handled
def users_role(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Argument(metavar="ROLE", help="admin | secretariat | participant")],
) -> None:
    """Change a user's role (every open session of the user ends)."""

    application = make_app()
    with application.transaction() as session:
        user = set_role(session, email, role, application.clock.now())
        typer.echo(f"{user.email} is now {user.role}")


@users_app.command("set-city")
@handled
def users_set_city(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    city: CityOpt = None,
    all_cities: AllCitiesOpt = False,
) -> None:
    """Move a login to one city (--city) or all cities (--all-cities); its sessions end."""

    application = make_app()
    with application.transaction() as session:
        user = set_city(session, email, city, application.clock.now(), all_cities=all_cities)
        typer.echo(f"{user.email} now sees {city_label(session, user.city_id, user.all_cities)}")


@users_app.command("disable")
@handled
def users_disable(email: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Stop a login from working (its sessions end at once)."""

    application = make_app()
    with application.transaction() as session:
        user = set_active(session, email, False, application.clock.now())
        typer.echo(f"{user.email} disabled")


@users_app.command("enable")
@handled
def users_enable(email: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Let a disabled login work again."""

    application = make_app()
    with application.transaction() as session:
        user = set_active(session, email, True, application.clock.now())
        typer.echo(f"{user.email} enabled")


@users_app.command("list")
@handled
def users_list(
    as_json: JsonOpt = False,
) -> None:
    """Every login (never a password or hash)."""

    application = make_app()
    with application.transaction() as session:
        rows = [
            {
                "email": u.email,
                "role": u.role,
                "city": city_label(session, u.city_id, u.all_cities),
                "active": u.active,
                "created_at": u.created_at.isoformat(),
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in list_users(session)
        ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        flag = "" if r["active"] else "  (disabled)"
        typer.echo(f"{r['email']:<40} {r['role']:<12} {r['city']}{flag}")


def register(app: typer.Typer) -> None:
    """Add `liaison users` to the CLI."""
    app.add_typer(users_app, name="users")
