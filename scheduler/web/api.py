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
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from meetings.access.principals import STAFF, Scope
from meetings.access.tokens import api_scope
from meetings.db import Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import FIRST_DAY, LAST_DAY, DayOutOfRange, parse_date
from meetings.kpis.queries import compute_kpis
from meetings.schedule.occurrences import get_occurrence
from scheduler.bootstrap import App
from scheduler.db import write_problem
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
) -> Scope:
    """The role and cities of the request's bearer API token; 401 without a live one,
    403 for a token of no city."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StarletteHTTPException(401, "missing bearer token", headers=challenge)
    with app.transaction() as session:
        scope = api_scope(session, credentials.credentials)
    if scope is None:
        raise StarletteHTTPException(401, "invalid or revoked token", headers=challenge)
    if scope.unassigned:
        raise StarletteHTTPException(403, "this token has no city: make a new one with --city")
    return scope


def reader(scope: Annotated[Scope, Depends(require_token)]) -> Scope:
    """Who may read the API: every role (admin, secretariat, participant), of its cities."""
    return scope


Reader = Annotated[Scope, Depends(reader)]


def staff(scope: Annotated[Scope, Depends(require_token)]) -> Scope:
    """Who may read KPIs: admin and secretariat (403 for participants)."""
    if scope.role not in STAFF:
        raise StarletteHTTPException(403, "admin or secretariat token required")
    return scope


Staff = Annotated[Scope, Depends(staff)]


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if len(value) > 20:
        raise ApiError(400, f"{name}: not a date (use YYYY-MM-DD)")
    try:
        return parse_date(value)
    except DayOutOfRange:
        raise ApiError(400, f"{name}: out of range ({FIRST_DAY} to {LAST_DAY})") from None
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


def api_city(session: Session, scope: Scope, name: str | None) -> int | None:
    """The one city a KPI answer counts: the token's own, or ``city`` for an all-cities
    token (required when several cities are loaded). Another city is 404, as unknown."""
    cities = scope.city_names(session)
    if name is not None:
        for cid, cname in cities:
            if cname == name:
                return cid
        raise ApiError(404, "unknown city")
    if len(cities) == 1:
        return cities[0][0]
    if not cities:
        return None
    raise ApiError(400, "city: give the city (KPIs are per city)")


@health.get("/healthz", tags=["ops"])
def healthz(app: Liaison) -> Response:
    """Liveness, and whether the database takes writes (what logins and forms need):
    503 "database read-only" or "database unavailable: …" otherwise."""
    problem = write_problem(app.engine)
    if problem is not None:
        log.warning("health check failed: database %s", problem)  # one line, no parameters
        return json_error(503, f"database {problem}")
    return JSONResponse({"status": "ok"})


@router.get("/api/series", tags=["api"])
def api_series(role: Reader, app: Liaison) -> list[dict[str, Any]]:
    """Every declared series."""
    with app.transaction() as session:
        rows = session.scalars(
            select(Series).where(role.series()).order_by(Series.city_id, Series.id)
        ).all()
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
        q = select(Occurrence).where(role.occurrences(), zones.starting_on(start, end))
        if series is not None:
            known = session.get(Series, series)
            if known is None or not role.sees(known.city_id):
                raise ApiError(404, "unknown series")
            q = q.where(Occurrence.series_id == series)
        rows = session.scalars(
            q.order_by(Occurrence.start_at, Occurrence.uid).limit(MAX_API_ROWS + 1)
        ).all()
        if len(rows) > MAX_API_ROWS:
            raise ApiError(400, f"more than {MAX_API_ROWS} meetings: narrow the window")
        return [occurrence_json(o, staff=role.role in STAFF) for o in rows]


@router.get("/api/occurrences/{uid}", tags=["api"])
def api_occurrence(uid: str, role: Reader, app: Liaison) -> dict[str, Any]:
    """One meeting by UID."""
    with app.transaction() as session:
        try:  # another city's meeting is answered as an unknown one
            occ = get_occurrence(session, uid, role.city_ids)
        except OperationError:
            raise ApiError(404, "not found") from None
        return occurrence_json(occ, staff=role.role in STAFF)


@router.get("/api/kpi", tags=["api"])
def api_kpi(
    role: Staff,
    app: Liaison,
    year: Annotated[int, Query(description="ROC year (112) or Gregorian year (2023).")],
    series: Annotated[str | None, Query(max_length=63, description="Only this series.")] = None,
    district: Annotated[str | None, Query(max_length=40, description="Only this district.")] = None,
    as_of: Annotated[str | None, Query(description="Count up to this date (YYYY-MM-DD).")] = None,
    city: Annotated[
        str | None, Query(max_length=40, description="The city (all-cities tokens).")
    ] = None,
) -> dict[str, Any]:
    """The coverage KPIs of a year (SPEC §7) of one city, per series instance and in total."""
    cutoff = parse_day(as_of, "as_of")
    with app.transaction() as session:
        known = session.get(Series, series) if series is not None else None
        if series is not None and (known is None or not role.sees(known.city_id)):
            raise ApiError(404, "unknown series")
        city_id = api_city(session, role, city)
        try:
            report = compute_kpis(
                session, year, series_id=series, district=district, as_of=cutoff, city_id=city_id
            )
        except OperationError as exc:
            raise ApiError(400, str(exc)) from exc
        return report.as_json()
