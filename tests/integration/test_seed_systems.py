"""One end-to-end test per meeting system of the seed documents (issue 13).

The three shipped configs (config/*.yaml) are loaded once into a module database and
driven through 112–113 (2023–2024) on an injected clock: generated dates around the real
office holidays, an agenda with the listed cases, the invitation mailed through a real
SMTP sink (recipients counted), the KPI row, event meetings from imported cases, and the
不定期 systems that only have ad-hoc meetings.

Placement may move an unpinned meeting within its cycle (e.g. to avoid double-booking a
required agency), so dates are asserted on nominal dates, on the one pinned cadence
(臺北 3rd Thursday) and on invariants of the placed day: a working day, in its cycle, off
a holiday that the nominal date hits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from meetings.agendas.model import Agenda
from meetings.agendas.queries import build_agenda_for
from meetings.cases.config import load_config
from meetings.cases.events import record_case_event
from meetings.cases.importing import read_cases
from meetings.cases.imports import import_cases
from meetings.cases.lookup import resolve_city
from meetings.db import Occurrence, OutboxMessage
from meetings.kernel.localtime import DEFAULT_TIMEZONE, local
from meetings.kpis.grants import grant_report
from meetings.kpis.queries import compute_kpis
from meetings.records.held import record_size
from meetings.schedule.adhoc import add_adhoc_meeting
from meetings.schedule.cadence import cycle_of
from meetings.schedule.declarations import Config, SeriesSpec
from meetings.schedule.operations import generate_schedule
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import dispatch_due
from notifications.outbox.planner import plan_messages
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App, build_app
from scheduler.clock import FixedClock
from scheduler.configfiles import read_config
from scheduler.settings import Settings
from tests.conftest import EXAMPLES, PG_ADMIN_URL, taipei

# The office days off of 112 and 113 that fall on weekdays (行政院人事行政總處).
HOLIDAYS = {
    date(2023, 1, 2),
    *(date(2023, 1, d) for d in range(20, 30)),  # 春節 incl. 調整放假
    date(2023, 2, 27), date(2023, 2, 28),
    date(2023, 4, 3), date(2023, 4, 4), date(2023, 4, 5),
    date(2023, 6, 22), date(2023, 6, 23),
    date(2023, 9, 29),
    date(2023, 10, 9), date(2023, 10, 10),
    date(2024, 1, 1),
    *(date(2024, 2, d) for d in range(8, 15)),  # 春節
    date(2024, 2, 28),
    date(2024, 4, 4), date(2024, 4, 5),
    date(2024, 6, 10),
    date(2024, 9, 17),
    date(2024, 10, 10),
}  # fmt: skip

# Recurring systems: series → (instances, 112 nominal dates of the first instance, 113 count).
# Unpinned cadences meet on the 2nd Wednesday by default (package docstring of
# meetings.schedule.cadence); 臺北's network meeting is pinned to the 3rd Thursday.
MONTHLY_2ND_WE = "01-11 02-08 03-08 04-12 05-10 06-14 07-12 08-09 09-13 10-11 11-08 12-13"
QUARTERLY_JAN = "01-11 04-12 07-12 10-11"
QUARTERLY_FEB = "02-08 05-10 08-09 11-08"
MAR_JUL_NOV = "03-08 07-12 11-08"
RECURRING: dict[str, tuple[int, str, int]] = {
    # 桃園市, seed 004
    "ty-city-liaison": (1, MAR_JUL_NOV, 3),
    "ty-district-liaison": (13, MAR_JUL_NOV, 3),
    "ty-district-case-review": (13, QUARTERLY_FEB, 4),
    "ty-child-protection-network": (1, MONTHLY_2ND_WE, 12),
    "ty-network-working-group": (1, QUARTERLY_JAN, 4),
    "ty-child-sexual-exploitation": (1, "05-10 11-08", 2),
    "ty-dv-sa-committee": (1, "06-14 12-13", 2),
    "ty-dv-high-risk": (5, MONTHLY_2ND_WE, 12),
    "ty-juvenile-committee": (1, QUARTERLY_JAN, 4),
    "ty-juvenile-staff": (1, MONTHLY_2ND_WE, 12),
    "ty-employment-liaison": (1, "04-12 10-11", 2),
    "ty-mental-health-promotion": (1, "05-10 11-08", 2),
    "ty-mental-health-working": (1, QUARTERLY_JAN, 4),
    "ty-drug-liaison": (1, QUARTERLY_FEB, 4),
    "ty-drug-promotion": (1, "04-12 10-11", 2),
    "ty-dropout-review": (1, MONTHLY_2ND_WE, 12),
    "ty-dropout-liaison": (1, "03-08 09-13", 2),
    "ty-employment-committee": (1, "06-14 12-13", 2),
    # 桃園市, seed 003 (the grant report's kinds)
    "ty-sdm-external-supervision": (1, "04-12 10-11", 2),
    "ty-family-social-work-training": (1, "03-08 06-14 09-13 12-13", 4),
    # 臺北市, seeds 000 and 001
    "tp-sex-offender-assessment": (1, MONTHLY_2ND_WE, 12),
    "tp-treatment-provider-liaison": (1, QUARTERLY_FEB, 4),
    "tp-dv-sa-committee": (1, MAR_JUL_NOV, 3),
    "tp-child-protection-network": (
        1,
        "01-19 02-16 03-16 04-20 05-18 06-15 07-20 08-17 09-21 10-19 11-16 12-21",
        12,
    ),
    "tp-police-dv-officer-training": (1, QUARTERLY_JAN, 4),
    "tp-group-supervision": (1, MONTHLY_2ND_WE, 12),
    "tp-in-service-training": (1, "05-10 11-08", 2),
    # 臺中市, seed 002
    "tc-city-cross-agency": (1, MAR_JUL_NOV, 3),
    "tc-child-protection-network": (1, "01-11 03-08 05-10 07-12 09-13 11-08", 6),
    "tc-family-visitor-supervision": (1, "01-11 03-08 05-10 07-12 09-13 11-08", 6),
}
# 不定期 systems: no calendar meetings; the fixture adds one ad-hoc meeting to each.
IRREGULAR = [
    "tp-police-dv-officer-liaison",
    "tc-dispatch-dispute",
    "ty-dropout-special-case",
    "ty-employment-transition",
    "ty-family-meeting",
]
ADHOC_AT = taipei(2023, 3, 15, 10, 0)  # a Wednesday
EVENTS = ["ty-needs-assessment", "ty-outcome-review", "ty-transition"]
# Nominal dates that are real days off: (series, instance, nominal date, the day off).
AROUND_HOLIDAYS = [
    ("ty-dv-high-risk", "ty-dv-high-risk-z3", date(2023, 1, 25), "除夕（補假）"),
    ("ty-dv-high-risk", "ty-dv-high-risk-z4", date(2023, 4, 5), "民族掃墓節"),
    ("ty-district-case-review", "ty-district-case-review-guanyin", date(2023, 2, 28), "和平紀念日"),
    ("ty-child-protection-network", "ty-child-protection-network", date(2024, 2, 14), "春節"),
    ("tp-sex-offender-assessment", "tp-sex-offender-assessment", date(2024, 2, 14), "春節"),
    ("ty-dv-high-risk", "ty-dv-high-risk-z3", date(2024, 2, 28), "和平紀念日"),
    ("ty-dv-high-risk", "ty-dv-high-risk-z5", date(2024, 10, 10), "國慶日"),
]
# Cases imported on 2023-01-05 that meet each agenda-bearing system's listing rule.
CASE_HEADER = (
    "case_no,case_type,district,name,sdm_risk,tipvda_score,service,status,agency,worker,"
    "reported_at,rereported_at,order_expiry,listed_reason,order_type"
)
LISTED = {
    "桃園市": [
        "TY-CP-9001,兒少保護,中壢區,,高,,家庭維繫,處遇中,DVPC,,2022-09-01,2023-01-03,,,",
        "TY-DV-9001,家庭暴力,中壢區,,,9,,開案,DVPC,,2023-01-02,,,,",
    ],
    "臺北市": ["TP-CP-9001,兒少保護,大安區,,高,,家庭維繫,處遇中,DVPC,,2022-09-01,2023-01-03,,,"],
    "臺中市": ["TC-CP-9001,兒少保護,西屯區,,高,,家庭維繫,處遇中,DVPC,,2022-09-01,2023-01-03,,,"],
}
AGENDA_CASES = {
    "ty-child-protection-network": "TY-CP-9001",
    "ty-dv-high-risk-z2": "TY-DV-9001",  # 第二區 = 中壢區、平鎮區
    "tp-child-protection-network": "TP-CP-9001",
    "tc-child-protection-network": "TC-CP-9001",
}
# Imported on 2023-01-18 10:00: a 7–12-year-old's deviant behaviour report (the case type
# is the report) and a 保護管束 order expiring on 2023-12-10.
EVENT_CASES = [
    "TY-NA-9001,偏差行為,中壢區,,,,,開案,SCHOOL,,2023-01-18,,,,",
    "TY-OR-9001,兒少保護,桃園區,,,,,開案,,,2023-01-02,,2023-12-10,,保護管束",
]
# Mail is checked for each system's first meeting from this day on (after the set-up);
# the needs assessment's at once (its meeting is days after the report).
MAIL_FROM = date(2023, 2, 20)
LATER_TARGETS = [*RECURRING, *IRREGULAR, "ty-outcome-review", "ty-transition"]


@dataclass
class World:
    app: App
    clock: FixedClock
    cfg: Config
    invitations: dict[str, set[str]] = field(default_factory=dict)  # uid → recipients
    mail_targets: dict[str, Occurrence] = field(default_factory=dict)  # series → meeting
    agendas: dict[str, Agenda] = field(default_factory=dict)  # instance key → agenda

    def spec(self, series_id: str) -> SeriesSpec:
        return next(s for s in self.cfg.all_series() if s.id == series_id)

    def meetings(self, series_id: str, key: str | None = None) -> list[Occurrence]:
        q = select(Occurrence).where(Occurrence.series_id == series_id)
        if key is not None:
            q = q.where(Occurrence.instance_key == key)
        with self.app.transaction() as s:
            return list(s.scalars(q.order_by(Occurrence.nominal_date, Occurrence.id)))


def _database(tmp: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if PG_ADMIN_URL is None:
        yield f"sqlite:///{tmp / 'seed.db'}"
        return
    dbs = request.getfixturevalue("pg_databases")
    url = dbs.create()
    yield url
    dbs.drop(url)


def _import(world: World, tmp: Path, city_name: str, rows: list[str]) -> None:
    path = tmp / f"{city_name}-{len(rows)}.csv"
    path.write_text("\n".join([CASE_HEADER, *rows]) + "\n", encoding="utf-8")
    with world.app.transaction() as s:
        city = resolve_city(s, city_name)
        districts = list(world.cfg.cities[city_name].districts)
        import_cases(s, city, read_cases(path, districts), world.clock.now())


def _dispatch(world: World, sink: MailSink) -> None:
    smtp = parse_smtp_url(sink.url)
    asyncio.run(
        dispatch_due(
            world.app.sessions,
            lambda: SmtpMailer(smtp),
            world.clock.now(),
            base_url="https://liaison.test",
        )
    )


def _collect_invitations(world: World, sink: MailSink) -> None:
    for msg in sink.handler.messages:
        if ".invitation." not in str(msg["Message-ID"]):
            continue
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                for event in Calendar.from_ical(payload).walk("VEVENT"):
                    to = {a.addr_spec for a in msg["To"].addresses}
                    world.invitations.setdefault(str(event["UID"]), set()).update(to)


def _first_from(world: World, series_id: str, day: date) -> Occurrence:
    spec = world.spec(series_id)
    key = spec.instances[0].key if spec.instances else None
    return next(
        o
        for o in world.meetings(series_id, key)
        if o.status == "scheduled" and local(o.start_at, DEFAULT_TIMEZONE).date() >= day
    )


def _build_agendas(world: World) -> None:
    """The first meeting after the import of each agenda-bearing instance, built now."""
    with world.app.transaction() as s:
        for key in AGENDA_CASES:
            occ = s.scalars(
                select(Occurrence)
                .where(Occurrence.instance_key == key, Occurrence.start_at > world.clock.now())
                .order_by(Occurrence.start_at)
            ).first()
            assert occ is not None, key
            world.agendas[key] = build_agenda_for(s, occ, world.clock.now())


def _dispatch_points(windows: list[tuple[datetime, datetime]]) -> list[datetime]:
    """Few instants such that each (invitation due, meeting start) window holds one: every
    message due by then and not yet past goes out at each, so fewer means less mail."""
    pending = sorted(windows, key=lambda w: w[1])
    points: list[datetime] = []
    while pending:
        first_start = pending[0][1]
        point = max(due for due, _ in pending if due < first_start)
        points.append(point)
        pending = [(due, start) for due, start in pending if not due <= point < start]
    return points


def _mail_targets(world: World, sink: MailSink) -> None:
    """Dispatch at instants when each target meeting's invitation is due."""
    targets = [_first_from(world, sid, MAIL_FROM) for sid in LATER_TARGETS]
    world.mail_targets.update(zip(LATER_TARGETS, targets, strict=True))
    with world.app.transaction() as s:
        windows = []
        for occ in targets:
            due = s.scalars(
                select(OutboxMessage.due_at).where(
                    OutboxMessage.occurrence_uid == occ.uid, OutboxMessage.kind == "invitation"
                )
            ).first()
            assert due is not None, occ.uid
            windows.append((max(due, world.clock.now()), occ.start_at))
    for point in _dispatch_points(windows):
        world.clock.set(point)
        _dispatch(world, sink)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("seed-systems")
    databases = _database(tmp, request)
    clock = FixedClock(taipei(2022, 12, 1, 9, 0))
    app = build_app(Settings(database_url=next(databases)), clock)
    w = World(app, clock, read_config([EXAMPLES]))
    with app.transaction() as s:
        load_config(s, w.cfg, clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2024, 12, 31), clock.now())
    with MailSink() as sink:
        clock.set(taipei(2023, 1, 5, 9, 0))
        for city_name, rows in LISTED.items():
            _import(w, tmp, city_name, rows)
        clock.set(taipei(2023, 1, 18, 10, 0))
        _import(w, tmp, "桃園市", EVENT_CASES)
        _dispatch(w, sink)  # the needs assessment's invitation: its meeting is days away
        w.mail_targets["ty-needs-assessment"] = w.meetings("ty-needs-assessment")[0]
        clock.set(taipei(2023, 2, 3, 9, 0))
        _build_agendas(w)
        with app.transaction() as s:
            record_case_event(
                s, "TY-NA-9001", "needs_assessment_held", date(2023, 2, 2), clock.now()
            )
            for sid in IRREGULAR:
                add_adhoc_meeting(s, sid, ADHOC_AT, clock.now())
            plan_messages(s, clock.now())  # every meeting's messages, with their due times
        _mail_targets(w, sink)
        _collect_invitations(w, sink)
    yield w
    app.close()
    next(databases, None)


