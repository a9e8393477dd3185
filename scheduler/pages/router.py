"""Server-rendered pages for the secretariat (zh-TW, ROC dates), mounted by ``create_web_app``.

- Login with argon2 password hashes (``meetings.access.users``); the session is a cookie
  signed with itsdangerous (key: ``LIAISON_SECRET_KEY`` or a random key kept in
  the database), HttpOnly, SameSite=Lax, valid 12 hours, and tied to the user's
  ``session_version`` so logout ends it everywhere.
- Every form carries the session's CSRF token; a POST without the right one is 403.
- Roles: participants read meetings, agendas without case rows, notices and their
  own feed link; the secretariat also views case rows (with a reason, audited),
  records attendance, minutes, discussions and action items, and sees KPIs;
  admins also see series, add ad-hoc meetings and closures.
- Every write goes through the domain writers (``meetings.schedule.operations``,
  ``meetings.records.operations``, ``meetings.cases.operations``, ``meetings.access.feeds``); a
  refused request changes nothing and says why.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from meetings.access.users import ROLE_ZH, ROLES, authenticate, end_sessions, secret
from meetings.db import (
    Agency,
    Attendance,
    CaseDiscussion,
    City,
    Closure,
    FeedToken,
    HeldMeeting,
    Minutes,
    Occurrence,
    Person,
    Series,
    User,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import (
    format_roc_date,
    format_roc_datetime,
    format_roc_time,
    parse_date,
)
from meetings.kernel.templating import make_environment
from scheduler.bootstrap import App

TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "liaison_session"
SESSION_AGE = 12 * 3600
STAFF = ("admin", "secretariat")
RANK = {"participant": 0, "secretariat": 1, "admin": 2}
STATUS_ZH = {"present": "出席", "absent": "缺席", "delegated": "代理出席"}
MAX_ROWS = 500
MAX_MINUTES_BYTES = 2_000_000
LOGIN_FAILURES = 10  # failed logins per email …
LOGIN_WINDOW = timedelta(minutes=15)  # … within this window lock that email out for a while
WEB_LABEL = "web:"  # feed tokens created from the subscribe panel: label "web:{user id}"


# --- errors the pages turn into responses ----------------------------------------------


class LoginRequired(Exception):
    """No (valid) session: redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageRefused(Exception):
    """A request the pages refuse with an HTML error page (403 forbidden, 404 …)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- rendering --------------------------------------------------------------------------


def environment() -> Environment:
    """The pages' Jinja2 environment (autoescaped; ROC date filters)."""
    env = make_environment(
        FileSystemLoader(str(TEMPLATES)),
        html_extensions=("html", "j2"),
        autoescape_default=True,
        strict=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ROLE_ZH"] = ROLE_ZH
    env.globals["STATUS_ZH"] = STATUS_ZH
    return env


# --- sessions ----------------------------------------------------------------------------


@dataclass
class Viewer:
    """The logged-in user, as the pages need it."""

    id: int
    email: str
    role: str

    @property
    def staff(self) -> bool:
        return self.role in STAFF

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass
class Visit:
    """One request's session: the signed cookie's data and the user behind it."""

    request: Request
    data: dict[str, Any]
    user: Viewer | None
    dirty: bool = False
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        token = self.data.get("c")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(24)
            self.data["c"] = token
            self.dirty = True
        return token

    def flash(self, kind: str, text: str) -> None:
        """A message for the next page shown (after a redirect)."""
        self.data.setdefault("f", []).append([kind, text[:500]])
        self.dirty = True

    def take_flashes(self) -> list[tuple[str, str]]:
        raw = self.data.pop("f", None)
        if raw:
            self.dirty = True
            return [(str(k), str(t)) for k, t in raw]
        return []

    def check_csrf(self, token: str) -> None:
        expected = self.data.get("c")
        if not isinstance(expected, str) or not token or not hmac.compare_digest(expected, token):
            raise PageRefused(
                403, "表單已過期或來源不明（CSRF 檢查未通過），請重新整理頁面後再試一次。"
            )

    def require(self, role: str = "participant") -> Viewer:
        """The user, if logged in with at least ``role`` (admin > secretariat > participant)."""
        if self.user is None:
            path = self.request.url.path
            if self.request.url.query:
                path += "?" + self.request.url.query
            raise LoginRequired(path if self.request.method == "GET" else "/meetings")
        if RANK.get(self.user.role, -1) < RANK[role]:
            raise PageRefused(403, f"此頁面僅限{ROLE_ZH[role]}以上權限使用。")
        return self.user


class Pages:
    """The page routes over one application (database, clock, settings)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.env = environment()
        self._serializer: URLSafeTimedSerializer | None = None
        self.secure_cookie = app.settings.base_url.startswith("https://")
        self._failures: dict[str, list[datetime]] = {}
        self._failures_lock = threading.Lock()

    # -- login throttling (per email, in this process) --

    def throttled(self, email: str) -> bool:
        """True while ``email`` has had LOGIN_FAILURES failed logins within LOGIN_WINDOW."""
        now = self.now()
        with self._failures_lock:
            recent = [t for t in self._failures.get(email, []) if now - t < LOGIN_WINDOW]
            if recent:
                self._failures[email] = recent
            else:
                self._failures.pop(email, None)
            return len(recent) >= LOGIN_FAILURES

    def login_failed(self, email: str) -> None:
        with self._failures_lock:
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                self._failures.clear()
            self._failures.setdefault(email, []).append(self.now())

    def login_succeeded(self, email: str) -> None:
        with self._failures_lock:
            self._failures.pop(email, None)

    # -- sessions --

    def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = os.environ.get("LIAISON_SECRET_KEY") or ""
            if len(key) < 16:
                with self.app.transaction() as session:
                    key = secret(session, "session", self.app.clock.now())
            self._serializer = URLSafeTimedSerializer(key, salt="liaison.pages.session")
        return self._serializer

    def visit(self, request: Request) -> Visit:
        """Read and check the session cookie; the user must still exist, be active and current."""
        data: dict[str, Any] = {}
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                loaded = self.serializer().loads(raw, max_age=SESSION_AGE)
                if isinstance(loaded, dict):
                    data = loaded
            except BadSignature:
                data = {}
        user: Viewer | None = None
        uid = data.get("u")
        if isinstance(uid, int):
            with self.app.transaction() as session:
                row = session.get(User, uid)
                if row is not None and row.active and row.session_version == data.get("v"):
                    user = Viewer(row.id, row.email, row.role)
            if user is None:
                data = {}
        visit = Visit(request, data, user, dirty=not raw)
        return visit

    def finish(self, visit: Visit, response: Response) -> Response:
        """Attach the (re-signed) session cookie if it changed; pages are never cached."""
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if visit.dirty:
            visit.data.setdefault("c", secrets.token_urlsafe(24))
            response.set_cookie(
                COOKIE,
                self.serializer().dumps(visit.data),
                max_age=SESSION_AGE,
                httponly=True,
                samesite="lax",
                secure=self.secure_cookie,
                path="/",
            )
        return response

    def render(self, visit: Visit, name: str, status: int = 200, **context: Any) -> Response:
        """A template as a full page (with the user, the CSRF token and any messages)."""
        page = self.env.get_template(name).render(
            user=visit.user,
            csrf=visit.csrf,
            flashes=visit.take_flashes() + visit.flashes,
            path=visit.request.url.path,
            **context,
        )
        return self.finish(visit, HTMLResponse(page, status_code=status))

    def redirect(self, visit: Visit, url: str) -> Response:
        return self.finish(visit, RedirectResponse(url, status_code=303))

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with self.app.transaction() as session:
            yield session

    def now(self) -> datetime:
        return self.app.clock.now()

    def today(self) -> date:
        return local(self.now(), None).date()


# --- small helpers -----------------------------------------------------------------------


def _date_field(value: str, label: str) -> date:
    try:
        return parse_date(value)
    except ValueError:
        raise OperationError(
            f"{label}：日期格式錯誤（{value[:30]!r}），請寫 2023-03-08 或 112/03/08"
        ) from None


def _optional_date(value: str, label: str) -> date | None:
    return _date_field(value, label) if value.strip() else None


def _safe_next(value: str) -> str:
    """Only local paths (never another site) after login."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/meetings"


def meeting_url(uid: str) -> str:
    return "/meetings/" + quote(uid, safe="@")


def _badges(o: Occurrence) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if o.status == "cancelled":
        out.append(("cancelled", "已取消"))
    elif o.status == "held":
        out.append(("held", "已召開"))
    else:
        out.append(("scheduled", "預定"))
    if o.moved_reason and o.status != "cancelled":
        out.append(("moved", "已改期"))
    if o.origin == "adhoc":
        out.append(("adhoc", "不定期"))
    return out


def _row(o: Occurrence, staff: bool) -> dict[str, Any]:
    tz = o.series.city.timezone
    start = local(o.start_at, tz)
    return {
        "uid": o.uid,
        "url": meeting_url(o.uid),
        "title": o.title,
        "city": o.series.city.name,
        "series": o.series_id,
        "district": o.district or o.zone or "",
        "date": format_roc_date(start.date()),
        "time": format_roc_time(start),
        "location": o.location or "",
        "badges": _badges(o),
        "status": o.status,
        "moved_reason": o.moved_reason if staff else None,
        "nominal": format_roc_date(o.nominal_date),
        "moved": bool(o.moved_reason) and o.status != "cancelled",
    }


def _invited_agencies(session: Session, occ: Occurrence) -> list[tuple[str, str, str]]:
    """(code, name, 必要|選擇) for every agency invited to the meeting's series."""
    spec = occ.series.spec
    invite = spec.get("invite") or {}
    codes: list[tuple[str, str]] = []
    for code in invite.get("required") or []:
        codes.append((code, "應出席"))
    organizer = spec.get("organizer")
    if organizer and organizer not in {c for c, _ in codes}:
        codes.insert(0, (organizer, "主辦"))
    for code in invite.get("optional") or []:
        if code not in {c for c, _ in codes}:
            codes.append((code, "列席"))
    names = dict(
        session.execute(
            select(Agency.code, Agency.name).where(Agency.city_id == occ.series.city_id)
        ).all()
    )
    return [(c, names.get(c, c), kind) for c, kind in codes]


def explain_series(session: Session, series: Series, today: date, count: int = 5) -> dict[str, Any]:
    """What `liaison series explain` prints (meetings/explain.py), shaped for the admin page."""
    from meetings.schedule.explain import explain_series as explain

    out = explain(session, series, today, count)
    out["policy"] = f"{out['holidays']}（{out['policy_zh']}）"
    for inst in out["instances"]:
        inst["next"] = [d["roc"] for d in inst["next"]]
    return out


# --- the routes ----------------------------------------------------------------------------

Text = Annotated[str, Form()]
Texts = Annotated[list[str] | None, Form()]


def build_router(pages: Pages) -> APIRouter:
    """Every page route (HTML, not part of the OpenAPI schema)."""
    r = APIRouter(include_in_schema=False)

    # -- login / logout --

    @r.get("/")
    def home(request: Request) -> Response:
        v = pages.visit(request)
        return pages.redirect(v, "/meetings" if v.user else "/login")

    @r.get("/login")
    def login_form(request: Request, next: str = "/meetings") -> Response:
        v = pages.visit(request)
        if v.user is not None:
            return pages.redirect(v, _safe_next(next))
        return pages.render(v, "login.html", next=_safe_next(next), email="", error=None)

    @r.post("/login")
    def login(
        request: Request,
        email: Text = "",
        password: Text = "",
        csrf: Text = "",
        next: Text = "/meetings",
    ) -> Response:
        v = pages.visit(request)
        v.check_csrf(csrf)
        key = email.strip().lower()[:254]
        if pages.throttled(key):
            return pages.render(
                v,
                "login.html",
                status=429,
                next=_safe_next(next),
                email=email[:254],
                error=f"登入失敗次數過多，請於 {LOGIN_WINDOW.seconds // 60} 分鐘後再試。",
            )
        with pages.tx() as session:
            user = authenticate(session, email[:254], password[:1024], pages.now())
            info = (user.id, user.session_version) if user is not None else None
        if info is None:
            pages.login_failed(key)
            return pages.render(
                v,
                "login.html",
                status=401,
                next=_safe_next(next),
                email=email[:254],
                error="帳號或密碼錯誤。",
            )
        pages.login_succeeded(key)
        # A fresh session (new CSRF token) on login: nothing carries over from before.
        v.data = {"u": info[0], "v": info[1], "c": secrets.token_urlsafe(24)}
        v.dirty = True
        return pages.redirect(v, _safe_next(next))

    @r.post("/logout")
    def logout(request: Request, csrf: Text = "") -> Response:
        v = pages.visit(request)
        v.check_csrf(csrf)
        if v.user is not None:
            with pages.tx() as session:
                end_sessions(session, v.user.id, pages.now())
        v.data = {"c": secrets.token_urlsafe(24)}
        v.dirty = True
        v.user = None
        v.flash("ok", "已登出。")
        return pages.redirect(v, "/login")

    # -- upcoming meetings --

    def meetings_page(
        v: Visit, params: dict[str, str], feed: dict[str, str] | None = None
    ) -> Response:
        user = v.require()
        today = pages.today()
        series_id = params.get("series", "").strip()
        district = params.get("district", "").strip()
        errors: list[str] = []
        try:
            start = _optional_date(params.get("from", ""), "起日") or today - timedelta(days=14)
            end = _optional_date(params.get("to", ""), "迄日") or today + timedelta(days=183)
        except OperationError as exc:
            errors.append(str(exc))
            start, end = today - timedelta(days=14), today + timedelta(days=183)
        if end < start:
            errors.append("迄日早於起日。")
            end = start + timedelta(days=183)
        lo = datetime.combine(start, time(0), ZoneInfo("Asia/Taipei"))
        hi = datetime.combine(end + timedelta(days=1), time(0), ZoneInfo("Asia/Taipei"))
        with pages.tx() as session:
            q = select(Occurrence).where(Occurrence.start_at >= lo, Occurrence.start_at < hi)
            if series_id:
                q = q.where(Occurrence.series_id == series_id)
            if district:
                q = q.where((Occurrence.district == district) | (Occurrence.zone == district))
            occs = session.scalars(
                q.order_by(Occurrence.start_at, Occurrence.uid).limit(MAX_ROWS + 1)
            ).all()
            rows = [_row(o, user.staff) for o in occs[:MAX_ROWS]]
            all_series = session.execute(
                select(Series.id, Series.title).order_by(Series.city_id, Series.id)
            ).all()
            districts = sorted(
                {
                    d
                    for (d,) in session.execute(
                        select(Occurrence.district)
                        .where(Occurrence.district.is_not(None))
                        .distinct()
                    )
                    if d
                }
                | {
                    z
                    for (z,) in session.execute(
                        select(Occurrence.zone).where(Occurrence.zone.is_not(None)).distinct()
                    )
                    if z
                }
            )
            person = session.scalar(select(Person).where(func.lower(Person.email) == user.email))
            links = session.scalars(
                select(FeedToken).where(
                    FeedToken.label == f"{WEB_LABEL}{user.id}", FeedToken.revoked_at.is_(None)
                )
            ).all()
            subscribe = {
                "person": person.name if person is not None else None,
                "active_since": format_roc_datetime(local(links[-1].created_at, None))
                if links
                else None,
            }
        for e in errors:
            v.flashes.append(("error", e))
        return pages.render(
            v,
            "meetings.html",
            rows=rows,
            truncated=len(occs) > MAX_ROWS,
            series_options=[
                (sid, title.replace("{district}", "各區").replace("{zone}", "各區"))
                for sid, title in all_series
            ],
            districts=districts,
            f={
                "series": series_id,
                "district": district,
                "from": start.isoformat(),
                "to": end.isoformat(),
            },
            roc_from=format_roc_date(start),
            roc_to=format_roc_date(end),
            subscribe=subscribe,
            feed=feed,
            errors=errors,
        )

    @r.get("/meetings")
    def meetings(request: Request) -> Response:
        v = pages.visit(request)
        return meetings_page(v, dict(request.query_params))

    @r.post("/meetings/subscribe")
    def subscribe(request: Request, csrf: Text = "") -> Response:
        """Create the user's personal feed link (older links from this panel are revoked)."""
        from meetings.access.feeds import create_feed_token, feed_urls, revoke_feed_token

        v = pages.visit(request)
        user = v.require()
        v.check_csrf(csrf)
        now = pages.now()
        try:
            with pages.tx() as session:
                for old in session.scalars(
                    select(FeedToken).where(
                        FeedToken.label == f"{WEB_LABEL}{user.id}", FeedToken.revoked_at.is_(None)
                    )
                ).all():
                    revoke_feed_token(session, old.id, now)
                issued = create_feed_token(
                    session, "person", user.email, now, label=f"{WEB_LABEL}{user.id}"
                )
        except OperationError:
            v.flash(
                "error",
                "您的帳號未對應到設定檔中的人員（people），無法建立個人行事曆；請洽管理者。",
            )
            return pages.redirect(v, "/meetings")
        https, webcal = feed_urls(pages.app.settings.base_url, issued.token)
        return meetings_page(v, {}, feed={"https": https, "webcal": webcal})

    # -- one meeting --

    def load_meeting(session: Session, uid: str) -> Occurrence:
        occ = session.scalar(select(Occurrence).where(Occurrence.uid == uid))
        if occ is None or len(uid) > 300:
            raise PageRefused(404, "找不到這場會議。")
        return occ

    def meeting_page(v: Visit, uid: str, *, reason: str | None = None) -> Response:
        from meetings.agendas.model import withhold_cases
        from meetings.agendas.queries import load_agenda
        from meetings.agendas.render import city_template_dirs, render_agenda_fragment
        from meetings.cases.operations import record_audit
        from meetings.records.operations import list_action_items

        user = v.require()
        now = pages.now()
        with pages.tx() as session:
            occ = load_meeting(session, uid)
            tz = occ.series.city.timezone
            agenda = load_agenda(session, occ, now)
            case_rows: list[dict[str, Any]] = []
            if reason is not None:
                record_audit(
                    session,
                    viewer=user.email,
                    reason=reason,
                    action="web.agenda",
                    uid=occ.uid,
                    case_nos=[c.case_no for c in agenda.cases],
                    now=now,
                )
                case_rows = [{"case_no": c.case_no} for c in agenda.cases]
            else:
                agenda = withhold_cases(agenda)
            dirs = city_template_dirs(session, occ.series.city.name)
            fragment = Markup(render_agenda_fragment(agenda, dirs))
            held = session.get(HeldMeeting, occ.id)
            attendance = {
                a.agency_code: a
                for a in session.scalars(
                    select(Attendance).where(
                        Attendance.occurrence_id == occ.id, Attendance.person_email.is_(None)
                    )
                )
            }
            people_att = session.scalars(
                select(Attendance).where(
                    Attendance.occurrence_id == occ.id, Attendance.person_email.is_not(None)
                )
            ).all()
            agencies = [
                {
                    "code": code,
                    "name": name,
                    "kind": kind,
                    "status": attendance[code].status if code in attendance else "",
                    "rank": (attendance[code].rank or "") if code in attendance else "",
                }
                for code, name, kind in _invited_agencies(session, occ)
            ]
            minutes = session.get(Minutes, occ.id)
            discussed = session.scalars(
                select(CaseDiscussion.case_no)
                .where(CaseDiscussion.occurrence_uid == occ.uid)
                .order_by(CaseDiscussion.case_no)
            ).all()
            items = [i for i in list_action_items(session) if i.uid == occ.uid]
            start = local(occ.start_at, tz)
            info = {
                **_row(occ, user.staff),
                "when": format_roc_datetime(start),
                "end": format_roc_time(local(occ.end_at, tz)),
                "chair": occ.series.spec.get("chair"),
                "sequence": occ.sequence,
                "future": start.date() > local(now, tz).date(),
            }
        return pages.render(
            v,
            "meeting.html",
            m=info,
            agenda_html=fragment,
            cases_shown=reason is not None,
            case_rows=case_rows,
            discussed=list(discussed),
            agencies=agencies,
            people_att=[
                {
                    "agency": a.agency_code,
                    "person": a.person_email,
                    "status": a.status,
                    "rank": a.rank or "",
                }
                for a in people_att
            ],
            held={
                "on": format_roc_date(held.held_on),
                "on_iso": held.held_on.isoformat(),
                "minutes_due": format_roc_date(held.minutes_due_on),
            }
            if held is not None
            else None,
            default_held_on=start.date().isoformat(),
            minutes={
                "recorded_on": format_roc_date(minutes.recorded_on),
                "revised_on": format_roc_date(minutes.revised_on),
                "on_time": held is not None and minutes.recorded_on <= held.minutes_due_on,
                "chars": len(minutes.text),
            }
            if minutes is not None
            else None,
            items=[
                {
                    "id": i.id,
                    "owner": i.owner_name,
                    "text": i.text,
                    "due": format_roc_date(i.due_on),
                    "closed": format_roc_date(i.closed_on) if i.closed_on else None,
                    "overdue": i.closed_on is None and i.due_on < pages.today(),
                }
                for i in items
            ],
            owner_options=[(a["code"], a["name"]) for a in agencies],
            today_iso=pages.today().isoformat(),
        )

    @r.get("/meetings/{uid}/notice")
    def notice(request: Request, uid: str) -> Response:
        """The printable 開會通知單 (agenda without case rows)."""
        from meetings.agendas.model import withhold_cases
        from meetings.agendas.queries import load_agenda
        from meetings.agendas.render import city_template_dirs, render_agenda

        v = pages.visit(request)
        v.require()
        with pages.tx() as session:
            occ = load_meeting(session, uid)
            agenda = withhold_cases(load_agenda(session, occ, pages.now()))
            html = render_agenda(agenda, "html", city_template_dirs(session, occ.series.city.name))
        return pages.finish(v, HTMLResponse(html))

    @r.get("/meetings/{uid}")
    def meeting(request: Request, uid: str) -> Response:
        return meeting_page(pages.visit(request), uid)

    @r.post("/meetings/{uid}/cases")
    def meeting_cases(request: Request, uid: str, reason: Text = "", csrf: Text = "") -> Response:
        """The agenda with its case rows: asks for a reason and writes an audit record."""
        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        reason = reason.strip()[:500]
        if not reason:
            v.flash("error", "請填寫查閱事由（將留存查閱紀錄）。")
            return pages.redirect(v, meeting_url(uid) + "#cases")
        return meeting_page(v, uid, reason=reason)

    def write(v: Visit, uid: str, what: str, fn: Any) -> Response:
        """Run one writer in a transaction; flash its outcome; back to the meeting."""
        try:
            with pages.tx() as session:
                load_meeting(session, uid)
                message = fn(session)
        except OperationError as exc:
            v.flash("error", f"{what}未儲存：{exc}")
        else:
            v.flash("ok", message)
        return pages.redirect(v, meeting_url(uid))

    @r.post("/meetings/{uid}/attendance")
    def attendance(
        request: Request,
        uid: str,
        agency: Texts = None,
        status: Texts = None,
        rank: Texts = None,
        held_on: Text = "",
        csrf: Text = "",
    ) -> Response:
        """Every invited agency's line at once (one transaction: all or nothing).

        The form sends parallel lists: ``agency``, ``status`` (empty = not recorded)
        and ``rank`` (kept for present and delegated attendance).
        """
        from meetings.records.operations import AttendanceInput, record_attendance

        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        now = pages.now()
        codes, states, ranks = agency or [], status or [], rank or []

        def do(session: Session) -> str:
            day = _optional_date(held_on, "實際開會日期")
            if len(states) != len(codes):
                raise OperationError("表單不完整，請重新整理頁面")
            n = 0
            for i, code in enumerate(codes[:200]):
                st = states[i].strip()
                if not st:
                    continue
                rk = ranks[i][:100] if i < len(ranks) and st != "absent" else ""
                record_attendance(
                    session,
                    AttendanceInput(uid=uid, agency=code, status=st, rank=rk, held_on=day),
                    now,
                )
                n += 1
            if n == 0:
                raise OperationError("請至少選擇一個機關的出席情形")
            return f"已記錄 {n} 個機關的出席情形，會議標示為已召開。"

        return write(v, uid, "出席紀錄", do)

    @r.post("/meetings/{uid}/minutes")
    def minutes_upload(
        request: Request,
        uid: str,
        file: Annotated[UploadFile | None, File()] = None,
        recorded_on: Text = "",
        confirm_agenda: Text = "",
        csrf: Text = "",
    ) -> Response:
        from meetings.records.discussions import confirm_agenda_discussions
        from meetings.records.operations import record_minutes

        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        now = pages.now()
        data = file.file.read(MAX_MINUTES_BYTES + 1) if file is not None else b""

        def do(session: Session) -> str:
            if not data:
                raise OperationError("請選擇會議紀錄檔案（.md 或 .txt，UTF-8）")
            if len(data) > MAX_MINUTES_BYTES:
                raise OperationError("檔案超過 2 MB")
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise OperationError("檔案不是 UTF-8 文字檔") from None
            on = _optional_date(recorded_on, "紀錄日期")
            record_minutes(session, uid, text, now, on=on)
            extra = ""
            if confirm_agenda:
                done = confirm_agenda_discussions(session, uid, now)
                extra = f"；議程上 {len(done)} 案記為已討論"
            return "會議紀錄已儲存" + extra + "。"

        return write(v, uid, "會議紀錄", do)

    @r.post("/meetings/{uid}/discussed")
    def discussed(
        request: Request, uid: str, case_no: Texts = None, more: Text = "", csrf: Text = ""
    ) -> Response:
        """Tick the agenda's cases (and/or type case numbers) as discussed at this meeting."""
        from meetings.records.discussions import record_case_discussions

        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        typed = more.replace("，", ",").replace("、", ",")
        cases = list(case_no or []) + [c for part in typed.split(",") for c in part.split()]
        now = pages.now()

        def do(session: Session) -> str:
            done = record_case_discussions(session, uid, cases[:500], now)
            return f"已記錄 {len(done)} 案為本次會議討論個案。"

        return write(v, uid, "討論個案", do)

    @r.post("/meetings/{uid}/actions")
    def action_add(
        request: Request,
        uid: str,
        owner: Text = "",
        due: Text = "",
        text: Text = "",
        csrf: Text = "",
    ) -> Response:
        from meetings.records.operations import add_action_item

        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        now = pages.now()

        def do(session: Session) -> str:
            if not owner:
                raise OperationError("請選擇主責機關")
            item = add_action_item(session, uid, owner, _date_field(due, "期限"), text[:2000], now)
            return f"已新增決議事項 #{item.id}。"

        return write(v, uid, "決議事項", do)

    @r.post("/actions/{item_id}/close")
    def action_close(
        request: Request, item_id: int, closed_on: Text = "", csrf: Text = ""
    ) -> Response:
        from meetings.db import ActionItem
        from meetings.records.operations import close_action_item

        v = pages.visit(request)
        v.require("secretariat")
        v.check_csrf(csrf)
        with pages.tx() as session:
            item = session.get(ActionItem, item_id)
            occ = session.get(Occurrence, item.occurrence_id) if item is not None else None
            if occ is None:
                raise PageRefused(404, "找不到這個決議事項。")
            uid = occ.uid
        now = pages.now()

        def do(session: Session) -> str:
            close_action_item(session, item_id, now, on=_optional_date(closed_on, "完成日期"))
            return f"決議事項 #{item_id} 已結案。"

        return write(v, uid, "結案", do)

    # -- KPIs --

    def kpi_params(params: dict[str, str]) -> tuple[int, str | None, str | None]:
        """(Gregorian year, series, district) from the query string."""
        from meetings.kernel.rocdate import gregorian_year

        raw = params.get("year", "").strip()
        try:
            year = gregorian_year(int(raw)) if raw else pages.today().year
        except ValueError:
            raise OperationError(f"年度：不是數字（{raw[:10]!r}），請寫 112 或 2023") from None
        if not 1912 <= year <= 2200:
            raise OperationError(f"年度超出範圍：{raw[:10]}")
        series_id = params.get("series", "").strip() or None
        district = params.get("district", "").strip() or None
        return year, series_id, district

    def kpi_report(session: Session, params: dict[str, str]) -> Any:
        from meetings.kpis.queries import compute_kpis

        year, series_id, district = kpi_params(params)
        return compute_kpis(session, year, series_id=series_id, district=district)

    @r.get("/kpi")
    def kpi(request: Request) -> Response:
        from meetings.kpis import reports as kr

        v = pages.visit(request)
        v.require("secretariat")
        params = dict(request.query_params)
        error = None
        with pages.tx() as session:
            try:
                report = kpi_report(session, params)
            except OperationError as exc:
                error = str(exc)
                report = kpi_report(session, {})
            all_series = session.execute(
                select(Series.id, Series.title).order_by(Series.city_id, Series.id)
            ).all()
        total = report.total.as_row()
        # The charts of the HTML report (`liaison kpi --format html`), as they are drawn there.
        charts = re.findall(r"<svg\b.*?</svg>", kr.render_html(report), re.S)
        header, body = kr.kpi_table(report)
        query = {
            k: v2
            for k, v2 in (
                ("year", str(report.roc_year)),
                ("series", report.series_filter or ""),
                ("district", report.district_filter or ""),
            )
            if v2
        }
        if error:
            v.flashes.append(("error", error))
        return pages.render(
            v,
            "kpi.html",
            title=kr.report_title(report),
            year=report.roc_year,
            as_of=format_roc_date(report.as_of),
            summary=[
                ("應召開次數", total["meetings_scheduled"]),
                ("實際召開次數", total["meetings_held"]),
                ("如期召開率(%)", total["held_on_schedule_rate"]),
                ("應出席機關出席率(%)", total["required_attendance_rate"]),
                ("個案研討案數", total["cases_discussed"]),
                ("會議紀錄如期完成率(%)", total["minutes_on_time_rate"]),
            ],
            charts=[Markup(c) for c in charts],
            header=header,
            body=body,
            xlsx_url="/kpi.xlsx?" + urlencode(query),
            series_options=all_series,
            f={"series": report.series_filter or "", "district": report.district_filter or ""},
        )

    @r.get("/kpi.xlsx")
    def kpi_xlsx(request: Request) -> Response:
        from meetings.kpis.reports import kpi_report_bytes

        v = pages.visit(request)
        v.require("secretariat")
        with pages.tx() as session:
            try:
                year, series_id, district = kpi_params(dict(request.query_params))
                data, media_type = kpi_report_bytes(
                    session, year, "xlsx", series_id=series_id, district=district
                )
            except OperationError as exc:
                raise PageRefused(400, str(exc)) from None
        name = f"kpi-{year - 1911}.xlsx"
        return pages.finish(
            v,
            Response(
                data,
                media_type=media_type,
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            ),
        )

    # -- admin --

    @r.get("/admin")
    def admin_series(request: Request) -> Response:
        v = pages.visit(request)
        v.require("admin")
        with pages.tx() as session:
            series = session.scalars(select(Series).order_by(Series.city_id, Series.id)).all()
            explained = []
            for s in series:
                try:
                    explained.append(
                        {**explain_series(session, s, pages.today()), "active": s.active}
                    )
                except Exception as exc:  # one odd series must not hide the others
                    explained.append(
                        {
                            "id": s.id,
                            "city": s.city.name,
                            "title": s.title,
                            "error": str(exc)[:200],
                            "active": s.active,
                            "instances": [],
                        }
                    )
        return pages.render(v, "admin_series.html", series=explained)

    def adhoc_form(v: Visit, values: dict[str, str], status: int = 200) -> Response:
        with pages.tx() as session:
            options = [
                (s.id, s.title.replace("{district}", "各區").replace("{zone}", "各區"), s.city.name)
                for s in session.scalars(
                    select(Series)
                    .where(Series.active.is_(True))
                    .order_by(Series.city_id, Series.id)
                )
                if not s.spec.get("trigger")
            ]
        return pages.render(v, "admin_adhoc.html", status=status, options=options, f=values)

    @r.get("/admin/adhoc")
    def adhoc_get(request: Request) -> Response:
        v = pages.visit(request)
        v.require("admin")
        return adhoc_form(v, {})

    @r.post("/admin/adhoc")
    def adhoc_post(
        request: Request,
        series: Text = "",
        at: Text = "",
        district: Text = "",
        duration: Text = "",
        location: Text = "",
        title: Text = "",
        csrf: Text = "",
    ) -> Response:
        from meetings.schedule.declarations import parse_duration
        from meetings.schedule.operations import add_adhoc_meeting

        v = pages.visit(request)
        v.require("admin")
        v.check_csrf(csrf)
        values = {
            "series": series,
            "at": at,
            "district": district,
            "duration": duration,
            "location": location,
            "title": title,
        }
        try:
            try:
                at_dt = datetime.fromisoformat(at.strip())
            except ValueError:
                raise OperationError(f"開會時間格式錯誤：{at[:30]!r}") from None
            if duration.strip():
                try:
                    parse_duration(duration.strip())
                except ValueError as exc:
                    raise OperationError(f"會議長度：{exc}") from None
            with pages.tx() as session:
                occ, warnings = add_adhoc_meeting(
                    session,
                    series.strip(),
                    at_dt,
                    pages.now(),
                    district=district.strip() or None,
                    duration=duration.strip() or None,
                    location=location.strip()[:300] or None,
                    title=title.strip()[:300] or None,
                )
                uid = occ.uid
        except OperationError as exc:
            v.flashes.append(("error", f"未新增：{exc}"))
            return adhoc_form(v, values, status=400)
        for w in warnings:
            v.flash("warning", w)
        v.flash("ok", "已新增不定期會議。")
        return pages.redirect(v, meeting_url(uid))

    def closures_page(
        v: Visit, values: dict[str, str], preview: dict[str, Any] | None = None, status: int = 200
    ) -> Response:
        with pages.tx() as session:
            cities = list(session.scalars(select(City.name).order_by(City.name)))
            names = {c.id: c.name for c in session.scalars(select(City))}
            closures = [
                {
                    "day": format_roc_date(c.day),
                    "iso": c.day.isoformat(),
                    "reason": c.reason,
                    "city": names.get(c.city_id, "全部") if c.city_id else "全部",
                }
                for c in session.scalars(
                    select(Closure)
                    .where(Closure.day >= pages.today() - timedelta(days=365))
                    .order_by(Closure.day)
                )
            ]
        return pages.render(
            v,
            "admin_closures.html",
            status=status,
            cities=cities,
            closures=closures,
            f=values,
            preview=preview,
        )

    @r.get("/admin/closures")
    def closures_get(request: Request) -> Response:
        v = pages.visit(request)
        v.require("admin")
        return closures_page(v, {})

    def closure_effect(
        session: Session, day: date, reason: str, city: str | None
    ) -> dict[str, Any]:
        """Run the closure in ``session`` and describe which meetings move (caller decides commit)."""
        from meetings.schedule.operations import add_closure

        window_lo = datetime.combine(day - timedelta(days=1), time(0), ZoneInfo("Asia/Taipei"))
        window_hi = datetime.combine(day + timedelta(days=2), time(0), ZoneInfo("Asia/Taipei"))
        before = {
            o.uid: (o.start_at, o.status)
            for o in session.scalars(
                select(Occurrence).where(
                    Occurrence.start_at >= window_lo - timedelta(days=60),
                    Occurrence.start_at < window_hi + timedelta(days=60),
                )
            )
        }
        report = add_closure(session, day, reason, pages.now(), city=city)
        changes = []
        for kind, uids in (("moved", report.moved), ("cancelled", report.cancelled)):
            for u in uids:
                o = session.scalar(select(Occurrence).where(Occurrence.uid == u))
                if o is None:
                    continue
                old = before.get(u)
                changes.append(
                    {
                        "title": o.title,
                        "url": meeting_url(u),
                        "kind": "改期" if kind == "moved" else "停開",
                        "from": format_roc_datetime(local(old[0], None)) if old else "—",
                        "to": format_roc_datetime(local(o.start_at, None))
                        if kind == "moved"
                        else "—",
                    }
                )
        return {
            "changes": changes,
            "warnings": report.warnings,
            "day": format_roc_date(day),
        }

    def closure_inputs(day: str, reason: str, city: str) -> tuple[date, str, str | None]:
        d = _date_field(day, "日期")
        if not reason.strip():
            raise OperationError("請填寫停班原因（例如：颱風停班）")
        return d, reason.strip()[:200], city.strip() or None

    @r.post("/admin/closures/preview")
    def closures_preview(
        request: Request, day: Text = "", reason: Text = "", city: Text = "", csrf: Text = ""
    ) -> Response:
        """What the closure would move, computed in a transaction that is rolled back."""
        v = pages.visit(request)
        v.require("admin")
        v.check_csrf(csrf)
        values = {"day": day, "reason": reason, "city": city}
        try:
            d, why, where = closure_inputs(day, reason, city)
            session = pages.app.sessions()
            try:
                effect = closure_effect(session, d, why, where)
            finally:
                session.rollback()
                session.close()
        except OperationError as exc:
            v.flashes.append(("error", f"無法停班：{exc}"))
            return closures_page(v, values, status=400)
        values["day"] = d.isoformat()
        return closures_page(v, values, preview=effect)

    @r.post("/admin/closures")
    def closures_add(
        request: Request, day: Text = "", reason: Text = "", city: Text = "", csrf: Text = ""
    ) -> Response:
        v = pages.visit(request)
        v.require("admin")
        v.check_csrf(csrf)
        values = {"day": day, "reason": reason, "city": city}
        try:
            d, why, where = closure_inputs(day, reason, city)
            with pages.tx() as session:
                effect = closure_effect(session, d, why, where)
        except OperationError as exc:
            v.flashes.append(("error", f"無法停班：{exc}"))
            return closures_page(v, values, status=400)
        moved = sum(1 for c in effect["changes"] if c["kind"] == "改期")
        stopped = len(effect["changes"]) - moved
        v.flash("ok", f"已設定 {effect['day']} 停班：{moved} 場會議改期，{stopped} 場停開。")
        return pages.redirect(v, "/admin/closures")

    return r


def _refused_page(pages: Pages, request: Request, exc: PageRefused) -> Response:
    visit = pages.visit(request)
    return pages.render(visit, "error.html", status=exc.status, message=exc.message)


def mount_pages(web: FastAPI, app: App) -> None:
    """Add the secretariat pages (and their error handling) to ``web``."""
    pages = Pages(app)
    web.include_router(build_router(pages))

    def _to_login(request: Request, exc: LoginRequired) -> Response:
        visit = pages.visit(request)
        visit.flash("info", "請先登入。")
        return pages.redirect(visit, "/login?" + urlencode({"next": exc.next_url}))

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return await run_in_threadpool(_to_login, request, exc)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefused)
        return await run_in_threadpool(_refused_page, pages, request, exc)

    web.add_exception_handler(LoginRequired, login_required)
    web.add_exception_handler(PageRefused, refused)


__all__: Sequence[str] = ["ROLES", "mount_pages", "explain_series", "Pages"]
