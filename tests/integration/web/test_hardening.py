"""Hostile HTTP input against a real server: extreme dates and ids, huge bodies, exports."""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from meetings.access.tokens import create_api_token
from meetings.db import Minutes, Occurrence
from meetings.kernel.cells import append_row, safe_text
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.feeds import LiveServer, live_server
from tests.support.pages import PASSWORD, seed


@pytest.fixture
def served(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[tuple[LiveServer, str]]:
    clock.set(taipei(2023, 1, 12, 10, 0))
    seed(app, tmp_path)
    with app.transaction() as s:
        token = create_api_token(s, "secretariat", clock.now(), city="測試市").token
    with live_server(app) as srv:
        yield srv, token


def connect(srv: LiveServer) -> http.client.HTTPConnection:
    host, port = srv.base.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=15)


def login_cookie(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = r.getheader("set-cookie", "").split(";")[0]
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    body = f"email=chen%40example.org&password={PASSWORD.replace(' ', '+')}&csrf={csrf}"
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    r = conn.getresponse()
    r.read()
    assert r.status == 303
    return r.getheader("set-cookie", "").split(";")[0]


def test_extreme_dates_and_ids_answer_4xx_and_keep_the_connection(
    served: tuple[LiveServer, str],
) -> None:
    srv, token = served
    conn = connect(srv)
    cookie = login_cookie(conn)
    api = {"Authorization": f"Bearer {token}"}
    page = {"Cookie": cookie}
    conn.request("GET", "/meetings", headers=page)
    listing = conn.getresponse().read().decode()
    csrf = listing.split('name="csrf" value="')[1].split('"')[0]
    cases = [
        ("GET", "/api/occurrences?from=0001-01-01", api, 400),
        ("GET", "/api/occurrences?from=9999-12-31", api, 400),
        ("GET", "/meetings?to=9999-12-31", page, 400),
        ("POST", "/actions/99999999999999999999999/close", page, 404),
    ]
    for method, path, headers, status in cases:
        body = f"csrf={csrf}" if method == "POST" else None
        extra = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers={**headers, **extra})
        r = conn.getresponse()
        text = r.read()
        assert r.status == status, (path, r.status, text[:200])
        assert b"Traceback" not in text
        # the next request on the same keep-alive connection still works
        conn.request("GET", "/api/series", headers=api)
        nxt = conn.getresponse()
        assert nxt.status == 200 and nxt.read().startswith(b"[")
    conn.close()


def test_an_unauthenticated_upload_is_refused_before_its_body_is_sent(
    served: tuple[LiveServer, str],
) -> None:
    srv, _ = served
    host, port = srv.base.removeprefix("http://").split(":")
    # Declared 100 MB: refused on the Content-Length alone.
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(
            b"POST /meetings/x/minutes HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 104857600\r\n\r\n" + b"x" * 65536
        )
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    # Streamed (chunked) with no cookie: the login check answers before the body is read.
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(
            b"POST /meetings/x/minutes HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"10000\r\n" + b"x" * 65536 + b"\r\n"
        )
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 303") and b"/login" in head
        assert b"connection: close" in head.lower()
        sent = 65536
        with pytest.raises(OSError):  # the server closed the connection: 100 MB cannot follow
            while sent < 100 * 1024 * 1024:
                s.sendall(b"10000\r\n" + b"x" * 65536 + b"\r\n")
                sent += 65536
        assert sent < 16 * 1024 * 1024


def test_a_big_form_post_is_refused_413(served: tuple[LiveServer, str]) -> None:
    srv, _ = served
    host, port = srv.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(  # 3 MB declared, over the 2 MB default: answered before it is sent
            b"POST /login HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 3145728\r\n\r\nemail=aaaa"
        )
        answer = b""
        while chunk := s.recv(4096):  # the server closes after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and "請求內容過大".encode() in answer


HOSTILE = ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "-2+3", "+1", "\t=1", "\r=1"]


def test_formula_like_text_is_neutralised_in_csv_and_xlsx() -> None:
    assert [safe_text(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert safe_text(-2) == -2 and safe_text(1.5) == 1.5 and safe_text("家防中心") == "家防中心"
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    append_row(ws, [*HOSTILE, -2, 3.5])
    buf = io.BytesIO()
    wb.save(buf)
    back = openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active
    assert back is not None
    cells = list(back.iter_rows(min_row=1, max_row=1))[0]
    for cell, value in zip(cells, HOSTILE, strict=False):
        # (XML itself turns a CR into LF: that is the file format, not a formula)
        assert cell.data_type == "s" and cell.value == value.replace("\r", "\n")
    assert cells[len(HOSTILE)].value == -2 and cells[len(HOSTILE)].data_type == "n"


def test_a_logged_in_upload_streamed_past_the_cap_is_cut_off(
    served: tuple[LiveServer, str], app: App
) -> None:
    """Logged in, the login check passes: the cap itself must stop a chunked body."""
    srv, _ = served
    conn = connect(srv)
    cookie = login_cookie(conn)
    conn.close()
    with app.transaction() as s:
        uid = s.scalars(select(Occurrence.uid).order_by(Occurrence.id)).first()
        before = s.scalar(select(func.count()).select_from(Minutes))
    host, port = srv.base.removeprefix("http://").split(":")
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    answer, sent = b"", 0
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(
            f"POST /meetings/{uid}/minutes HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        file_head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.md"\r\n\r\n'
        s.sendall(b"%x\r\n%s\r\n" % (len(file_head), file_head))
        try:
            while sent < 100 * 1024 * 1024:
                s.sendall(chunk)
                sent += 65536
        except OSError:  # the server closed the connection after its answer
            pass
        try:
            while part := s.recv(4096):
                answer += part
        except OSError:  # a reset may discard the answer: the bound below still holds
            pass
    assert sent < 16 * 1024 * 1024
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    with app.transaction() as s:
        after = s.scalar(select(func.count()).select_from(Minutes))
    assert after == before