def _placed(o: Occurrence) -> date:
    return local(o.start_at, DEFAULT_TIMEZONE).date()


@pytest.mark.parametrize("sid", list(RECURRING))
def test_recurring_system_dates_in_112_and_113(world: World, sid: str) -> None:
    n_instances, dates_112, count_113 = RECURRING[sid]
    spec = world.spec(sid)
    assert len(spec.instances) == n_instances
    for i, inst in enumerate(spec.instances):
        assert inst.cadence is not None
        occs = [o for o in world.meetings(sid, inst.key) if o.origin == "cadence"]
        y112 = [o.nominal_date for o in occs if o.nominal_date.year == 2023]
        y113 = [o.nominal_date for o in occs if o.nominal_date.year == 2024]
        if i == 0:
            assert [f"{d:%m-%d}" for d in y112] == dates_112.split()
        assert (len(y112), len(y113)) == (len(dates_112.split()), count_113), inst.key
        for o in occs:
            placed = _placed(o)
            first, last = cycle_of(inst.cadence, o.nominal_date)
            assert first <= placed <= last, (inst.key, o.nominal_date, placed)
            assert placed.weekday() < 5 and placed not in HOLIDAYS, (inst.key, placed)
            if o.nominal_date in HOLIDAYS:
                assert placed != o.nominal_date and o.moved_reason, (inst.key, o.nominal_date)


