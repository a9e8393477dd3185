"""The KPI dashboard's test world: the example 桃園市 (config/taoyuan.yaml: ~50 series
instances and ~20 agencies, more bars than a chart shows at first) beside 紐約市, at
20 Mar 2023, with attendance recorded at some of 桃園市's January meetings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from meetings.access.users import add_user
from meetings.cases.config import load_config
from meetings.db import City, Occurrence, Series
from meetings.kernel.yamlsource import load_yaml
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import EXAMPLES, taipei
from tests.support.cities import OTHER
from tests.support.pages import PASSWORD

__all__ = ["MINISTRY", "PASSWORD", "TY_USER", "attend_first", "seed_taoyuan"]

TY_USER = "chen@taoyuan.example"
MINISTRY = "ministry@example.org"


def seed_taoyuan(app: App, clock: FixedClock) -> datetime:
    """Both cities loaded, their 2023 generated, the two logins; the clock's now."""
    clock.set(taipei(2023, 3, 20, 10, 0))
    taoyuan = (EXAMPLES / "taoyuan.yaml").read_text(encoding="utf-8")
    cfg = build_config([load_yaml(taoyuan, "taoyuan.yaml"), load_yaml(OTHER, "ny.yaml")])
    now = clock.now()
    with app.transaction() as s:
        load_config(s, cfg, now)
        generate_schedule(s, date(2023, 1, 1), date(2023, 12, 31), now)
        add_user(s, TY_USER, "secretariat", PASSWORD, now, city="桃園市")
        add_user(s, MINISTRY, "admin", PASSWORD, now, all_cities=True)
    attend_first(app, 5)
    return now


def january_meetings(app: App) -> list[tuple[str, tuple[str, ...]]]:
    """桃園市's January 2023 meetings (UID, required agencies), earliest first."""
    with app.transaction() as s:
        rows = s.execute(
            select(Occurrence.uid, Series.spec)
            .join(Series, Occurrence.series_id == Series.id)
            .join(City, Series.city_id == City.id)
            .where(City.name == "桃園市", Occurrence.nominal_date < date(2023, 2, 1))
            .order_by(Occurrence.start_at, Occurrence.uid)
        ).all()
    return [(uid, tuple(spec.get("invite", {}).get("required", []))) for uid, spec in rows]


def attend_first(app: App, n: int, skip: int = 0) -> list[str]:
    """Every required agency present at 桃園市's January meetings ``skip``…``skip+n``
    (held, so their rows get a rate); their UIDs."""
    chosen = january_meetings(app)[skip : skip + n]
    with app.transaction() as s:
        for uid, required in chosen:
            for code in required:
                record_attendance(
                    s, AttendanceInput(uid=uid, agency=code, status="present"), app.clock.now()
                )
    return [uid for uid, _ in chosen]
