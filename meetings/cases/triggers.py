"""Event-triggered case meetings (SPEC §3): a case event schedules, moves or cancels
the meetings of the series it triggers, and repeating ones (成效評估) roll on.

Every function works inside the caller's transaction; meetings are written through
the schedule slice, so each change is a domain event like any other meeting's.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.listing import facts_of, matches
from meetings.cases.slots import busy_between, candidate_days, first_fit
from meetings.db import Case, City, Occurrence, Series
from meetings.kernel.localtime import local_today, zone
from meetings.kernel.vocabulary import (
    CancelCause,
    CaseEventKind,
    CaseStatus,
    EventKind,
    OccurrenceStatus,
    Origin,
)
from meetings.schedule.citywide import agency_units
from meetings.schedule.conditions import Condition, RuleNode
from meetings.schedule.conflicts import seats
from meetings.schedule.declarations import SeriesInstance, SeriesSpec
from meetings.schedule.events import record as record_event
from meetings.schedule.operations import ChangeReport, apply_placement
from meetings.schedule.planning import Placement, place
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.spans import parse_span, shift
from meetings.schedule.workdays import OfficeCalendar

# A meeting that cannot be created or repeated must not loop the daemon forever.
MAX_ROUNDS_PER_PASS = 50


def instance_for_case(spec: SeriesSpec, district: str) -> SeriesInstance | None:
    """The series instance (meeting group) whose district or zone covers ``district``."""
    if len(spec.instances) == 1:
        return spec.instances[0]
    zones = spec.decl.agenda.zone_districts or {}
    for inst in spec.instances:
        if inst.district == district:
            return inst
        if inst.zone is not None and district in zones.get(inst.zone, []):
            return inst
    return None


class TriggerContext:
    """Series, specs and the office calendar of one city, loaded once per operation."""

    def __init__(self, session: Session, city: City, now: datetime) -> None:
        self.session = session
        self.city = city
        self.now = now
        self.tz = zone(city.timezone)
        self._registry = SpecRegistry(session)
        self._calendar: OfficeCalendar | None = None
        self._series: list[tuple[Series, SeriesSpec]] | None = None

    @property
    def calendar(self) -> OfficeCalendar:
        if self._calendar is None:
            self._calendar = office_calendar_for(self.session, self.city.id)
        return self._calendar

    def triggered(self) -> list[tuple[Series, SeriesSpec]]:
        """The city's active event-triggered series, with their specs."""
        if self._series is None:
            rows = self.session.scalars(
                select(Series)
                .where(Series.city_id == self.city.id, Series.active.is_(True))
                .order_by(Series.id)
            )
            self._series = [
                (s, self._registry.spec(s)) for s in rows if s.spec.get("trigger") is not None
            ]
        return self._series

    def on_event(self, case: Case, kind: str, at: date, warnings: list[str]) -> ChangeReport:
        """Schedule (or supersede) the meetings a case event triggers."""
        report = ChangeReport()
        for series, spec in self.triggered():
            trig = spec.decl.trigger
            assert trig is not None
            if kind == CaseEventKind.CLOSED and trig.event != "closed":
                # A closed case needs none of its pending meetings (a transition, the next
                # outcome review); only meetings its closing itself triggers go ahead.
                self._cancel_pending(
                    series, case, report, "個案結案", CancelCause.CASE_CLOSED, after_day=at
                )
            if trig.event != kind or case.status == CaseStatus.CLOSED:
                continue
            if trig.when is not None and not meets(trig.when, case):
                # e.g. a protective order's expiry, not a 保護管束's; a meeting planned
                # while the case met the condition goes (its order type was corrected).
                self._cancel_pending(series, case, report, "不符觸發條件", CancelCause.SUPERSEDED)
                continue
            if trig.within is not None:
                nominal = self.calendar.add_working_days(at, parse_span(trig.within).amount)
            else:
                assert trig.offset is not None
                nominal = shift(at, parse_span(trig.offset), self.calendar)
            self._cancel_pending(
                series, case, report, "新事件取代", CancelCause.SUPERSEDED, keep_after=nominal
            )
            early = at if trig.within is not None else None
            self.create(series, spec, case, nominal, report, warnings, earliest_after=early)
        return report

    def _cancel_pending(
        self,
        series: Series,
        case: Case,
        report: ChangeReport,
        reason: str,
        cause: CancelCause,
        keep_after: date | None = None,
        after_day: date | None = None,
    ) -> None:
        """Cancel this case's not-yet-held meetings of ``series`` (a newer event supersedes).

        ``after_day``: those after that day, past ones included (a closure recorded late
        leaves no meeting after it "scheduled"); else those still to come.
        """
        since = self.now
        if after_day is not None:
            since = datetime.combine(after_day, time.max, self.tz).astimezone(UTC)
        q = select(Occurrence).where(
            Occurrence.series_id == series.id,
            Occurrence.case_no == case.case_no,
            Occurrence.origin == Origin.EVENT,
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.start_at > since,
        )
        for occ in self.session.scalars(q):
            if keep_after is not None and occ.nominal_date == keep_after:
                continue
            apply_placement(
                self.session,
                occ,
                None,
                self.now,
                report,
                reason_if_cancelled=reason,
                cause_if_cancelled=cause,
                past_too=after_day is not None,
            )

    def placement(self, spec: SeriesSpec, nominal: date) -> Placement:
        """Where a triggered meeting goes; a date already past becomes the next working day."""
        cal = self.calendar
        p = place(spec, nominal, cal, self.tz)
        if p is None:  # a 'skip' policy cannot drop a case meeting: next working day instead
            day = cal.next_working_day(nominal)
            start = datetime.combine(day, spec.start_time, self.tz).astimezone(UTC)
            p = Placement(start, start + spec.duration, "非上班日，順延至次一上班日")
        if p.start_at <= self.now:
            day = cal.add_working_days(local_today(self.now, self.city.timezone), 1)
            start = datetime.combine(day, spec.start_time, self.tz).astimezone(UTC)
            p = Placement(start, start + spec.duration, "原訂日期已過，儘速召開")
        return p

    def _first_fit(
        self, spec: SeriesSpec, district: str | None, after: date, deadline: date
    ) -> Placement | None:
        days = candidate_days(after, deadline, self.calendar)
        if not days:
            return None
        lo = datetime.combine(days[0], time.min, self.tz).astimezone(UTC)
        hi = datetime.combine(days[-1], time.max, self.tz).astimezone(UTC)
        busy = busy_between(self.session, self.city.id, lo, hi)
        needed = seats(
            spec.decl.invite.required, district, agency_units(self.session, self.city.id)
        )
        return first_fit(spec, days, busy, needed, self.tz, self.now)

    def create(
        self,
        series: Series,
        spec: SeriesSpec,
        case: Case,
        nominal: date,
        report: ChangeReport,
        warnings: list[str],
        earliest_after: date | None = None,
    ) -> Occurrence | None:
        """The case's meeting of ``series`` on ``nominal`` (reinstated if it was cancelled).

        ``earliest_after``: a ``within`` trigger's event date; the meeting then takes the
        first slot after it that fits the invitees (:mod:`meetings.cases.slots`), the
        nominal date (the window's last day, its identity) when none does.
        """
        inst = instance_for_case(spec, case.district)
        if inst is None:
            warnings.append(
                f"{series.id}: no meeting group covers district {case.district} "
                f"(case {case.case_no}); no meeting created"
            )
            return None
        existing = self.session.scalar(
            select(Occurrence).where(
                Occurrence.series_id == series.id,
                Occurrence.instance_key == inst.key,
                Occurrence.origin == Origin.EVENT,
                Occurrence.case_no == case.case_no,
                Occurrence.nominal_date == nominal,
            )
        )
        p = self.placement(spec, nominal)
        if earliest_after is not None:
            p = self._first_fit(spec, inst.district, earliest_after, nominal) or p
        if existing is not None:
            if existing.status == OccurrenceStatus.CANCELLED:
                apply_placement(self.session, existing, p, self.now, report)
            else:
                report.unchanged += 1
            return existing
        occ = self._new_meeting(
            opaque_uid(inst.key, self.city.domain), series, spec, inst, case, nominal, p
        )
        record_event(self.session, EventKind.CREATED, occ, self.now)
        report.created.append(occ.uid)
        return occ

    def _new_meeting(
        self,
        uid: str,
        series: Series,
        spec: SeriesSpec,
        inst: SeriesInstance,
        case: Case,
        nominal: date,
        p: Placement,
    ) -> Occurrence:
        occ = Occurrence(
            uid=uid,
            series_id=series.id,
            instance_key=inst.key,
            district=inst.district,
            zone=inst.zone,
            title=inst.title,
            nominal_date=nominal,
            start_at=p.start_at,
            end_at=p.end_at,
            location=spec.decl.location,
            status=OccurrenceStatus.SCHEDULED,
            sequence=0,
            origin=Origin.EVENT,
            case_no=case.case_no,
            moved_reason=p.moved_reason,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(occ)
        self.session.flush()
        return occ


def roll_repeats(session: Session, now: datetime) -> ChangeReport:
    """Schedule the next round of repeating case meetings (成效評估) once one has passed.

    The next nominal date is the previous meeting's actual date + ``every``, and never
    later than the previous nominal date + ``max_span``. Stops when the case closes.
    """
    report = ChangeReport()
    warnings: list[str] = []
    for city in session.scalars(select(City).order_by(City.id)):
        ctx = TriggerContext(session, city, now)
        for series, spec in ctx.triggered():
            trig = spec.decl.trigger
            assert trig is not None
            if trig.repeat is not None:
                _roll_series(ctx, series, spec, report, warnings)
    report.warnings += warnings
    return report


def _latest_open_meetings(
    session: Session, series: Series, city: City
) -> list[tuple[Case, Occurrence]]:
    """Each open case's latest not-cancelled meeting of ``series``."""
    latest: dict[str, Occurrence] = {}
    for occ in session.scalars(
        select(Occurrence)
        .where(Occurrence.series_id == series.id, Occurrence.origin == Origin.EVENT)
        .order_by(Occurrence.nominal_date)
    ):
        if occ.case_no is not None and occ.status != OccurrenceStatus.CANCELLED:
            latest[occ.case_no] = occ
    if not latest:
        return []
    cases = {
        c.case_no: c
        for c in session.scalars(
            select(Case).where(Case.city_id == city.id, Case.case_no.in_(list(latest)))
        )
    }
    out = []
    for case_no, occ in latest.items():
        case = cases.get(case_no)
        if case is not None and case.status != CaseStatus.CLOSED:
            out.append((case, occ))
    return out


def _roll_series(
    ctx: TriggerContext,
    series: Series,
    spec: SeriesSpec,
    report: ChangeReport,
    warnings: list[str],
) -> None:
    """The next rounds of one repeating series, for every open case it follows."""
    trig = spec.decl.trigger
    assert trig is not None and trig.repeat is not None
    every = parse_span(trig.repeat.every)
    cap = parse_span(trig.repeat.max_span) if trig.repeat.max_span else None
    for case, occ in _latest_open_meetings(ctx.session, series, ctx.city):
        for _ in range(MAX_ROUNDS_PER_PASS):
            if occ.start_at > ctx.now:
                break
            base = occ.start_at.astimezone(ctx.tz).date()
            nominal = shift(base, every, ctx.calendar)
            if cap is not None:
                nominal = min(nominal, shift(occ.nominal_date, cap, ctx.calendar))
            if nominal <= occ.nominal_date:
                break
            nxt = ctx.create(series, spec, case, nominal, report, warnings)
            if nxt is None:
                break
            occ = nxt


def meets(when: RuleNode | Condition, case: Case) -> bool:
    """Whether a case's data meet a trigger's ``when`` (the listing-rule language)."""
    return matches(when.model_dump(mode="json", by_alias=True, exclude_none=True), facts_of(case))


def opaque_uid(instance_key: str, domain: str) -> str:
    """A random UID for an event meeting: nothing in it is computable from the case.

    A case number is a small space, so any hash of it can be reversed by trying them all;
    and the nominal date of an event meeting is derived from the case event (an order's
    expiry − 2 months), so it stays out too. 80 random bits never repeat in practice.
    """
    return f"{instance_key}-e{secrets.token_hex(10)}@{domain}"
