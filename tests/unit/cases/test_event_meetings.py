"""Event-triggered series: needs assessment, pre-expiry transition, repeating outcome reviews."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

from sqlalchemy import select

from meetings.cases.events import record_case_event
from meetings.cases.triggers import roll_repeats
from meetings.db import Occurrence, OutboxEvent
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import Cli, taipei
from tests.support.cases import csv_text, import_text, load_city


def event_meetings(app: App, series: str) -> list[Occurrence]:
    with app.transaction() as s:
        return list(
            s.scalars(
                select(Occurrence)
                .where(Occurrence.series_id == series)
                .order_by(Occurrence.nominal_date, Occurrence.id)
            )
        )


ONE = ["NA-001,偏差行為,中壢區,,,,,開案,SCHOOL,,2023-01-18,,,"]


def test_needs_assessment_within_five_working_days(
    app: App, cli: Cli, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app, generate=None)
    # Imported on 2023-01-18 (Wed): the 偏差行為 case type is itself the report.
    clock.set(taipei(2023, 1, 18, 10, 0))
    import_text(app, tmp_path, csv_text(ONE))
    [occ] = event_meetings(app, "needs-assessment")
    # Working days after Wed 18 Jan 2023: Thu 19; 20–29 Jan are the Lunar New Year days off;
    # Mon 30, Tue 31, Wed 1 Feb, Thu 2 Feb → the window ends on 2 Feb (its nominal date),
    # and the meeting takes the first slot in it: Thu 19 Jan.
    assert occ.nominal_date == date(2023, 2, 2)
    assert occ.start_at == taipei(2023, 1, 19, 15, 0)
    assert occ.end_at == taipei(2023, 1, 19, 16, 30)
    assert occ.moved_reason is None
    assert occ.case_no == "NA-001" and occ.origin == "event"
    # Opaque: no date and nothing computable from the case number (issue 12).
    assert re.fullmatch(r"needs-assessment-e[0-9a-f]{20}@liaison\.test\.example", occ.uid)
    assert "20230202" not in occ.uid and "NA-001" not in occ.uid
    with app.transaction() as s:
        ev = s.scalars(select(OutboxEvent).where(OutboxEvent.occurrence_uid == occ.uid)).all()
        assert [(e.kind, e.sequence) for e in ev] == [("occurrence.created", 0)]
        assert "NA-001" not in json.dumps(ev[0].payload, ensure_ascii=False)
        # The same event again changes nothing.
        again = record_case_event(
            s, "NA-001", "deviant_behaviour_report", date(2023, 1, 18), clock.now()
        )
    assert again.meetings.created == [] and again.meetings.unchanged == 1
    listed = json.loads(cli("schedule", "list", "--series", "needs-assessment", "--json").stdout)
    assert [m["uid"] for m in listed] == [occ.uid]


def test_needs_assessments_take_the_first_slot_their_invitees_are_free(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    """The school and counselling centre are required at each: no two at once."""
    load_city(app, generate=None)
    clock.set(taipei(2023, 1, 18, 10, 0))
    rows = [f"NA-00{n},偏差行為,中壢區,,,,,開案,SCHOOL,,2023-01-18,,," for n in range(1, 7)]
    import_text(app, tmp_path, csv_text(rows))
    starts = sorted(o.start_at for o in event_meetings(app, "needs-assessment"))
    at_three = [taipei(2023, 1, 19, 15, 0)] + [
        taipei(2023, m, d, 15, 0) for m, d in ((1, 30), (1, 31), (2, 1), (2, 2))
    ]
    # Five free working days in the window; the sixth case gets its last day regardless
    # (the window is the rule; the clash is the secretariat's to resolve).
    assert starts == [*at_three, taipei(2023, 2, 2, 15, 0)]


def test_a_window_skips_make_up_saturdays() -> None:
    from meetings.cases.slots import candidate_days
    from meetings.schedule.workdays import OfficeCalendar

    cal = OfficeCalendar()
    assert cal.is_working_day(date(2023, 2, 4))  # 補行上班 for 20 Jan
    assert candidate_days(date(2023, 2, 2), date(2023, 2, 7), cal) == [
        date(2023, 2, 3),
        date(2023, 2, 6),
        date(2023, 2, 7),
    ]


def test_brute_forcing_case_numbers_recovers_nothing_from_event_uids(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    """The attack of issue 12: hash every case number of the space, look for it in UIDs."""
    load_city(app, generate=None)
    clock.set(taipei(2023, 1, 18, 10, 0))
    two = ONE + ["NA-002,偏差行為,中壢區,,,,,開案,SCHOOL,,2023-01-18,,,"]
    import_text(app, tmp_path, csv_text(two))
    uids = [occ.uid for occ in event_meetings(app, "needs-assessment")]
    assert len(uids) == 2
    suffixes = [uid.split("@")[0].rsplit("-e", 1)[1] for uid in uids]
    assert suffixes[0] != suffixes[1]  # same series, group and day: nothing shared
    domain = "liaison.test.example"
    for n in range(1000):
        case_no = f"NA-{n:03d}"
        for text in (case_no, f"{domain}\n{case_no}", f"{case_no}@{domain}"):
            for algorithm in ("sha256", "sha1", "md5"):
                digest = hashlib.new(algorithm, text.encode()).hexdigest()
                for suffix in suffixes:
                    assert digest[:10] not in suffix, (case_no, algorithm)


def test_transition_meeting_two_months_before_expiry_moved_earlier(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app, generate=None)
    row = "OR-001,兒少保護,桃園區,,,,,開案,,,2023-01-02,,2023-12-10,"
    import_text(app, tmp_path, csv_text([row]))
    [occ] = event_meetings(app, "transition")
    # 10 Dec 2023 − 2 months = Tue 10 Oct (國慶日); 7–9 Oct are days off too → Fri 6 Oct.
    assert occ.nominal_date == date(2023, 10, 10)
    assert occ.start_at == taipei(2023, 10, 6, 14, 0)
    assert occ.moved_reason is not None and "國慶日" in occ.moved_reason
    # The order is extended: re-import with a new expiry date supersedes the meeting.
    clock.set(taipei(2023, 3, 1, 9, 0))
    import_text(app, tmp_path, csv_text([row.replace("2023-12-10", "2024-01-15")]))
    old, new = event_meetings(app, "transition")
    assert (old.status, old.sequence, old.moved_reason) == ("cancelled", 1, "新事件取代")
    assert (new.nominal_date, new.status) == (date(2023, 11, 15), "scheduled")
    with app.transaction() as s:
        kinds = s.scalars(
            select(OutboxEvent.kind).where(OutboxEvent.occurrence_uid == old.uid)
        ).all()
    assert kinds == ["occurrence.created", "occurrence.cancelled"]


def test_transition_only_for_the_orders_its_condition_names(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    """期滿前轉銜 is for 監護處分 / 保護管束, not a protective order (issue 13)."""
    from meetings.cases.config import load_config
    from meetings.kernel.yamlsource import load_yaml
    from meetings.schedule.config_build import build_config
    from tests.support.cases import CITY, HEADER, add_viewers

    conditional = CITY.replace(
        "    trigger: {event: order_expiry, offset: -2mo}\n",
        "    trigger: {event: order_expiry, offset: -2mo,"
        " when: {field: order_type, in: [監護處分, 保護管束]}}\n",
    )
    assert conditional != CITY
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(conditional, "city.yaml")]), clock.now())
    add_viewers(app)

    def rows(*lines: str) -> str:
        return "\n".join([HEADER + ",order_type", *lines]) + "\n"

    dv = "DV-009,家庭暴力,桃園區,,,9,,開案,DVPC,,2023-01-02,,2023-12-10,,保護令"
    ju = "OR-001,兒少保護,桃園區,,,,,開案,,,2023-01-02,,2023-12-10,,保護管束"
    import_text(app, tmp_path, rows(dv, ju))
    [occ] = event_meetings(app, "transition")
    assert occ.case_no == "OR-001" and occ.status == "scheduled"
    # A corrected order type is another expiry: the meeting goes, and comes for the other.
    clock.set(taipei(2023, 3, 1, 9, 0))
    import_text(
        app, tmp_path, rows(dv.replace("保護令", "監護處分"), ju.replace("保護管束", "保護令"))
    )
    by_case = {o.case_no: o for o in event_meetings(app, "transition")}
    assert by_case["OR-001"].status == "cancelled"
    assert by_case["OR-001"].moved_reason == "不符觸發條件"
    assert by_case["DV-009"].status == "scheduled"
    assert by_case["DV-009"].nominal_date == date(2023, 10, 10)


def test_a_trigger_condition_on_an_unknown_field_names_its_line(cli: Cli, tmp_path: Path) -> None:
    from tests.support.cases import CITY

    bad = CITY.replace(
        "    trigger: {event: order_expiry, offset: -2mo}\n",
        "    trigger: {event: order_expiry, offset: -2mo, when: {field: order_kind, eq: x}}\n",
    )
    path = tmp_path / "city.yaml"
    path.write_text(bad, encoding="utf-8")
    res = cli("config", "check", str(path))
    line = (
        bad.splitlines().index(
            "    trigger: {event: order_expiry, offset: -2mo, when: {field: order_kind, eq: x}}"
        )
        + 1
    )
    assert res.exit_code == 2
    assert f"city.yaml:{line}" in res.stderr and "order_kind" in res.stderr


def first_outcome_review(app: App, tmp_path: Path, clock: FixedClock) -> Occurrence:
    """NA-001's needs assessment held on 2 Feb 2023: its first outcome review."""
    load_city(app, generate=None)
    import_text(app, tmp_path, csv_text(ONE))
    clock.set(taipei(2023, 2, 3, 9, 0))
    with app.transaction() as s:
        record_case_event(s, "NA-001", "needs_assessment_held", date(2023, 2, 2), clock.now())
    [first] = event_meetings(app, "outcome-review")
    assert first.start_at == taipei(2023, 5, 2, 15, 0)  # 3 months after, a Tuesday
    return first