@pytest.mark.parametrize(
    ("sid", "key", "nominal", "reason"),
    AROUND_HOLIDAYS,
    ids=[f"{k}-{d}" for _, k, d, _ in AROUND_HOLIDAYS],
)
def test_a_nominal_day_off_moves_to_a_working_day(
    world: World, sid: str, key: str, nominal: date, reason: str
) -> None:
    [occ] = [o for o in world.meetings(sid, key) if o.nominal_date == nominal]
    placed = _placed(occ)
    assert placed != nominal and placed.weekday() < 5 and placed not in HOLIDAYS
    spec = world.spec(sid)
    cadence = spec.instance(key).cadence
    assert cadence is not None
    first, last = cycle_of(cadence, nominal)
    assert nominal < placed <= last and first <= placed  # 順延至次一上班日, in its cycle
    assert occ.moved_reason is not None and reason in occ.moved_reason


def test_the_pinned_third_thursday_is_kept(world: World) -> None:
    """臺北's {every: month, on: 3rd TH}: no 3rd Thursday of 112 is a day off, none moves."""
    occs = [o for o in world.meetings("tp-child-protection-network") if o.origin == "cadence"]
    assert all(_placed(o) == o.nominal_date for o in occs if o.nominal_date.year == 2023)
    assert all(_placed(o).weekday() == 3 for o in occs if o.nominal_date.year == 2023)


