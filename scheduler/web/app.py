"""The HTTP side of `liaison serve`: the ASGI app, its error handling, and the server.

- ``GET /feeds/{token}.ics`` — a feed token's calendar (``scheduler.web.feeds``).
- ``/api/...`` — read-only JSON for holders of a bearer API token (``scheduler.web.api``).
- The secretariat's HTML pages (``scheduler.pages``).
- Errors are short JSON bodies (``{"detail": "..."}``), never a traceback; request
  bodies are capped and crashes answered without dropping the connection
  (``scheduler.web.limits``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduler.bootstrap import App
from scheduler.pages.routes import mount_pages
from scheduler.web import api, feeds
from scheduler.web.errors import ApiError, json_error
from scheduler.web.feeds import (
    FEED_CACHE_SIZE,
    FEED_RECHECK_SECONDS,
    FeedBuilder,
    FeedService,
    FeedsFromMemory,
)
from scheduler.web.limits import BodyLimit, CrashGuard


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and len(exc.detail) < 200 else "error"
    if exc.status_code == 404:
        detail = "not found"
    return json_error(exc.status_code, detail, dict(exc.headers or {}))


async def invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
    return json_error(
        422, f"invalid request: {where or 'input'}: {first.get('msg', 'bad value')}"[:200]
    )


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.detail)


async def data_error(_request: Request, _exc: Exception) -> Response:
    # a request value the database cannot take (NUL on PostgreSQL): the client's fault
    return json_error(400, "invalid request: a value contains characters that are not allowed")


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
    web = FastAPI(
        title="Liaison",
        version="1.0",
        description="Calendar feeds and a read-only JSON API for protection-network meetings.",
        docs_url="/docs",
        redoc_url=None,
    )
    web.state.liaison = app
    service = FeedService(
        app,
        builder=builder,
        cache_size=cache_size,
        recheck=recheck,
        ticker=ticker,
    )
    web.state.feeds = service
    web.add_exception_handler(StarletteHTTPException, http_error)
    web.add_exception_handler(RequestValidationError, invalid)
    web.add_exception_handler(ApiError, api_error)
    web.add_exception_handler(DataError, data_error)
    web.add_middleware(FeedsFromMemory, lookup=service.from_memory)
    # Added last = run first: bodies are capped before anything reads them, and a crash
    # anywhere below answers 500 on a connection that stays usable.
    web.add_middleware(
        BodyLimit, max_body=app.settings.max_body, max_upload=app.settings.max_upload
    )
    web.add_middleware(CrashGuard)
    web.include_router(api.health)
    web.include_router(feeds.router)
    web.include_router(api.router)
    mount_pages(web, app)
    return web


def run_server(app: App, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve until interrupted (uvicorn, one process).

    No access log: a feed URL *is* its secret token, so request lines must not be
    written anywhere. uvicorn picks its fastest installed HTTP parser and event
    loop (httptools, uvloop) and falls back to h11/asyncio.
    """
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