def test_outcome_reviews_repeat_until_the_case_closes(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    first_outcome_review(app, tmp_path, clock)
    with app.transaction() as s:
        assert roll_repeats(s, taipei(2023, 4, 1, 9, 0)).created == []
    with app.transaction() as s:
        rolled = roll_repeats(s, taipei(2023, 5, 3, 9, 0))
    assert len(rolled.created) == 1
    second = event_meetings(app, "outcome-review")[1]
    assert second.start_at == taipei(2023, 8, 2, 15, 0)
    assert second.uid.startswith("outcome-review-e") and "20230802" not in second.uid
    with app.transaction() as s:
        report = record_case_event(s, "NA-001", "closed", date(2023, 6, 1), taipei(2023, 6, 1, 9))
    assert report.meetings.cancelled == [second.uid]
    with app.transaction() as s:
        assert roll_repeats(s, taipei(2023, 9, 1, 9, 0)).created == []


def test_a_closure_entered_late_withdraws_the_meetings_after_it(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    """Closed on 15 Apr, entered on 1 Jun: the 2 May review, past but never held, was
    never owed — it is cancelled (個案結案), not left "scheduled" (issue 13)."""
    review = first_outcome_review(app, tmp_path, clock)
    with app.transaction() as s:
        report = record_case_event(s, "NA-001", "closed", date(2023, 4, 15), taipei(2023, 6, 1, 9))
    assert report.meetings.cancelled == [review.uid]
    [review] = event_meetings(app, "outcome-review")
    assert (review.status, review.moved_reason) == ("cancelled", "個案結案")
    # The needs assessment before the closure is history: left as it was.
    [assessment] = event_meetings(app, "needs-assessment")
    assert assessment.status == "scheduled"
    with app.transaction() as s:
        assert roll_repeats(s, taipei(2023, 9, 1, 9, 0)).created == []


def test_event_already_past_is_held_as_soon_as_possible(app: App, tmp_path: Path) -> None:
    load_city(app, generate=None)
    import_text(app, tmp_path, csv_text(["NA-002,偏差行為,中壢區,,,,,開案,,,2022-12-01,,,"]))
    [occ] = event_meetings(app, "needs-assessment")
    assert occ.nominal_date == date(2022, 12, 8)
    # Now is Sun 1 Jan 2023; Mon 2 Jan is the New Year holiday → Tue 3 Jan.
    assert occ.start_at == taipei(2023, 1, 3, 15, 0)
    assert occ.moved_reason == "原訂日期已過，儘速召開"


def test_a_meeting_the_product_moved_out_of_its_month_is_on_schedule_on_that_day(
    app: App, tmp_path: Path
) -> None:
    """Due 8 Dec 2022, placed on 3 Jan 2023 (the date had passed): held on 3 Jan it is
    held on schedule, not counted against the secretariat (issue 13)."""
    from meetings.kpis.queries import compute_kpis
    from meetings.records.held import mark_held

    load_city(app, generate=None)
    import_text(app, tmp_path, csv_text(["NA-002,偏差行為,中壢區,,,,,開案,,,2022-12-01,,,"]))
    [occ] = event_meetings(app, "needs-assessment")
    with app.transaction() as s:
        occ = s.get(Occurrence, occ.id)
        assert occ is not None
        record = mark_held(s, occ, taipei(2023, 1, 3, 17, 0), date(2023, 1, 3))
        assert (record.cycle_first, record.cycle_last) == (date(2022, 12, 1), date(2023, 1, 3))
        row = compute_kpis(s, 111, series_id="needs-assessment").as_json()["rows"][0]
    assert row["meetings_held"] == 1 and row["held_on_schedule_rate"] == 100.0
    with app.transaction() as s:
        occ = s.get(Occurrence, occ.id)
        assert occ is not None
        late = mark_held(s, occ, taipei(2023, 1, 5, 17, 0), date(2023, 1, 5))
        assert late.cycle_last == date(2023, 1, 3)  # held two days later: off schedule
        row = compute_kpis(s, 111, series_id="needs-assessment").as_json()["rows"][0]
    assert row["held_on_schedule_rate"] == 0.0


def test_event_cli_creates_the_meeting(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app, generate=None)
    import_text(app, tmp_path, csv_text(["CP-050,兒少保護,八德區,,中,,,開案,,,2022-12-01,,,"]))
    result = cli(
        "cases",
        "event",
        "CP-050",
        "order_expiry",
        "--at",
        "2023-09-20",
        "--now",
        "2023-01-05T09:00",
    )
    assert result.exit_code == 0, result.stderr
    created = [ln for ln in result.stdout.splitlines() if ln.startswith("  meeting created: ")]
    assert len(created) == 1
    assert re.fullmatch(r"  meeting created: transition-e[0-9a-f]{20}@\S+", created[0])
    assert "20230720" not in created[0] and "CP-050" not in created[0]


def test_triggered_meetings_are_in_feeds_without_case_data(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    import httpx

    from meetings.access.feeds import create_feed_token
    from tests.support.feeds import check_ics, live_server

    load_city(app, generate=None)
    clock.set(taipei(2023, 1, 18, 10, 0))
    row = "NA-007,偏差行為,中壢區,周小華,高,,,開案,SCHOOL,,2023-01-18,,2023-09-20,偏差行為：竊盜"
    import_text(app, tmp_path, csv_text([row]))
    meetings = event_meetings(app, "needs-assessment") + event_meetings(app, "transition")
    assert len(meetings) == 2
    with app.transaction() as s:
        tokens = [
            create_feed_token(s, "series", sid, clock.now()).token
            for sid in ("needs-assessment", "transition")
        ] + [create_feed_token(s, "agency", "SCHOOL", clock.now()).token]
    with live_server(app) as srv:
        bodies = [httpx.get(f"{srv.base}/feeds/{t}.ics", timeout=10).text for t in tokens]
    for occ in meetings:
        assert any(occ.uid in b for b in bodies)
    for body in bodies:
        check_ics(body.encode())
        for secret in ("NA-007", "周○華", "周小華", "竊盜", "中壢區"):
            assert secret not in body, secret
    assert "SUMMARY:偏差行為學生需求評估會議" in bodies[0]


def test_a_held_needs_assessment_starts_the_outcome_reviews(
    app: App, cli: Cli, tmp_path: Path, clock: FixedClock
) -> None:
    from meetings.cases.jobs import run_case_jobs

    load_city(app, generate=None)
    clock.set(taipei(2023, 1, 18, 10, 0))
    import_text(app, tmp_path, csv_text(ONE))
    [na] = event_meetings(app, "needs-assessment")
    with app.transaction() as s:  # not held yet: nothing follows
        assert run_case_jobs(s, taipei(2023, 2, 3, 9, 0)).events == []
    held = cli("attendance", "record", na.uid, "--agency", "SCHOOL", "--status", "present",
               "--held-at", "2023-02-03", "--now", "2023-02-03T17:00")  # fmt: skip
    assert held.exit_code == 0, held.stderr
    out = cli("cases", "escalate", "--now", "2023-02-04T09:00", "--json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["events"] == [
        {"case_no": "NA-001", "kind": "needs_assessment_held", "at": "2023-02-03"}
    ]
    [review] = event_meetings(app, "outcome-review")
    assert data["meetings_created"] == [review.uid]
    assert review.nominal_date == date(2023, 5, 3)  # 3 months after the meeting was held
    again = json.loads(cli("cases", "escalate", "--now", "2023-02-05T09:00", "--json").stdout)
    assert again["events"] == [] and again["meetings_created"] == []


def test_an_outcome_review_held_late_keeps_the_next_within_six_months(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    from sqlalchemy import update

    load_city(app, generate=None)
    import_text(app, tmp_path, csv_text(ONE))
    clock.set(taipei(2023, 2, 3, 9, 0))
    with app.transaction() as s:
        record_case_event(s, "NA-001", "needs_assessment_held", date(2023, 2, 2), clock.now())
    [first] = event_meetings(app, "outcome-review")
    assert first.nominal_date == date(2023, 5, 2)
    # The secretariat held it four months late, on 1 Sep: 3 months after that would be
    # 1 Dec, but a round may last 6 months at most → 2 Nov (6 months after 2 May).
    with app.transaction() as s:
        s.execute(
            update(Occurrence)
            .where(Occurrence.uid == first.uid)
            .values(start_at=taipei(2023, 9, 1, 15, 0), end_at=taipei(2023, 9, 1, 16, 0))
        )
    with app.transaction() as s:
        rolled = roll_repeats(s, taipei(2023, 9, 2, 9, 0))
    second = event_meetings(app, "outcome-review")[1]
    assert rolled.created == [second.uid]
    assert second.nominal_date == date(2023, 11, 2)
