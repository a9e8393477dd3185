"""The reply slip in a real browser on a phone-width screen (390×844): Debian's chromium
driven by Playwright (setup as in ``test_pages_browser``), checked with axe-core.

axe-core is the copy the ``axe-playwright-python`` test dependency ships; it is injected
into the page and run there. Screenshots go to ``test-artifacts/pages/``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from meetings.db import Seat
from meetings.kernel.vocabulary import SeatState
from scheduler.bootstrap import App
from tests.integration.pages.test_pages_browser import PHONE, chromium, fits, shot
from tests.integration.pages.test_reply_slip import links, reply_site

__all__ = ["chromium", "reply_site"]  # fixtures used below

if os.environ.get("LIAISON_SKIP_BROWSER") == "1":
    pytestmark = pytest.mark.skip(reason="LIAISON_SKIP_BROWSER=1")


def axe_source() -> str:
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        pytest.fail("axe-core not found: pip install axe-playwright-python (a test dependency)")
    return (Path(spec.origin).parent / "axe.min.js").read_text(encoding="utf-8")


def serious_violations(page: Any) -> list[str]:
    # Evaluated, not added as an inline <script>: the pages' CSP allows only their own.
    page.evaluate(axe_source())
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_an_agency_names_its_deputy_on_a_phone(chromium: Any, reply_site: str, app: App) -> None:
    token = links(app)["POL"]
    context = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-TW"
    )
    page = context.new_page()
    page.goto(f"{reply_site}/reply/{token}")
    assert "112年2月8日（星期三）下午2時" in page.inner_text("#slip-when")
    assert fits(page), "the reply slip must not scroll sideways on a phone"
    assert serious_violations(page) == []
    shot(page, "21-reply-slip-390")

    page.fill("#deputy-person", "李大華")
    page.fill("#deputy-title", "巡佐")
    page.fill("#deputy-for_whom", "王組長")
    page.click("button:has-text('送出：代理出席')")
    page.wait_for_load_state()
    assert "已收到回覆，確認信將寄至貴單位信箱" in page.inner_text("#slip-done")
    assert "代理出席" in page.inner_text("#slip-answer")
    assert fits(page)
    assert serious_violations(page) == []
    shot(page, "22-reply-slip-done-390")

    page.click("button:has-text('送出：請假')")  # the browser asks for the reason first
    assert page.url.endswith(token)
    with app.transaction() as s:
        seat = s.scalars(select(Seat).where(Seat.agency_code == "POL")).one()
        assert (seat.state, seat.person, seat.for_whom) == (SeatState.DEPUTY, "李大華", "王組長")
    context.close()
