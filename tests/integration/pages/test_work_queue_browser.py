"""The home page (待辦) in a real browser on a phone-width screen (390×844): Debian's
chromium driven by Playwright (setup as in ``test_pages_browser``), checked with axe-core
(as in ``test_reply_browser``). Screenshots go to ``test-artifacts/pages/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.integration.pages.test_pages_browser import PHONE, chromium, fits, shot
from tests.integration.pages.test_reply_browser import serious_violations
from tests.support.pages import PASSWORD
from tests.support.workqueue import CP_MAR, World, work_queue_world

__all__ = ["chromium"]  # a fixture used below

if os.environ.get("LIAISON_SKIP_BROWSER") == "1":
    pytestmark = pytest.mark.skip(reason="LIAISON_SKIP_BROWSER=1")


@pytest.fixture
def world(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    with work_queue_world(app, tmp_path, clock) as w:
        yield w


def test_the_work_queue_on_a_phone(chromium: Any, world: World) -> None:
    context = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-TW"
    )
    page = context.new_page()
    page.goto(world.site + "/")
    assert "/login" in page.url, "an anonymous visit must land on the login page"
    page.fill("#email", "chen@example.org")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('登入')")
    page.wait_for_load_state()
    assert page.url.rstrip("/") == world.site, "a login lands on the work queue"
    assert page.inner_text("#upcoming-h").startswith("近14日會議")
    assert "請假 1" in page.inner_text(f'#upcoming li[data-uid="{CP_MAR}"]')
    assert fits(page), "the work queue must not scroll sideways on a phone"
    assert serious_violations(page) == []
    shot(page, "31-work-queue-390")

    page.click(f'#upcoming li[data-uid="{CP_MAR}"] a')  # each item opens its meeting
    page.wait_for_load_state()
    assert page.url.endswith("/meetings/" + CP_MAR)
    context.close()
