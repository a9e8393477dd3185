"""The command line's `--as` views are limited to the user's city; `--as` must name an
active user; every display of case rows is audited; `feeds revoke` takes what `feeds list`
prints and the leaked URL itself."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from meetings.access.feeds import create_feed_token, feed_urls
from meetings.access.users import add_user
from meetings.db import AuditRecord, FeedToken, Minutes
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.minutes import record_minutes
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import Cli
from tests.support.cities import OTHER_UID, PASSWORD, SECRETS, load_two_cities

OWN_UID = "cp-20230308@liaison.test.example"


@pytest.fixture
def world(app: App, clock: FixedClock) -> App:
    now = load_two_cities(app, clock)
    with app.transaction() as s:
        add_user(s, "chen@example.org", "secretariat", PASSWORD, now, city="測試市")
        add_user(s, "ministry@example.org", "admin", PASSWORD, now, all_cities=True)
        for uid in (OTHER_UID, OWN_UID):
            record_attendance(s, AttendanceInput(uid=uid, agency="DVPC", status="present"), now)
            record_minutes(s, uid, f"紀錄 {uid}", now)
    return app


def audits(app: App) -> int:
    with app.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord)) or 0)


WHY = ("--reason", "會前準備")
# Commands that show or write per-city data, run as the 測試市 user on 紐約市's objects.
REFUSED = [
    ("agenda", "show", OTHER_UID, "--as", "chen@example.org", *WHY),
    ("minutes", "show", OTHER_UID, "--as", "chen@example.org", *WHY),
    ("cases", "list", "--city", "紐約市", "--as", "chen@example.org", *WHY),
    ("kpi", "--year", "112", "--city", "紐約市", "--as", "chen@example.org"),
    ("kpi", "--year", "112", "--series", "ny", "--as", "chen@example.org"),
]


@pytest.mark.parametrize("args", REFUSED, ids=lambda a: " ".join(a[:2]))
def test_as_a_city_user_another_city_is_unknown(world: App, cli: Cli, args: tuple[str]) -> None:
    before = audits(world)
    r = cli(*args)
    assert r.exit_code == 2, r.stdout
    for secret in SECRETS:
        assert secret not in r.stdout
    assert audits(world) == before


def test_as_a_city_user_the_own_city_is_shown_and_audited(world: App, cli: Cli) -> None:
    before = audits(world)
    r = cli("minutes", "show", OWN_UID, "--as", "chen@example.org", *WHY)
    assert r.exit_code == 0 and OWN_UID in r.stdout
    kpi = cli("kpi", "--year", "112", "--as", "chen@example.org")
    assert kpi.exit_code == 0 and "紐約" not in kpi.stdout
    assert cli("cases", "list", "--as", "chen@example.org", *WHY).exit_code == 0
    assert audits(world) == before + 2


@pytest.mark.parametrize("who", ["nobody", "nobody@example.org", ""])
def test_as_must_name_an_active_user(world: App, cli: Cli, who: str) -> None:
    r = cli("agenda", "show", OWN_UID, "--as", who, *WHY)
    assert r.exit_code == 2 and "--as" in r.stderr and "Traceback" not in r.stderr
    assert audits(world) == 0


def test_minutes_show_without_as_is_audited_as_the_operator(world: App, cli: Cli) -> None:
    r = cli("minutes", "show", OTHER_UID)
    assert r.exit_code == 0
    with world.transaction() as s:
        rec = s.scalars(select(AuditRecord)).one()
        assert rec.action == "minutes.show" and rec.viewer.startswith("cli:")
        assert s.scalar(select(func.count()).select_from(Minutes)) == 2


def test_a_ministry_user_sees_both_cities(world: App, cli: Cli) -> None:
    for uid in (OTHER_UID, OWN_UID):
        r = cli("minutes", "show", uid, "--as", "ministry@example.org", *WHY)
        assert r.exit_code == 0, r.stderr
    assert cli("kpi", "--year", "112", "--as", "ministry@example.org").exit_code == 2  # pick
    r = cli("kpi", "--year", "112", "--city", "紐約市", "--as", "ministry@example.org")
    assert r.exit_code == 0


def test_users_and_tokens_belong_to_a_city(world: App, cli: Cli) -> None:
    listed = cli("users", "list")
    assert "測試市" in listed.stdout and "全部縣市" in listed.stdout
    assert cli("users", "set-city", "chen@example.org", "--city", "紐約市").exit_code == 0
    assert "紐約市" in cli("users", "list", "--json").stdout
    assert cli("users", "set-city", "chen@example.org", "--city", "火星市").exit_code == 2
    assert cli("tokens", "create", "--role", "admin").exit_code == 2
    assert cli("tokens", "create", "--role", "admin", "--city", "紐約市").exit_code == 0


@pytest.mark.parametrize("form", ["#{id}", "{id}", "{url}", "{webcal}", "{token}"])
def test_feeds_revoke_takes_what_list_prints_and_the_leaked_url(
    world: App, cli: Cli, form: str
) -> None:
    with world.transaction() as s:
        issued = create_feed_token(s, "agency", "DVPC", world.clock.now(), city="測試市")
    url, webcal = feed_urls(world.settings.base_url, issued.token)
    ref = form.format(id=issued.id, url=url, webcal=webcal, token=issued.token)
    r = cli("feeds", "revoke", ref)
    assert r.exit_code == 0 and "revoked" in r.stdout, r.stderr
    with world.transaction() as s:
        row = s.get(FeedToken, issued.id)
        assert row is not None and row.revoked_at is not None
    bad = cli("feeds", "revoke", "#x")
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr and "╭" not in bad.stderr
