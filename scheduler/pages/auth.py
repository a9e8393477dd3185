"""Logging in and out (argon2 password hashes, ``meetings.access.users``).

Failed logins slow down the next ones, per account and per client address, through the
database (``meetings.access.throttle``: every server process agrees); a login starts a
fresh session, a logout ends every session of the user.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meetings.access.principals import NO_CITY
from meetings.access.throttle import (
    account_key,
    address_key,
    record_failure,
    record_success,
    wait_seconds,
)
from meetings.access.users import authenticate, end_sessions, user_scope
from scheduler.pages.rendering import Text, redirect, render
from scheduler.pages.session import CurrentVisit, Visit

router = APIRouter(include_in_schema=False)


def safe_next(value: str) -> str:
    """Only local paths (never another site) after login."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/login")
def login_form(v: CurrentVisit, next: str = "/") -> Response:
    if v.user is not None:
        return redirect(v, safe_next(next))
    return render(v, "login.html", next=safe_next(next), email="", error=None)


def _refused(
    v: Visit, status: int, email: str, next: str, error: str, retry_after: int = 0
) -> Response:
    page = render(
        v, "login.html", status=status, next=safe_next(next), email=email[:254], error=error
    )
    if retry_after:
        page.headers["Retry-After"] = str(retry_after)
    return page


def client_address(v: Visit) -> str:
    """The client's address (behind a reverse proxy: what it forwards, as uvicorn
    trusts it — ``--forwarded-allow-ips``)."""
    client = v.request.client
    return client.host if client is not None else "unknown"


@router.post("/login")
def login(
    v: CurrentVisit,
    email: Text = "",
    password: Text = "",
    csrf: Text = "",
    next: Text = "/",
) -> Response:
    v.check_csrf(csrf)
    site = v.site
    now = site.now()
    account = account_key(email)
    keys = (account, address_key(client_address(v)))
    with site.app.transaction() as session:
        # While blocked the password is not checked and the attempt not counted, so
        # trying harder does not extend the block.
        wait = wait_seconds(session, keys, now)
        user = None
        if not wait:
            user = authenticate(session, email[:254], password[:1024], now)
            if user is None:
                record_failure(session, keys, now)
            else:
                record_success(session, account)
        info = (user.id, user.session_version) if user is not None else None
        unassigned = user is not None and user_scope(user).unassigned
    if wait:
        return _refused(v, 429, email, next, f"嘗試次數過多，請於 {wait} 秒後再試。", wait)
    if unassigned:  # the password was right: say why nothing can be shown
        return _refused(v, 403, email, next, NO_CITY)
    if info is None:
        return _refused(v, 401, email, next, "帳號或密碼錯誤。")
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
