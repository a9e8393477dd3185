"""Bad API tokens are cheap and harmless, and never lock anyone out (issue 12).

The decision: API tokens are 256 random bits (``secrets.token_urlsafe(32)``), so a bad
one is not throttled — a lockout keyed on a token or an address would let one NAT'd
office lock out another. This proves what that decision relies on, with 2,000 seeded
bad ``Authorization`` headers against every ``/api`` endpoint (the in-process app):

- every answer is 400/401/403/404 — never a 5xx, never a 200 — a short JSON
  ``{"detail": …}`` that does not echo what was sent;
- a malformed token costs no lookup at all (no statement touches ``api_tokens``), a
  well-formed unknown one exactly one indexed SELECT;
- the database is byte-for-byte what it was (every table: ``api_tokens``,
  ``audit_records``, ``login_throttle`` …): nothing is counted, logged or stamped;
- the valid token works as before afterwards.
"""

from __future__ import annotations

import base64
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from meetings.access.tokens import create_api_token, revoke_api_token
from meetings.db import LoginThrottle
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.web.app import create_web_app
from tests.support.cities import OTHER_UID, SECRETS, load_two_cities
from tests.support.dbdump import dump

OWN_UID = "cp-20230308@liaison.test.example"
BARRAGE = 2_000
SEED = 12  # issue 12
ENDPOINTS = (
    "/api/series",
    "/api/occurrences?from=2023-01-01&to=2023-06-30",
    f"/api/occurrences/{OWN_UID}",
    "/api/kpi?year=112",
)
URLSAFE = string.ascii_letters + string.digits + "-_"
SHAPE = re.compile(rb"^[A-Za-z0-9_-]{32,64}$")  # what could be a token (43 characters issued)


@dataclass
class Tokens:
    admin: str  # 測試市, the one that must keep working
    participant: str  # 測試市, may not read KPIs
    revoked: str  # 測試市, revoked
    other_city: str  # 紐約市 admin


@pytest.fixture
def tokens(app: App, clock: FixedClock) -> Tokens:
    now = load_two_cities(app, clock)
    with app.transaction() as s:
        admin = create_api_token(s, "admin", now, city="測試市", label="kpi sync").token
        participant = create_api_token(s, "participant", now, city="測試市").token
        revoked = create_api_token(s, "admin", now, city="測試市")
        other = create_api_token(s, "admin", now, city="紐約市").token
        revoke_api_token(s, revoked.id, now)
    return Tokens(admin, participant, revoked.token, other)


@pytest.fixture
def client(app: App, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_web_app(app), base_url="http://127.0.0.1") as c:
        yield c


@dataclass
class TokenQueries:
    """Counts the statements that read ``api_tokens`` (the only cost a token can cause)."""

    n: int = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement:
            self.n += 1


def flip(token: str, i: int) -> str:
    """``token`` with character ``i`` replaced by another URL-safe character."""
    c = token[i]
    return token[:i] + ("A" if c != "A" else "B") + token[i + 1 :]


def _random_bytes(rng: random.Random, n: int) -> bytes:
    # Any byte but CR, LF (a client cannot send them in a header value) and the
    # whitespace a server would strip from the ends.
    return bytes(rng.choice([b for b in range(256) if b not in b"\r\n\t "]) for _ in range(n))


@dataclass(frozen=True)
class Probe:
    kind: str
    header: bytes | None  # the Authorization value; None: no header at all
    credential: bytes  # what follows the scheme (must never be echoed)
    well_formed: bool  # a bearer credential shaped like ours: costs one lookup


def _probe(kind: str, value: bytes | str | None) -> Probe:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    credential = b"" if raw is None else raw.partition(b" ")[2]
    shaped = raw is not None and raw[:7].lower() == b"bearer " and bool(SHAPE.match(credential))
    return Probe(kind, raw, credential, shaped)


def bad_headers(rng: random.Random, t: Tokens, n: int) -> list[Probe]:
    """``n`` bad Authorization headers, every kind many times, in a seeded order."""
    valid = t.admin
    makers = [
        lambda: _probe("none", None),
        lambda: _probe("empty", b""),
        lambda: _probe("scheme only", rng.choice(["Bearer", "bearer", "BEARER", "Token"])),
        lambda: _probe("empty credential", "Bearer "),
        lambda: _probe(
            "unknown, well-formed",
            "Bearer " + "".join(rng.choice(URLSAFE) for _ in range(43)),
        ),
        lambda: _probe("random bytes", b"Bearer " + _random_bytes(rng, rng.randint(1, 200))),
        lambda: _probe("100 kB", "Bearer " + "".join(rng.choice(URLSAFE) for _ in range(100_000))),
        lambda: _probe(
            "non-ASCII", "Bearer " + rng.choice(["桃園市", "тoken", "ｔｏｋｅｎ", "🔑" * 11])
        ),
        lambda: _probe("NUL", "Bearer " + valid[:20] + "\x00" + valid[20:]),
        lambda: _probe("one flipped", "Bearer " + flip(valid, rng.randrange(len(valid)))),
        lambda: _probe("truncated", "Bearer " + valid[: rng.randint(1, len(valid) - 1)]),
        lambda: _probe("extended", "Bearer " + valid + rng.choice(URLSAFE)),
        lambda: _probe("case changed", "Bearer " + valid.swapcase()),
        lambda: _probe("revoked", "Bearer " + t.revoked),
        lambda: _probe("lowercase scheme, wrong token", "bearer " + flip(valid, 0)),
        lambda: _probe("trailing garbage", "Bearer " + valid + " x"),
        lambda: _probe("wrong scheme", rng.choice(["Token ", "Bearer: ", "JWT "]) + valid),
        lambda: _probe(
            "basic auth",
            "Basic "
            + base64.b64encode(
                rng.choice([f"{valid}:".encode(), b"admin:admin", f"chen:{valid}".encode()])
            ).decode(),
        ),
        lambda: _probe("SQL", "Bearer ' OR '1'='1"),
        lambda: _probe("path", "Bearer ../../../etc/passwd"),
    ]
    probes = [makers[i % len(makers)]() for i in range(n)]
    rng.shuffle(probes)
    return probes


