"""Who is asking and how the pages know it: the signed session cookie, CSRF, refusals.

The session is a cookie signed with itsdangerous (key: ``Settings.secret_key``, or a
random key kept in the database), HttpOnly, SameSite=Lax, valid 12 hours, and tied
to the user's ``session_version`` so logout ends it everywhere. Every form carries
the session's CSRF token. :class:`Site` is the state every page shares (wired once by
:func:`scheduler.pages.routes.mount_pages`); :data:`CurrentVisit` is the FastAPI dependency
that gives an endpoint its :class:`Visit`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment

from meetings.access.principals import NO_CITY, STAFF, Scope, at_least
from meetings.access.users import secret, user_scope
from meetings.db import User
from meetings.kernel.vocabulary import ROLE_ZH, Role
from scheduler.bootstrap import App

COOKIE = "liaison_session"
SESSION_AGE = 12 * 3600
MIN_KEY_LENGTH = 16


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


class Site:
    """What every page shares over one application: templates, cookie signer.

    (Failed logins are counted in the database, ``meetings.access.throttle``, so that
    every server process agrees.)"""

    def __init__(self, app: App, env: Environment) -> None:
        self.app = app
        self.env = env
        self.secure_cookie = app.settings.base_url.startswith("https://")
        self._signer: URLSafeTimedSerializer | None = None
        self._signer_lock = threading.Lock()

    def now(self) -> datetime:
        return self.app.clock.now()

    def signer(self) -> URLSafeTimedSerializer:
        """The cookie signer; its key is read (or created in the database) on first use,
        so building the web app never touches the database."""
        with self._signer_lock:
            if self._signer is None:
                key = self.app.settings.secret_key
                if len(key) < MIN_KEY_LENGTH:
                    with self.app.transaction() as session:
                        key = secret(session, "session", self.now())
                self._signer = URLSafeTimedSerializer(key, salt="liaison.pages.session")
            return self._signer


def current_site(request: Request) -> Site:
    """The pages' shared state, set on the web app by ``mount_pages``."""
    site = request.app.state.pages
    assert isinstance(site, Site)
    return site


@dataclass
class Viewer:
    """The logged-in user, as the pages need it."""

    id: int
    email: str
    role: str  # as stored; a role this version does not know may do nothing
    scope: Scope  # the cities the user may see (every page filters by it)

    @property
    def staff(self) -> bool:
        return self.role in STAFF

    @property
    def admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass
class Visit:
    """One request's session: the signed cookie's data and the user behind it."""

    request: Request
    site: Site
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

    def require(self, role: Role = Role.PARTICIPANT) -> Viewer:
        """The user, if logged in with at least ``role`` (admin > secretariat > participant)."""
        if self.user is None:
            path = self.request.url.path
            if self.request.url.query:
                path += "?" + self.request.url.query
            raise LoginRequired(path if self.request.method == "GET" else "/meetings")
        if self.user.scope.unassigned:
            raise PageRefused(403, NO_CITY)
        if not at_least(self.user.role, role):
            raise PageRefused(403, f"此頁面僅限{ROLE_ZH[role]}以上權限使用。")
        return self.user

    def restart(self, user_id: int | None = None, version: int | None = None) -> None:
        """A fresh session (new CSRF token): nothing carries over from before."""
        token = secrets.token_urlsafe(24)
        self.data = {"c": token} if user_id is None else {"u": user_id, "v": version, "c": token}
        self.dirty = True


def _cookie_data(site: Site, raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        loaded = site.signer().loads(raw, max_age=SESSION_AGE)
    except BadSignature:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def load_visit(request: Request) -> Visit:
    """Read and check the session cookie; the user must still exist, be active and current."""
    site = current_site(request)
    raw = request.cookies.get(COOKIE)
    data = _cookie_data(site, raw)
    user: Viewer | None = None
    uid = data.get("u")
    if isinstance(uid, int):
        with site.app.transaction() as session:
            row = session.get(User, uid)
            if row is not None and row.active and row.session_version == data.get("v"):
                user = Viewer(row.id, row.email, row.role, user_scope(row))
        if user is None:
            data = {}
    return Visit(request, site, data, user, dirty=not raw)


CurrentVisit = Annotated[Visit, Depends(load_visit)]

# Scripts only from the app itself (/static/: no inline script, no CDN); styles may be
# inline (the pages' <style> and style attributes), nothing may frame a page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def finish(visit: Visit, response: Response) -> Response:
    """Attach the (re-signed) session cookie if it changed; pages are never cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CSP
    if visit.dirty:
        visit.data.setdefault("c", secrets.token_urlsafe(24))
        response.set_cookie(
            COOKIE,
            visit.site.signer().dumps(visit.data),
            max_age=SESSION_AGE,
            httponly=True,
            samesite="lax",
            secure=visit.site.secure_cookie,
            path="/",
        )
    return response
