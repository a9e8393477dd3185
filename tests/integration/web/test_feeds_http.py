"""The real server on a loopback port: feeds, caching, privacy, API, bad requests."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from meetings.access.feeds import create_feed_token, revoke_feed_token
from meetings.access.tokens import create_api_token
from meetings.agendas.freeze import freeze_agenda
from meetings.db import Agency, Case, District, Occurrence, Series
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.minutes import record_minutes
from meetings.schedule.adhoc import add_adhoc_meeting
from meetings.schedule.closures import add_closure
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import TAIPEI, taipei
from tests.support import cases as cases_support
from tests.support.feeds import (
    DOMAIN,
    CountingBuilder,
    LiveServer,
    Ticker,
    check_ics,
    live_server,
    load_city,
    vevents,
)
from tests.support.snapshots import assert_snapshot


@pytest.fixture
def server(app: App) -> Iterator[LiveServer]:
    load_city(app)
    with live_server(app) as srv:
        yield srv


def feed_token(app: App, kind: str, value: str) -> str:
    with app.transaction() as s:
        return create_feed_token(s, kind, value, app.clock.now()).token


def api_token(app: App, role: str = "participant") -> str:
    with app.transaction() as s:
        return create_api_token(s, role, app.clock.now(), city="測試市").token


def get(srv: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(srv.base + path, headers=headers, timeout=10)


def test_feed_content_window_and_headers(app: App, server: LiveServer) -> None:
    r = get(server, f"/feeds/{feed_token(app, 'series', 'cp')}.ics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith(" GMT")
    cal = check_ics(r.content)
    assert str(cal["X-WR-CALNAME"]) == "測試市 兒少保護網絡會議"
    evs = vevents(cal)
    # Clock: 2023-01-01. Window: 2022-07-01 … 2024-07-01 (monthly, 2nd Wednesday).
    dates = sorted(e["DTSTART"].dt.date() for e in evs.values())
    assert dates[0] == date(2022, 7, 13) and dates[-1] == date(2024, 6, 12)
    assert len(evs) == 24
    ev = evs[f"cp-20230308@{DOMAIN}"]
    assert str(ev["LOCATION"]) == "市府大樓8樓會議室"
    assert ev["ORGANIZER"].params["CN"] == "家防中心"
    assert str(ev["DESCRIPTION"]).endswith(f"/meetings/cp-20230308@{DOMAIN}")


def test_if_none_match_is_304_without_building(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'agency', 'POL')}.ics"
    first = get(server, path)
    assert server.builder.calls == 1
    again = get(server, path, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    since = get(server, path, **{"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    cached = get(server, path)  # no validator: the cached bytes, still no build
    assert cached.status_code == 200 and cached.content == first.content
    assert server.builder.calls == 1


def test_move_bumps_sequence_and_etag_and_spares_other_feeds(app: App, server: LiveServer) -> None:
    cp = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    edu = f"/feeds/{feed_token(app, 'series', 'edu')}.ics"
    before, edu_before = get(server, cp), get(server, edu)
    uid = f"cp-20230308@{DOMAIN}"
    assert vevents(check_ics(before.content))[uid]["SEQUENCE"] == 0
    with app.transaction() as s:
        add_closure(s, date(2023, 3, 8), "颱風停班", app.clock.now())
    after = get(server, cp)
    assert after.headers["etag"] != before.headers["etag"]
    ev = vevents(check_ics(after.content))[uid]
    assert ev["SEQUENCE"] == 1 and ev["DTSTART"].dt.date() == date(2023, 3, 9)
    assert get(server, edu).headers["etag"] == edu_before.headers["etag"]


def test_cancelled_meeting_stays_in_the_feed(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'district', '甲區')}.ics"
    before = get(server, path)
    with app.transaction() as s:
        occ = s.scalars(
            select(Occurrence)
            .where(Occurrence.district == "甲區", Occurrence.start_at > app.clock.now())
            .order_by(Occurrence.start_at)
        ).first()
        assert occ is not None
        uid, day = occ.uid, occ.start_at.astimezone(TAIPEI).date()
    with app.transaction() as s:
        add_closure(s, day, "停班", app.clock.now())  # policy "skip": cancelled, not moved
    after = get(server, path)
    assert after.headers["etag"] != before.headers["etag"]
    ev = vevents(check_ics(after.content))[uid]
    assert ev["STATUS"] == "CANCELLED" and ev["SEQUENCE"] == 1


def test_closure_without_effect_keeps_the_etag(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    before = get(server, path).headers["etag"]
    with app.transaction() as s:
        add_closure(s, date(2023, 3, 7), "停班", app.clock.now())  # a Tuesday: no cp meeting
    assert get(server, path).headers["etag"] == before


def test_new_meeting_changes_only_its_feeds(app: App, server: LiveServer) -> None:
    cp = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    pol = f"/feeds/{feed_token(app, 'agency', 'POL')}.ics"
    cp0, pol0 = get(server, cp).headers["etag"], get(server, pol).headers["etag"]
    with app.transaction() as s:
        add_adhoc_meeting(s, "edu", taipei(2023, 5, 2, 10, 0).replace(tzinfo=None), app.clock.now())
    assert get(server, cp).headers["etag"] == cp0
    r = get(server, pol)
    assert r.headers["etag"] != pol0
    assert any("adhoc" in uid for uid in vevents(check_ics(r.content)))


def test_unrelated_changes_keep_the_etag_and_304_builds_nothing(
    app: App, server: LiveServer, tmp_path: Path
) -> None:
    """Holding a meeting, attendance, minutes, tokens, other series, a no-op reload, a day
    passing: the database changes (so the fast path is bypassed), the feed does not."""
    path = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    first = get(server, path)
    etag = first.headers["etag"]
    assert server.builder.calls == 1
    held = f"cp-20221214@{DOMAIN}"  # in the window, already past

    def mark_held() -> None:
        with app.transaction() as s:
            record_attendance(s, AttendanceInput(held, "POL", "present"), app.clock.now())
            record_minutes(s, held, "會議紀錄", app.clock.now())

    def tokens() -> None:
        feed_token(app, "agency", "EDU")
        api_token(app, "admin")

    def other_series() -> None:
        with app.transaction() as s:
            add_adhoc_meeting(
                s, "edu", taipei(2023, 5, 2, 10, 0).replace(tzinfo=None), app.clock.now()
            )
            add_closure(s, date(2023, 3, 7), "停班", app.clock.now())  # no cp meeting that day

    def reload_config() -> None:
        load_city(app)  # the same file again: city.updated_at moves, nothing else

    def next_day() -> None:
        assert isinstance(app.clock, FixedClock)
        app.clock.advance(timedelta(days=1))  # no cp meeting crosses the window's edges

    for change in (mark_held, tokens, other_series, reload_config, next_day):
        change()
        again = get(server, path, **{"If-None-Match": etag})
        assert (again.status_code, again.headers["etag"]) == (304, etag), change.__name__
        assert server.builder.calls == 1, change.__name__
    body = get(server, path)
    assert body.content == first.content and server.builder.calls == 1
    ev = vevents(check_ics(body.content))[held]
    assert ev["STATUS"] == "CONFIRMED" and ev["SEQUENCE"] == 0


def test_a_change_is_built_once_then_served_from_memory(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    old = get(server, path).headers["etag"]
    with app.transaction() as s:
        add_closure(s, date(2023, 4, 12), "颱風停班", app.clock.now())
    stale = get(server, path, **{"If-None-Match": old})  # the client's copy is out of date
    assert stale.status_code == 200 and stale.headers["etag"] != old
    assert server.builder.calls == 2
    for _ in range(3):
        assert get(server, path, **{"If-None-Match": stale.headers["etag"]}).status_code == 304
        assert get(server, path).content == stale.content
    assert server.builder.calls == 2


def test_dtstamp_is_the_revision_time(app: App, server: LiveServer) -> None:
    assert isinstance(app.clock, FixedClock)
    created = app.clock.now()
    app.clock.advance(timedelta(days=3))
    with app.transaction() as s:
        add_closure(s, date(2023, 3, 8), "颱風停班", app.clock.now())
    evs = vevents(check_ics(get(server, f"/feeds/{feed_token(app, 'series', 'cp')}.ics").content))
    assert evs[f"cp-20230308@{DOMAIN}"]["DTSTAMP"].dt == app.clock.now()
    assert evs[f"cp-20230412@{DOMAIN}"]["DTSTAMP"].dt == created
    assert evs[f"cp-20230308@{DOMAIN}"]["LAST-MODIFIED"].dt == app.clock.now()


def test_snapshot_of_a_served_feed(app: App, server: LiveServer) -> None:
    """The bytes a client receives, end to end (clock injected, so deterministic)."""
    with app.transaction() as s:
        add_closure(s, date(2023, 4, 12), "颱風停班", app.clock.now())  # policy skip: cancelled
    token = feed_token(app, "district", "甲區")
    data = get(server, f"/feeds/{token}.ics").content
    check_ics(data)
    assert token.encode() not in data
    assert_snapshot("feed_district_jia.ics", data)


def test_window_slides_with_the_clock(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    r1 = get(server, path)
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(timedelta(days=40))
    r2 = get(server, path)
    assert r2.headers["etag"] != r1.headers["etag"]
    assert f"cp-20220713@{DOMAIN}" not in vevents(check_ics(r2.content))


def test_no_case_data_in_feeds(app: App, server: LiveServer) -> None:
    uid = f"cp-20230412@{DOMAIN}"
    secret_case, secret_reason = "113-DV-000042", "王○明 家暴再通報 保護令到期"
    with app.transaction() as s:
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid == uid)
            .values(case_no=secret_case, moved_reason=secret_reason)
        )
    for kind, value in (("series", "cp"), ("agency", "DVPC"), ("person", "chen@example.org")):
        body = get(server, f"/feeds/{feed_token(app, kind, value)}.ics").content.decode()
        assert uid in body
        assert secret_case not in body and "王○明" not in body and "再通報" not in body
    token = api_token(app)
    body = get(server, f"/api/occurrences/{uid}", Authorization=f"Bearer {token}").text
    assert secret_case not in body and "王○明" not in body


def test_unknown_revoked_and_malformed_tokens_look_the_same(app: App, server: LiveServer) -> None:
    with app.transaction() as s:
        issued = create_feed_token(s, "series", "cp", app.clock.now())
    live = get(server, f"/feeds/{issued.token}.ics")
    assert live.status_code == 200
    with app.transaction() as s:
        revoke_feed_token(s, issued.id, app.clock.now())
    revoked = get(server, f"/feeds/{issued.token}.ics")
    unknown = get(server, f"/feeds/{'A' * 43}.ics")
    malformed = get(server, "/feeds/%00%27;DROP.ics")
    assert revoked.status_code == unknown.status_code == malformed.status_code == 404
    assert revoked.content == unknown.content == malformed.content == b'{"detail":"not found"}'
    assert "etag" not in revoked.headers


def raw_get(srv: LiveServer, path: str) -> tuple[int, bytes]:
    """A request with the path exactly as written (no client-side normalisation)."""
    parts = urlsplit(srv.base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/../../etc/passwd",
        "/feeds/../x",
        "/feeds/%2e%2e/x.ics",
        "/feeds/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/feeds/..;/api/series.ics",
        "/feeds/%00.ics",
        "/feeds/%ff%fe.ics",
        "/feeds/" + "A" * 43 + ".ics/..",
        "/feeds/" + "A" * 43 + ".ics%00",
        "/feeds/..%2F..%2Fetc%2Fpasswd.ics",
        "/feeds/%2e%2e/api/series.ics",
        "/feeds/" + "x" * 5000 + ".ics",
        "/feeds/.ics",
        "/feeds/abc",
    ],
)
def test_path_tricks_are_404(server: LiveServer, path: str) -> None:
    status, body = raw_get(server, path)
    assert status == 404
    assert len(body) < 100 and b"Traceback" not in body


def test_api_requires_a_live_bearer_token(app: App, server: LiveServer) -> None:
    for path in ("/api/series", "/api/occurrences", f"/api/occurrences/cp-20230308@{DOMAIN}"):
        r = get(server, path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert get(server, path, Authorization="Bearer nope").status_code == 401
        assert get(server, path, Authorization="Basic Zm9vOmJhcg==").status_code == 401
    with app.transaction() as s:
        issued = create_api_token(s, "secretariat", app.clock.now(), city="測試市")
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert get(server, "/api/series", **auth).status_code == 200
    from meetings.access.tokens import revoke_api_token

    with app.transaction() as s:
        revoke_api_token(s, issued.id, app.clock.now())
    assert get(server, "/api/series", **auth).status_code == 401


@pytest.mark.parametrize("role", ["admin", "secretariat", "participant"])
def test_api_reads(app: App, server: LiveServer, role: str) -> None:
    auth = {"Authorization": f"Bearer {api_token(app, role)}"}
    series = get(server, "/api/series", **auth).json()
    assert [s["id"] for s in series] == ["cp", "dl", "edu"]
    assert series[0]["invite"] == {"required": ["DVPC", "POL"], "optional": []}
    occ = get(server, "/api/occurrences?from=2023-03-01&to=2023-03-31&series=cp", **auth).json()
    assert [o["uid"] for o in occ] == [f"cp-20230308@{DOMAIN}"]
    assert occ[0]["start"] == "2023-03-08T14:00:00+08:00"
    assert ("moved_reason" in occ[0]) == (role != "participant")
    one = get(server, f"/api/occurrences/cp-20230308@{DOMAIN}", **auth)
    assert one.status_code == 200 and one.json()["title"] == "兒少保護網絡會議"
    assert get(server, "/api/occurrences/nope@x", **auth).status_code == 404
    default = get(server, "/api/occurrences", **auth).json()  # today + 3 months
    assert default and all("2023-01-01" <= o["start"][:10] <= "2023-04-03" for o in default)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("from=2023-99-01", 400, "from: not a date"),
        ("from=2023-02-30", 400, "from: not a date"),
        ("from=2023-01-01&to=tomorrow", 400, "to: not a date"),
        ("from=%27%3B%20DROP%20TABLE%20occurrences", 400, "from: not a date"),
        ("from=0001-01-01&to=9999-12-31", 400, "from: out of range"),
        ("from=2023-01-01&to=2026-02-01", 400, "window too large"),
        ("from=2023-01-01&to=2073-01-01", 400, "window too large"),
        ("from=2023-05-01&to=2023-01-01", 400, "to: before from"),
        ("to=" + "9" * 500, 400, "to: not a date"),
        ("series=no-such-series", 404, "unknown series"),
        ("series=" + "x" * 100, 422, "invalid request: series"),
    ],
)
def test_api_bad_queries_are_short_4xx(
    app: App, server: LiveServer, query: str, status: int, message: str
) -> None:
    r = get(server, f"/api/occurrences?{query}", Authorization=f"Bearer {api_token(app)}")
    assert r.status_code == status
    assert r.json()["detail"].startswith(message)
    assert len(r.content) < 200 and "Traceback" not in r.text


def test_openapi_and_health(server: LiveServer) -> None:
    spec = get(server, "/openapi.json").json()
    assert {"/api/series", "/api/occurrences", "/api/occurrences/{uid}", "/healthz"} <= set(
        spec["paths"]
    )
    assert get(server, "/healthz").json() == {"status": "ok"}


def test_a_crash_is_a_short_500(app: App) -> None:
    load_city(app)
    with live_server(app, CountingBuilder(fail=True)) as srv:
        r = get(srv, f"/feeds/{feed_token(app, 'series', 'cp')}.ics")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error"}
    assert "boom" not in r.text and "Traceback" not in r.text


# --- privacy, with real cases in the database -------------------------------------------


CASE_ROWS = [
    *cases_support.ROWS,
    "OR-001,兒少保護,桃園區,周杰倫,高,,家庭維繫,開案,DVPC,陳社工,2022-11-02,2022-12-20,"
    "2023-06-10,處遇中再通報：照顧者飲酒後疏忽照顧",
    "NA-001,偏差行為,中壢區,蔡依林,,,,開案,SCHOOL,,2022-12-28,,,學校通報身上多處瘀傷",
]


def test_feeds_carry_no_case_data(app: App, tmp_path: Path) -> None:
    cases_support.load_city(app)
    cases_support.import_text(app, tmp_path, cases_support.csv_text(CASE_ROWS))
    first = cases_support.uid("cp-network", "20230111")
    with app.transaction() as s:
        agenda = freeze_agenda(s, first, app.clock.now())
        assert agenda.cases, "the agenda lists cases: the test must have something to leak"
        secrets = {
            text
            for case in s.scalars(select(Case))
            for text in (case.case_no, case.masked_name, case.listed_reason, case.worker)
            if text
        }
        secrets |= {
            text
            for occ in s.scalars(select(Occurrence))
            for text in (occ.case_no, occ.moved_reason)
            if text
        }
        event_uids = set(s.scalars(select(Occurrence.uid).where(Occurrence.case_no.is_not(None))))
        scopes = [("series", sid) for sid in s.scalars(select(Series.id))]
        scopes += [("agency", code) for code in s.scalars(select(Agency.code))]
        scopes += [("district", name) for name in s.scalars(select(District.name))]
    secrets |= set(cases_support.FULL_NAMES)
    assert event_uids and len(secrets) > 20
    seen: set[str] = set()
    with live_server(app) as srv:
        for kind, value in scopes:
            r = get(srv, f"/feeds/{feed_token(app, kind, value)}.ics")
            assert r.status_code == 200
            seen |= set(vevents(check_ics(r.content)))
            body = r.content.decode()
            leaked = sorted(x for x in secrets if x in body)
            assert not leaked, f"{kind} {value}: {leaked}"
        participant = {"Authorization": f"Bearer {api_token(app)}"}
        api = get(srv, "/api/occurrences?from=2022-07-01&to=2024-12-31", **participant).text
        assert not [x for x in secrets if x in api]
    assert first in seen and event_uids <= seen  # case-triggered meetings are shown, bare


def test_memory_answers_are_rechecked_after_the_interval(app: App) -> None:
    """Between re-checks a feed is served from memory without asking the database;
    once the interval has passed, a revocation or a change shows."""
    load_city(app)
    ticker = Ticker()
    with app.transaction() as s:
        issued = create_feed_token(s, "series", "cp", app.clock.now())
    path = f"/feeds/{issued.token}.ics"
    with live_server(app, recheck=1.0, ticker=ticker) as srv:
        first = get(srv, path)
        with app.transaction() as s:
            add_closure(s, date(2023, 3, 8), "颱風停班", app.clock.now())
        ticker.now += 0.5
        assert get(srv, path).headers["etag"] == first.headers["etag"]  # not yet re-checked
        ticker.now += 0.5
        moved = get(srv, path)
        assert moved.headers["etag"] != first.headers["etag"]
        with app.transaction() as s:
            revoke_feed_token(s, issued.id, app.clock.now())
        assert get(srv, path).status_code == 200
        ticker.now += 1.0
        assert get(srv, path).status_code == 404
        assert srv.builder.calls == 2


def test_head_has_the_validators_and_no_body(app: App, server: LiveServer) -> None:
    path = f"/feeds/{feed_token(app, 'series', 'cp')}.ics"
    full = get(server, path)
    head = httpx.head(server.base + path, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-type"] == "text/calendar; charset=utf-8"


def test_api_kpi_for_staff_only(app: App, server: LiveServer) -> None:
    staff = {"Authorization": f"Bearer {api_token(app, 'secretariat')}"}
    participant = {"Authorization": f"Bearer {api_token(app, 'participant')}"}
    assert get(server, "/api/kpi?year=112").status_code == 401
    assert get(server, "/api/kpi?year=112", **participant).status_code == 403
    body = get(server, "/api/kpi?year=112", **staff).json()
    assert body["year"] == 112 and body["rows"]
    # ROC and Gregorian years name the same report
    assert get(server, "/api/kpi?year=2023", **staff).json() == body
    for query, status in [
        ("year=abc", 422),
        ("year=99999", 400),
        ("year=112&as_of=2023-02-30", 400),
        ("year=112&series=nope", 404),
    ]:
        r = get(server, f"/api/kpi?{query}", **staff)
        assert r.status_code == status, query
        assert len(r.content) < 300 and "Traceback" not in r.text
    assert "/api/kpi" in get(server, "/openapi.json").json()["paths"]