@pytest.mark.parametrize("key", list(AGENDA_CASES))
def test_agenda_lists_the_case_its_rule_names(world: World, key: str) -> None:
    agenda = world.agendas[key]
    assert AGENDA_CASES[key] in [c.case_no for c in agenda.cases]
    assert agenda.rule_title


def _expected_recipients(world: World, sid: str, district: str | None) -> set[str]:
    spec = world.spec(sid)
    city = world.cfg.cities[spec.city]
    out: set[str] = set()
    invite = spec.decl.invite
    for code in [*invite.required, *invite.optional, *(invite.observers or [])]:
        agency = city.agencies[code]
        unit = agency.units.get(district) if district else None
        out |= {e.lower() for e in (unit.emails if unit else agency.emails)}
    return out | {e.lower() for e in spec.decl.invite.people}


@pytest.mark.parametrize("sid", [*RECURRING, *IRREGULAR, *EVENTS])
def test_invitation_is_mailed_to_every_invited_agency(world: World, sid: str) -> None:
    occ = world.mail_targets[sid]
    got = {r.lower() for r in world.invitations.get(occ.uid, set())}
    expected = _expected_recipients(world, sid, occ.district)
    assert expected, sid
    assert got == expected, (sid, occ.uid)


@pytest.mark.parametrize("sid", [*RECURRING, *IRREGULAR, *EVENTS])
def test_kpi_report_has_a_row_for_the_system(world: World, sid: str) -> None:
    spec = world.spec(sid)
    with world.app.transaction() as s:
        city = resolve_city(s, spec.city)
        report = compute_kpis(s, 2023, city_id=city.id)
    rows = [r for r in report.rows if r.series == sid]
    assert rows, sid
    occs = [o for o in world.meetings(sid) if o.nominal_date.year == 2023]
    scheduled = [o for o in occs if o.status != "cancelled"]
    assert sum(r.scheduled for r in rows) == len(scheduled) > 0


