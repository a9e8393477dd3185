"""Logging in and out (argon2 password hashes, ``meetings.access.users``).

Repeated failed logins lock an email out for a while (:class:`LoginThrottle`); a login
starts a fresh session, a logout ends every session of the user.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meetings.access.users import authenticate, end_sessions
from scheduler.pages.rendering import Text, redirect, render
from scheduler.pages.session import LOGIN_WINDOW, CurrentVisit, Visit

router = APIRouter(include_in_schema=False)


def safe_next(value: str) -> str:
    """Only local paths (never another site) after login."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/meetings"


@router.get("/")
def home(v: CurrentVisit) -> Response:
    return redirect(v, "/meetings" if v.user else "/login")


@router.get("/login")
def login_form(v: CurrentVisit, next: str = "/meetings") -> Response:
    if v.user is not None:
        return redirect(v, safe_next(next))
    return render(v, "login.html", next=safe_next(next), email="", error=None)


def _refused(v: Visit, status: int, email: str, next: str, error: str) -> Response:
    return render(
        v, "login.html", status=status, next=safe_next(next), email=email[:254], error=error
    )


@router.post("/login")
def login(
    v: CurrentVisit,
    email: Text = "",
    password: Text = "",
    csrf: Text = "",
    next: Text = "/meetings",
) -> Response:
    v.check_csrf(csrf)
    site = v.site
    key = email.strip().lower()[:254]
    if site.throttle.throttled(key, site.now()):
        minutes = LOGIN_WINDOW.seconds // 60
        return _refused(v, 429, email, next, f"登入失敗次數過多，請於 {minutes} 分鐘後再試。")
    with site.app.transaction() as session:
        user = authenticate(session, email[:254], password[:1024], site.now())
        info = (user.id, user.session_version) if user is not None else None
    if info is None:
        site.throttle.failed(key, site.now())
        return _refused(v, 401, email, next, "帳號或密碼錯誤。")
    site.throttle.succeeded(key)
    v.restart(*info)
    return redirect(v, safe_next(next))


@router.post("/logout")
def logout(v: CurrentVisit, csrf: Text = "") -> Response:
    v.check_csrf(csrf)
    if v.user is not None:
        with v.site.app.transaction() as session:
            end_sessions(session, v.user.id, v.site.now())
    v.restart()
    v.user = None
    v.flash("ok", "已登出。")
    return redirect(v, "/login")
