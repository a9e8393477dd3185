"""The city boundary over real HTTP (issue 12): 桃園市 and 臺北市 in one database, the real
app on uvicorn on a loopback port, a cookie session with CSRF as a browser has one.

A 桃園市 secretariat login and a 桃園市 API token try every route that takes a meeting
UID, a case, an action item, a series or a city with 臺北市's: each answers as for an
unknown one (404; the admin pages 403 for this role, as for any secretariat), no
response body carries 臺北市's titles, UIDs, case numbers or agency names, and the
refused POSTs change nothing (row counts of attendance, minutes, action items, audit
records …, and a dump of every table). Then a 臺北市 login does the same on the same
server and sees and writes exactly that, so the refusals above are the boundary, not
a broken route. ``test_city_boundary.py`` proves the same in-process for every route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path

import httpx
import openpyxl
import pytest
from sqlalchemy import func, select

from meetings.access.feeds import create_feed_token
from meetings.access.tokens import create_api_token
from meetings.access.users import add_user
from meetings.cases.config import load_config
from meetings.cases.importing import read_cases
from meetings.cases.imports import import_cases
from meetings.cases.lookup import resolve_city
from meetings.db import (
    ActionItem,
    Attendance,
    AuditRecord,
    CaseDiscussion,
    Closure,
    FeedToken,
    HeldMeeting,
    Minutes,
    Occurrence,
)
from meetings.kernel.yamlsource import load_yaml
from meetings.records.action_items import add_action_item
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support import cases as cases_support
from tests.support.configs import city_config
from tests.support.dbdump import dump
from tests.support.feeds import LiveServer, check_ics, live_server
from tests.support.pages import PASSWORD

TAOYUAN = (
    city_config(
        people="  - {email: chen@taoyuan.example, name: 陳社工, agency: DVPC, "
        "roles: [secretariat]}\n"
    )
    .replace("city: 測試市", "city: 桃園市", 1)
    .replace("domain: liaison.test.example", "domain: liaison.taoyuan.example", 1)
    .replace("id: cp\n", "id: ty-cp\n", 1)
    .replace("兒少保護網絡會議", "桃園兒少保護網絡會議", 1)
)
TAIPEI_CITY = cases_support.CITY
for _old, _new in (
    ("city: 測試市", "city: 臺北市"),
    ("domain: liaison.test.example", "domain: liaison.taipei.example"),
    ("家防中心", "臺北家防中心"),
    ("cp-high-risk", "tp-cp-high-risk"),
    ("dv-high-risk", "tp-dv-high-risk"),
    ("id: cp-network", "id: tp-cp-network"),
    ("id: dv-zones", "id: tp-dv-zones"),
    ("id: needs-assessment", "id: tp-needs-assessment"),
    ("id: outcome-review", "id: tp-outcome-review"),
    ("id: transition", "id: tp-transition"),
    ("兒少保護個案跨網絡合作會議", "臺北兒少保護個案跨網絡合作會議"),
):
    TAIPEI_CITY = TAIPEI_CITY.replace(_old, _new)
TAIPEI_ROWS = [r.replace("CP-", "TP-CP-").replace("DV-", "TP-DV-") for r in cases_support.ROWS]
TP_UID = "tp-cp-network-20230111@liaison.taipei.example"  # held, with cases on its agenda
TY_UID = "ty-cp-20230111@liaison.taoyuan.example"
# What of 臺北市 must never reach a 桃園市 principal.
SECRETS = ("臺北", "tp-cp-network", "tp-dv", "TP-CP-", "TP-DV-", "taipei.example", "tp@")
# Asked for by name, 臺北市's series (or zone) may be quoted back: as an unknown one is.
ECHOED = {"tp-cp-network": "zz-no-such-series", "北區": "無此區"}
TY_USER, TP_USER = "chen@taoyuan.example", "tp@taipei.example"


@dataclass
class World:
    api: str  # 桃園市 secretariat API token
    feed: str  # 桃園市 agency feed
    tp_item: int  # an open action item of the 臺北市 meeting


@pytest.fixture
def world(app: App, clock: FixedClock, tmp_path: Path) -> World:
    clock.set(taipei(2023, 1, 1, 9, 0))
    cfg = build_config([load_yaml(TAOYUAN, "taoyuan.yaml"), load_yaml(TAIPEI_CITY, "taipei.yaml")])
    csv = tmp_path / "taipei-cases.csv"
    csv.write_text(cases_support.csv_text(TAIPEI_ROWS), encoding="utf-8")
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
        taipei_city = resolve_city(s, "臺北市")
        import_cases(s, taipei_city, read_cases(csv, ["中壢區", "桃園區", "八德區"]), clock.now())
    clock.set(taipei(2023, 1, 12, 10, 0))  # the day after both January meetings
    now = clock.now()
    with app.transaction() as s:
        add_user(s, TY_USER, "secretariat", PASSWORD, now, city="桃園市")
        add_user(s, TP_USER, "secretariat", PASSWORD, now, city="臺北市")
        for uid in (TP_UID, TY_UID):
            record_attendance(s, AttendanceInput(uid=uid, agency="DVPC", status="present"), now)
        item = add_action_item(s, TP_UID, "DVPC", date(2023, 2, 28), "臺北待辦", now)
        s.flush()
        return World(
            api=create_api_token(s, "secretariat", now, city="桃園市").token,
            feed=create_feed_token(s, "agency", "DVPC", now, city="桃園市").token,
            tp_item=item.id,
        )


@pytest.fixture
def server(app: App, world: World) -> Iterator[LiveServer]:
    with live_server(app) as srv:
        yield srv


def counts(app: App) -> dict[str, int]:
    tables = (Attendance, Minutes, ActionItem, AuditRecord, CaseDiscussion, HeldMeeting, Closure)
    with app.transaction() as s:
        out = {
            t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in tables
        }
        out["occurrences"] = int(s.scalar(select(func.count()).select_from(Occurrence)) or 0)
        out["action_items closed"] = int(
            s.scalar(select(func.count()).where(ActionItem.closed_on.is_not(None))) or 0
        )
        return out


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def log_in(srv: LiveServer, email: str) -> tuple[httpx.Client, str]:
    """A client holding a fresh session cookie for ``email``, and that session's CSRF token."""
    c = httpx.Client(base_url=srv.base, follow_redirects=False, timeout=15)
    form = CSRF.search(c.get("/login").text)
    assert form is not None
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf": form.group(1)})
    assert r.status_code in (302, 303), r.text[:300]
    assert "liaison_session" in c.cookies
    page = c.get("/meetings?from=2023-01-01&to=2023-06-30")
    assert page.status_code == 200
    csrf = CSRF.search(page.text)  # a login starts a fresh session with its own CSRF token
    assert csrf is not None
    return c, csrf.group(1)


