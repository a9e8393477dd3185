"""The HTTP API fuzzed from its own OpenAPI document (schemathesis), on the real server.

Every operation of /openapi.json gets schema-valid and schema-violating requests,
with a live admin token, a made-up token or none. Property: never a 5xx, every
4xx is a short JSON ``{"detail": …}`` without a traceback, and the database is
unchanged (the API and feeds only read).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import GenerationMode

from meetings.access.feeds import create_feed_token
from meetings.access.tokens import create_api_token
from scheduler.bootstrap import App
from tests.conftest import BACKEND
from tests.support.dbdump import dump
from tests.support.feeds import LiveServer, live_server, load_city

EXAMPLES = settings(
    max_examples=25 if BACKEND == "sqlite" else 10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def served(app: App) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    load_city(app)
    with app.transaction() as s:
        tokens = {
            "admin": create_api_token(s, "admin", app.clock.now(), city="測試市").token,
            "participant": create_api_token(s, "participant", app.clock.now(), city="測試市").token,
            "feed": create_feed_token(s, "series", "cp", app.clock.now()).token,
        }
    with live_server(app) as srv:
        yield srv, tokens


def check(response: Any, label: str) -> None:
    status = response.status_code
    assert status < 500, f"{label}: {status} {response.content[:300]!r}"
    assert b"Traceback" not in response.content
    if status >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], (label, body)
        assert len(response.content) < 300, (label, response.content)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_operations_from_openapi_never_fail_on_bad_requests(
    served: tuple[LiveServer, dict[str, str]], db_url: str, mode: GenerationMode
) -> None:
    srv, tokens = served
    schema = schemathesis.openapi.from_url(f"{srv.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"GET /api/series", "GET /api/occurrences", "GET /feeds/{token}.ics"} <= labels
    auth = st.sampled_from(
        [
            {"Authorization": f"Bearer {tokens['admin']}"},
            {"Authorization": f"Bearer {tokens['participant']}"},
            {"Authorization": "Bearer made-up"},
            {},
        ]
    )
    before = dump(db_url)
    nothing_to_violate = []
    for op in operations:
        try:
            fuzz(srv, op.label, op.as_strategy(generation_mode=mode), auth)
        except (Unsatisfiable, FailedHealthCheck):  # e.g. /healthz has no parameter
            assert mode is GenerationMode.NEGATIVE, op.label
            nothing_to_violate.append(op.label)
    assert "GET /api/occurrences" not in nothing_to_violate
    assert dump(db_url) == before


def fuzz(srv: LiveServer, label: str, cases: Any, auth: Any) -> None:
    """Send ``cases`` (with one of ``auth``'s headers) to the server and check each answer."""

    @EXAMPLES
    @given(case=cases, headers=auth)
    def run(case: Any, headers: dict[str, str]) -> None:
        response = case.call(base_url=srv.base, headers=headers, timeout=10)
        check(response, label)

    run()


def test_feed_paths_fuzzed_answer_404_with_one_body(
    served: tuple[LiveServer, dict[str, str]],
) -> None:
    srv, tokens = served
    schema = schemathesis.openapi.from_url(f"{srv.base}/openapi.json")
    op = schema.find_operation_by_label("GET /feeds/{token}.ics")
    assert op is not None

    @EXAMPLES
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=srv.base, timeout=10)
        if case.path_parameters.get("token") == tokens["feed"]:
            return
        assert response.status_code == 404
        assert response.content == b'{"detail":"not found"}'

    run()


def test_http_corpus_is_answered_without_a_server_error(
    served: tuple[LiveServer, dict[str, str]], db_url: str
) -> None:
    srv, tokens = served
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "http" / "paths.txt"
    targets = [
        line for line in corpus.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert len(targets) > 20
    parts = urlsplit(srv.base)
    before = dump(db_url)
    for target in targets:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            conn.putrequest("GET", target, skip_accept_encoding=True)
            conn.putheader("Authorization", f"Bearer {tokens['admin']}")
            conn.endheaders()
            resp = conn.getresponse()
            status, body = resp.status, resp.read()
        finally:
            conn.close()
        assert status < 500, (target, status, body[:200])
        assert b"Traceback" not in body
        if status >= 400:
            detail = json.loads(body)["detail"]
            assert isinstance(detail, str) and detail and len(body) < 300, (target, body)
    assert dump(db_url) == before
