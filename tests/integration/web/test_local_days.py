"""Local days in the API and the pages come from each meeting's city zone (a DST zone here).

Two cities: the feed tests' city in the default zone, and one in America/New_York whose
meetings are on Wednesdays at 22:00 local time — already Thursday in Taipei.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import select

from meetings.access.tokens import create_api_token
from meetings.access.users import add_user
from meetings.cases.config import load_config
from meetings.db import Person
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.support.configs import city_config
from tests.support.feeds import CITY, LiveServer, live_server

PASSWORD = "correct horse battery"
NEW_YORK = (
    city_config(
        timezone="America/New_York",
        cadence='{rrule: "FREQ=WEEKLY;BYDAY=WE"}',
        time="22:00",
        people="  - {email: ny@example.org, name: 紐約社工, agency: DVPC, roles: [secretariat]}\n",
    )
    .replace("city: 測試市", "city: 紐約市", 1)
    .replace("id: cp\n", "id: ny\n", 1)
    .replace('time: "22:00"', 'time: "22:00"\n    holidays: keep', 1)
)
NO_PERSON = "ny-login@example.org"
MAR_8 = "ny-20230308@liaison.test.example"  # Wednesday 22:00 EST = Thursday 11:00 in Taipei


@pytest.fixture
def server(app: App, clock: FixedClock) -> Iterator[LiveServer]:
    # 23:00 on Tuesday 7 March in New York; already noon on the 8th in Taipei.
    clock.set(datetime(2023, 3, 8, 4, 0, tzinfo=UTC))
    cfg = build_config([load_yaml(CITY, "taipei.yaml"), load_yaml(NEW_YORK, "ny.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
        generate_schedule(s, date(2023, 3, 1), date(2023, 3, 31), clock.now())
        add_user(s, "ny@example.org", "secretariat", PASSWORD, clock.now(), city="紐約市")
        # a login of the city with no person entry in its config
        add_user(s, NO_PERSON, "secretariat", PASSWORD, clock.now(), city="紐約市")
    with live_server(app) as srv:
        yield srv


def api(app: App, srv: LiveServer, query: str) -> list[dict[str, object]]:
    with app.transaction() as s:
        token = create_api_token(s, "participant", app.clock.now(), all_cities=True).token
    r = httpx.get(
        f"{srv.base}/api/occurrences?{query}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    data: list[dict[str, object]] = r.json()
    return data


def test_api_days_are_each_citys_local_days(app: App, server: LiveServer) -> None:
    wed = api(app, server, "from=2023-03-08&to=2023-03-08&series=ny")
    assert [(o["uid"], o["start"]) for o in wed] == [(MAR_8, "2023-03-08T22:00:00-05:00")]
    assert api(app, server, "from=2023-03-09&to=2023-03-09&series=ny") == []
    after_dst = api(app, server, "from=2023-03-15&to=2023-03-15&series=ny")
    assert [o["start"] for o in after_dst] == ["2023-03-15T22:00:00-04:00"]
    cities = {o["city"] for o in api(app, server, "from=2023-03-01&to=2023-03-31")}
    assert cities == {"測試市", "紐約市"}


@contextmanager
def login(srv: LiveServer, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.base, follow_redirects=False, timeout=30) as client:
        page = client.get("/login").text
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m
        form = {"email": email, "password": PASSWORD, "csrf": m.group(1)}
        r = client.post("/login", data=form)
        assert r.status_code == 303, r.text[:300]
        yield client


def test_pages_show_days_and_today_in_the_citys_zone(server: LiveServer) -> None:
    with login(server, "ny@example.org") as b:
        page = b.get("/meetings/" + MAR_8).text
        assert "112年3月8日（星期三）下午10時" in page
        # still the 7th in New York: the meeting has not happened yet
        assert "會議尚未召開" in page
        listed = b.get("/meetings?series=ny&from=2023-03-08&to=2023-03-08").text
        assert re.findall(r'data-uid="([^"]+)"', listed) == [MAR_8]
        assert "ny-20230308" not in b.get("/meetings?series=ny&from=2023-03-09&to=2023-03-09").text
        # the default list starts two weeks before the viewer's today (7 March in New York)
        assert 'value="2023-02-21"' in b.get("/meetings").text


def test_a_login_without_a_person_entry_has_its_citys_today(app: App, server: LiveServer) -> None:
    with app.transaction() as s:
        assert s.scalar(select(Person).where(Person.email == NO_PERSON)) is None
    with login(server, NO_PERSON) as b:
        # 7 March in New York (not 8 March in Taipei, the default zone): two weeks before
        assert 'value="2023-02-21"' in b.get("/meetings").text
