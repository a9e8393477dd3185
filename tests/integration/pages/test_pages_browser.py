"""The secretariat's pages in a real browser: Debian's chromium driven by Playwright.

The server is the real ASGI app on uvicorn on an ephemeral loopback port, over a
real SQLite database, with an injected clock. Screenshots (1280 px and 390 px
wide) are kept in ``test-artifacts/pages/``.

Chromium is found at ``/usr/bin/chromium`` (``.ci/run`` installs it). When it is
missing these tests FAIL; set ``LIAISON_SKIP_BROWSER=1`` to skip them instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from meetings.db import Attendance, Occurrence
from scheduler.bootstrap import App
from tests.conftest import REPO
from tests.support.cases import uid
from tests.support.pages import JAN, PASSWORD

CHROMIUM = Path(os.environ.get("LIAISON_CHROMIUM") or "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "pages"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

if os.environ.get("LIAISON_SKIP_BROWSER") == "1":
    pytestmark = pytest.mark.skip(reason="LIAISON_SKIP_BROWSER=1")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium for the module (fails, never skips, when it is missing)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: install it (apt-get install -y chromium; .ci/run does) "
            "or set LIAISON_SKIP_BROWSER=1 to skip the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page: Any, site: str, email: str, next_path: str = "/meetings") -> None:
    page.goto(site + next_path)
    assert "/login" in page.url, "an anonymous visit must land on the login page"
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('登入')")
    page.wait_for_load_state()
    assert "/login" not in page.url


def logout(page: Any) -> None:
    page.click("button:has-text('登出')")
    page.wait_for_load_state()
    assert "/login" in page.url


def held_count(page: Any, site: str) -> int:
    page.goto(site + "/kpi?year=112")
    return int(page.inner_text('[data-kpi="實際召開次數"]'))


def chart_values(page: Any, key: str) -> dict[str, Any]:
    """A KPI chart's bars as drawn (label → value), read from its Chart.js instance."""
    page.wait_for_function(
        "key => window.Chart && Chart.getChart(document.querySelector(`canvas[data-chart=${key}]`))",
        arg=key,
    )
    return dict(
        page.evaluate(
            """key => {
              const c = Chart.getChart(document.querySelector(`canvas[data-chart=${key}]`));
              return c.data.labels.map((label, i) => [label, c.data.datasets[0].data[i]]);
            }""",
            key,
        )
    )


def fits(page: Any) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll in their box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_secretariat_records_attendance_and_sees_the_kpi_change(
    chromium: Any, site: str, app: App
) -> None:
    context = chromium.new_context(viewport=DESKTOP, locale="zh-TW")
    page = context.new_page()
    page.goto(site + "/login")
    shot(page, "01-login-1280")
    login(page, site, "chen@example.org", "/kpi?year=112")
    assert held_count(page, site) == 0
    before = chart_values(page, "agencies")
    assert before["家防中心"] is None  # no meeting held yet: 無資料

    page.goto(site + "/meetings?series=cp-network&from=2023-01-01&to=2023-03-31")
    shot(page, "02-meetings-1280")
    page.click("a:has-text('兒少保護個案跨網絡合作會議') >> nth=0")
    page.wait_for_load_state()
    assert "112年1月11日（星期三）下午2時" in page.inner_text("#when")

    # viewing case rows asks for a reason
    page.fill("#reason", "會前準備列管個案")
    page.click("button:has-text('檢視個案資料')")
    page.wait_for_load_state()
    assert page.locator("table.cases").count() == 1
    shot(page, "03-meeting-cases-1280")

    page.goto(site + "/meetings/" + JAN)
    page.select_option('select[aria-label="家防中心 出席情形"]', "present")
    page.fill('input[aria-label="家防中心 出席者職稱"]', "組長")
    page.select_option('select[aria-label="警察局 出席情形"]', "delegated")
    page.fill('input[aria-label="警察局 出席者職稱"]', "巡佐")
    page.click("button:has-text('儲存出席紀錄')")
    page.wait_for_load_state()
    assert "已記錄 2 個機關的出席情形" in page.inner_text("main")
    assert page.locator(".badge.held").count() >= 1
    shot(page, "04-meeting-attended-1280")
    with app.transaction() as s:
        assert {a.agency_code: a.status for a in s.scalars(select(Attendance))} == {
            "DVPC": "present",
            "POL": "delegated",
        }

    assert held_count(page, site) == 1
    after = chart_values(page, "agencies")
    assert after["家防中心"] == 100.0 and after != before, "the KPI chart shows the attendance"
    assert "DVPC" not in after  # agency names, never codes
    shot(page, "05-kpi-1280")
    with page.expect_download() as download:
        page.click("#xlsx")
    assert download.value.suggested_filename == "kpi-112.xlsx"
    logout(page)
    context.close()