@pytest.mark.parametrize("sid", IRREGULAR)
def test_irregular_system_has_only_its_adhoc_meeting(world: World, sid: str) -> None:
    spec = world.spec(sid)
    assert spec.cadence is not None and spec.cadence.irregular
    assert [(o.origin, o.start_at) for o in world.meetings(sid)] == [("adhoc", ADHOC_AT)]


def test_needs_assessment_within_five_working_days_of_the_report(world: World) -> None:
    """Reported Wed 18 Jan 2023; 20–29 Jan are 春節 days off: the 5th working day is 2 Feb."""
    [occ] = world.meetings("ty-needs-assessment")
    assert occ.case_no == "TY-NA-9001" and occ.nominal_date == date(2023, 2, 2)
    placed = _placed(occ)
    assert date(2023, 1, 19) <= placed <= date(2023, 2, 2) and placed not in HOLIDAYS


def test_outcome_review_three_months_after_the_needs_assessment(world: World) -> None:
    occs = world.meetings("ty-outcome-review")
    assert occs and occs[0].nominal_date == date(2023, 5, 2)
    assert _placed(occs[0]).weekday() < 5 and _placed(occs[0]) not in HOLIDAYS


def test_transition_two_months_before_the_order_expires(world: World) -> None:
    """保護管束 expires 2023-12-10: 2 months before is Tue 10 Oct (國慶日), 7–9 Oct are off
    too, and the policy is previous_working_day: Friday 6 Oct at the latest."""
    [occ] = world.meetings("ty-transition")
    assert occ.case_no == "TY-OR-9001" and occ.nominal_date == date(2023, 10, 10)
    placed = _placed(occ)
    assert date(2023, 10, 1) <= placed <= date(2023, 10, 6) and placed.weekday() < 5
    assert occ.moved_reason is not None and "國慶日" in occ.moved_reason


