"""The meetings list over real HTTP: filters in the query string, month headings (ROC),
pages of 30 keeping the filters, statuses as every page shows them, wrong filters named."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from meetings.access.users import add_user
from meetings.db import Occurrence
from meetings.kernel.localtime import local
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.web.app import create_web_app
from tests.conftest import taipei
from tests.integration.pages.test_pages import Browser, attend, logged_in
from tests.integration.web.test_city_boundary import login
from tests.support.cities import PASSWORD, SECRETS, load_two_cities
from tests.support.pages import JAN

HALF_YEAR = "from=2023-01-01&to=2023-06-30"
THREE_YEARS = "from=2023-01-01&to=2025-12-31"  # with ``long_plan``: more than 60 meetings


def local_starts(app: App) -> dict[str, datetime]:
    """Every meeting's local start, by uid."""
    with app.transaction() as s:
        return {
            o.uid: local(o.start_at, o.series.city.timezone) for o in s.scalars(select(Occurrence))
        }


def uids(html: str) -> list[str]:
    return re.findall(r'data-uid="([^"]+)"', html)


def headings(html: str) -> list[str]:
    return re.findall(r'<h2 class="month" id="m-[\d-]+">([^<]+)</h2>', html)


def link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unescape(m.group(1)) if m else None


@pytest.fixture
def chen(site: str) -> Browser:
    return logged_in(site, "chen@example.org")


@pytest.fixture
def long_plan(site: str, app: App) -> None:
    """The seeded city's plan through 2025 (the seed's half year is one page)."""
    with app.transaction() as s:
        generate_schedule(s, date(2023, 7, 1), date(2025, 12, 31), app.clock.now())


@pytest.mark.usefixtures("long_plan")
def test_pages_of_30_grouped_by_month_keep_the_filters(chen: Browser, app: App) -> None:
    starts = local_starts(app)
    expected = sorted(
        (u for u, t in starts.items() if date(2023, 1, 1) <= t.date() <= date(2025, 12, 31)),
        key=lambda u: (starts[u], u),
    )
    assert len(expected) > 60, "the seed must fill three pages"
    seen: list[str] = []
    url: str | None = "/meetings?" + THREE_YEARS
    pages = 0
    while url:
        r = chen.get(url)
        assert r.status_code == 200
        rows = uids(r.text)
        pages += 1
        assert len(rows) == (30 if len(seen) + 30 <= len(expected) else len(expected) % 30)
        # one heading per month on the page, in order, each naming its rows' month
        months = [f"{starts[u].year - 1911}年{starts[u].month}月" for u in rows]
        assert headings(r.text) == list(dict.fromkeys(months))
        if pages > 1:
            assert link(r.text, "prev") is not None
        seen += rows
        url = link(r.text, "next")
        if url:
            assert (
                "from=2023-01-01" in url and "to=2025-12-31" in url and f"page={pages + 1}" in url
            )
    assert seen == expected and pages == -(-len(expected) // 30)
    assert f"共 {len(expected)} 場" in r.text


def test_month_series_and_district_filters_are_in_the_query(chen: Browser, app: App) -> None:
    starts = local_starts(app)
    r = chen.get("/meetings?month=112/03")
    assert r.status_code == 200 and headings(r.text) == ["112年3月"]
    march = {u for u, t in starts.items() if (t.year, t.month) == (2023, 3)}
    assert set(uids(r.text)) == march
    assert 'name="month" value="2023-03"' in r.text and 'name="from" value=""' in r.text
    r = chen.get("/meetings?month=2023-03&series=dv-zones&district=南區")
    rows = uids(r.text)
    assert rows and all(u.startswith("dv-zones-") and u in march for u in rows)
    assert 'value="dv-zones" selected' in r.text and 'value="南區" selected' in r.text


def test_the_status_filter_uses_the_status_every_page_shows(
    chen: Browser, app: App, clock: FixedClock
) -> None:
    starts = local_starts(app)
    attend(chen, JAN, {"DVPC": ("present", "")})  # held
    clock.set(taipei(2023, 3, 1, 10, 0))  # January's and February's others: 待補登
    held = chen.get(f"/meetings?status=held&{HALF_YEAR}")
    assert uids(held.text) == [JAN] and 'value="held" selected' in held.text
    for status, label in (("scheduled", "預定"), ("unrecorded", "待補登")):
        r = chen.get(f"/meetings?status={status}&{HALF_YEAR}")
        rows = re.findall(r'data-uid="[^"]+".*?data-label="狀態"><span class="badge (\w+)">([^<]+)',
                          r.text, re.S)  # fmt: skip
        assert rows and Counter(rows) == {(status, label): len(rows)}
        assert JAN not in uids(r.text)
        started = {u: starts[u] <= clock.now() for u in uids(r.text)}
        assert set(started.values()) == {status == "unrecorded"}


@pytest.mark.usefixtures("long_plan")
def test_the_pages_of_a_filtered_list_keep_every_filter(chen: Browser) -> None:
    query = f"status=scheduled&series=dv-zones&district=南區&{THREE_YEARS}"
    filters = parse_qs(query)
    r = chen.get(f"/meetings?{query}")
    nxt = link(r.text, "next")
    assert nxt, "dv-zones 南區 over three years fills more than a page"
    assert parse_qs(urlsplit(nxt).query) == {**filters, "page": ["2"]}
    page2 = chen.get(nxt)
    assert set(uids(page2.text)).isdisjoint(uids(r.text))
    assert all(u.startswith("dv-zones-") for u in uids(page2.text))
    prev = link(page2.text, "prev")
    assert prev and parse_qs(urlsplit(prev).query) == filters  # page 1: no page=


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "狀態"),
        ("month=2023-13", "月份"),
        ("page=abc", "頁碼"),
        ("page=0", "頁碼"),
        ("series=nope", "會議系列"),
        ("district=火星", "行政區／分區"),
    ],
)
@pytest.mark.usefixtures("long_plan")
def test_a_wrong_filter_is_named_and_dropped(chen: Browser, query: str, field: str) -> None:
    r = chen.get(f"/meetings?{query}&{THREE_YEARS}")
    assert r.status_code == 400
    assert re.search(rf'class="flash error" role="alert">{field}：', r.text)
    assert len(uids(r.text)) == 30  # the list without that filter


@pytest.mark.usefixtures("long_plan")
def test_a_page_past_the_end_shows_the_last_page(chen: Browser) -> None:
    r = chen.get(f"/meetings?page=999&{THREE_YEARS}")
    assert r.status_code == 200 and link(r.text, "next") is None and link(r.text, "prev")


@pytest.fixture
def two_cities(app: App, clock: FixedClock) -> Iterator[TestClient]:
    now = load_two_cities(app, clock)
    with app.transaction() as s:
        add_user(s, "admin@example.org", "admin", PASSWORD, now, city="測試市")
    with TestClient(create_web_app(app), base_url="http://127.0.0.1") as c:
        yield c


def test_another_citys_series_shows_nothing_of_theirs(two_cities: TestClient) -> None:
    login(two_cities, "admin@example.org")
    for query in ("series=ny", "series=ny&month=2023-03"):
        r = two_cities.get(f"/meetings?{query}&{HALF_YEAR}")
        assert r.status_code == 400  # no such series (or place) for this login
        text = r.text
        assert not any(s in text for s in SECRETS), query
        rows = uids(text)
        assert rows and all(not u.startswith("ny-") for u in rows)  # only its own city's