def body_text(r: httpx.Response) -> str:
    """The response body as text; an xlsx as the text of every cell."""
    if r.headers.get("content-type", "").startswith("application/vnd.openxmlformats"):
        wb = openpyxl.load_workbook(BytesIO(r.content))
        return "\n".join(
            str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
        )
    return r.content.decode("utf-8", "replace")


def assert_clean(r: httpx.Response, label: object) -> None:
    text = body_text(r) + "".join(f"{k}: {v}\n" for k, v in r.headers.items())
    for secret in SECRETS:
        assert secret not in text, (label, secret, text[:300])
    assert "Traceback" not in text, label


MINUTES = {"file": ("minutes.md", "# 會議紀錄\n\n決議：加強訪視。\n".encode(), "text/markdown")}


def page_probes(world: World) -> list[tuple[str, str, dict[str, str], bool, tuple[int, ...]]]:
    """(method, path, form, multipart?, allowed statuses) — 臺北市's objects, as 桃園市."""
    tp, item = f"/meetings/{TP_UID}", f"/actions/{world.tp_item}/close"
    return [
        ("GET", tp, {}, False, (404,)),
        ("GET", f"{tp}/notice", {}, False, (404,)),
        ("POST", f"{tp}/cases", {"reason": "會前準備"}, False, (404,)),
        (
            "POST",
            f"{tp}/attendance",
            {"agency": "POL", "status": "present", "rank": "組長", "held_on": "2023-01-11"},
            False,
            (404,),
        ),
        ("POST", f"{tp}/minutes", {"recorded_on": "2023-01-12"}, True, (404,)),
        ("POST", f"{tp}/discussed", {"more": "TP-CP-001"}, False, (404,)),
        (
            "POST",
            f"{tp}/actions",
            {"owner": "DVPC", "due": "2023-03-31", "text": "越界待辦"},
            False,
            (404,),
        ),
        ("POST", item, {"closed_on": "2023-01-12"}, False, (404,)),
        ("POST", f"{tp}/seats/DVPC", {"state": "declined", "reason": "公出"}, False, (404,)),
        ("GET", "/kpi?year=112&city=臺北市", {}, False, (404,)),
        ("GET", "/kpi.xlsx?year=112&city=臺北市", {}, False, (404,)),
        ("GET", "/kpi?year=112&series=tp-cp-network", {}, False, (200, 400, 404)),
        ("GET", "/kpi.xlsx?year=112&series=tp-cp-network", {}, False, (200, 400, 404)),
        ("GET", "/kpi?year=112&district=北區", {}, False, (200, 400, 404)),  # 臺北市's zone
        ("GET", "/kpi.xlsx?year=112&district=北區", {}, False, (200, 400, 404)),
        (
            "GET",
            "/meetings?from=2023-01-01&to=2023-06-30&series=tp-cp-network",
            {},
            False,
            (200, 400),
        ),
        ("GET", "/meetings?from=2023-01-01&to=2023-06-30", {}, False, (200,)),
        ("GET", "/kpi?year=112", {}, False, (200,)),
        ("GET", "/kpi.xlsx?year=112", {}, False, (200,)),
        # The admin pages are not a secretariat's (403), whatever city they name.
        (
            "POST",
            "/admin/adhoc",
            {"series": "tp-cp-network", "at": "2023-04-12T10:00"},
            False,
            (403,),
        ),
        (
            "POST",
            "/admin/closures",
            {"day": "2023-03-22", "reason": "颱風", "city": "臺北市"},
            False,
            (403,),
        ),
    ]


