"""`liaison feeds …` and `liaison tokens …`: calendar feed tokens and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from meetings.access.feeds import (
    create_feed_token,
    feed_token_id,
    feed_urls,
    list_feed_tokens,
    revoke_feed_token,
)
from meetings.access.tokens import create_api_token, revoke_api_token
from scheduler.cli.common import BadInput, JsonOpt, emit_json, handled, make_app

feeds_app = typer.Typer(help="Calendar feed tokens (ICS subscriptions).", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for the JSON API.", no_args_is_help=True)


@feeds_app.command("create")
@handled
def feeds_create(
    person: Annotated[str | None, typer.Option("--person", help="A person's email.")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="An agency code.")] = None,
    series: Annotated[str | None, typer.Option("--series", help="A series id.")] = None,
    district: Annotated[str | None, typer.Option("--district", help="A district name.")] = None,
    city: Annotated[
        str | None, typer.Option("--city", help="The city, when the name exists in several.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note for `feeds list`.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a feed token and print its URL (https/http and webcal)."""

    given = [
        (kind, value)
        for kind, value in (
            ("person", person),
            ("agency", agency),
            ("series", series),
            ("district", district),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise BadInput("give exactly one of --person, --agency, --series, --district")
    kind, value = given[0]
    application = make_app()
    with application.transaction() as session:
        issued = create_feed_token(
            session, kind, value, application.clock.now(), city=city, label=label
        )
    url, webcal = feed_urls(application.settings.base_url, issued.token)
    if as_json:
        emit_json({"id": issued.id, "scope": kind, "value": value, "url": url, "webcal": webcal})
        return
    typer.echo(f"feed #{issued.id} ({kind} {value})")
    typer.echo(f"  {url}")
    typer.echo(f"  {webcal}")
    typer.echo("The token is shown once; it is stored only as a hash.", err=True)


@feeds_app.command("list")
@handled
def feeds_list(as_json: JsonOpt = False) -> None:
    """List feed tokens (ids and scopes; token values are never stored)."""

    application = make_app()
    with application.transaction() as session:
        rows = list_feed_tokens(session)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        where = f" [{r['city']}]" if r["city"] else ""
        note = f"  {r['label']}" if r["label"] else ""
        typer.echo(f"#{r['id']:<5} {r['scope']:<8} {r['value']}{where}  {state}{note}")


@feeds_app.command("revoke")
@handled
def feeds_revoke(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="ID|URL|TOKEN",
            help="What `feeds list` prints (#3 or 3), or the leaked feed URL or token.",
        ),
    ],
) -> None:
    """Revoke a feed token: its URL answers 404 from now on."""

    application = make_app()
    with application.transaction() as session:
        token_id = feed_token_id(session, ref)
        changed = revoke_feed_token(session, token_id, application.clock.now())
    typer.echo(f"feed #{token_id} {'revoked' if changed else 'was already revoked'}")


@tokens_app.command("create")
@handled
def tokens_create(
    role: Annotated[str, typer.Option("--role", help="admin | secretariat | participant")],
    city: Annotated[
        str | None, typer.Option("--city", help="The city the token may read (only it).")
    ] = None,
    all_cities: Annotated[
        bool, typer.Option("--all-cities", help="A ministry token: reads every city.")
    ] = False,
    label: Annotated[str | None, typer.Option("--label", help="Who holds it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token of one city or all cities (shown once; send it as
    `Authorization: Bearer TOKEN`)."""

    application = make_app()
    with application.transaction() as session:
        issued = create_api_token(
            session, role, application.clock.now(), city=city, all_cities=all_cities, label=label
        )
    if as_json:
        emit_json({"id": issued.id, "role": role, "city": city, "token": issued.token})
        return
    typer.echo(f"API token #{issued.id} ({role}): {issued.token}")


@tokens_app.command("revoke")
@handled
def tokens_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke an API token."""

    application = make_app()
    with application.transaction() as session:
        changed = revoke_api_token(session, token_id, application.clock.now())
    typer.echo(f"API token #{token_id} {'revoked' if changed else 'was already revoked'}")


def register(app: typer.Typer) -> None:
    """Add `feeds` and `tokens` to the `liaison` app."""
    app.add_typer(feeds_app, name="feeds")
    app.add_typer(tokens_app, name="tokens")
