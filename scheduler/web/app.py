"""The HTTP side of `liaison serve`: calendar feeds, the JSON API, health.

- ``GET /feeds/{token}.ics`` — a feed token's calendar. The ETag is a hash of
  everything the feed's bytes depend on (:func:`notifications.feeds.feed_snapshot`),
  so it changes exactly when they do. A matching ``If-None-Match`` (or
  ``If-Modified-Since``) answers 304 without building anything; built feeds are
  kept in a small in-process cache keyed by ETag. While the database is
  unchanged since a token's ETag was computed (one indexed query,
  :func:`meetings.access.feeds.data_version`), the answer comes from memory.
- ``/api/...`` — read-only JSON for holders of a bearer API token.
- Errors are short JSON bodies (``{"detail": "..."}``), never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, text
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from meetings.access.feeds import Role, api_role, data_version, hash_token, resolve_feed
from meetings.db import Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import parse_date
from meetings.kpis.queries import compute_kpis
from notifications.feeds import feed_snapshot
from notifications.ics import FeedEvent, build_feed
from scheduler.bootstrap import App
from scheduler.pages.router import mount_pages
from scheduler.serialization import occurrence_json

log = logging.getLogger("liaison.web")
TAIPEI = ZoneInfo("Asia/Taipei")
MAX_API_WINDOW_DAYS = 3 * 366
MAX_API_ROWS = 10_000
FEED_CACHE_SIZE = 256
# How long a feed answered from memory is trusted before the database is asked again
# whether the token is still live and anything changed (so a revocation or a moved
# meeting shows within this time; calendar clients poll hourly at most).
FEED_RECHECK_SECONDS = 1.0
ICS_TYPE = "text/calendar; charset=utf-8"


class FeedBuilder(Protocol):
    """The signature of :func:`notifications.ics.build_feed` (injectable for tests)."""

    def __call__(
        self,
        events: Sequence[FeedEvent],
        *,
        calname: str,
        now: datetime,
        tz: str,
        refresh: timedelta,
    ) -> bytes: ...


class ApiError(Exception):
    """A request the API refuses: status and a short message for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


T = TypeVar("T")


