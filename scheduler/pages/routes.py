"""Server-rendered pages for the secretariat (zh-TW, ROC dates), mounted by ``create_web_app``.

- Roles: participants read meetings, agendas without case rows, notices and their
  own feed link; the secretariat also views case rows (with a reason, audited),
  records attendance, minutes, discussions and action items, and sees KPIs;
  admins also see series, add ad-hoc meetings and closures.
- Without a login: only the reply slip (``/reply/{token}``, ``scheduler.pages.reply``),
  which a seat's link opens for that seat alone.
- Every write goes through the domain writers (``meetings.schedule``, ``meetings.records``,
  ``meetings.cases``, ``meetings.access``); a refused request changes nothing and says why.

One module per resource (auth, home, meetings, meeting, records, seats, reply, kpi, admin); this one wires
them and the state they share (:class:`Site`) into the web app, once, with ``static/``
(the pages' own scripts and vendored libraries) at /static/.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from scheduler.bootstrap import App
from scheduler.pages import admin, auth, home, kpi, meeting, meetings, records, reply, seats
from scheduler.pages.rendering import STATIC, environment, redirect, render
from scheduler.pages.session import LoginRequired, PageRefused, Site, load_visit

ROUTERS = (
    auth.router,
    home.router,
    meetings.router,
    meeting.router,
    records.router,
    seats.router,
    reply.router,
    kpi.router,
    admin.router,
)


def _to_login(request: Request, exc: LoginRequired) -> Response:
    visit = load_visit(request)
    visit.flash("info", "請先登入。")
    return redirect(visit, "/login?" + urlencode({"next": exc.next_url}))


def _refused_page(request: Request, exc: PageRefused) -> Response:
    visit = load_visit(request)
    return render(visit, "error.html", status=exc.status, message=exc.message)


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return await run_in_threadpool(_to_login, request, exc)


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    return await run_in_threadpool(_refused_page, request, exc)


def mount_pages(web: FastAPI, app: App) -> None:
    """Add the secretariat pages (and their error handling) to ``web``, and their
    static files at /static/ (scripts and vendored libraries: no CDN)."""
    web.state.pages = Site(app, environment())
    for router in ROUTERS:
        web.include_router(router)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.add_exception_handler(LoginRequired, login_required)
    web.add_exception_handler(PageRefused, refused)
