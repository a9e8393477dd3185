"""The pages' test city: the cases city with people, its first half of 2023, three users."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from meetings.access.users import add_user
from meetings.cases.config import load_config
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from tests.support.cases import CITY as CASES_CITY
from tests.support.cases import csv_text, import_text, uid

PASSWORD = "correct horse battery"
PEOPLE = """\
people:
  - {email: chen@example.org, name: 陳社工, agency: DVPC, roles: [secretariat]}
  - {email: li@example.org, name: 李警官, agency: POL}
"""
CITY = CASES_CITY.replace("listing_rules:\n", PEOPLE + "listing_rules:\n", 1)
USERS = {
    "admin@example.org": "admin",
    "chen@example.org": "secretariat",
    "li@example.org": "participant",
}
CITY_NAME = "測試市"  # the test city: every user belongs to it
JAN = uid("cp-network", "20230111")  # 2nd Wednesday of January 2023, 14:00


def seed(app: App, tmp_path: Path) -> None:
    """The cases test city (with people), its first half of 2023, cases and three users."""
    cfg = build_config([load_yaml(CITY, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), app.clock.now())
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s:
        for email, role in USERS.items():
            add_user(s, email, role, PASSWORD, app.clock.now(), city=CITY_NAME)
