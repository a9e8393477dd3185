"""The minutes and action-item forms say what screening redacted (issue 12), never the values."""

from __future__ import annotations

import re

from sqlalchemy import select

from meetings.db import ActionItem, Minutes
from scheduler.bootstrap import App
from tests.integration.pages.test_pages import attend, csrf_of, logged_in
from tests.support.pages import JAN

PHONE = "0912-345-678"
NATIONAL_ID = "A223456789"


def warnings_on(html: str) -> list[str]:
    return re.findall(r'<div class="flash warning"[^>]*>([^<]*)</div>', html)


def test_minutes_upload_says_what_was_redacted(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    token = csrf_of(b.get(attend(b, JAN, {"DVPC": ("present", "")}).headers["location"]).text)
    text = f"# 會議紀錄\n決議：請聯絡 {PHONE}，身分證 {NATIONAL_ID}。\n"
    r = b.client.post(
        "/meetings/" + JAN + "/minutes",
        data={"csrf": token, "recorded_on": ""},
        files={"file": ("minutes.md", text.encode(), "text/markdown")},
    )
    assert r.status_code == 303
    page = b.get(r.headers["location"]).text
    assert "會議紀錄已儲存" in page
    assert warnings_on(page) == [
        "會議紀錄中已遮蔽 2 項（身分證字號/電話）：個資已以〔已遮蔽〕取代。"
    ]
    assert PHONE not in page and NATIONAL_ID not in page
    with app.transaction() as s:
        stored = s.scalars(select(Minutes.text)).one()
    assert "〔已遮蔽〕" in stored and PHONE not in stored and NATIONAL_ID not in stored
    # the notice is shown once, after that submit only
    assert warnings_on(b.get("/meetings/" + JAN).text) == []


def test_action_item_form_says_what_was_redacted(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    token = csrf_of(b.get(attend(b, JAN, {"DVPC": ("present", "")}).headers["location"]).text)
    r = b.post(
        "/meetings/" + JAN + "/actions",
        {"csrf": token, "owner": "POL", "due": "2023-02-28", "text": f"電話 {PHONE} 聯繫案家"},
    )
    assert r.status_code == 303
    page = b.get(r.headers["location"]).text
    assert "已新增決議事項" in page
    assert warnings_on(page) == ["決議事項中已遮蔽 1 項（電話）：個資已以〔已遮蔽〕取代。"]
    notice = warnings_on(page)[0]
    assert PHONE not in notice and "345" not in notice
    with app.transaction() as s:
        stored = s.scalars(select(ActionItem.text)).one()
    assert stored == "電話 〔已遮蔽〕 聯繫案家"


def test_clean_or_refused_text_has_no_notice(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    token = csrf_of(b.get(attend(b, JAN, {"DVPC": ("present", "")}).headers["location"]).text)
    r = b.post(
        "/meetings/" + JAN + "/actions",
        {"csrf": token, "owner": "POL", "due": "2023-02-28", "text": "加強訪視"},
    )
    assert warnings_on(b.get(r.headers["location"]).text) == []
    # refused after screening (no frozen agenda to confirm): it all rolled back, so the
    # page says why and not that something was redacted
    r = b.client.post(
        "/meetings/" + JAN + "/minutes",
        data={"csrf": token, "recorded_on": "", "confirm_agenda": "on"},
        files={"file": ("minutes.md", f"請聯絡 {PHONE}\n".encode(), "text/markdown")},
    )
    page = b.get(r.headers["location"]).text
    assert "會議紀錄未儲存" in page and "no frozen agenda" in page
    assert warnings_on(page) == []
    with app.transaction() as s:
        assert s.scalars(select(Minutes.text)).all() == []
