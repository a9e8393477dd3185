"""Properties of generated schedules, and hand-checked dates around real holidays."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import Occurrence, OutboxEvent
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.cadence import cycle_of, parse_cadence
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from meetings.schedule.workdays import OfficeCalendar
from scheduler.bootstrap import build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings
from tests.conftest import TAIPEI, Cli, taipei, write
from tests.support.configs import BASE

PHRASES = [
    "每月召開1次",
    "每季召開1次",
    "原則每4個月召開1次",
    "每半年辦理1次",
    "每年召開2次",
    "每年召開3次",
    "3月、7月、11月",
]
POLICIES = ["next_working_day", "previous_working_day", "skip", "keep"]


def config(phrase: str, policy: str, anchor: int, per_district: bool) -> str:
    text = BASE.replace("每月召開1次", phrase).replace(
        '    time: "14:00"\n', f'    time: "14:00"\n    holidays: {policy}\n'
    )
    if "月、" not in phrase:
        text = text.replace(
            "    organizer: DVPC\n", f"    organizer: DVPC\n    anchor_month: {anchor}\n"
        )
    if per_district:
        text = text.replace(
            "    organizer: DVPC\n", "    organizer: DVPC\n    per_district: true\n"
        )
    return text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    phrase=st.sampled_from(PHRASES),
    policy=st.sampled_from(POLICIES),
    anchor=st.integers(1, 12),
    per_district=st.booleans(),
    first_year=st.integers(2019, 2025),
    years=st.integers(1, 2),
)
def test_generated_schedule_properties(
    phrase: str, policy: str, anchor: int, per_district: bool, first_year: int, years: int
) -> None:
    start, end = date(first_year, 1, 1), date(first_year + years - 1, 12, 31)
    with TemporaryDirectory() as tmp:
        clock = FixedClock(taipei(2019, 1, 1, 0, 0))
        app = build_app(Settings(database_url=f"sqlite:///{Path(tmp) / 'p.db'}"), clock)
        try:
            cfg = build_config([load_yaml(config(phrase, policy, anchor, per_district), "c.yaml")])
            with app.transaction() as s:
                load_config(s, cfg, clock.now())
                generate_schedule(s, start, end, clock.now())
            with app.transaction() as s:
                occs = list(s.scalars(select(Occurrence)))
                n_events = len(list(s.scalars(select(OutboxEvent))))
                # generate twice = no change
                again = generate_schedule(s, start, end, clock.now())
                assert again.changed == 0
                assert len(list(s.scalars(select(OutboxEvent)))) == n_events
        finally:
            app.close()
    cal = OfficeCalendar()
    cadence = parse_cadence(phrase, anchor_month=None if "月、" in phrase else anchor)
    per_instance: dict[str, list[Occurrence]] = {}
    for o in occs:
        per_instance.setdefault(o.instance_key, []).append(o)
        actual = o.start_at.astimezone(TAIPEI).date()
        if policy != "keep":
            assert cal.is_working_day(actual), (o.uid, actual)
        else:
            assert actual == o.nominal_date
        assert o.uid == f"{o.instance_key}-{o.nominal_date:%Y%m%d}@liaison.test.example"
    assert len(per_instance) == (2 if per_district else 1)
    # exactly one occurrence per cadence cycle (fewer only where `skip` dropped one)
    for rows in per_instance.values():
        cycles = [cycle_of(cadence, o.nominal_date) for o in rows]
        assert len(set(cycles)) == len(cycles)
        whole = {
            cycle_of(cadence, date(y, m, 15))
            for y in range(first_year, first_year + years)
            for m in range(1, 13)
        }
        inside = {c for c in whole if c[0] >= start and c[1] <= end}
        if policy != "skip":
            assert inside <= set(cycles)


def _dates(cli: Cli, series: str) -> list[tuple[str, str]]:
    import json

    rows = json.loads(cli("schedule", "list", "--series", series, "--json").stdout)
    return [(r["nominal_date"], r["start"][:10]) for r in rows if r["status"] != "cancelled"]


def test_hand_checked_2023_dates_around_national_day(cli: Cli, tmp_path: Path) -> None:
    # 2nd Monday of October 2023 is 10-09, a substituted day off; 10-10 is National Day.
    text = BASE.replace("cadence: 每月召開1次", "cadence: {every: month, on: 2nd MO}")
    write(tmp_path / "c.yaml", text)
    assert cli("config", "load", str(tmp_path / "c.yaml")).exit_code == 0
    cli("schedule", "generate", "--from", "2023-10-01", "--to", "2023-10-31", "--now", "2023-01-01")
    assert _dates(cli, "cp") == [("2023-10-09", "2023-10-11")]


def test_make_up_saturday_2023_01_07_is_a_working_day(cli: Cli, tmp_path: Path) -> None:
    text = BASE.replace("cadence: 每月召開1次", 'cadence: {rrule: "FREQ=WEEKLY;BYDAY=SA"}').replace(
        '    time: "14:00"\n', '    time: "09:00"\n    holidays: skip\n'
    )
    write(tmp_path / "c.yaml", text)
    assert cli("config", "load", str(tmp_path / "c.yaml")).exit_code == 0
    cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-03-31", "--now", "2023-01-01")
    # Only the make-up working Saturdays (補行上班) survive a skip policy.
    assert _dates(cli, "cp") == [
        ("2023-01-07", "2023-01-07"),
        ("2023-02-04", "2023-02-04"),
        ("2023-02-18", "2023-02-18"),
        ("2023-03-25", "2023-03-25"),
    ]


def test_seed_series_around_2024_lunar_new_year(cli: Cli) -> None:
    from tests.conftest import EXAMPLES

    assert cli("config", "load", str(EXAMPLES)).exit_code == 0
    cli("schedule", "generate", "--from", "2024-01-01", "--to", "2024-12-31", "--now", "2023-12-01")
    # Taoyuan child-protection network, monthly, default day the 2nd Wednesday: 2024-02-14
    # falls in the 2/8–2/14 Lunar New Year break and moves to Thursday 2/15 (a monthly
    # series that reviews listed cases keeps its day against the city's other meetings).
    feb = [d for d in _dates(cli, "ty-child-protection-network") if d[0].startswith("2024-02")]
    assert feb == [("2024-02-14", "2024-02-15")]
    # 臺中 府層級跨局處會議: March, July, November 2024 (nominally the 2nd Wednesday; placed
    # on the Thursday, as the monthly 兒少 network meeting needs the same agencies then).
    cross = _dates(cli, "tc-city-cross-agency")
    assert [d[1] for d in cross] == ["2024-03-14", "2024-07-11", "2024-11-14"]
    assert [d[0] for d in cross] == [
        "2024-03-13",
        "2024-07-10",
        "2024-11-13",
    ]
    # 13 district liaison meetings per cycle, on spread days, none on a day off.
    rows = _dates(cli, "ty-district-liaison")
    assert len(rows) == 39 and len({r[1] for r in rows if r[1].startswith("2024-03")}) >= 10


def test_calendar_import_cli_big5_and_errors(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "c.yaml", BASE)
    cli("config", "load", str(tmp_path / "c.yaml"))
    cli("schedule", "generate", "--from", "2023-03-01", "--to", "2023-03-31", "--now", "2023-01-01")
    csv = "西元日期,星期,是否放假,備註\n20230308,三,2,測試放假\n20230309,四,0,\n"
    path = tmp_path / "cal.csv"
    path.write_bytes(csv.encode("cp950"))
    res = cli("calendar", "import", str(path), "--now", "2023-01-01")
    assert res.exit_code == 0, res.stderr
    assert "1 moved" in res.stdout
    assert _dates(cli, "cp") == [("2023-03-08", "2023-03-09")]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "西元日期,星期,是否放假,備註\n20230308,三,9,\n2023-13-01,一,0,\n", encoding="utf-8"
    )
    res = cli("calendar", "import", str(bad))
    assert res.exit_code == 2
    assert f"{bad}:2:" in res.stderr and f"{bad}:3:" in res.stderr


def test_init_creates_schema(cli: Cli) -> None:
    res = cli("init")
    assert res.exit_code == 0 and "database ready" in res.stdout
    assert cli("init").exit_code == 0  # idempotent
