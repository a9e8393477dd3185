"""``/api/...``: read-only JSON for holders of a bearer API token, and ``/healthz``.

Meetings are listed by local days, each in its city's zone; JSON forms are
``scheduler.serialization``'s (the same as the CLI's ``--json``).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from meetings.access.principals import STAFF
from meetings.access.tokens import api_role
from meetings.db import Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import parse_date
from meetings.kernel.vocabulary import Role
from meetings.kpis.queries import compute_kpis
from scheduler.bootstrap import App
from scheduler.pages.localdays import CityZones
from scheduler.serialization import occurrence_json, series_json
from scheduler.web.errors import ApiError, json_error

log = logging.getLogger("liaison.web")
MAX_API_WINDOW_DAYS = 3 * 366
MAX_API_ROWS = 10_000
DEFAULT_WINDOW = timedelta(days=92)  # "to" defaults to three months after "from"

health = APIRouter()
router = APIRouter()


def current_app(request: Request) -> App:
    """The application the web app serves (``create_web_app`` sets it)."""
    app = request.app.state.liaison
    assert isinstance(app, App)
    return app


Liaison = Annotated[App, Depends(current_app)]
_bearer = HTTPBearer(auto_error=False, description="An API token (`liaison tokens create`).")


def require_token(
    app: Liaison,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Role:
    """The role of the request's bearer API token; 401 without a live one."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StarletteHTTPException(401, "missing bearer token", headers=challenge)
    with app.transaction() as session:
        role = api_role(session, credentials.credentials)
    if role is None:
        raise StarletteHTTPException(401, "invalid or revoked token", headers=challenge)
    return role


def reader(role: Annotated[Role, Depends(require_token)]) -> Role:
    """Who may read the API: every role (admin, secretariat, participant), for now."""
    return role


Reader = Annotated[Role, Depends(reader)]


def staff(role: Annotated[Role, Depends(require_token)]) -> Role:
    """Who may read KPIs: admin and secretariat (403 for participants)."""
    if role not in STAFF:
        raise StarletteHTTPException(403, "admin or secretariat token required")
    return role


Staff = Annotated[Role, Depends(staff)]


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if len(value) > 20:
        raise ApiError(400, f"{name}: not a date (use YYYY-MM-DD)")
    try:
        return parse_date(value)
    except ValueError:
        raise ApiError(400, f"{name}: not a date (use YYYY-MM-DD)") from None


def window(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days asked for (today and three months by default), at most 3 years apart."""
    start = first or today
    end = last or start + DEFAULT_WINDOW
    if end < start:
        raise ApiError(400, "to: before from")
    if (end - start).days > MAX_API_WINDOW_DAYS:
        raise ApiError(400, "window too large: at most 3 years between from and to")
    return start, end


@health.get("/healthz", tags=["ops"])
def healthz(app: Liaison) -> Response:
    """Liveness and database reachability."""
    try:
        with app.transaction() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check failed")
        return json_error(503, "database unavailable")
    return JSONResponse({"status": "ok"})


@router.get("/api/series", tags=["api"])
def api_series(role: Reader, app: Liaison) -> list[dict[str, Any]]:
    """Every declared series."""
    with app.transaction() as session:
        rows = session.scalars(select(Series).order_by(Series.city_id, Series.id)).all()
        return [series_json(s) for s in rows]


@router.get("/api/occurrences", tags=["api"])
def api_occurrences(
    role: Reader,
    app: Liaison,
    from_: Annotated[
        str | None, Query(alias="from", description="First date (YYYY-MM-DD; default today).")
    ] = None,
    to: Annotated[
        str | None, Query(description="Last date, inclusive (default: 3 months after from).")
    ] = None,
    series: Annotated[str | None, Query(max_length=63, description="Only this series.")] = None,
) -> list[dict[str, Any]]:
    """Meetings starting between two dates (at most 3 years apart)."""
    first, last = parse_day(from_, "from"), parse_day(to, "to")
    with app.transaction() as session:
        zones = CityZones.load(session)
        start, end = window(first, last, zones.earliest_today(app.clock.now()))
        q = select(Occurrence).where(zones.starting_on(start, end))
        if series is not None:
            if session.get(Series, series) is None:
                raise ApiError(404, "unknown series")
            q = q.where(Occurrence.series_id == series)
        rows = session.scalars(
            q.order_by(Occurrence.start_at, Occurrence.uid).limit(MAX_API_ROWS + 1)
        ).all()
        if len(rows) > MAX_API_ROWS:
            raise ApiError(400, f"more than {MAX_API_ROWS} meetings: narrow the window")
        return [occurrence_json(o, staff=role in STAFF) for o in rows]


@router.get("/api/occurrences/{uid}", tags=["api"])
def api_occurrence(uid: str, role: Reader, app: Liaison) -> dict[str, Any]:
    """One meeting by UID."""
    if len(uid) > 300:
        raise ApiError(404, "not found")
    with app.transaction() as session:
        occ = session.scalar(select(Occurrence).where(Occurrence.uid == uid))
        if occ is None:
            raise ApiError(404, "not found")
        return occurrence_json(occ, staff=role in STAFF)


@router.get("/api/kpi", tags=["api"])
def api_kpi(
    role: Staff,
    app: Liaison,
    year: Annotated[int, Query(description="ROC year (112) or Gregorian year (2023).")],
    series: Annotated[str | None, Query(max_length=63, description="Only this series.")] = None,
    district: Annotated[str | None, Query(max_length=40, description="Only this district.")] = None,
    as_of: Annotated[str | None, Query(description="Count up to this date (YYYY-MM-DD).")] = None,
) -> dict[str, Any]:
    """The coverage KPIs of a year (SPEC §7), per series instance and in total."""
    cutoff = parse_day(as_of, "as_of")
    with app.transaction() as session:
        if series is not None and session.get(Series, series) is None:
            raise ApiError(404, "unknown series")
        try:
            report = compute_kpis(session, year, series_id=series, district=district, as_of=cutoff)
        except OperationError as exc:
            raise ApiError(400, str(exc)) from exc
        return report.as_json()
