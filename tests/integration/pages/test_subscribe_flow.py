"""The subscribe panel over real HTTP: a new link is the first thing on the page (with a
copy box, a webcal link and a QR code that decodes to the link), and replacing a live
link takes a second, confirmed POST."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from meetings.db import FeedToken
from scheduler.bootstrap import App
from tests.integration.pages.test_pages import Browser, csrf_of, logged_in

FEED = re.compile(
    r'id="feed-https" type="url" readonly value="(https?://[^"]+/feeds/([\w-]+)\.ics)"'
)
CONFIRM = "建立新連結後，舊連結將失效。確定？"


class FirstInMain(HTMLParser):
    """The first element inside <main>: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_main = False
        self.first: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.in_main and self.first is None:
            self.first = (tag, dict(attrs))
        self.in_main = self.in_main or tag == "main"


def first_in_main(html: str) -> tuple[str, dict[str, str | None]]:
    parser = FirstInMain()
    parser.feed(html)
    assert parser.first is not None, "the page has no <main> content"
    return parser.first


def qr_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of a segno SVG's dark path ("M4 4.5h7m2 0h1…"): absolute M, relative m,
    h draws a run of modules on the current row."""
    path = re.search(r'<path[^>]*\sstroke="#000"[^>]*\sd="([^"]+)"', svg)  # not the white
    assert path, svg[:300]
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(x) + i, int(y)) for i in range(int(float(a))))
            x += float(a)
    return dark


def decode_svg_qr(svg: str) -> str:
    """Rasterise the served QR (8 px a module, white around) and read it with zxing-cpp."""
    dark = qr_modules(svg)
    size = max(max(c) for c in dark) + 5  # the symbol plus a quiet zone
    img = Image.new("L", (size * 8, size * 8), 255)
    for mx, my in dark:
        img.paste(0, (mx * 8, my * 8, mx * 8 + 8, my * 8 + 8))
    found = zxingcpp.read_barcodes(img)
    assert len(found) == 1, "the QR code does not decode"
    return str(found[0].text)


def live_links(app: App) -> list[str]:
    with app.transaction() as s:
        return [
            t.token_hash for t in s.scalars(select(FeedToken).where(FeedToken.revoked_at.is_(None)))
        ]


@pytest.fixture
def li(site: str) -> Browser:
    return logged_in(site, "li@example.org")


def test_a_new_link_is_shown_first_with_copy_box_webcal_and_a_qr_code(li: Browser) -> None:
    page = li.get("/meetings").text
    assert "只在建立時顯示一次" in page  # said before the link is made
    r = li.post("/meetings/subscribe", {"csrf": csrf_of(page)})
    assert r.status_code == 200
    tag, attrs = first_in_main(r.text)
    assert (tag, attrs.get("id"), attrs.get("role")) == ("section", "new-link", "status")
    found = FEED.search(r.text)
    assert found, r.text[:3000]
    https, token = found.groups()
    panel = r.text[: r.text.index("<h1>會議一覽</h1>")]  # everything above the list
    assert 'id="feed-copy"' in panel and ">複製</button>" in panel
    assert f'<a href="webcal://{https.split("://", 1)[1]}">以行事曆開啟</a>' in panel
    assert "只顯示這一次" in panel and "再次建立新連結會使此連結失效" in panel
    svg = re.search(r"<svg.*?</svg>", panel, re.S)
    assert svg, "no inline QR code"
    assert decode_svg_qr(svg.group(0)) == https
    assert li.get(f"/feeds/{token}.ics").status_code == 200
    # shown once: the list page never shows it again
    assert token not in li.get("/meetings").text


def test_replacing_a_live_link_needs_a_confirmed_second_post(li: Browser, app: App) -> None:
    first = FEED.search(li.post("/meetings/subscribe", {"csrf": li.csrf()}).text)
    assert first
    old_feed = f"/feeds/{first.group(2)}.ics"
    before = live_links(app)
    # the first press only asks
    r = li.post("/meetings/subscribe", {"csrf": li.csrf()})
    assert r.status_code == 200
    tag, attrs = first_in_main(r.text)
    assert (tag, attrs.get("id")) == ("section", "confirm-link")
    assert CONFIRM in r.text and FEED.search(r.text) is None
    assert re.search(r'name="confirm" value="1"', r.text)
    assert live_links(app) == before and li.get(old_feed).status_code == 200
    # confirmed: the old link is revoked and a new one shown
    r = li.post("/meetings/subscribe", {"csrf": csrf_of(r.text), "confirm": "1"})
    new = FEED.search(r.text)
    assert r.status_code == 200 and new and new.group(2) != first.group(2)
    assert first_in_main(r.text)[1].get("id") == "new-link" and "舊連結已失效" in r.text
    assert li.get(old_feed).status_code == 404
    assert li.get(f"/feeds/{new.group(2)}.ics").status_code == 200
    assert len(live_links(app)) == 1 and live_links(app) != before


def test_the_first_link_needs_no_confirmation_and_a_bad_csrf_changes_nothing(
    li: Browser, app: App
) -> None:
    r = li.post("/meetings/subscribe", {"csrf": "forged", "confirm": "1"})
    assert r.status_code in (400, 403) and live_links(app) == []
    r = li.post("/meetings/subscribe", {"csrf": li.csrf()})
    assert FEED.search(r.text) and "舊連結已失效" not in r.text and len(live_links(app)) == 1