def test_every_declared_system_is_covered() -> None:
    """A series added to the shipped configs needs a test row here."""
    cfg = read_config([EXAMPLES])
    assert {s.id for s in cfg.all_series()} == {*RECURRING, *IRREGULAR, *EVENTS}


def test_the_documents_targets_stand_beside_the_figures(world: World) -> None:
    """臺中 兒少保: 「112年預估辦理6場，討論90案」; 臺北: BC3.1 70 % and 3 meetings a month
    in 112 (seeds 002, 001, 000). Nothing is recorded held in this world: 0 of 6 is 未達成,
    and a rate with no listed case has no data (None), never a pass."""
    with world.app.transaction() as s:
        taichung = compute_kpis(s, 2023, city_id=resolve_city(s, "臺中市").id)
        taipei = compute_kpis(s, 2023, city_id=resolve_city(s, "臺北市").id)
    [cp] = [r for r in taichung.rows if r.series == "tc-child-protection-network"]
    got = {t.key: (t.target, t.figure.numerator, t.met) for t in taichung.target_results(cp)}
    assert got == {"meetings_held": (6, 0, False), "cases_discussed": (90, 0, False)}
    city = {t.key: t for t in taipei.target_results()}
    assert city["listed_case_discussion_rate"].target == 70
    assert city["meetings_per_month"].target == 3 and city["meetings_per_month"].met is False


def test_the_grant_report_counts_supervision_training_and_family_meetings(world: World) -> None:
    """Seed 003's counts (場次, 時數, 參與人數) per kind for 桃園: the April 外部督導 held 3 h
    with 25 social workers, the March 教育訓練 with 40 (its scheduled 3 h), the ad-hoc
    家庭會談 with 4 (its scheduled 90 minutes)."""
    after = taipei(2024, 1, 15, 9, 0)
    held = {
        "ty-sdm-external-supervision": {"hours": 3, "participants": 25},
        "ty-family-social-work-training": {"participants": 40},
        "ty-family-meeting": {"participants": 4},
    }
    first = {sid: world.meetings(sid)[0].id for sid in held}
    with world.app.transaction() as s:
        for sid, size in held.items():
            occ = s.get(Occurrence, first[sid])
            assert occ is not None
            record_size(s, occ, after, **size)  # type: ignore[arg-type]
        report = grant_report(s, 112, city_id=resolve_city(s, "桃園市").id)
    rows = {str(t.kind): (t.sessions, t.hours, t.participants) for t in report.rows}
    assert rows["external_supervision"] == (1, 3.0, 25)
    assert rows["training"] == (1, 3.0, 40)
    assert rows["family_meeting"] == (1, 1.5, 4)
