"""The secretariat's pages over real HTTP: login, CSRF, roles, audit, the forms."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from meetings.db import (
    ActionItem,
    Attendance,
    AuditRecord,
    CaseDiscussion,
    City,
    Closure,
    FeedToken,
    Minutes,
    Occurrence,
    User,
)
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.support.cases import FULL_NAMES, uid
from tests.support.pages import JAN, PASSWORD


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@dataclass
class Browser:
    """An httpx client with a cookie jar, like one person's browser."""

    client: httpx.Client

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.client.get(path, **kw)  # type: ignore[arg-type]

    def post(
        self, path: str, data: dict[str, object] | None = None, **kw: object
    ) -> httpx.Response:
        return self.client.post(path, data=data or {}, **kw)  # type: ignore[arg-type]

    def csrf(self, path: str = "/meetings") -> str:
        r = self.get(path)
        assert r.status_code == 200, r.text[:300]
        return csrf_of(r.text)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = csrf_of(self.get("/login").text)
        return self.post("/login", {"email": email, "password": password, "csrf": token})


@pytest.fixture
def browser(site: str) -> Iterator[Browser]:
    with httpx.Client(base_url=site, follow_redirects=False, timeout=30) as client:
        yield Browser(client)


def logged_in(site: str, email: str) -> Browser:
    b = Browser(httpx.Client(base_url=site, follow_redirects=False, timeout=30))
    r = b.login(email)
    assert r.status_code == 303, r.text[:300]
    return b


# --- login, sessions, CSRF ----------------------------------------------------------------


