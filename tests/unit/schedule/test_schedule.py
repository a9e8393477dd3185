"""Schedule generation against a real SQLite file: identity, idempotency, moves."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import func, inspect, select, update

from meetings.cases.config import load_config
from meetings.db import Occurrence, OutboxEvent
from meetings.kernel.vocabulary import CancelCause, OccurrenceStatus
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.adhoc import add_adhoc_meeting
from meetings.schedule.closures import add_closure, import_office_calendar, remove_closure
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.db import ALEMBIC_DIR
from tests.conftest import TAIPEI, Cli, taipei, write
from tests.support.configs import BASE

DOMAIN = "liaison.test.example"


def load(app: App, text: str = BASE) -> None:
    cfg = build_config([load_yaml(text, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())


def occurrences(app: App) -> list[Occurrence]:
    with app.transaction() as s:
        return list(s.scalars(select(Occurrence).order_by(Occurrence.nominal_date)))


def events(app: App) -> list[OutboxEvent]:
    with app.transaction() as s:
        return list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def gen(app: App, start: date, end: date):  # type: ignore[no-untyped-def]
    with app.transaction() as s:
        return generate_schedule(s, start, end, app.clock.now())


def test_monthly_2023_second_wednesdays_with_stable_uids(app: App) -> None:
    load(app)
    report = gen(app, date(2023, 1, 1), date(2023, 12, 31))
    assert len(report.created) == 12
    occ = occurrences(app)
    assert [o.nominal_date.isoformat() for o in occ][:4] == [
        "2023-01-11",
        "2023-02-08",
        "2023-03-08",
        "2023-04-12",
    ]
    assert occ[2].uid == f"cp-20230308@{DOMAIN}"
    assert occ[2].start_at.astimezone(TAIPEI) == taipei(2023, 3, 8, 14, 0)
    assert occ[2].end_at - occ[2].start_at == timedelta(hours=2)
    assert all(o.status == "scheduled" and o.sequence == 0 for o in occ)
    assert [e.kind for e in events(app)] == ["occurrence.created"] * 12


def test_generate_twice_changes_nothing(app: App) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2024, 12, 31))
    before = [(o.uid, o.start_at, o.sequence) for o in occurrences(app)]
    n_events = len(events(app))
    again = gen(app, date(2023, 1, 1), date(2024, 12, 31))
    assert again.changed == 0 and again.unchanged == 24
    assert [(o.uid, o.start_at, o.sequence) for o in occurrences(app)] == before
    assert len(events(app)) == n_events


def test_lunar_new_year_2024_moves_by_policy(app: App) -> None:
    # 2nd Wednesday of Feb 2024 is 2024-02-14, inside the 2/8–2/14 Lunar New Year break.
    load(app)
    gen(app, date(2024, 2, 1), date(2024, 2, 29))
    (feb,) = occurrences(app)
    assert feb.nominal_date == date(2024, 2, 14)
    assert feb.uid == f"cp-20240214@{DOMAIN}"
    assert feb.start_at.astimezone(TAIPEI).date() == date(2024, 2, 15)
    assert feb.moved_reason and "順延" in feb.moved_reason


def test_previous_and_skip_policies(app: App) -> None:
    load(
        app,
        BASE.replace(
            '    time: "14:00"\n', '    time: "14:00"\n    holidays: previous_working_day\n'
        ),
    )
    gen(app, date(2024, 2, 1), date(2024, 2, 29))
    (feb,) = occurrences(app)
    assert feb.start_at.astimezone(TAIPEI).date() == date(2024, 2, 7)


def test_skip_policy_creates_no_meeting(app: App) -> None:
    load(app, BASE.replace('    time: "14:00"\n', '    time: "14:00"\n    holidays: skip\n'))
    gen(app, date(2024, 1, 1), date(2024, 3, 31))
    assert [o.nominal_date for o in occurrences(app)] == [date(2024, 1, 10), date(2024, 3, 13)]


def test_closure_moves_then_reopening_moves_back(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    with app.transaction() as s:
        r = add_closure(s, date(2023, 3, 8), "颱風停班", clock.now())
    assert r.moved == [f"cp-20230308@{DOMAIN}"]
    mar = [o for o in occurrences(app) if o.nominal_date == date(2023, 3, 8)][0]
    assert mar.start_at.astimezone(TAIPEI) == taipei(2023, 3, 9, 14, 0)
    assert mar.sequence == 1 and mar.uid == f"cp-20230308@{DOMAIN}"
    assert "颱風停班" in (mar.moved_reason or "")
    last = events(app)[-1]
    assert last.kind == "occurrence.moved" and last.sequence == 1
    assert last.payload["previous_start"].startswith("2023-03-08T06:00")
    with app.transaction() as s:
        r2 = remove_closure(s, date(2023, 3, 8), clock.now())
    assert r2.moved == [mar.uid]
    mar = [o for o in occurrences(app) if o.nominal_date == date(2023, 3, 8)][0]
    assert mar.start_at.astimezone(TAIPEI) == taipei(2023, 3, 8, 14, 0) and mar.sequence == 2


def test_closure_does_not_touch_past_or_held(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    with app.transaction() as s:
        o = s.scalar(select(Occurrence).where(Occurrence.nominal_date == date(2023, 4, 12)))
        assert o is not None
        o.status = "held"
    clock.set(taipei(2023, 3, 20, 9, 0))
    with app.transaction() as s:
        r1 = add_closure(s, date(2023, 3, 8), "颱風停班", clock.now())  # already past
        r2 = add_closure(s, date(2023, 4, 12), "颱風停班", clock.now())  # held
    assert r1.changed == 0 and r2.changed == 0


def test_changed_cadence_updates_only_future_unheld(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    with app.transaction() as s:
        june = s.scalar(select(Occurrence).where(Occurrence.nominal_date == date(2023, 6, 14)))
        assert june is not None
        june.status = "held"
    clock.set(taipei(2023, 5, 1, 9, 0))
    quarterly = BASE.replace("每月召開1次", "每季召開1次")
    cfg = build_config([load_yaml(quarterly, "city.yaml")])
    with app.transaction() as s:
        report = load_config(s, cfg, clock.now())
    assert report.series_changed == ["cp"]
    by_date = {o.nominal_date.month: o for o in occurrences(app)}
    # Jan–Apr are past: untouched. June is held: untouched.
    for m in (1, 2, 3, 4):
        assert by_date[m].status == "scheduled" and by_date[m].sequence == 0
    assert by_date[6].status == "held"
    # Quarter months Jul and Oct still fit; May, Aug, Sep, Nov, Dec are cancelled.
    assert by_date[7].status == "scheduled" and by_date[7].sequence == 0
    assert by_date[10].status == "scheduled"
    for m in (5, 8, 9, 11, 12):
        assert by_date[m].status == "cancelled" and by_date[m].sequence == 1, m
    assert sum(1 for e in events(app) if e.kind == "occurrence.cancelled") == 5
    # Going back to monthly reinstates the cancelled future ones.
    cfg2 = build_config([load_yaml(BASE, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg2, clock.now())
    by_date = {o.nominal_date.month: o for o in occurrences(app)}
    assert by_date[8].status == "scheduled" and by_date[8].sequence == 2


def test_skip_cancellation_is_state_and_reopening_reinstates(app: App, clock: FixedClock) -> None:
    load(app, BASE.replace('    time: "14:00"\n', '    time: "14:00"\n    holidays: skip\n'))
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    uid = f"cp-20230308@{DOMAIN}"
    with app.transaction() as s:
        assert add_closure(s, date(2023, 3, 8), "颱風停班", clock.now()).cancelled == [uid]
    (mar,) = [o for o in occurrences(app) if o.uid == uid]
    assert (mar.status, mar.cancel_cause) == (OccurrenceStatus.CANCELLED, CancelCause.HOLIDAY_SKIP)
    with app.transaction() as s:
        assert remove_closure(s, date(2023, 3, 8), clock.now()).reinstated == [uid]
    (mar,) = [o for o in occurrences(app) if o.uid == uid]
    assert (mar.status, mar.cancel_cause) == (OccurrenceStatus.SCHEDULED, None)


def test_replanned_cancellation_survives_calendar_changes(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    quarterly = BASE.replace("每月召開1次", "每季召開1次")
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(quarterly, "city.yaml")]), clock.now())
    (feb,) = [o for o in occurrences(app) if o.nominal_date == date(2023, 2, 8)]
    assert (feb.status, feb.cancel_cause) == (OccurrenceStatus.CANCELLED, CancelCause.REPLANNED)
    # Even its reason text reading like a skip would not let a calendar change revive it.
    with app.transaction() as s:
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid == feb.uid)
            .values(moved_reason="holiday policy: skip")
        )
    with app.transaction() as s:
        add_closure(s, date(2023, 2, 8), "颱風停班", clock.now())
        report = remove_closure(s, date(2023, 2, 8), clock.now())
    assert feb.uid not in report.reinstated
    (feb,) = [o for o in occurrences(app) if o.nominal_date == date(2023, 2, 8)]
    assert feb.status == OccurrenceStatus.CANCELLED


def test_migration_0007_backfills_the_cause_of_skip_cancellations(app: App) -> None:
    load(app, BASE.replace('    time: "14:00"\n', '    time: "14:00"\n    holidays: skip\n'))
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    skipped, replanned, kept = (f"cp-2023{md}@{DOMAIN}" for md in ("0308", "0412", "0510"))
    with app.transaction() as s:
        for uid, reason in ((skipped, "holiday policy: skip"), (replanned, "cadence changed")):
            s.execute(
                update(Occurrence)
                .where(Occurrence.uid == uid)
                .values(status="cancelled", moved_reason=reason)
            )
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert "cancel_cause" not in {c["name"] for c in inspect(app.engine).get_columns("occurrences")}
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    causes = {o.uid: o.cancel_cause for o in occurrences(app)}
    assert causes[skipped] == CancelCause.HOLIDAY_SKIP
    assert causes[replanned] == CancelCause.REPLANNED
    assert causes[kept] is None


def test_calendar_import_that_changes_a_day_moves_meetings(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    days = {date(2023, 3, 8): (True, "補假（測試）"), date(2023, 3, 9): (False, "")}
    with app.transaction() as s:
        r = import_office_calendar(s, days, clock.now())
    assert r.moved == [f"cp-20230308@{DOMAIN}"]
    # Importing the same calendar again moves nothing.
    with app.transaction() as s:
        assert import_office_calendar(s, days, clock.now()).changed == 0


def test_later_unpublished_year_warns(app: App) -> None:
    from meetings.schedule.workdays import LAST_PACKAGE_YEAR

    load(app)
    year = LAST_PACKAGE_YEAR + 1
    report = gen(app, date(year, 1, 1), date(year, 12, 31))
    assert any(str(year) in w and "may still move" in w for w in report.warnings)
    assert not gen(app, date(2023, 1, 1), date(2023, 12, 31)).warnings


def test_adhoc_meeting(app: App, clock: FixedClock) -> None:
    load(app)
    gen(app, date(2023, 1, 1), date(2023, 12, 31))
    with app.transaction() as s:
        occ, warnings = add_adhoc_meeting(s, "cp", datetime(2023, 3, 8, 10, 0), clock.now())
        uid = occ.uid
    assert uid == f"cp-20230308-adhoc1@{DOMAIN}"
    assert warnings == []
    # The regular meeting of the same day keeps its own UID; regenerating leaves both.
    assert gen(app, date(2023, 1, 1), date(2023, 12, 31)).changed == 0
    assert len([o for o in occurrences(app) if o.nominal_date == date(2023, 3, 8)]) == 2


def test_dst_zone_keeps_local_wall_time(app: App) -> None:
    text = (
        BASE.replace(
            "domain: liaison.test.example",
            "domain: liaison.test.example\ntimezone: America/New_York",
        )
        .replace("cadence: 每月召開1次", 'cadence: {rrule: "FREQ=WEEKLY;BYDAY=MO"}')
        .replace('time: "14:00"', 'time: "09:00"\n    holidays: keep')
    )
    load(app, text)
    gen(app, date(2023, 3, 6), date(2023, 3, 13))
    first, second = occurrences(app)
    ny = ZoneInfo("America/New_York")
    assert first.start_at.astimezone(ny).hour == 9 and second.start_at.astimezone(ny).hour == 9
    assert first.start_at.astimezone(UTC).hour == 14  # EST, UTC-5
    assert second.start_at.astimezone(UTC).hour == 13  # EDT, UTC-4


def test_cli_end_to_end(cli: Cli, tmp_path: Path) -> None:
    cfg = write(tmp_path / "city.yaml", BASE)
    assert cli("config", "load", str(cfg)).exit_code == 0
    res = cli(
        "schedule",
        "generate",
        "--from",
        "2023-01-01",
        "--to",
        "112/12/31",
        "--now",
        "2023-01-01T09:00",
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["created"] == 12
    again = cli(
        "schedule",
        "generate",
        "--from",
        "2023-01-01",
        "--to",
        "2023-12-31",
        "--now",
        "2023-01-01T09:00",
        "--json",
    )
    assert json.loads(again.stdout)["created"] == 0
    listed = json.loads(cli("schedule", "list", "--series", "cp", "--json").stdout)
    assert len(listed) == 12
    assert set(listed[0]) >= {
        "uid",
        "series",
        "district",
        "nominal_date",
        "start",
        "end",
        "status",
        "sequence",
    }
    assert listed[2]["start"] == "2023-03-08T14:00:00+08:00"
    moved = cli(
        "closures", "add", "2023-03-08", "--reason", "颱風停班", "--now", "2023-01-01T09:00"
    )
    assert moved.exit_code == 0, moved.stderr
    assert "1 moved" in moved.stdout
    after = json.loads(cli("schedule", "list", "--series", "cp", "--json").stdout)
    mar = [o for o in after if o["nominal_date"] == "2023-03-08"][0]
    assert mar["start"] == "2023-03-09T14:00:00+08:00" and mar["sequence"] == 1
    explain = cli("series", "explain", "cp", "--now", "2023-02-20T09:00")
    assert explain.exit_code == 0, explain.stderr
    assert "FREQ=MONTHLY;BYDAY=+2WE" in explain.stdout
    assert "112年3月9日（星期四）下午2時" in explain.stdout  # moved by the closure
    assert explain.stdout.count("112年") + explain.stdout.count("113年") >= 5


def test_a_closure_on_a_past_day_names_the_meetings_it_left(cli: Cli, tmp_path: Path) -> None:
    """`closures add` for a day already past: the meeting on it is history, and the
    command says so instead of a bare "0 moved" (issue 13)."""
    cfg = write(tmp_path / "city.yaml", BASE)
    cli("config", "load", str(cfg))
    cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-12-31")
    late = cli("closures", "add", "2023-03-08", "--reason", "颱風停班", "--now", "2023-03-20T09:00")
    assert late.exit_code == 0, late.stderr
    assert "0 moved" in late.stdout
    line = "left as it was (already past: history is not rewritten): cp-20230308@"
    assert line in late.stdout
    data = json.loads(
        cli(
            "closures", "add", "2023-04-12", "--reason", "停班", "--now", "2023-05-01", "--json"
        ).stdout
    )
    assert data["kept"] == [{"uid": "cp-20230412@liaison.test.example", "why": "past"}]


def test_cli_bad_input_exit_2(cli: Cli, tmp_path: Path) -> None:
    cfg = write(tmp_path / "city.yaml", BASE)
    cli("config", "load", str(cfg))
    assert cli("schedule", "generate", "--from", "2023-13-01").exit_code == 2
    assert cli("schedule", "generate", "--from", "2023-05-01", "--to", "2023-01-01").exit_code == 2
    r = cli("series", "explain", "nope")
    assert r.exit_code == 2 and "unknown series 'nope'" in r.stderr
    assert cli("meetings", "add", "cp", "--at", "tomorrow").exit_code == 2
    assert cli("closures", "add", "2023-03-08").exit_code == 2  # --reason missing
    missing = cli("config", "check", str(tmp_path / "missing.yaml"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_demo_config_generates_a_year(app: App) -> None:
    from scheduler.configfiles import read_config
    from tests.conftest import EXAMPLES

    cfg = read_config([EXAMPLES])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        report = generate_schedule(s, date(2023, 1, 1), date(2023, 12, 31), app.clock.now())
        counts = dict(
            s.execute(
                select(Occurrence.series_id, func.count()).group_by(Occurrence.series_id)
            ).all()
        )
    assert not report.warnings
    assert counts["ty-city-liaison"] == 3
    assert counts["ty-district-liaison"] == 13 * 3
    assert counts["ty-district-case-review"] == 13 * 4
    assert counts["ty-dv-high-risk"] == 5 * 12
    assert counts["ty-child-protection-network"] == 12
    assert counts["tp-dv-sa-committee"] == 3
    assert counts["tc-city-cross-agency"] == 3
    assert "ty-needs-assessment" not in counts  # event-triggered: no calendar meetings
