"""The meetings list and the subscribe panel on a 390 px phone in chromium: no sideways
scroll, no serious axe-core violations, the copy button copies the link, and the QR code
as drawn on screen decodes to that link."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.integration.pages.test_pages_browser import PHONE, chromium, fits, login, shot
from tests.integration.pages.test_reply_browser import serious_violations

__all__ = ["chromium"]  # the fixture used below

if os.environ.get("LIAISON_SKIP_BROWSER") == "1":
    pytestmark = pytest.mark.skip(reason="LIAISON_SKIP_BROWSER=1")


def checked(page: Any, what: str) -> None:
    assert fits(page), f"{what} must not scroll sideways on a phone"
    assert serious_violations(page) == [], what


def on_screen_qr(page: Any) -> str:
    png = page.locator("#feed-qr svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, "the QR code on screen does not decode"
    return str(found[0].text)


def test_the_list_and_the_subscribe_panel_on_a_phone(chromium: Any, site: str) -> None:
    context = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-TW"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page = context.new_page()
    login(page, site, "li@example.org", "/meetings?from=2023-01-01&to=2023-06-30")
    assert page.locator("h2.month").first.inner_text() == "112年1月"
    checked(page, "the meetings list")
    shot(page, "21-meetings-months-390")

    page.click("button:has-text('建立我的行事曆連結')")
    page.wait_for_load_state()
    panel = page.locator("main > :first-child")
    assert panel.get_attribute("id") == "new-link" and panel.get_attribute("role") == "status"
    link = page.input_value("#feed-https")
    assert on_screen_qr(page) == link
    page.click("#feed-copy")
    page.wait_for_selector("#feed-copied:has-text('已複製')")
    assert page.evaluate("navigator.clipboard.readText()") == link
    checked(page, "the new link panel")
    shot(page, "22-subscribe-link-390")

    page.click("button:has-text('建立新連結')")
    page.wait_for_load_state()
    assert page.locator("main > :first-child").get_attribute("id") == "confirm-link"
    assert "建立新連結後，舊連結將失效。確定？" in page.inner_text("#confirm-link")
    checked(page, "the confirmation")
    shot(page, "23-subscribe-confirm-390")
    page.click("button:has-text('確定，建立新連結')")
    page.wait_for_load_state()
    again = page.input_value("#feed-https")
    assert again != link and on_screen_qr(page) == again
    assert "舊連結已失效" in page.inner_text("#new-link")
    context.close()
