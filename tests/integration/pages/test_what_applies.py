"""A meeting page offers only what applies (issue: pages a secretariat would choose):
forms once they can be used, nothing but the reason on a cancelled meeting, no case-view
prompt for participants, one status and one version number everywhere.

The pages' clock is Thu 12 Jan 2023 10:00: January's meeting (Wed 11 Jan 14:00) is past
with nothing recorded, February's (8 Feb) still to come.
"""

from __future__ import annotations

from sqlalchemy import update

from meetings.db import Occurrence
from scheduler.bootstrap import App
from tests.integration.pages.test_pages import logged_in
from tests.support.cases import uid
from tests.support.pages import JAN

FEB = uid("cp-network", "20230208")


def test_a_past_meeting_with_nothing_recorded_is_awaiting_records(site: str) -> None:
    staff = logged_in(site, "chen@example.org")
    page = staff.get("/meetings/" + JAN).text
    assert 'class="badge unrecorded">待補登<' in page and ">預定<" not in page
    listing = staff.get("/meetings").text
    assert listing.count('class="badge unrecorded">待補登<') == 1  # January's only; February's
    assert 'class="badge scheduled">預定<' in listing  # is still 預定
    assert f'action="/meetings/{JAN}/attendance"' in page  # it started: records go in


def test_a_future_meeting_has_no_attendance_form(site: str) -> None:
    page = logged_in(site, "chen@example.org").get("/meetings/" + FEB).text
    assert "會議尚未召開；會議開始後即可記錄出席情形。" in page
    assert f'action="/meetings/{FEB}/attendance"' not in page
    assert 'class="badge scheduled">預定<' in page


def test_a_cancelled_meeting_shows_its_reason_and_nothing_else(site: str, app: App) -> None:
    with app.transaction() as s:
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid == FEB)
            .values(status="cancelled", moved_reason="颱風停班，不另召開")
        )
    page = logged_in(site, "chen@example.org").get("/meetings/" + FEB).text
    assert "取消原因" in page and "颱風停班，不另召開" in page
    assert ">已取消<" in page
    for offered in ("列印開會通知單", 'id="cases"', 'id="agenda"', 'id="attendance"'):
        assert offered not in page, offered


def test_participants_are_not_asked_for_a_reason_they_cannot_give(site: str) -> None:
    page = logged_in(site, "li@example.org").get("/meetings/" + FEB).text
    assert "個案資料僅限幕僚單位查閱" in page
    assert "查閱須載明" not in page and 'name="reason"' not in page
    staff = logged_in(site, "chen@example.org").get("/meetings/" + FEB).text
    assert "查閱須載明查閱人及事由" in staff


def test_one_version_number_on_the_page_and_the_notice(site: str) -> None:
    staff = logged_in(site, "chen@example.org")
    page = staff.get("/meetings/" + FEB).text
    notice = staff.get(f"/meetings/{FEB}/notice").text
    assert "（第1版）" in page and "（第1版）" in notice and "第0版" not in page