def test_pages_need_login_and_login_works(browser: Browser, app: App) -> None:
    r = browser.get("/meetings?series=cp-network")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")
    bad = browser.login("chen@example.org", "wrong password!")
    assert bad.status_code == 401 and "帳號或密碼錯誤" in bad.text
    unknown = browser.login("nobody@example.org")
    assert unknown.status_code == 401 and "帳號或密碼錯誤" in unknown.text
    ok = browser.login("chen@example.org")
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = browser.get("/meetings")
    assert page.status_code == 200
    assert "chen@example.org（幕僚單位）" in page.text
    assert "兒少保護個案跨網絡合作會議" in page.text
    with app.transaction() as s:
        user = s.scalar(select(User).where(User.email == "chen@example.org"))
        assert user is not None and user.last_login_at is not None
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_login_redirect_goes_back_only_to_local_pages(browser: Browser) -> None:
    token = csrf_of(browser.get("/login").text)
    r = browser.post(
        "/login",
        {
            "email": "chen@example.org",
            "password": PASSWORD,
            "csrf": token,
            "next": "//evil.example/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_logout_ends_the_session_even_for_a_copied_cookie(site: str) -> None:
    b = logged_in(site, "chen@example.org")
    copied = dict(b.client.cookies)
    token = b.csrf()
    r = b.post("/logout", {"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert b.get("/meetings").status_code == 303
    with httpx.Client(base_url=site, cookies=copied, follow_redirects=False) as other:
        assert other.get("/meetings").status_code == 303


def test_a_tampered_cookie_is_no_session(site: str) -> None:
    b = logged_in(site, "chen@example.org")
    value = b.client.cookies["liaison_session"]
    with httpx.Client(
        base_url=site, cookies={"liaison_session": value[:-3] + "AAA"}, follow_redirects=False
    ) as other:
        assert other.get("/meetings").status_code == 303


def test_posts_without_the_csrf_token_are_refused(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    url = "/meetings/" + JAN + "/attendance"
    form = {"agency": ["DVPC", "POL"], "status": ["present", "present"], "rank": ["", ""]}
    r = b.post(url, form)
    assert r.status_code == 403 and "CSRF" in r.text
    r = b.post(url, {**form, "csrf": "forged-token"})
    assert r.status_code == 403
    login = Browser(httpx.Client(base_url=site, follow_redirects=False))
    login.get("/login")
    r = login.post("/login", {"email": "chen@example.org", "password": PASSWORD, "csrf": "x"})
    assert r.status_code == 403
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Attendance)) == 0
        assert s.scalar(select(Occurrence.status).where(Occurrence.uid == JAN)) == "scheduled"


# --- roles -----------------------------------------------------------------------------------


def test_roles_are_enforced(site: str, app: App) -> None:
    participant = logged_in(site, "li@example.org")
    assert participant.get("/meetings").status_code == 200
    page = participant.get("/meetings/" + JAN)
    assert page.status_code == 200
    assert "出席紀錄" not in page.text and "檢視個案資料" not in page.text
    staff_only = ("/kpi", "/kpi.xlsx?year=112", "/kpi/grant.xlsx?year=112", "/admin")
    for path in (*staff_only, "/admin/closures", "/admin/adhoc"):
        assert participant.get(path).status_code == 403, path
    token = participant.csrf()
    r = participant.post(
        "/meetings/" + JAN + "/attendance",
        {"csrf": token, "agency": "DVPC", "status": "present", "rank": ""},
    )
    assert r.status_code == 403
    r = participant.post("/meetings/" + JAN + "/cases", {"csrf": token, "reason": "好奇"})
    assert r.status_code == 403
    secretariat = logged_in(site, "chen@example.org")
    assert secretariat.get("/kpi").status_code == 200
    assert secretariat.get("/admin").status_code == 403
    token = secretariat.csrf()
    r = secretariat.post(
        "/admin/closures", {"csrf": token, "day": "2023-02-08", "reason": "颱風停班"}
    )
    assert r.status_code == 403
    admin = logged_in(site, "admin@example.org")
    assert admin.get("/admin").status_code == 200
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Attendance)) == 0
        assert s.scalar(select(func.count()).select_from(Closure)) == 0
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_disabled_user_loses_the_session(site: str, app: App, clock: FixedClock) -> None:
    from meetings.access.users import set_active

    b = logged_in(site, "chen@example.org")
    with app.transaction() as s:
        set_active(s, "chen@example.org", False, clock.now())
    assert b.get("/meetings").status_code == 303
    assert b.login("chen@example.org").status_code == 401


# --- case rows are audited ---------------------------------------------------------------------


def test_case_rows_need_a_reason_and_are_audited(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    page = b.get("/meetings/" + JAN)
    assert "個案資料未顯示" in page.text
    assert "CP-001" not in page.text and "王○明" not in page.text
    token = csrf_of(page.text)
    r = b.post("/meetings/" + JAN + "/cases", {"csrf": token, "reason": "  "})
    assert r.status_code == 303
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 0
    r = b.post("/meetings/" + JAN + "/cases", {"csrf": token, "reason": "會前準備列管個案"})
    assert r.status_code == 200
    assert "王○明" in r.text or "歐○○明" in r.text
    for name in FULL_NAMES:
        assert name not in r.text
    assert r.headers["cache-control"] == "no-store"
    with app.transaction() as s:
        rec = s.scalars(select(AuditRecord)).one()
        assert rec.viewer == "chen@example.org"
        assert rec.reason == "會前準備列管個案"
        assert rec.occurrence_uid == JAN
        assert rec.action == "web.agenda"
        assert rec.case_nos and all(c.startswith("CP-") for c in rec.case_nos)


def test_printable_notice_has_no_case_rows(site: str) -> None:
    b = logged_in(site, "li@example.org")
    r = b.get("/meetings/" + JAN + "/notice")
    assert r.status_code == 200 and "開會通知單" in r.text
    assert "112年1月11日（星期三）下午2時" in r.text
    assert "CP-001" not in r.text


# --- meeting forms -------------------------------------------------------------------------------


def attend(b: Browser, uid_: str, statuses: dict[str, tuple[str, str]]) -> httpx.Response:
    token = b.csrf("/meetings/" + uid_)
    return b.post(
        "/meetings/" + uid_ + "/attendance",
        {
            "csrf": token,
            "agency": list(statuses),
            "status": [s for s, _ in statuses.values()],
            "rank": [r for _, r in statuses.values()],
            "held_on": "",
        },
    )


def test_attendance_minutes_discussions_and_actions(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    r = attend(b, JAN, {"DVPC": ("present", "組長"), "POL": ("delegated", "巡佐")})
    assert r.status_code == 303
    page = b.get(r.headers["location"])
    assert "已記錄 2 個機關的出席情形" in page.text
    assert "已召開" in page.text
    with app.transaction() as s:
        rows = {a.agency_code: (a.status, a.rank) for a in s.scalars(select(Attendance))}
        assert rows == {"DVPC": ("present", "組長"), "POL": ("delegated", "巡佐")}
    token = csrf_of(page.text)
    # minutes upload (multipart)
    r = b.client.post(
        "/meetings/" + JAN + "/minutes",
        data={"csrf": token, "recorded_on": "112/01/12"},
        files={"file": ("minutes.md", "# 會議紀錄\n決議：加強訪視。\n".encode(), "text/markdown")},
    )
    assert r.status_code == 303
    assert "會議紀錄已儲存" in b.get(r.headers["location"]).text
    # discussed cases
    r = b.post(
        "/meetings/" + JAN + "/discussed", {"csrf": token, "case_no": ["CP-002"], "more": "CP-001"}
    )
    assert r.status_code == 303
    # action items
    r = b.post(
        "/meetings/" + JAN + "/actions",
        {"csrf": token, "owner": "POL", "due": "2023-02-28", "text": "加強訪視"},
    )
    assert r.status_code == 303
    with app.transaction() as s:
        item = s.scalars(select(ActionItem)).one()
        assert (item.owner_code, item.due_on, item.text) == ("POL", date(2023, 2, 28), "加強訪視")
        minutes = s.scalars(select(Minutes)).one()
        assert minutes.recorded_on == date(2023, 1, 12)
        discussed = set(s.scalars(select(CaseDiscussion.case_no)))
        assert discussed == {"CP-001", "CP-002"}
    r = b.post(f"/actions/{item.id}/close", {"csrf": token})
    assert r.status_code == 303
    assert "已結案" in b.get(r.headers["location"]).text
    with app.transaction() as s:
        assert s.scalars(select(ActionItem)).one().closed_on == date(2023, 1, 12)


def test_bad_attendance_changes_nothing_and_says_why(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    future = uid("cp-network", "20230208")
    r = attend(b, future, {"DVPC": ("present", "")})
    assert r.status_code == 303
    page = b.get(r.headers["location"])
    assert "出席紀錄未儲存" in page.text and "after today" in page.text
    r = attend(b, JAN, {"DVPC": ("present", ""), "NOPE": ("present", "")})
    text = b.get(r.headers["location"]).text
    assert "unknown agency &#39;NOPE&#39;" in text
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Attendance)) == 0
        assert s.scalar(select(Occurrence.status).where(Occurrence.uid == JAN)) == "scheduled"


def test_unknown_meeting_is_404(site: str) -> None:
    b = logged_in(site, "li@example.org")
    r = b.get("/meetings/nope@liaison.test.example")
    assert r.status_code == 404 and "找不到這場會議" in r.text


# --- meetings list, subscribe -----------------------------------------------------------------


def test_meetings_list_filters_and_badges(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    attend(b, JAN, {"DVPC": ("present", "")})
    r = b.get("/meetings?series=dv-zones&district=南區&from=2023-01-01&to=2023-03-31")
    assert r.status_code == 200
    uids = re.findall(r'data-uid="([^"]+)"', r.text)
    assert uids and all(u.startswith("dv-zones-") for u in uids)
    assert "北區" not in "".join(re.findall(r"<tbody>.*</tbody>", r.text, re.S)[0:1])
    r = b.get("/meetings?series=cp-network&from=112/01/01&to=112/01/31")
    assert 'class="badge held"' in r.text
    r = b.get("/meetings?from=not-a-date")
    assert r.status_code == 400 and "日期格式錯誤" in r.text


def test_subscribe_creates_a_personal_feed_that_works(site: str, app: App) -> None:
    b = logged_in(site, "li@example.org")
    token = b.csrf()
    r = b.post("/meetings/subscribe", {"csrf": token})
    assert r.status_code == 200
    m = re.search(r"webcal://[^/]+/feeds/([A-Za-z0-9_-]+)\.ics", r.text)
    assert m, r.text[-2000:]
    feed = b.get(f"/feeds/{m.group(1)}.ics")
    assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.content
    # a second link replaces the first, once confirmed (tests/.../test_subscribe_flow.py)
    r = b.post("/meetings/subscribe", {"csrf": csrf_of(r.text), "confirm": "1"})
    m2 = re.search(r"webcal://[^/]+/feeds/([A-Za-z0-9_-]+)\.ics", r.text)
    assert m2 and m2.group(1) != m.group(1)
    assert b.get(f"/feeds/{m.group(1)}.ics").status_code == 404
    with app.transaction() as s:
        live = s.scalars(select(FeedToken).where(FeedToken.revoked_at.is_(None))).all()
        assert [(t.scope_kind, t.scope_value) for t in live] == [("person", "li@example.org")]
    admin = logged_in(site, "admin@example.org")
    r = admin.post("/meetings/subscribe", {"csrf": admin.csrf()})
    assert r.status_code == 303
    assert "未對應到設定檔中的人員" in admin.get("/meetings").text


# --- KPI -----------------------------------------------------------------------------------------


def test_kpi_dashboard_and_xlsx(site: str) -> None:
    b = logged_in(site, "chen@example.org")
    before = b.get("/kpi?year=112")
    assert before.status_code == 200
    assert "民國112年" in before.text and 'id="kpi-chart-data"' in before.text
    held = re.search(r'data-kpi="實際召開次數">(\d+)<', before.text)
    assert held and held.group(1) == "0"
    attend(b, JAN, {"DVPC": ("present", ""), "POL": ("absent", "")})
    after = b.get("/kpi?year=112")
    held = re.search(r'data-kpi="實際召開次數">(\d+)<', after.text)
    assert held and held.group(1) == "1"
    x = b.get("/kpi.xlsx?year=112")
    assert x.status_code == 200 and x.content[:2] == b"PK"
    assert "kpi-112.xlsx" in x.headers["content-disposition"]
    grant_link = re.search(r'href="([^"]+)" id="grant"', after.text)
    assert grant_link
    g = b.get(grant_link.group(1).replace("&amp;", "&"))
    assert g.status_code == 200 and "grant-112.xlsx" in g.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(g.content))["辦理成效"]
    assert [c.value for c in sheet[10]][:2] == ["合計", 1]  # the one held meeting
    assert b.get("/kpi/grant.xlsx?year=abc").status_code == 400
    assert b.get("/kpi?year=abc").status_code == 200  # error shown, this year's report instead


def test_kpi_dashboard_shows_targets_beside_the_figures(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    assert "目標達成情形" not in b.get("/kpi?year=112").text  # none declared
    with app.transaction() as s:
        s.execute(update(City).values(targets={"meetings_held": {"112": 12}}))
    attend(b, JAN, {"DVPC": ("present", ""), "POL": ("absent", "")})
    page = b.get("/kpi?year=112").text
    table = page[page.index('id="target-table"') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells == ["合計", "實際召開次數", "≥ 12", "1", "1", "—", "未達成"]


# --- admin -------------------------------------------------------------------------------------


def test_admin_series_explain_and_adhoc(site: str, app: App) -> None:
    b = logged_in(site, "admin@example.org")
    r = b.get("/admin")
    assert "RRULE:FREQ=MONTHLY;BYDAY=+2WE" in r.text  # behind 系統規則
    assert "每月1次，第2個星期三，下午2時起，2小時" in r.text
    assert "next_working_day" not in r.text and "（DVPC）" not in r.text
    assert "112年2月8日（星期三）下午2時" in r.text
    assert "deviant_behaviour_report" in r.text
    token = b.csrf("/admin/adhoc")
    r = b.post(
        "/admin/adhoc",
        {"csrf": token, "series": "cp-network", "at": "2023-01-20T10:00", "location": "第二會議室"},
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("/meetings/cp-network-20230120-adhoc1@")
    page = b.get(r.headers["location"])
    assert "不定期" in page.text and "112年1月20日（星期五）上午10時" in page.text
    r = b.post("/admin/adhoc", {"csrf": token, "series": "dv-zones", "at": "2023-01-20T10:00"})
    assert r.status_code == 400 and "per district" in r.text


def test_closure_preview_changes_nothing_then_confirm_moves(site: str, app: App) -> None:
    feb = uid("cp-network", "20230208")
    b = logged_in(site, "admin@example.org")
    token = b.csrf("/admin/closures")
    r = b.post("/admin/closures/preview", {"csrf": token, "day": "112/02/08", "reason": "颱風停班"})
    assert r.status_code == 200
    assert "兒少保護個案跨網絡合作會議" in r.text and "改期" in r.text
    assert "112年2月8日（星期三）下午2時" in r.text and "112年2月9日（星期四）下午2時" in r.text
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Closure)) == 0
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == feb))
        assert occ is not None and occ.sequence == 0 and occ.moved_reason is None
    r = b.post("/admin/closures", {"csrf": token, "day": "2023-02-08", "reason": "颱風停班"})
    assert r.status_code == 303
    assert "場會議改期" in b.get("/admin/closures").text
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == feb))
        assert occ is not None and occ.sequence == 1 and occ.moved_reason
    page = b.get("/meetings?series=cp-network&from=2023-02-01&to=2023-02-28")
    assert 'class="badge moved"' in page.text
    r = b.post("/admin/closures", {"csrf": token, "day": "2023-02-08", "reason": "颱風停班"})
    assert r.status_code == 400 and "already closed" in r.text


