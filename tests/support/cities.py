"""Two cities in one database (測試市 and 紐約市), for the tests that prove nothing
crosses the city boundary (web routes and the command line alike)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from meetings.cases.config import load_config
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.support.configs import city_config
from tests.support.feeds import CITY
from tests.support.pages import PASSWORD

__all__ = ["OTHER", "OTHER_UID", "PASSWORD", "SECRETS", "load_two_cities"]

OTHER = (
    city_config(people="  - {email: ny@example.org, name: 紐約社工, agency: DVPC}\n")
    .replace("city: 測試市", "city: 紐約市", 1)
    .replace("id: cp\n", "id: ny\n", 1)
    .replace("兒少保護網絡會議", "紐約保護網絡會議", 1)
    .replace("name: 家防中心", "name: 紐約家防中心", 1)
)
# What of 紐約市 must never reach a 測試市 principal.
SECRETS = ("紐約", "ny-2023", "ny@example.org")
OTHER_UID = "ny-20230308@liaison.test.example"


def load_two_cities(app: App, clock: FixedClock) -> datetime:
    """Both cities loaded and their first half of 2023 generated; the clock's now."""
    clock.set(datetime(2023, 3, 20, 2, 0, tzinfo=UTC))
    cfg = build_config([load_yaml(CITY, "city.yaml"), load_yaml(OTHER, "ny.yaml")])
    now = clock.now()
    with app.transaction() as s:
        load_config(s, cfg, now)
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), now)
    return now
