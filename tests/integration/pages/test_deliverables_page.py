"""The meeting page's deliverables (成效檢核表 …): shown once held, recorded by the
secretariat through the one writer (CSRF, role), refused forms change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import DeliverableSubmission
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.integration.pages.test_pages import attend, csrf_of, logged_in
from tests.support.feeds import live_server
from tests.support.pages import CITY, JAN, seed

AGENDA = "    agenda: {listing_rule: cp-high-risk, max_cases: 2}\n"
WITH_DELIVERABLES = CITY.replace(
    AGENDA, AGENDA + "    deliverables: [{name: 成效檢核表, due: 7d, to: POL}]\n", 1
)


@pytest.fixture
def site(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[str]:
    """The pages' city at 12 Jan 2023, its cp-network series owing a 成效檢核表 to 警察局."""
    clock.set(taipei(2023, 1, 12, 10, 0))
    seed(app, tmp_path)
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(WITH_DELIVERABLES, "city.yaml")]), clock.now())
    with live_server(app) as server:
        yield server.base


def _rows(app: App) -> list[tuple[str, date, str, str | None]]:
    with app.transaction() as s:
        return [
            (r.name, r.submitted_on, r.submitted_by, r.note)
            for r in s.scalars(select(DeliverableSubmission))
        ]


def test_held_meeting_shows_and_records_its_deliverables(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    assert 'id="deliverables"' not in b.get("/meetings/" + JAN).text  # not held yet
    r = attend(b, JAN, {"DVPC": ("present", "")})
    page = b.get(r.headers["location"]).text
    assert "應繳資料" in page and "成效檢核表" in page and "警察局" in page
    assert "112年1月18日" in page and "待繳" in page
    token = csrf_of(page)
    url = "/meetings/" + JAN + "/deliverables"
    r = b.post(url, {"csrf": token, "name": "成效檢核表", "submitted_on": "", "note": "已函送"})
    assert r.status_code == 303
    page = b.get(r.headers["location"]).text
    assert "已登錄成效檢核表繳交" in page and "已繳交（112年1月12日" in page and "已函送" in page
    assert _rows(app) == [("成效檢核表", date(2023, 1, 12), "chen@example.org", "已函送")]


def test_refused_forms_change_nothing_and_participants_only_read(site: str, app: App) -> None:
    b = logged_in(site, "chen@example.org")
    r = attend(b, JAN, {"DVPC": ("present", "")})
    token = csrf_of(b.get(r.headers["location"]).text)
    url = "/meetings/" + JAN + "/deliverables"
    r = b.post(url, {"csrf": token, "name": "不存在的表", "submitted_on": ""})
    page = b.get(r.headers["location"]).text
    assert "應繳資料未儲存" in page and "declares no deliverable" in page
    r = b.post(url, {"csrf": token, "name": "成效檢核表", "submitted_on": "2023-02-01"})
    assert "in the future" in b.get(r.headers["location"]).text
    assert b.post(url, {"csrf": "forged", "name": "成效檢核表"}).status_code == 403
    participant = logged_in(site, "li@example.org")
    page = participant.get("/meetings/" + JAN).text
    assert "成效檢核表" in page and 'action="/meetings/' + JAN + '/deliverables"' not in page
    token = csrf_of(page)
    assert participant.post(url, {"csrf": token, "name": "成效檢核表"}).status_code == 403
    assert _rows(app) == []