def test_admin_adds_a_closure_and_the_meeting_moves(chromium: Any, site: str, app: App) -> None:
    feb = uid("cp-network", "20230208")
    context = chromium.new_context(viewport=DESKTOP, locale="zh-TW")
    page = context.new_page()
    login(page, site, "admin@example.org", "/admin/closures")
    page.fill("#c-day", "2023-02-08")
    page.fill("#c-reason", "颱風停班")
    page.click("button:has-text('預覽影響的會議')")
    page.wait_for_load_state()
    preview = page.inner_text("#preview")
    assert "兒少保護個案跨網絡合作會議" in preview
    assert "112年2月9日（星期四）下午2時" in preview
    shot(page, "06-closure-preview-1280")
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == feb))
        assert occ is not None and occ.sequence == 0, "the preview must not change anything"

    page.click("button:has-text('確認停班')")
    page.wait_for_load_state()
    assert "場會議改期" in page.inner_text("main")
    page.goto(site + "/meetings?series=cp-network&from=2023-02-01&to=2023-02-28")
    row = page.locator(f'tr[data-uid="{feb}"]')
    assert "112年2月9日" in row.inner_text()
    assert row.locator(".badge.moved").count() == 1
    shot(page, "07-meeting-moved-1280")

    page.goto(site + "/admin")
    page.click("summary:has-text('兒少保護個案跨網絡合作會議')")
    series = page.locator("#series-cp-network")
    # People's words first; the rule behind it one click further.
    assert "每月1次，第2個星期三，下午2時起，2小時" in series.inner_text()
    assert "RRULE:" not in series.inner_text()
    page.click("#series-cp-network summary:has-text('系統規則')")
    assert "RRULE:FREQ=MONTHLY;BYDAY=+2WE" in series.inner_text()
    shot(page, "08-admin-series-1280")
    context.close()


def test_pages_work_on_a_phone_width_screen(chromium: Any, site: str) -> None:
    context = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-TW"
    )
    page = context.new_page()
    page.goto(site + "/login")
    assert fits(page)
    shot(page, "11-login-390")
    login(page, site, "chen@example.org", "/meetings?series=cp-network&from=2023-01-01")
    assert fits(page), "the meetings list must not scroll sideways on a phone"
    # stacked rows: each cell says what it is
    assert page.locator("#meetings thead").first.is_hidden()  # one table a month
    label = page.evaluate(
        "getComputedStyle(document.querySelector('#meetings td[data-label]'), '::before').content"
    )
    assert "日期" in label
    shot(page, "12-meetings-390")
    page.goto(site + "/meetings/" + JAN)
    assert fits(page), "the meeting page must not scroll sideways on a phone"
    page.select_option('select[aria-label="家防中心 出席情形"]', "present")
    page.click("button:has-text('儲存出席紀錄')")
    page.wait_for_load_state()
    assert "已記錄 1 個機關的出席情形" in page.inner_text("main")
    shot(page, "13-meeting-390")
    page.goto(site + "/kpi?year=112")
    assert fits(page), "the KPI page must not scroll sideways on a phone"
    assert re.fullmatch(r"\d+", page.inner_text('[data-kpi="實際召開次數"]'))
    shot(page, "14-kpi-390")
    context.close()
