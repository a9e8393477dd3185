"""``config load``: the one writer of a validated configuration.

The schedule slice stores cities, agencies and series (``load_schedule``); the listing
rules of SPEC §3 belong to cases, so the whole load is composed here, in the lowest
slice that sees both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.rules import store_city_case_config
from meetings.db import City
from meetings.schedule.declarations import Config
from meetings.schedule.loading import LoadReport, load_schedule


def load_config(session: Session, config: Config, now: datetime) -> LoadReport:
    """Store a validated config: series (re-planning changed cadences), then each
    city's listing rules (re-evaluating open cases when a rule changed)."""
    report = load_schedule(session, config, now)
    for cc in config.cities.values():
        city = session.scalars(select(City).where(City.name == cc.name)).one()
        store_city_case_config(session, city, cc, now)
    session.flush()
    return report