# --- CLI ------------------------------------------------------------------------------------------


def test_users_cli(cli: object, db_url: str) -> None:
    from typer.testing import CliRunner

    from scheduler.cli.main import app as typer_app

    runner = CliRunner()
    env = {"LIAISON_DATABASE_URL": db_url}
    r = runner.invoke(
        typer_app,
        ["users", "add", "Chen@Example.org", "--role", "secretariat", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert r.exit_code == 2 and "--city" in r.stderr  # a login belongs to a city (or all)
    r = runner.invoke(
        typer_app,
        ["users", "add", "Chen@Example.org", "--role", "secretariat", "--all-cities"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert "added chen@example.org (secretariat, 全部縣市)" in r.stdout
    r = runner.invoke(
        typer_app,
        ["users", "add", "x@example.org", "--role", "boss", "--all-cities"],
        input=PASSWORD,
        env=env,
    )
    assert r.exit_code == 2 and "--role" in r.stderr
    r = runner.invoke(
        typer_app,
        ["users", "add", "x@example.org", "--role", "admin", "--all-cities"],
        input="short\n",
        env=env,
    )
    assert r.exit_code == 2 and "at least 12" in r.stderr
    r = runner.invoke(
        typer_app,
        ["users", "add", "chen@example.org", "--role", "admin", "--all-cities"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = runner.invoke(typer_app, ["users", "list", "--json"], env=env)
    assert r.exit_code == 0 and '"role": "secretariat"' in r.stdout
    assert PASSWORD not in r.stdout and "argon2" not in r.stdout


def test_repeated_failed_logins_lock_the_email_for_a_while(
    site: str, browser: Browser, clock: FixedClock
) -> None:
    from datetime import timedelta

    from meetings.access.throttle import FREE_FAILURES

    for _ in range(FREE_FAILURES["account"]):
        assert browser.login("chen@example.org", "wrong password!").status_code == 401
    locked = browser.login("chen@example.org")  # even the right password, for now
    assert locked.status_code == 429 and "嘗試次數過多，請於 1 秒後再試" in locked.text
    logged_in(site, "li@example.org")  # other accounts are unaffected
    clock.advance(timedelta(seconds=1))
    assert browser.login("chen@example.org").status_code == 303


def test_migration_0006_goes_down_and_up(app: App) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from scheduler.db import alembic_config

    cfg = alembic_config(app.engine)
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert not inspect(app.engine).has_table("users")
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    assert {"users", "app_secrets"} <= set(inspect(app.engine).get_table_names())


def test_admin_page_lists_double_booked_agencies(site: str, app: App) -> None:
    b = logged_in(site, "admin@example.org")
    before = b.get("/admin").text
    before = before[before.index('id="conflicts"') :]
    # The test city pins both DV zones to the 3rd Thursday at 14:00 with the same agencies:
    # a clash the rule forces, listed, not moved.
    assert "112年1月19日（星期四）下午2時 家暴高危機會議（北區）" in before
    assert "家防中心、衛生局、警察局（固定日期）" in before and "可避免" not in before
    token = b.csrf("/admin/adhoc")
    r = b.post(
        "/admin/adhoc",
        {"csrf": token, "series": "cp-network", "at": "2023-02-08T14:30", "location": "第二會議室"},
    )
    assert r.status_code == 303
    page = b.get("/admin").text
    section = page[page.index('id="conflicts"') :]
    # The ad-hoc meeting overlaps the (pinned) 2nd-Wednesday meeting with the same agencies.
    assert (
        "112年2月8日（星期三）下午2時 兒少保護個案跨網絡合作會議</a> 與 "
        '<a href="/meetings/cp-network-20230208-adhoc1@liaison.test.example">'
        "112年2月8日（星期三）下午2時30分"
    ) in section
