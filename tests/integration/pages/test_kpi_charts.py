"""The KPI dashboard's charts over HTTP: Chart.js vendored and served by the app (no CDN),
scripts from the app only (CSP), chart data as JSON labelled with titles and agency
names (never ids), one city's figures, each chart's table; the printed HTML report keeps
its static SVG."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from meetings.db import Agency, City, Series
from meetings.kpis.chart_data import TOP
from meetings.kpis.reports import kpi_report_bytes
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.pages.rendering import STATIC
from scheduler.web.app import create_web_app
from tests.support.cities import SECRETS
from tests.support.kpis import MINISTRY, PASSWORD, TY_USER, seed_taoyuan

VERSION = (STATIC / "vendor" / "VERSION").read_text(encoding="utf-8").strip()


@pytest.fixture
def client(app: App, clock: FixedClock) -> Iterator[TestClient]:
    seed_taoyuan(app, clock)
    with TestClient(create_web_app(app), base_url="http://127.0.0.1") as c:
        yield c


def login(client: TestClient, email: str) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    r = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text


def chart_data(html: str) -> dict[str, Any]:
    block = re.search(
        r'<script type="application/json" id="kpi-chart-data">(.*?)</script>', html, re.S
    )
    assert block is not None
    return {chart["key"]: chart for chart in json.loads(block.group(1))}


def test_the_page_loads_the_vendored_chart_js_from_the_app(client: TestClient) -> None:
    login(client, TY_USER)
    page = client.get("/kpi?year=112")
    assert page.status_code == 200
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs, _ in scripts]
    urls = [m.group(1) for m in sources if m]
    assert urls == [f"/static/vendor/chart.umd.min.js?v={VERSION}", "/static/kpi.js"]
    # no inline script: every other block is data
    assert all(
        m or 'type="application/json"' in attrs
        for (attrs, _), m in zip(scripts, sources, strict=True)
    )
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    for url in urls:
        js = client.get(url)
        assert js.status_code == 200, url
        assert "javascript" in js.headers["content-type"]
    lib = client.get(urls[0]).text
    assert lib.startswith("/*!") and f"Chart.js v{VERSION}" in lib[:200]
    assert "sourceMappingURL" not in lib  # the map is not shipped
    assert (STATIC / "vendor" / "chart.js.LICENSE.md").read_text().startswith("The MIT License")
    assert client.get("/static/../kpi.py").status_code == 404


def test_chart_labels_are_titles_and_agency_names_of_the_own_city(
    client: TestClient, app: App
) -> None:
    login(client, TY_USER)
    html = client.get("/kpi?year=112").text
    charts = chart_data(html)
    assert list(charts) == ["coverage", "bc31", "agencies", "trend"]
    with app.transaction() as s:
        series = dict(s.execute(select(Series.id, Series.title)).all())
        agencies = dict(s.execute(select(Agency.code, Agency.name)).all())
    coverage = charts["coverage"]["labels"]
    assert len(coverage) > TOP and charts["coverage"]["top"] == TOP
    assert "中壢區區級聯繫會議" in coverage and "桃園市社會安全網府級聯繫會議" in coverage
    assert "家庭暴力暨性侵害防治中心" in charts["agencies"]["labels"]
    ids = set(series) | set(agencies)
    for chart in charts.values():
        assert not ids & set(chart["labels"]), chart["key"]
        assert not any("{" in label for label in chart["labels"])
    # lowest rate first, those without data last
    rates = [v for v in charts["coverage"]["datasets"][0]["data"] if v is not None]
    assert rates == sorted(rates) and rates[0] == 0.0 and rates[-1] > 0
    assert charts["trend"]["labels"][:2] == ["1月", "2月"] and len(charts["trend"]["datasets"]) == 3
    # another city's rows, titles and agencies are not on the page
    for secret in SECRETS:
        assert secret not in html
    # each chart over 10 bars has its 顯示全部 button; every chart has its table
    assert re.search(r'data-toggle="coverage"[^>]*>顯示全部（共 \d+ 項）<', html)
    assert 'data-toggle="trend"' not in html
    assert html.count('class="chart-table') == 4
    coverage_table = html.split('id="chart-coverage"')[1].split("</table>")[0]
    assert re.search(r"<td[^>]*>中壢區區級聯繫會議</td><td[^>]*>0.0</td>", coverage_table)


def test_the_kpi_table_names_rows_by_title_and_district_never_by_id(client: TestClient) -> None:
    login(client, TY_USER)
    html = client.get("/kpi?year=112").text
    table = html[html.index('id="kpi-table"') :]
    table = table[: table.index("</table>")]
    assert '<th scope="col">行政區</th>' in table and "系列" not in table
    assert "ty-district-liaison" not in table and "ty-" not in table
    row = re.search(r"<tr><td[^>]*>中壢區區級聯繫會議</td><td[^>]*>([^<]*)</td>", table)
    assert row and row.group(1) == "中壢區"


def test_a_ministry_login_sees_the_city_it_picks(client: TestClient) -> None:
    login(client, MINISTRY)
    ny = chart_data(client.get("/kpi?year=112&city=紐約市").text)
    assert ny["coverage"]["labels"] == ["紐約保護網絡會議"]
    assert "紐約家防中心" in ny["agencies"]["labels"]
    taoyuan = chart_data(client.get("/kpi?year=112&city=桃園市").text)
    assert not any("紐約" in label for c in taoyuan.values() for label in c["labels"])


def test_the_printed_html_report_keeps_its_static_svg(client: TestClient, app: App) -> None:
    with app.transaction() as s:
        city = s.scalar(select(City.id).where(City.name == "桃園市"))
        data, _media = kpi_report_bytes(s, 2023, "html", city_id=city)
    html = data.decode("utf-8")
    assert html.count("<svg") == 4 and "<script" not in html and "chart.umd" not in html
