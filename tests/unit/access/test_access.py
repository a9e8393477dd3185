"""Tokens: random, hashed at rest, revocable; scopes resolve to the right meetings."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from meetings.access.feeds import (
    create_feed_token,
    demo_feed_urls,
    feed_urls,
    occurrences_for_scope,
    resolve_feed,
    revoke_feed_token,
)
from meetings.access.principals import AccessError
from meetings.access.tokens import api_scope, create_api_token
from meetings.db import ApiToken, FeedToken
from scheduler.bootstrap import App
from tests.conftest import Cli, sqlite_only
from tests.support.feeds import CITY, load_city


def series_of(app: App, kind: str, value: str) -> set[str]:
    with app.transaction() as s:
        token = create_feed_token(s, kind, value, app.clock.now()).token
        scope = resolve_feed(s, token)
        assert scope is not None
        now = app.clock.now()
        occs = occurrences_for_scope(s, scope, now - timedelta(days=400), now + timedelta(days=400))
        return {o.series_id for o in occs}


def test_scopes_resolve_to_the_right_series(app: App) -> None:
    load_city(app)
    assert series_of(app, "series", "edu") == {"edu"}
    assert series_of(app, "agency", "DVPC") == {"cp"}  # organizer and required
    assert series_of(app, "agency", "POL") == {"cp", "edu", "dl"}  # required, optional, organizer
    assert series_of(app, "agency", "HEALTH") == set()
    assert series_of(app, "person", "lin@example.org") == {"edu"}  # via the person's agency
    assert series_of(app, "person", "WANG@example.org") == {"edu"}  # invited by email
    assert series_of(app, "district", "乙區") == {"dl"}


def test_district_scope_only_has_that_district(app: App) -> None:
    load_city(app)
    with app.transaction() as s:
        scope = resolve_feed(s, create_feed_token(s, "district", "甲區", app.clock.now()).token)
        assert scope is not None
        now = app.clock.now()
        occs = occurrences_for_scope(s, scope, now, now + timedelta(days=400))
        assert occs and {o.district for o in occs} == {"甲區"}


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("person", "nobody@example.org", "unknown person"),
        ("agency", "FBI", "unknown agency"),
        ("series", "nope", "unknown series"),
        ("district", "丙區", "unknown district"),
        ("planet", "mars", "unknown scope"),
    ],
)
def test_unknown_scope_values_are_refused(app: App, kind: str, value: str, message: str) -> None:
    load_city(app)
    with app.transaction() as s, pytest.raises(AccessError, match=message):
        create_feed_token(s, kind, value, app.clock.now())


def test_revoked_and_malformed_tokens_resolve_to_nothing(app: App) -> None:
    load_city(app)
    with app.transaction() as s:
        issued = create_feed_token(s, "series", "cp", app.clock.now())
        assert len(issued.token) >= 43  # 32 random bytes, URL-safe
        assert resolve_feed(s, issued.token) is not None
        other = "B" if issued.token.endswith("A") else "A"
        assert resolve_feed(s, issued.token[:-1] + other) is None
        assert resolve_feed(s, "../../etc/passwd") is None
        assert resolve_feed(s, "") is None
        assert revoke_feed_token(s, issued.id, app.clock.now()) is True
        assert revoke_feed_token(s, issued.id, app.clock.now()) is False
        assert resolve_feed(s, issued.token) is None


@sqlite_only
def test_tokens_are_not_stored_in_plain_text(app: App, db_url: str) -> None:
    load_city(app)
    with app.transaction() as s:
        feed = create_feed_token(s, "series", "cp", app.clock.now()).token
        api = create_api_token(s, "admin", app.clock.now(), city="測試市").token
        hashes = [t.token_hash for t in s.scalars(select(FeedToken))] + [
            t.token_hash for t in s.scalars(select(ApiToken))
        ]
        scope = api_scope(s, api)
        assert scope is not None and scope.role == "admin" and not scope.all_cities
    app.close()  # checkpoint the WAL into the file
    path = Path(db_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert all(h.encode() in data for h in hashes)  # the search does find what is there
    assert feed.encode() not in data and api.encode() not in data


def test_feed_urls() -> None:
    assert feed_urls("https://cal.example.gov.tw/", "T") == (
        "https://cal.example.gov.tw/feeds/T.ics",
        "webcal://cal.example.gov.tw/feeds/T.ics",
    )
    assert feed_urls("http://127.0.0.1:8000", "T")[0] == "http://127.0.0.1:8000/feeds/T.ics"


def test_demo_feed_urls_work(app: App) -> None:
    load_city(app)
    with app.transaction() as s:
        urls = demo_feed_urls(s, "http://127.0.0.1:8000", app.clock.now())
        assert len(urls) >= 2 and urls[-1][0] == "series cp"
        for _label, url in urls:
            token = url.rsplit("/", 1)[1].removesuffix(".ics")
            assert resolve_feed(s, token) is not None


# --- CLI ------------------------------------------------------------------------------


@pytest.fixture
def loaded(cli: Cli, tmp_path: Path) -> Cli:
    (tmp_path / "city.yaml").write_text(CITY, encoding="utf-8")
    assert cli("config", "load", str(tmp_path / "city.yaml"), "--now", "2023-01-01").exit_code == 0
    return cli


def test_cli_feeds_create_list_revoke(loaded: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_BASE_URL", "https://cal.example.gov.tw")
    r = loaded("feeds", "create", "--agency", "POL", "--label", "警察局秘書")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.split()
    https = next(x for x in lines if x.startswith("https://cal.example.gov.tw/feeds/"))
    webcal = next(x for x in lines if x.startswith("webcal://cal.example.gov.tw/feeds/"))
    token = https.rsplit("/", 1)[1].removesuffix(".ics")
    assert webcal.endswith(f"/{token}.ics")
    r = loaded("feeds", "create", "--person", "chen@example.org", "--city", "測試市", "--json")
    assert json.loads(r.stdout)["scope"] == "person"
    listed = loaded("feeds", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(x["id"], x["scope"], x["value"]) for x in rows] == [
        (1, "agency", "POL"),
        (2, "person", "chen@example.org"),
    ]
    assert token not in listed.stdout and token not in loaded("feeds", "list").stdout
    assert loaded("feeds", "revoke", "1").exit_code == 0
    assert json.loads(loaded("feeds", "list", "--json").stdout)[0]["revoked_at"]
    assert loaded("feeds", "revoke", "99").exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--agency", "POL", "--series", "cp"],
        ["--agency", "FBI"],
        ["--person", "nobody@example.org"],
        ["--series", "nope"],
        ["--district", "丙區"],
        ["--agency", "POL", "--city", "火星市"],
    ],
)
def test_cli_feeds_create_bad_input_exits_2(loaded: Cli, args: list[str]) -> None:
    r = loaded("feeds", "create", *args)
    assert r.exit_code == 2
    assert r.stderr.strip() and "Traceback" not in r.stderr


def test_cli_tokens(loaded: Cli) -> None:
    assert loaded("tokens", "create", "--role", "secretariat").exit_code == 2  # no city
    r = loaded("tokens", "create", "--role", "secretariat", "--city", "測試市", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["role"] == "secretariat" and len(data["token"]) >= 43
    assert loaded("tokens", "create", "--role", "boss", "--city", "測試市").exit_code == 2
    assert loaded("tokens", "revoke", str(data["id"])).exit_code == 0
    assert "already" in loaded("tokens", "revoke", str(data["id"])).stdout
    assert loaded("tokens", "revoke", "42").exit_code == 2


def test_cli_help_lists_the_commands(cli: Cli) -> None:
    out = cli("--help").stdout
    assert "feeds" in out and "tokens" in out and "serve" in out
    assert "--port" in cli("serve", "--help").stdout
