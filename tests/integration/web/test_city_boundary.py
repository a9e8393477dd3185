"""No one crosses a city: every route, walked by a 測試市 login and API token, shows nothing
of 紐約市 and writes nothing there; a ministry login and token see both.

The table below names every route of the web app: a new route without a row fails
``test_every_route_has_a_row``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import Mount

from meetings.access.feeds import create_feed_token
from meetings.access.tokens import create_api_token
from meetings.access.users import add_user
from meetings.db import ActionItem, Attendance, Closure, Minutes, Occurrence, User
from meetings.records.action_items import add_action_item
from meetings.records.attendance import AttendanceInput, record_attendance
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.web.app import create_web_app
from tests.support.cities import OTHER_UID, PASSWORD, SECRETS, load_two_cities


@pytest.fixture
def world(app: App, clock: FixedClock) -> dict[str, Any]:
    now = load_two_cities(app, clock)
    with app.transaction() as s:
        add_user(s, "admin@example.org", "admin", PASSWORD, now, city="測試市")
        add_user(s, "ministry@example.org", "admin", PASSWORD, now, all_cities=True)
        add_user(s, "old@example.org", "admin", PASSWORD, now, all_cities=True)
        record_attendance(s, AttendanceInput(uid=OTHER_UID, agency="DVPC", status="present"), now)
        item = add_action_item(s, OTHER_UID, "DVPC", date(2023, 4, 1), "紐約待辦", now)
        s.flush()
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == OTHER_UID))
        assert occ is not None
        return {
            "item": item.id,
            "api": create_api_token(s, "admin", now, city="測試市").token,
            "ministry_api": create_api_token(s, "admin", now, all_cities=True).token,
            "feed": create_feed_token(s, "agency", "DVPC", now, city="測試市").token,
        }


def login(client: TestClient, email: str) -> str:
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    r = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    return _csrf(client)  # a login starts a fresh session with its own CSRF token


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/meetings").text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def client(app: App, world: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_web_app(app), base_url="http://127.0.0.1") as c:
        yield c


def counts(app: App) -> tuple[int, ...]:
    with app.transaction() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (Attendance, Minutes, ActionItem, Closure, Occurrence)
        ) + (int(s.scalar(select(func.count()).where(ActionItem.closed_on.is_not(None))) or 0),)


# (method, path) -> (how to call it with 紐約市's objects, statuses allowed)
# "page": a logged-in 測試市 admin; "api": a 測試市 API token; "feed": a 測試市 feed token;
# "open": no per-city data at all.
ROUTES: dict[tuple[str, str], tuple[str, str, dict[str, str], tuple[int, ...]]] = {
    ("GET", "/openapi.json"): ("open", "/openapi.json", {}, (200,)),
    ("GET", "/docs"): ("open", "/docs", {}, (200,)),
    ("GET", "/docs/oauth2-redirect"): ("open", "/docs/oauth2-redirect", {}, (200,)),
    ("GET", "/healthz"): ("open", "/healthz", {}, (200,)),
    ("GET", "/feeds/{token}.ics"): ("feed", "/feeds/{feed}.ics", {}, (200,)),
    ("HEAD", "/feeds/{token}.ics"): ("feed", "/feeds/{feed}.ics", {}, (200,)),
    ("GET", "/api/series"): ("api", "/api/series", {}, (200,)),
    ("GET", "/api/occurrences"): (
        "api",
        "/api/occurrences?from=2023-01-01&to=2023-06-30",
        {},
        (200,),
    ),
    ("GET", "/api/occurrences/{uid}"): ("api", f"/api/occurrences/{OTHER_UID}", {}, (404,)),
    ("GET", "/api/kpi"): ("api", "/api/kpi?year=2023&city=紐約市", {}, (404,)),
    ("GET", "/"): ("page", "/", {}, (200, 302, 303)),
    ("GET", "/login"): ("page", "/login", {}, (200, 302, 303)),
    ("POST", "/login"): ("open", "/login", {}, (403, 422)),
    ("POST", "/logout"): ("open", "/logout", {}, (403, 422)),
    ("GET", "/meetings"): ("page", "/meetings?from=2023-01-01&to=2023-06-30", {}, (200,)),
    ("POST", "/meetings/subscribe"): ("page", "/meetings/subscribe", {}, (200, 303)),
    ("GET", "/meetings/{uid}/notice"): ("page", f"/meetings/{OTHER_UID}/notice", {}, (404,)),
    ("GET", "/meetings/{uid}"): ("page", f"/meetings/{OTHER_UID}", {}, (404,)),
    ("POST", "/meetings/{uid}/cases"): (
        "page",
        f"/meetings/{OTHER_UID}/cases",
        {"reason": "會前準備"},
        (404,),
    ),
    ("POST", "/meetings/{uid}/attendance"): (
        "page",
        f"/meetings/{OTHER_UID}/attendance",
        {"agency": "DVPC", "status": "present", "rank": ""},
        (404,),
    ),
    ("POST", "/meetings/{uid}/minutes"): ("page", f"/meetings/{OTHER_UID}/minutes", {}, (404,)),
    ("POST", "/meetings/{uid}/deliverables"): (
        "page",
        f"/meetings/{OTHER_UID}/deliverables",
        {"name": "成效檢核表", "at": "2023-01-18"},
        (404,),
    ),
    ("POST", "/meetings/{uid}/discussed"): (
        "page",
        f"/meetings/{OTHER_UID}/discussed",
        {"more": "CP-001"},
        (404,),
    ),
    ("POST", "/meetings/{uid}/actions"): (
        "page",
        f"/meetings/{OTHER_UID}/actions",
        {"owner": "DVPC", "due": "2023-04-01", "text": "x"},
        (404,),
    ),
    ("POST", "/actions/{item_id}/close"): ("page", "/actions/{item}/close", {}, (404,)),
    ("POST", "/meetings/{uid}/seats/{agency}"): (
        "page",
        f"/meetings/{OTHER_UID}/seats/DVPC",
        {"state": "declined", "reason": "公出"},
        (404,),
    ),
    # The reply slip needs no login: a link opens its own seat only (a made-up one: 404;
    # a POST without the page's CSRF token: 403).
    ("GET", "/reply/{token}"): ("open", "/reply/" + "A" * 43, {}, (404,)),
    ("POST", "/reply/{token}"): ("open", "/reply/" + "A" * 43, {}, (403,)),
    ("GET", "/static"): ("open", "/static/kpi.js", {}, (200,)),
    ("GET", "/kpi"): ("page", "/kpi?year=112", {}, (200,)),
    ("GET", "/kpi.xlsx"): ("page", "/kpi.xlsx?year=112&city=紐約市", {}, (404,)),
    ("GET", "/kpi/grant.xlsx"): ("page", "/kpi/grant.xlsx?year=112&city=紐約市", {}, (404,)),
    ("GET", "/admin"): ("page", "/admin", {}, (200,)),
    ("GET", "/admin/adhoc"): ("page", "/admin/adhoc", {}, (200,)),
    ("POST", "/admin/adhoc"): (
        "page",
        "/admin/adhoc",
        {"series": "ny", "at": "2023-04-12T10:00"},
        (400,),
    ),
    ("GET", "/admin/closures"): ("page", "/admin/closures", {}, (200,)),
    ("POST", "/admin/closures/preview"): (
        "page",
        "/admin/closures/preview",
        {"day": "2023-03-22", "reason": "颱風", "city": "紐約市"},
        (400,),
    ),
    ("POST", "/admin/closures"): (
        "page",
        "/admin/closures",
        {"day": "2023-03-22", "reason": "颱風", "city": "紐約市"},
        (400,),
    ),
}


def app_routes(app: App) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()

    def walk(routes: Any) -> None:
        for r in routes:
            if isinstance(r, Mount):  # static files: read-only, the same for every city
                out.add(("GET", r.path))
            elif hasattr(r, "path"):
                for m in getattr(r, "methods", None) or []:
                    if not (m == "HEAD" and "GET" in r.methods):
                        out.add((m, r.path))
            else:
                walk(r.original_router.routes)

    walk(create_web_app(app).routes)
    return out


def test_every_route_has_a_row(app: App) -> None:
    assert app_routes(app) == set(ROUTES)


def test_a_city_principal_sees_and_writes_nothing_of_another_city(
    app: App, client: TestClient, world: dict[str, Any]
) -> None:
    before = counts(app)
    csrf = login(client, "admin@example.org")
    api = {"Authorization": f"Bearer {world['api']}"}
    for (method, _route), (who, path, form, ok) in ROUTES.items():
        url = path.replace("{feed}", world["feed"]).replace("{item}", str(world["item"]))
        if who == "open":
            anon = TestClient(client.app, base_url="http://127.0.0.1")
            r = anon.request(method, url, follow_redirects=False)
        elif who == "api":
            r = client.request(method, url, headers=api)
        elif method == "POST":
            r = client.post(url, data={**form, "csrf": csrf}, follow_redirects=False)
        else:
            r = client.request(method, url, follow_redirects=False)
        assert r.status_code in ok, (method, url, r.status_code, r.text[:300])
        body = r.content.decode("utf-8", "replace")
        for secret in SECRETS:
            assert secret not in body, (method, url, secret)
    assert counts(app) == before  # nothing of 紐約市 was written


def test_meetings_and_kpis_of_the_own_city_are_shown(client: TestClient) -> None:
    login(client, "admin@example.org")
    assert "兒少保護網絡會議" in client.get("/meetings?from=2023-01-01&to=2023-06-30").text
    kpi = client.get("/kpi?year=112").text
    assert "家防中心" in kpi and "紐約" not in kpi


def test_a_ministry_login_and_token_see_both_cities(
    client: TestClient, world: dict[str, Any]
) -> None:
    login(client, "ministry@example.org")
    listing = client.get("/meetings?from=2023-01-01&to=2023-06-30").text
    assert "兒少保護網絡會議" in listing and "紐約保護網絡會議" in listing
    assert client.get(f"/meetings/{OTHER_UID}").status_code == 200
    kpi = client.get("/kpi?year=112&city=紐約市").text
    assert "紐約家防中心" in kpi  # one city's figures under its own agency names
    assert "紐約家防中心" not in client.get("/kpi?year=112&city=測試市").text
    api = {"Authorization": f"Bearer {world['ministry_api']}"}
    ids = {s["id"] for s in client.get("/api/series", headers=api).json()}
    assert {"cp", "ny"} <= ids
    assert client.get(f"/api/occurrences/{OTHER_UID}", headers=api).status_code == 200
    assert client.get("/api/kpi?year=2023", headers=api).status_code == 400  # pick a city
    assert client.get("/api/kpi?year=2023&city=紐約市", headers=api).status_code == 200


def test_a_login_without_a_city_is_told_so(app: App, client: TestClient) -> None:
    with app.transaction() as s:
        user = s.scalar(select(User).where(User.email == "old@example.org"))
        assert user is not None
        user.all_cities = False  # as migration 0008 leaves logins when several cities exist
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    r = client.post(
        "/login", data={"email": "old@example.org", "password": PASSWORD, "csrf": csrf.group(1)}
    )
    assert r.status_code == 403 and "此帳號尚未指定縣市" in r.text
