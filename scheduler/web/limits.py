"""What the web server takes from a client at most, and how it stays up when a route fails.

- :class:`BodyLimit`: request bodies are capped (``Settings.max_body``; the minutes
  upload ``Settings.max_upload``). A declared ``Content-Length`` over the cap is refused
  before a byte of the body is read; a body streamed without one (chunked) is counted
  and refused as soon as it passes the cap. The refusal is a short ``413`` that closes
  the connection, so the server never swallows the rest of the upload.
- :class:`CrashGuard`: an exception no handler turned into a response is logged and
  answered ``500 internal error`` — and the connection stays usable. (Starlette's own
  last-resort handler re-raises after answering, and uvicorn then drops the keep-alive
  connection: the client's *next* request on it was reset.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("liaison.web")

# Routes that take an uploaded file (multipart) and so have the larger cap.
UPLOAD_ROUTES = (("POST", re.compile(r"^/meetings/[^/]+/minutes$")),)


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when a streamed body passes the cap."""


def megabytes(limit: int) -> str:
    return f"{limit / (1024 * 1024):.3g} MB"


async def send_short(
    send: Send, status: int, text: str, *, close: bool = False, json: bool = False
) -> None:
    """A short text/plain (or JSON) response (``close``: and end the connection after it)."""
    body = text.encode("utf-8")
    kind = b"application/json" if json else b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length (-1 when it is not a number: refused as too large);
    None for a chunked body; 0 for none at all."""
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
        if name == b"transfer-encoding":
            chunked = True
    return None if chunked else 0


class BodyLimit:
    """Pure ASGI middleware: cap every HTTP request body (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_upload: int,
        uploads: Sequence[tuple[str, re.Pattern[str]]] = UPLOAD_ROUTES,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.uploads = tuple(uploads)

    def limit(self, scope: Scope) -> int:
        method, path = scope.get("method", ""), scope.get("path", "")
        if any(method == m and pattern.match(path) for m, pattern in self.uploads):
            return self.max_upload
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = declared_length(scope)
        refusal = f"413 請求內容過大（上限 {megabytes(limit)}）Request body too large.\n"
        if declared is not None and not 0 <= declared <= limit:
            await send_short(send, 413, refusal, close=True)
            return
        seen = 0
        exceeded = False
        body_done = declared == 0
        started = False

        async def counted() -> Message:
            nonlocal seen, exceeded, body_done
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the cut body: the client gets the 413
                return
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    # Answered without reading the whole body (a refusal before the upload
                    # was read): close, so the server does not go on receiving it.
                    headers = [h for h in message.get("headers", ()) if h[0] != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_short(send, 413, refusal, close=True)


class CrashGuard:
    """Pure ASGI middleware: answer an unhandled exception with a 500, without re-raising."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: nothing sane can follow on this connection
                raise
            await send_short(send, 500, '{"detail":"internal error"}', json=True)
