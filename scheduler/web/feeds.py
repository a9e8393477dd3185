"""``GET /feeds/{token}.ics``: a feed token's calendar, answered from memory when it can be.

The ETag is a hash of everything the feed's bytes depend on
(:func:`notifications.feeds.feed_snapshot`), so it changes exactly when they do. A
matching ``If-None-Match`` (or ``If-Modified-Since``) answers 304 without building
anything; built feeds are kept in a small in-process cache keyed by ETag. While the
database is unchanged since a token's ETag was computed (one indexed query,
:func:`meetings.access.feeds.data_version`), the answer comes from memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from meetings.access.feeds import data_version, resolve_feed
from meetings.access.tokens import hash_token
from meetings.kernel.localtime import local_today
from notifications.feeds import feed_snapshot
from notifications.ics import FeedEvent, build_feed
from scheduler.bootstrap import App
from scheduler.web.errors import json_error

FEED_CACHE_SIZE = 256
# How long a feed answered from memory is trusted before the database is asked again
# whether the token is still live and anything changed (so a revocation or a moved
# meeting shows within this time; calendar clients poll hourly at most).
FEED_RECHECK_SECONDS = 1.0
ICS_TYPE = "text/calendar; charset=utf-8"
DISPOSITION = 'inline; filename="liaison.ics"'


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


T = TypeVar("T")


class LRU(Generic[T]):
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
class KnownFeed:
    """A token's last ETag, the database version and day it was computed for, and when
    (on the server's monotonic clock) the token and version were last checked."""

    version: tuple[Any, ...]
    day: date
    tz: str
    etag: str
    last_modified: datetime
    checked: float
    headers: tuple[tuple[str, str], ...]

    def current(self, inm: str | None, ims: str | None) -> bool:
        """True if the client's copy (its If-None-Match, else If-Modified-Since) is this one."""
        if inm is not None:
            return etag_matches(inm, self.etag)
        return ims is not None and not_modified_since(ims, self.last_modified)


def etag_matches(header: str, etag: str) -> bool:
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


def not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
MemoryLookup = Callable[[str, str | None, str | None], Answer | None]


class FeedsFromMemory:
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


class FeedService:
    """The feeds of one application: built bodies by ETag, and each token's last ETag.

    A feed answered from memory is re-validated against the database (token still
    live, nothing changed) when it was last checked ``recheck`` seconds ago or
    more, on the ``ticker`` clock; ``recheck=0`` checks on every request.
    """

    def __init__(
        self,
        app: App,
        *,
        builder: FeedBuilder | None = None,
        cache_size: int = FEED_CACHE_SIZE,
        recheck: float = FEED_RECHECK_SECONDS,
        ticker: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.build: FeedBuilder = builder or build_feed
        self.cache: LRU[bytes] = LRU(cache_size)
        self.fronts: LRU[KnownFeed] = LRU(4 * cache_size)
        self.recheck = recheck
        self.ticker = ticker

    def fresh(self, known: KnownFeed | None, now: datetime, tick: float) -> bool:
        """Checked less than ``recheck`` s ago, for the token's local day of ``now``."""
        return (
            known is not None
            and tick - known.checked < self.recheck
            and known.day == local_today(now, known.tz)
        )

    def respond(self, request: Request, known: KnownFeed, body: bytes | None) -> Response | None:
        """304 if the client's copy is current; the cached body if we have it; else None."""
        headers = dict(known.headers)
        if known.current(
            request.headers.get("if-none-match"), request.headers.get("if-modified-since")
        ):
            return Response(status_code=304, headers=headers)
        if body is None:
            return None
        headers["Content-Disposition"] = DISPOSITION
        return Response(content=body, media_type=ICS_TYPE, headers=headers)

    def from_memory(self, token: str, inm: str | None, ims: str | None) -> Answer | None:
        """The answer for a token re-validated less than ``recheck`` s ago, if at hand."""
        known = self.fronts.get(hash_token(token))
        if known is None or not self.fresh(known, self.app.clock.now(), self.ticker()):
            return None
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in known.headers]
        if known.current(inm, ims):
            return 304, raw, b""
        body = self.cache.get(known.etag)
        if body is None:
            return None
        raw += [
            (b"content-disposition", DISPOSITION.encode("latin-1")),
            (b"content-type", ICS_TYPE.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        return 200, raw, body

    def full(
        self,
        token: str,
        request: Request,
        now: datetime,
        version: tuple[Any, ...],
        checked: float,
    ) -> Response:
        """Resolve the scope, read its content and ETag, build the feed unless not needed."""
        with self.app.transaction() as session:
            scope = resolve_feed(session, token)
            if scope is None:
                return json_error(404, "not found")
            snap = feed_snapshot(session, scope, now, self.app.settings.base_url)
        known = KnownFeed(
            version,
            local_today(now, scope.tz),
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
        self.fronts.put(hash_token(token), known)
        answer = self.respond(request, known, self.cache.get(snap.etag))
        if answer is not None:
            return answer
        body = self.build(
            snap.events, calname=snap.calname, now=now, tz=snap.tz, refresh=snap.refresh
        )
        self.cache.put(snap.etag, body)
        answer = self.respond(request, known, body)
        assert answer is not None
        return answer

    async def serve(self, token: str, request: Request) -> Response:
        """The fast paths inline (memory, then one indexed query), else :meth:`full`."""
        now = self.app.clock.now()
        key = hash_token(token)
        known = self.fronts.get(key)
        tick = self.ticker()
        if known is not None and self.fresh(known, now, tick):
            answer = self.respond(request, known, self.cache.get(known.etag))
            if answer is not None:
                return answer
        with self.app.engine.connect() as conn:  # Core, not a Session: a third of the cost
            version = data_version(conn, token)
        if version is None:
            return json_error(404, "not found")
        if (
            known is not None
            and known.version == version
            and known.day == local_today(now, known.tz)
        ):
            known = replace(known, checked=tick)
            self.fronts.put(key, known)
            answer = self.respond(request, known, self.cache.get(known.etag))
            if answer is not None:
                return answer
        return await run_in_threadpool(self.full, token, request, now, version, tick)


def current_feeds(request: Request) -> FeedService:
    """The feeds of the web app, set by ``create_web_app``."""
    feeds = request.app.state.feeds
    assert isinstance(feeds, FeedService)
    return feeds


router = APIRouter()


@router.head("/feeds/{token}.ics", include_in_schema=False)
@router.get(
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
    return await current_feeds(request).serve(token, request)