class _LRU(Generic[T]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass(frozen=True)
class _Known:
    """A token's last ETag, the database version and day it was computed for, and when
    (on the server's monotonic clock) the token and version were last checked."""

    version: tuple[Any, ...]
    day: date
    tz: str
    etag: str
    last_modified: datetime
    checked: float
    headers: tuple[tuple[str, str], ...]


def _local_day(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of an If-None-Match header with our ETag."""
    if header.strip() == "*":
        return True
    for part in header.split(","):
        candidate = part.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
MemoryLookup = Callable[[str, str | None, str | None], Answer | None]


class _FeedsFromMemory:
    """Pure ASGI front for ``GET /feeds/{token}.ics`` answered from memory.

    When a token's ETag is known, was re-validated less than ``recheck`` seconds ago
    and the body (or a 304) is at hand, the answer is written here, before FastAPI's
    routing and dependency machinery; anything else passes through to the app.
    """

    def __init__(self, app: ASGIApp, lookup: MemoryLookup) -> None:
        self.app = app
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith("/feeds/") and path.endswith(".ics"):
                inm = ims = None
                for name, value in scope["headers"]:
                    if name == b"if-none-match":
                        inm = value.decode("latin-1")
                    elif name == b"if-modified-since":
                        ims = value.decode("latin-1")
                answer = self.lookup(path[len("/feeds/") : -len(".ics")], inm, ims)
                if answer is not None:
                    status, headers, body = answer
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


def _parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if len(value) > 20:
        raise ApiError(400, f"{name}: not a date (use YYYY-MM-DD)")
    try:
        return parse_date(value)
    except ValueError:
        raise ApiError(400, f"{name}: not a date (use YYYY-MM-DD)") from None


def _series_json(s: Series) -> dict[str, Any]:
    spec = s.spec
    invite = spec.get("invite") or {}
    trigger = spec.get("trigger") or None
    return {
        "id": s.id,
        "city": s.city.name,
        "title": s.title,
        "organizer": spec.get("organizer"),
        "chair": spec.get("chair"),
        "location": spec.get("location"),
        "time": spec.get("time"),
        "duration": spec.get("duration"),
        "rrule": s.rrule,
        "per_district": bool(spec.get("per_district")),
        "trigger": trigger.get("event") if isinstance(trigger, dict) else None,
        "invite": {
            "required": list(invite.get("required") or []),
            "optional": list(invite.get("optional") or []),
        },
        "active": s.active,
    }


_bearer = HTTPBearer(auto_error=False, description="An API token (`liaison tokens create`).")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Role:
    """The role of the request's bearer API token; 401 without a live one."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StarletteHTTPException(401, "missing bearer token", headers=challenge)
    app: App = request.app.state.liaison
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
    if role not in ("admin", "secretariat"):
        raise StarletteHTTPException(403, "admin or secretariat token required")
    return role


Staff = Annotated[Role, Depends(staff)]


def create_web_app(
    app: App,
    *,
    builder: FeedBuilder | None = None,
    cache_size: int = FEED_CACHE_SIZE,
    recheck: float = FEED_RECHECK_SECONDS,
    ticker: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The ASGI application of `liaison serve` over ``app``'s database and clock.

    A feed answered from memory is re-validated against the database (token still
    live, nothing changed) when it was last checked ``recheck`` seconds ago or
    more, on the ``ticker`` clock; ``recheck=0`` checks on every request.
    """
    build: FeedBuilder = builder or build_feed
    cache: _LRU[bytes] = _LRU(cache_size)
    fronts: _LRU[_Known] = _LRU(4 * cache_size)
    base_url = app.settings.base_url
    web = FastAPI(
        title="Liaison",
        version="1.0",
        description="Calendar feeds and a read-only JSON API for protection-network meetings.",
        docs_url="/docs",
        redoc_url=None,
    )
    web.state.liaison = app

    @web.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and len(exc.detail) < 200 else "error"
        if exc.status_code == 404:
            detail = "not found"
        return _error(exc.status_code, detail, dict(exc.headers or {}))

    @web.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _error(
            422, f"invalid request: {where or 'input'}: {first.get('msg', 'bad value')}"[:200]
        )

    @web.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.detail)

    @web.exception_handler(DataError)
    async def _data_error(_request: Request, _exc: DataError) -> Response:
        # a request value the database cannot take (NUL on PostgreSQL): the client's fault
        return _error(400, "invalid request: a value contains characters that are not allowed")

    @web.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error")

    @web.get("/healthz", tags=["ops"])
    def healthz() -> Response:
        """Liveness and database reachability."""
        try:
            with app.transaction() as session:
                session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check failed")
            return _error(503, "database unavailable")
        return JSONResponse({"status": "ok"})

    def respond(request: Request, known: _Known, body: bytes | None) -> Response | None:
        """304 if the client's copy is current; the cached body if we have it; else None."""
        headers = dict(known.headers)
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, known.etag)) or (
            inm is None and ims is not None and _not_modified_since(ims, known.last_modified)
        ):
            return Response(status_code=304, headers=headers)
        if body is None:
            return None
        headers["Content-Disposition"] = 'inline; filename="liaison.ics"'
        return Response(content=body, media_type=ICS_TYPE, headers=headers)

    def from_memory(token: str, inm: str | None, ims: str | None) -> Answer | None:
        """The answer for a token re-validated less than ``recheck`` s ago, if at hand."""
        known = fronts.get(hash_token(token))
        if known is None or ticker() - known.checked >= recheck:
            return None
        if known.day != _local_day(app.clock.now(), known.tz):
            return None
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in known.headers]
        if (inm is not None and _etag_matches(inm, known.etag)) or (
            inm is None and ims is not None and _not_modified_since(ims, known.last_modified)
        ):
            return 304, raw, b""
        body = cache.get(known.etag)
        if body is None:
            return None
        raw += [
            (b"content-disposition", b'inline; filename="liaison.ics"'),
            (b"content-type", ICS_TYPE.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        return 200, raw, body

    web.add_middleware(_FeedsFromMemory, lookup=from_memory)

    def full(
        token: str, request: Request, now: datetime, version: tuple[Any, ...], checked: float
    ) -> Response:
        """Resolve the scope, read its content and ETag, build the feed unless not needed."""
        with app.transaction() as session:
            scope = resolve_feed(session, token)
            if scope is None:
                return _error(404, "not found")
            snap = feed_snapshot(session, scope, now, base_url)
        known = _Known(
            version,
            _local_day(now, scope.tz),
            scope.tz,
            snap.etag,
            snap.last_modified,
            checked,
            (
                ("ETag", snap.etag),
                ("Last-Modified", format_datetime(snap.last_modified, usegmt=True)),
                ("Cache-Control", "private, no-cache"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ),
        )
        fronts.put(hash_token(token), known)
        answer = respond(request, known, cache.get(snap.etag))
        if answer is not None:
            return answer
        body = build(snap.events, calname=snap.calname, now=now, tz=snap.tz, refresh=snap.refresh)
        cache.put(snap.etag, body)
        answer = respond(request, known, body)
        assert answer is not None
        return answer

    @web.head("/feeds/{token}.ics", include_in_schema=False)
    @web.get(
        "/feeds/{token}.ics",
        tags=["feeds"],
        response_class=Response,
        responses={200: {"content": {"text/calendar": {}}}, 304: {}, 404: {}},
    )
    async def feed(token: str, request: Request) -> Response:
        """A calendar feed (RFC 5545) for a feed token; 304 when unchanged.

        Fastest path (no query): this token's ETag was computed today and checked
        less than ``recheck`` seconds ago → answer from memory. Fast path (inline,
        one indexed query): the token is live and nothing in the database changed
        since → the same. Anything else runs the full path in a worker thread.
        """
        now = app.clock.now()
        key = hash_token(token)
        known = fronts.get(key)
        tick = ticker()
        if (
            known is not None
            and tick - known.checked < recheck
            and known.day == _local_day(now, known.tz)
        ):
            answer = respond(request, known, cache.get(known.etag))
            if answer is not None:
                return answer
        with app.engine.connect() as conn:  # Core, not a Session: a third of the cost
            version = data_version(conn, token)
        if version is None:
            return _error(404, "not found")
        if (
            known is not None
            and known.version == version
            and known.day == _local_day(now, known.tz)
        ):
            known = replace(known, checked=tick)
            fronts.put(key, known)
            answer = respond(request, known, cache.get(known.etag))
            if answer is not None:
                return answer
        return await run_in_threadpool(full, token, request, now, version, tick)

    @web.get("/api/series", tags=["api"])
    def api_series(role: Reader) -> list[dict[str, Any]]:
        """Every declared series."""
        with app.transaction() as session:
            rows = session.scalars(select(Series).order_by(Series.city_id, Series.id)).all()
            return [_series_json(s) for s in rows]

    @web.get("/api/occurrences", tags=["api"])
    def api_occurrences(
        role: Reader,
        from_: Annotated[
            str | None, Query(alias="from", description="First date (YYYY-MM-DD; default today).")
        ] = None,
        to: Annotated[
            str | None, Query(description="Last date, inclusive (default: 3 months after from).")
        ] = None,
        series: Annotated[str | None, Query(max_length=63, description="Only this series.")] = None,
    ) -> list[dict[str, Any]]:
        """Meetings starting between two dates (at most 3 years apart)."""
        today = app.clock.now().astimezone(TAIPEI).date()
        start = _parse_day(from_, "from") or today
        end = _parse_day(to, "to") or start + timedelta(days=92)
        if end < start:
            raise ApiError(400, "to: before from")
        if (end - start).days > MAX_API_WINDOW_DAYS:
            raise ApiError(400, "window too large: at most 3 years between from and to")
        lo = datetime.combine(start, datetime.min.time(), TAIPEI)
        hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), TAIPEI)
        with app.transaction() as session:
            q = select(Occurrence).where(Occurrence.start_at >= lo, Occurrence.start_at < hi)
            if series is not None:
                if session.get(Series, series) is None:
                    raise ApiError(404, "unknown series")
                q = q.where(Occurrence.series_id == series)
            rows = session.scalars(
                q.order_by(Occurrence.start_at, Occurrence.uid).limit(MAX_API_ROWS + 1)
            ).all()
            if len(rows) > MAX_API_ROWS:
                raise ApiError(400, f"more than {MAX_API_ROWS} meetings: narrow the window")
            return [occurrence_json(o, staff=role in ("admin", "secretariat")) for o in rows]

    @web.get("/api/occurrences/{uid}", tags=["api"])
    def api_occurrence(uid: str, role: Reader) -> dict[str, Any]:
        """One meeting by UID."""
        if len(uid) > 300:
            raise ApiError(404, "not found")
        with app.transaction() as session:
            occ = session.scalar(select(Occurrence).where(Occurrence.uid == uid))
            if occ is None:
                raise ApiError(404, "not found")
            return occurrence_json(occ, staff=role in ("admin", "secretariat"))

    @web.get("/api/kpi", tags=["api"])
    def api_kpi(
        role: Staff,
        year: Annotated[int, Query(description="ROC year (112) or Gregorian year (2023).")],
        series: Annotated[str | None, Query(max_length=63, description="Only this series.")] = None,
        district: Annotated[
            str | None, Query(max_length=40, description="Only this district.")
        ] = None,
        as_of: Annotated[
            str | None, Query(description="Count up to this date (YYYY-MM-DD).")
        ] = None,
    ) -> dict[str, Any]:
        """The coverage KPIs of a year (SPEC §7), per series instance and in total."""
        cutoff = _parse_day(as_of, "as_of")
        with app.transaction() as session:
            if series is not None and session.get(Series, series) is None:
                raise ApiError(404, "unknown series")
            try:
                report = compute_kpis(
                    session, year, series_id=series, district=district, as_of=cutoff
                )
            except OperationError as exc:
                raise ApiError(400, str(exc)) from exc
            return report.as_json()

    mount_pages(web, app)  # the secretariat's HTML pages (scheduler/pages.py)
    return web


def run_server(app: App, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve until interrupted (uvicorn, one process).

    No access log: a feed URL *is* its secret token, so request lines must not be
    written anywhere. uvicorn picks its fastest installed HTTP parser and event
    loop (httptools, uvloop) and falls back to h11/asyncio.
    """
    import uvicorn

    config = uvicorn.Config(
        create_web_app(app),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        server_header=False,
        http="auto",
        loop="auto",
    )
    uvicorn.Server(config).run()


__all__: list[str] = ["ApiError", "FeedBuilder", "create_web_app", "run_server"]
