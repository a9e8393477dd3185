"""The KPI dashboard's charts in a real browser (chromium via Playwright, as
``test_pages_browser.py``), at 390 px and 1280 px, over the example 桃園市 (more series
instances and agencies than a chart shows at first): Chart.js loads from the app under its
CSP, each chart draws on a canvas, 顯示全部 shows every bar and back, nothing scrolls
sideways, and axe-core finds nothing serious. Screenshots in ``test-artifacts/pages/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from meetings.kpis.chart_data import TOP
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.integration.pages.test_pages_browser import (
    DESKTOP,
    PHONE,
    chart_values,
    chromium,
    fits,
    login,
    shot,
)
from tests.integration.pages.test_reply_browser import serious_violations
from tests.support.feeds import live_server
from tests.support.kpis import TY_USER, seed_taoyuan

__all__ = ["chromium"]  # the module's browser fixture

if os.environ.get("LIAISON_SKIP_BROWSER") == "1":
    pytestmark = pytest.mark.skip(reason="LIAISON_SKIP_BROWSER=1")

LABELS = "key => Chart.getChart(document.querySelector(`canvas[data-chart=${key}]`)).data.labels"


@pytest.fixture
def taoyuan_site(app: App, clock: FixedClock) -> Iterator[str]:
    seed_taoyuan(app, clock)
    with live_server(app) as server:
        yield server.base


def open_kpi(chromium: Any, site: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    phone = viewport == PHONE
    context = chromium.new_context(
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        locale="zh-TW",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None
    )
    login(page, site, TY_USER, "/kpi?year=112")
    assert page.url.endswith("/kpi?year=112")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.Chart") == "function", "Chart.js did not load"
    errors = [e for e in errors if "/favicon.ico" not in e]  # the pages have none
    assert errors == [], errors  # no CSP refusal, no script error
    return context, page


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_kpi_charts_draw_and_show_all_bars(
    chromium: Any, taoyuan_site: str, viewport: dict[str, int]
) -> None:
    context, page = open_kpi(chromium, taoyuan_site, viewport)
    width = viewport["width"]
    for key in ("coverage", "bc31", "agencies", "trend"):
        chart_values(page, key)  # waits for the chart
        box = page.locator(f"canvas[data-chart={key}]").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, (key, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (key, box)
    total = len(page.evaluate("() => JSON.parse(document.getElementById('kpi-chart-data')"
                              ".textContent)[0].labels"))  # fmt: skip
    assert total > TOP
    assert len(page.evaluate(LABELS, "coverage")) == TOP
    assert fits(page), "the KPI page must not scroll sideways"
    shot(page, f"21-kpi-charts-{width}")

    button = page.locator("button[data-toggle=coverage]")
    assert button.inner_text() == f"顯示全部（共 {total} 項）"
    first_height = page.locator("canvas[data-chart=coverage]").bounding_box()["height"]
    button.click()
    assert len(page.evaluate(LABELS, "coverage")) == total
    assert button.get_attribute("aria-pressed") == "true"
    assert button.inner_text() == f"只顯示前 {TOP} 項"
    grown = page.locator("canvas[data-chart=coverage]").bounding_box()["height"]
    assert grown > first_height * 2, "every bar keeps its height"
    assert fits(page)
    shot(page, f"22-kpi-charts-all-{width}")
    button.click()
    assert len(page.evaluate(LABELS, "coverage")) == TOP

    # the figures are also a table, one line per bar
    page.click("#chart-coverage summary")
    rows = page.locator("#chart-coverage table tbody tr")
    assert rows.count() == total
    assert fits(page)
    assert serious_violations(page) == []
    context.close()


def test_kpi_chart_labels_are_readable_on_a_phone(chromium: Any, taoyuan_site: str) -> None:
    context, page = open_kpi(chromium, taoyuan_site, PHONE)
    values = chart_values(page, "agencies")
    assert "家庭暴力暨性侵害防治中心" in values and "DVPC" not in values
    # the y axis keeps at most ~half the chart; its labels at a readable size
    scale = page.evaluate(
        """() => {
          const c = Chart.getChart(document.querySelector('canvas[data-chart=coverage]'));
          return {axis: c.scales.y.width, chart: c.width, font: c.options.scales.y.ticks.font.size};
        }"""
    )
    assert scale["axis"] <= scale["chart"] * 0.55 and scale["font"] >= 12, scale
    # the KPI table scrolls in its box, titles kept in view; 中壢區 on one line
    cell = page.locator("#kpi-table td", has_text="中壢區區級聯繫會議").first
    district = cell.locator("xpath=following-sibling::td[1]")
    assert district.inner_text() == "中壢區"
    lines = district.evaluate(
        "td => { const r = document.createRange(); r.selectNodeContents(td);"
        " return r.getClientRects().length; }"
    )
    assert lines == 1, "a district name stays on one line"
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#kpi-table td')).position")
        == "sticky"
    )
    shot(page, "23-kpi-table-390")
    context.close()