def check_refused(r: Any, probe: Probe, url: str) -> None:
    label = (probe.kind, url, r.status_code, r.content[:200])
    assert r.status_code in (401, 403), label
    assert r.headers["content-type"].startswith("application/json"), label
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and len(r.content) < 200, label
    if len(probe.credential) >= 6:  # the credential is never echoed, body or headers
        assert probe.credential not in r.content, label
        assert all(probe.credential not in v for _k, v in r.headers.raw), label


def test_two_thousand_bad_tokens_are_refused_cheaply_and_change_nothing(
    app: App, client: TestClient, tokens: Tokens, db_url: str
) -> None:
    rng = random.Random(SEED)
    probes = bad_headers(rng, tokens, BARRAGE)
    assert len({p.kind for p in probes}) >= 20
    assert sum(p.well_formed for p in probes) > BARRAGE // 5  # many reach the lookup
    auth = {"Authorization": f"Bearer {tokens.admin}"}
    assert client.get("/api/series", headers=auth).status_code == 200  # warm, and it works
    before = dump(db_url)
    assert before["login_throttle"] == [] and before["audit_records"] == []
    queries = TokenQueries()
    event.listen(app.engine, "before_cursor_execute", queries)
    try:
        for i, probe in enumerate(probes):
            url = ENDPOINTS[i % len(ENDPOINTS)]
            headers = {} if probe.header is None else {"Authorization": probe.header}
            queries.n = 0
            r = client.get(url, headers=headers)  # type: ignore[arg-type]
            check_refused(r, probe, url)
            assert r.status_code == 401, (probe.kind, url, r.status_code)
            assert "bearer" in r.headers.get("www-authenticate", "").lower()
            # a malformed token is refused before any lookup; a well-formed one by one
            assert queries.n == (1 if probe.well_formed else 0), (probe.kind, queries.n)
    finally:
        event.remove(app.engine, "before_cursor_execute", queries)
    assert dump(db_url) == before  # byte for byte: nothing counted, stamped or audited
    # No lockout: the valid token still reads data — also written as RFC 7235 allows
    # (the scheme in any case, more than one space before the token).
    for url in ENDPOINTS:
        ok = client.get(url, headers=auth)
        assert ok.status_code == 200, (url, ok.text[:200])
        assert ok.json()
    for spelling in ("bearer ", "BEARER ", "Bearer  "):
        r = client.get(
            f"/api/occurrences/{OWN_UID}", headers={"Authorization": spelling + tokens.admin}
        )
        assert r.status_code == 200 and r.json()["uid"] == OWN_UID, spelling
    with app.transaction() as s:
        assert s.scalar(select(func.count()).select_from(LoginThrottle)) == 0


def test_valid_tokens_without_the_right_are_refused_without_data(
    app: App, client: TestClient, tokens: Tokens, db_url: str
) -> None:
    """A live token asking for what it may not see: 403 (a participant's KPIs) or the
    404 of an unknown thing (another city's meeting, series or KPIs) — never its data."""
    before = dump(db_url)
    participant = {"Authorization": f"Bearer {tokens.participant}"}
    other = {"Authorization": f"Bearer {tokens.other_city}"}
    refusals = [
        (participant, "/api/kpi?year=112", 403),
        (other, f"/api/occurrences/{OWN_UID}", 404),
        (other, "/api/occurrences?from=2023-01-01&to=2023-06-30&series=cp", 404),
        (other, "/api/kpi?year=112&city=測試市", 404),
        (other, "/api/kpi?year=112&series=cp", 404),
    ]
    for _ in range(50):  # repeated: still no lockout of either token, nothing written
        for headers, url, status in refusals:
            r = client.get(url, headers=headers)
            assert r.status_code == status, (url, r.status_code, r.text[:200])
            assert len(r.content) < 200 and "兒少保護網絡會議" not in r.text
            assert tokens.participant not in r.text and tokens.other_city not in r.text
    assert dump(db_url) == before
    mine = client.get("/api/occurrences?from=2023-01-01&to=2023-06-30", headers=other).json()
    assert mine and {o["city"] for o in mine} == {"紐約市"}
    assert OTHER_UID in {o["uid"] for o in mine}
    assert all(s in str(mine) for s in SECRETS[:2])
    assert client.get("/api/series", headers=participant).status_code == 200
