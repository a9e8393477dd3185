"""The home page (待辦) over real HTTP: each section's count and items, the city and
cancellation boundaries, a participant's view, and no case data anywhere on it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.support.cases import FULL_NAMES
from tests.support.pages import PASSWORD
from tests.support.workqueue import CP_JAN, CP_MAR, CSRF, World, work_queue_world


@pytest.fixture
def world(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[World]:
    with work_queue_world(app, tmp_path, clock) as w:
        yield w


def page_as(world: World, email: str) -> str:
    with httpx.Client(base_url=world.site, follow_redirects=False, timeout=30) as c:
        login = c.get("/login").text
        token = CSRF.search(login)
        assert token is not None
        r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf": token.group(1)})
        assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
        home = c.get("/")
    assert home.status_code == 200, home.text[:300]
    return home.text


def section(html: str, name: str) -> str:
    found = re.search(rf'<section class="card queue" id="{name}".*?</section>', html, re.S)
    assert found, f"no section {name}"
    return found.group(0)


def count(html: str, name: str) -> int:
    found = re.search(r'class="count">(\d+)<', section(html, name))
    assert found
    return int(found.group(1))


def uids(html: str, name: str) -> list[str]:
    return re.findall(r'<li data-uid="([^"]+)"', section(html, name))


def test_each_section_counts_and_lists_what_needs_the_secretariat(world: World) -> None:
    html = page_as(world, "chen@example.org")
    dv = world.dv
    assert uids(html, "upcoming") == [CP_MAR, dv[("北區", "20230316")]]
    assert count(html, "upcoming") == 2
    upcoming = section(html, "upcoming")
    # cp's March meeting: invitations sent, POL declined; dv's: invitations still pending.
    cp_row = upcoming.split(f'data-uid="{CP_MAR}"')[1].split("</li>")[0]
    assert "未回覆 1、請假 1（共 2 個席次）" in cp_row and "開會通知已寄發" in cp_row
    assert f'href="/meetings/{CP_MAR}"' in cp_row
    dv_row = upcoming.split(f'data-uid="{dv[("北區", "20230316")]}"')[1].split("</li>")[0]
    assert "未回覆 3、請假 0" in dv_row and "預定" in dv_row
    assert "112年3月8日（星期三）下午2時" in upcoming

    assert uids(html, "unrecorded") == [dv[("北區", "20230216")], dv[("南區", "20230216")]]
    assert count(html, "unrecorded") == 2
    assert uids(html, "minutes") == [CP_JAN] and count(html, "minutes") == 1
    assert "應於112年1月18日（星期三）前完成" in section(html, "minutes")
    actions = section(html, "actions")
    assert count(html, "actions") == 1 and uids(html, "actions") == [CP_JAN]
    assert f'data-item="{world.items["late"]}"' in actions and "警察局" in actions
    assert "函送資料" not in actions  # the item's text stays on the meeting's page
    assert count(html, "cases") == len(world.overdue_cases) > 0
    assert 'aria-current="page">待辦<' in html


def test_cancelled_and_other_city_meetings_appear_nowhere(world: World) -> None:
    html = page_as(world, "admin@example.org")
    for cancelled in (world.dv[("南區", "20230119")], world.dv[("南區", "20230316")]):
        assert cancelled not in html
    assert world.other and not any(u in html for u in world.other)
    assert "紐約" not in html
    # 紐約市's own secretariat sees its meetings, and none of 測試市's.
    ny = page_as(world, "ny@example.org")
    assert any(u in ny for u in world.other) and CP_MAR not in ny


def test_a_participant_sees_the_meetings_inviting_their_agency_and_no_case_count(
    world: World,
) -> None:
    html = page_as(world, "health@example.org")  # 衛生局: invited to dv-zones only
    assert uids(html, "upcoming") == [world.dv[("北區", "20230316")]]
    assert count(html, "unrecorded") == 2
    assert count(html, "minutes") == 0 and count(html, "actions") == 0
    assert 'id="cases"' not in html and "逾期未討論個案" not in html
    assert CP_MAR not in html and CP_JAN not in html


def test_the_page_shows_no_case_data(world: World) -> None:
    for email in ("chen@example.org", "admin@example.org", "li@example.org"):
        html = page_as(world, email)
        assert world.overdue_cases
        for case_no in world.overdue_cases:
            assert case_no not in html
        assert "CP-0" not in html and "DV-0" not in html  # nor any other listed case
        assert not any(name in html for name in FULL_NAMES)
        assert "○" not in html  # no masked name (王○明) either


def test_without_a_login_the_home_page_asks_for_one(world: World) -> None:
    with httpx.Client(base_url=world.site, follow_redirects=False, timeout=30) as c:
        r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