API_PROBES: list[tuple[str, tuple[int, ...]]] = [
    (f"/api/occurrences/{TP_UID}", (404,)),
    ("/api/occurrences?from=2023-01-01&to=2023-06-30&series=tp-cp-network", (404,)),
    ("/api/kpi?year=112&city=臺北市", (404,)),
    ("/api/kpi?year=112&series=tp-cp-network", (404,)),
    ("/api/occurrences?from=2023-01-01&to=2023-06-30", (200,)),
    ("/api/series", (200,)),
    ("/api/kpi?year=112", (200,)),
]


def send(
    c: httpx.Client, method: str, path: str, form: dict[str, str], multipart: bool, csrf: str
) -> httpx.Response:
    if method == "GET":
        return c.get(path)
    if multipart:
        return c.post(path, data={**form, "csrf": csrf}, files=MINUTES)
    return c.post(path, data={**form, "csrf": csrf})


def test_a_taoyuan_login_and_token_reach_nothing_of_taipei_over_http(
    app: App, server: LiveServer, world: World, db_url: str
) -> None:
    c, csrf = log_in(server, TY_USER)
    with closing(c):
        own = c.get(f"/meetings/{TY_UID}")
        assert own.status_code == 200 and "桃園兒少保護網絡會議" in own.text
        sub = c.post("/meetings/subscribe", data={"csrf": csrf})  # the login's own feed link
        assert sub.status_code == 200, sub.text[:300]
        person_feed = re.search(r"/feeds/([A-Za-z0-9_-]+)\.ics", sub.text)
        assert person_feed is not None
        before, before_dump = counts(app), dump(db_url)
        for method, path, form, multipart, ok in page_probes(world):
            r = send(c, method, path, form, multipart, csrf)
            assert r.status_code in ok, (method, path, r.status_code, r.text[:300])
            for asked, unknown in ECHOED.items():
                if f"={asked}" in path and not path.startswith("/meetings"):
                    twin = send(c, method, path.replace(asked, unknown), form, multipart, csrf)
                    assert twin.status_code == r.status_code, path
                    assert body_text(twin) == body_text(r).replace(asked, unknown), path
                    r = twin
            assert_clean(r, (method, path))
        api = {"Authorization": f"Bearer {world.api}"}
        for path, ok in API_PROBES:
            r = httpx.get(server.base + path, headers=api, timeout=15)
            assert r.status_code in ok, (path, r.status_code, r.text[:300])
            assert_clean(r, path)
            if r.status_code == 404:
                assert r.json()["detail"] in ("not found", "unknown series", "unknown city")
        feeds = [world.feed, person_feed.group(1)]
        for token in feeds:
            r = httpx.get(f"{server.base}/feeds/{token}.ics", timeout=15)
            assert r.status_code == 200, r.text[:300]
            assert_clean(r, token)
            summaries = {str(e["SUMMARY"]) for e in check_ics(r.content).walk("VEVENT")}
            assert summaries == {"桃園兒少保護網絡會議"}, summaries
        assert counts(app) == before  # the refused POSTs wrote nothing
        assert dump(db_url) == before_dump  # …anywhere
    with app.transaction() as s:  # and the one link the login made is its own city's
        assert s.scalar(select(func.count()).select_from(FeedToken)) == 2


def test_a_taipei_login_reaches_the_same_routes_on_the_same_server(
    app: App, server: LiveServer, world: World
) -> None:
    """The control: the routes refused above serve and write 臺北市's data to its own login."""
    before = counts(app)
    c, csrf = log_in(server, TP_USER)
    with closing(c):
        page = c.get(f"/meetings/{TP_UID}")
        assert page.status_code == 200 and "臺北兒少保護個案跨網絡合作會議" in page.text
        cases = c.post(f"/meetings/{TP_UID}/cases", data={"reason": "會前準備", "csrf": csrf})
        assert cases.status_code == 200 and "TP-CP-" in cases.text
        minutes = c.post(
            f"/meetings/{TP_UID}/minutes",
            data={"recorded_on": "2023-01-12", "csrf": csrf},
            files=MINUTES,
        )
        assert minutes.status_code in (302, 303), minutes.text[:300]
        closed = c.post(
            f"/actions/{world.tp_item}/close", data={"closed_on": "2023-01-12", "csrf": csrf}
        )
        assert closed.status_code in (302, 303)
        kpi = c.get("/kpi?year=112&city=臺北市")
        assert kpi.status_code == 200 and "臺北家防中心" in kpi.text
    after = counts(app)
    assert after["audit_records"] == before["audit_records"] + 1  # the case view, audited
    assert after["minutes"] == before["minutes"] + 1
    assert after["action_items closed"] == before["action_items closed"] + 1
    with app.transaction() as s:
        audit = s.scalars(select(AuditRecord)).one()
        assert audit.viewer == TP_USER and audit.occurrence_uid == TP_UID
    assert isinstance(app.clock.now(), datetime)
