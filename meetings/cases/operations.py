"""Writers for cases, listings, discussions, event-triggered meetings, agendas and audit.

Like ``meetings.schedule.operations``, every function works inside the caller's transaction
and writes an ``OutboxEvent`` for each change participants must hear about.
Full names never reach this module: rows arrive already masked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from meetings.cases.importing import CaseRow
from meetings.cases.listing import CLOSED_STATUS, facts_of, matches
from meetings.db import (
    AuditRecord,
    Case,
    CaseDiscussion,
    CaseEvent,
    CaseListing,
    City,
    CitySettings,
    HeldMeeting,
    ListingRule,
    Occurrence,
    OutboxEvent,
    Series,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import gregorian_year, roc_year
from meetings.kernel.vocabulary import EventKind
from meetings.schedule.declarations import CityConfig, SeriesSpec, Span, parse_span
from meetings.schedule.events import record as record_event
from meetings.schedule.operations import (
    ChangeReport,
    SpecRegistry,
    apply_placement,
    office_calendar_for,
)
from meetings.schedule.planning import Placement, place, uid_for
from meetings.schedule.workdays import OfficeCalendar

EVENT_KINDS = (
    "rereported",
    "order_issued",
    "order_expiry",
    "deviant_behaviour_report",
    "needs_assessment_held",
    "closed",
)
EVENT_ZH = {
    "rereported": "再通報",
    "order_issued": "核發保護令／裁定",
    "order_expiry": "裁定期滿",
    "deviant_behaviour_report": "偏差行為通報",
    "needs_assessment_held": "需求評估會議已召開",
    "closed": "結案",
}
DEVIANT_CASE_TYPE = "偏差行為"
# Reasons that state nothing (TL3.1 counts them as no legitimate reason).
PLACEHOLDER_REASONS = frozenset(
    {"test", "測試", "無", "na", "n/a", "none", "-", "--", "x", "查詢", "查看", "看看", "?", "."}
)


# --- helpers -----------------------------------------------------------------------


def resolve_city(session: Session, name: str | None) -> City:
    """The named city, or the only one loaded."""
    cities = session.scalars(select(City).order_by(City.name)).all()
    if name is None:
        if len(cities) == 1:
            return cities[0]
        if not cities:
            raise OperationError("no city is loaded (run `liaison config load` first)")
        names = ", ".join(c.name for c in cities)
        raise OperationError(f"several cities are loaded: give --city (one of {names})")
    for c in cities:
        if c.name == name:
            return c
    names = ", ".join(c.name for c in cities)
    raise OperationError(f"unknown city {name!r}" + (f" (loaded: {names})" if names else ""))


def get_case(session: Session, case_no: str, city: str | None = None) -> Case:
    """A case by number (``city`` disambiguates numbers shared by two cities)."""
    q = select(Case).where(Case.case_no == case_no)
    if city is not None:
        q = q.where(Case.city_id == resolve_city(session, city).id)
    found = session.scalars(q).all()
    if not found:
        raise OperationError(f"unknown case {case_no!r}")
    if len(found) > 1:
        raise OperationError(f"case {case_no!r} exists in several cities: give --city")
    return found[0]


def local_today(now: datetime, tz: str = "Asia/Taipei") -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def shift(day: date, span: Span, calendar: OfficeCalendar) -> date:
    """``day`` moved by a signed span (working days counted on ``calendar``)."""
    if span.unit == "d":
        return day + timedelta(days=span.amount)
    if span.unit == "w":
        return day + timedelta(weeks=span.amount)
    if span.unit == "mo":
        result: date = day + relativedelta(months=span.amount)
        return result
    if span.amount >= 0:
        return calendar.add_working_days(day, span.amount)
    d = day
    for _ in range(-span.amount):
        d = calendar.previous_working_day(d - timedelta(days=1))
    return d


def case_key(domain: str, case_no: str) -> str:
    """A stable, UID-safe stand-in for a case number (the number itself stays out of feeds)."""
    return "c" + hashlib.sha256(f"{domain}\n{case_no}".encode()).hexdigest()[:12]


# --- listing rules from config ----------------------------------------------------------


def store_city_case_config(session: Session, city: City, cc: CityConfig, now: datetime) -> None:
    """Store a city's listing rules and config folders (called by ``load_config``).

    A new or changed rule re-evaluates the city's open cases, listing date = today.
    """
    existing = {
        r.rule_id: r
        for r in session.scalars(select(ListingRule).where(ListingRule.city_id == city.id))
    }
    changed: list[ListingRule] = []
    for rid, decl in cc.listing_rules.items():
        spec: dict[str, Any] = decl.model_dump(mode="json", by_alias=True, exclude_none=True)
        row = existing.pop(rid, None)
        if row is None:
            row = ListingRule(
                city_id=city.id,
                rule_id=rid,
                title=decl.title,
                window=decl.window,
                spec=spec,
                active=True,
                updated_at=now,
            )
            session.add(row)
            changed.append(row)
        elif row.spec != spec or not row.active or row.title != decl.title:
            row.title, row.window, row.spec, row.active, row.updated_at = (
                decl.title,
                decl.window,
                spec,
                True,
                now,
            )
            changed.append(row)
    for row in existing.values():
        if row.active:
            row.active, row.updated_at = False, now
            changed.append(row)
    dirs = sorted({str(Path(f).resolve().parent) for f in cc.files})
    settings = session.get(CitySettings, city.id)
    if settings is None:
        session.add(CitySettings(city_id=city.id, config_dirs=dirs, updated_at=now))
    elif settings.config_dirs != dirs:
        settings.config_dirs, settings.updated_at = dirs, now
    session.flush()
    if changed:
        today = local_today(now, city.timezone)
        rules = _active_rules(session, city.id)
        q = select(Case).where(Case.city_id == city.id, Case.status != CLOSED_STATUS)
        for case in session.scalars(q).yield_per(1000):
            evaluate_listings(session, case, rules, today, now)


def _active_rules(session: Session, city_id: int) -> list[ListingRule]:
    return list(
        session.scalars(
            select(ListingRule).where(ListingRule.city_id == city_id).order_by(ListingRule.rule_id)
        )
    )


@dataclass
class ListingChange:
    listed: list[tuple[str, str]] = field(default_factory=list)  # (case_no, rule_id)
    delisted: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: ListingChange) -> None:
        self.listed += other.listed
        self.delisted += other.delisted


def evaluate_listings(
    session: Session, case: Case, rules: Sequence[ListingRule], on: date, now: datetime
) -> ListingChange:
    """List or delist ``case`` under each rule as of ``on`` (history is kept)."""
    change = ListingChange()
    open_rows = {
        lst.rule_id: lst
        for lst in session.scalars(
            select(CaseListing).where(
                CaseListing.case_id == case.id, CaseListing.delisted_at.is_(None)
            )
        )
    }
    facts = facts_of(case)
    closed = case.status == CLOSED_STATUS
    for lst in open_rows.values():  # the case may have moved district (re-import)
        if lst.district != case.district or lst.case_no != case.case_no:
            lst.district, lst.case_no = case.district, case.case_no
    for rule in rules:
        meets = rule.active and not closed and matches(rule.spec, facts)
        current = open_rows.get(rule.id)
        if meets and current is None:
            session.add(
                CaseListing(
                    case_id=case.id,
                    rule_id=rule.id,
                    case_no=case.case_no,
                    district=case.district,
                    listed_at=on,
                    created_at=now,
                )
            )
            change.listed.append((case.case_no, rule.rule_id))
        elif not meets and current is not None:
            current.delisted_at = max(on, current.listed_at)
            current.delisted_reason = (
                "結案" if closed else "不再符合列管指標" if rule.active else "列管指標已停用"
            )
            change.delisted.append((case.case_no, rule.rule_id))
    session.flush()
    return change


# --- cases and their events ------------------------------------------------------------


@dataclass
class CaseReport:
    """What an import or a case event changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (case_no, kind, date)
    listing: ListingChange = field(default_factory=ListingChange)
    meetings: ChangeReport = field(default_factory=ChangeReport)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "events": [{"case_no": c, "kind": k, "at": d} for c, k, d in self.events],
            "listed": [{"case_no": c, "rule": r} for c, r in self.listing.listed],
            "delisted": [{"case_no": c, "rule": r} for c, r in self.listing.delisted],
            "meetings": self.meetings.as_dict(),
            "warnings": self.warnings,
        }


_CASE_FIELDS = (
    "case_type",
    "district",
    "masked_name",
    "sdm_risk",
    "tipvda_score",
    "service",
    "status",
    "agency",
    "worker",
    "reported_at",
    "rereported_at",
    "order_expiry",
    "listed_reason",
)


def _derived_events(old: Case | None, row: CaseRow, today: date) -> list[tuple[str, date]]:
    """Case events implied by a (re-)imported row: date changes and closing."""
    events: list[tuple[str, date]] = []
    if old is None:
        if row.status == CLOSED_STATUS:
            return events
        if row.case_type == DEVIANT_CASE_TYPE:
            events.append(("deviant_behaviour_report", row.reported_at))
        if row.rereported_at is not None:
            events.append(("rereported", row.rereported_at))
        if row.order_expiry is not None:
            events.append(("order_expiry", row.order_expiry))
        return events
    if row.rereported_at is not None and row.rereported_at != old.rereported_at:
        events.append(("rereported", row.rereported_at))
    if row.order_expiry is not None and row.order_expiry != old.order_expiry:
        events.append(("order_expiry", row.order_expiry))
    if row.status == CLOSED_STATUS and old.status != CLOSED_STATUS:
        events.append(("closed", today))
    return events


def import_cases(
    session: Session,
    city: City,
    rows: Sequence[CaseRow],
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> CaseReport:
    """Upsert validated rows by case number; derive events; re-evaluate listings.

    ``progress(done, total)`` is called every 1000 rows and at the end.
    """
    report = CaseReport()
    today = local_today(now, city.timezone)
    existing: dict[str, Case] = {}
    numbers = [r.case_no for r in rows]
    for i in range(0, len(numbers), 500):
        chunk = numbers[i : i + 500]
        for c in session.scalars(
            select(Case).where(Case.city_id == city.id, Case.case_no.in_(chunk))
        ):
            existing[c.case_no] = c
    rules = _active_rules(session, city.id)
    ctx = _TriggerContext(session, city, now)
    for done, row in enumerate(rows):
        if progress is not None and done % 1000 == 0:
            progress(done, len(rows))
        case = existing.get(row.case_no)
        events = _derived_events(case, row, today)
        if case is None:
            case = Case(
                city_id=city.id,
                case_no=row.case_no,
                created_at=now,
                updated_at=now,
                **{f: getattr(row, f) for f in _CASE_FIELDS},
            )
            case.closed_at = today if row.status == CLOSED_STATUS else None
            session.add(case)
            session.flush()
            report.created += 1
        else:
            diff = {f: getattr(row, f) for f in _CASE_FIELDS if getattr(case, f) != getattr(row, f)}
            if not diff:
                report.unchanged += 1
                continue
            for f, v in diff.items():
                setattr(case, f, v)
            if "status" in diff:
                case.closed_at = today if row.status == CLOSED_STATUS else None
            case.updated_at = now
            report.updated += 1
        for kind, at in events:
            session.add(
                CaseEvent(case_id=case.id, kind=kind, at=at, source="import", created_at=now)
            )
            report.events.append((case.case_no, kind, at.isoformat()))
        past = [at for _k, at in events if at <= today]
        on = max(past) if past else today
        report.listing.merge(evaluate_listings(session, case, rules, on, now))
        for kind, at in events:
            report.meetings.merge(ctx.on_event(case, kind, at, report.warnings))
    session.flush()
    if progress is not None:
        progress(len(rows), len(rows))
    return report


def record_case_event(
    session: Session, case_no: str, kind: str, at: date, now: datetime, *, city: str | None = None
) -> CaseReport:
    """A case event: update the case, re-evaluate listings, create triggered meetings."""
    if kind not in EVENT_KINDS:
        raise OperationError(f"unknown case event {kind!r} (one of {', '.join(EVENT_KINDS)})")
    case = get_case(session, case_no, city)
    city_row = session.get(City, case.city_id)
    assert city_row is not None
    if case.status == CLOSED_STATUS and kind != "closed":
        raise OperationError(f"case {case_no!r} is closed (結案); re-import it to reopen")
    if at < case.reported_at:
        raise OperationError(f"--at {at} is before the case was reported ({case.reported_at})")
    report = CaseReport(updated=1)
    if kind == "rereported":
        case.rereported_at = at
    elif kind == "order_expiry":
        case.order_expiry = at
    elif kind == "closed":
        if case.status == CLOSED_STATUS:
            raise OperationError(f"case {case_no!r} is already closed")
        case.status, case.closed_at = CLOSED_STATUS, at
    case.updated_at = now
    session.add(CaseEvent(case_id=case.id, kind=kind, at=at, source="manual", created_at=now))
    report.events.append((case.case_no, kind, at.isoformat()))
    today = local_today(now, city_row.timezone)
    on = min(at, today)
    report.listing.merge(
        evaluate_listings(session, case, _active_rules(session, case.city_id), on, now)
    )
    ctx = _TriggerContext(session, city_row, now)
    report.meetings.merge(ctx.on_event(case, kind, at, report.warnings))
    session.flush()
    return report


# --- event-triggered meetings ------------------------------------------------------


class _TriggerContext:
    """Series, specs and the office calendar of one city, loaded once per operation."""

    def __init__(self, session: Session, city: City, now: datetime) -> None:
        self.session = session
        self.city = city
        self.now = now
        self.tz = ZoneInfo(city.timezone)
        self._registry = SpecRegistry(session)
        self._calendar: OfficeCalendar | None = None
        self._series: list[tuple[Series, SeriesSpec]] | None = None

    @property
    def calendar(self) -> OfficeCalendar:
        if self._calendar is None:
            self._calendar = office_calendar_for(self.session, self.city.id)
        return self._calendar

    def triggered(self) -> list[tuple[Series, SeriesSpec]]:
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
        report = ChangeReport()
        for series, spec in self.triggered():
            trig = spec.decl.trigger
            assert trig is not None
            if kind == "closed" and trig.repeat is not None and trig.repeat.until == "closed":
                self._cancel_pending(series, case, report, "個案結案")
            if trig.event != kind or case.status == CLOSED_STATUS:
                continue
            if trig.within is not None:
                nominal = self.calendar.add_working_days(at, parse_span(trig.within).amount)
            else:
                assert trig.offset is not None
                nominal = shift(at, parse_span(trig.offset), self.calendar)
            self._cancel_pending(series, case, report, "新事件取代", keep_after=nominal)
            self.create(series, spec, case, nominal, report, warnings)
        return report

    def _cancel_pending(
        self,
        series: Series,
        case: Case,
        report: ChangeReport,
        reason: str,
        keep_after: date | None = None,
    ) -> None:
        """Cancel this case's not-yet-held meetings of ``series`` (a newer event supersedes)."""
        q = select(Occurrence).where(
            Occurrence.series_id == series.id,
            Occurrence.case_no == case.case_no,
            Occurrence.origin == "event",
            Occurrence.status == "scheduled",
            Occurrence.start_at > self.now,
        )
        for occ in self.session.scalars(q):
            if keep_after is not None and occ.nominal_date == keep_after:
                continue
            apply_placement(self.session, occ, None, self.now, report, reason_if_cancelled=reason)

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

    def create(
        self,
        series: Series,
        spec: SeriesSpec,
        case: Case,
        nominal: date,
        report: ChangeReport,
        warnings: list[str],
    ) -> Occurrence | None:
        inst = _instance_for_case(spec, case.district)
        if inst is None:
            warnings.append(
                f"{series.id}: no meeting group covers district {case.district} "
                f"(case {case.case_no}); no meeting created"
            )
            return None
        uid = uid_for(
            inst.key,
            nominal,
            self.city.domain,
            suffix=f"-{case_key(self.city.domain, case.case_no)}",
        )
        existing = self.session.scalar(select(Occurrence).where(Occurrence.uid == uid))
        p = self.placement(spec, nominal)
        if existing is not None:
            if existing.status == "cancelled":
                apply_placement(self.session, existing, p, self.now, report)
            else:
                report.unchanged += 1
            return existing
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
            status="scheduled",
            sequence=0,
            origin="event",
            case_no=case.case_no,
            moved_reason=p.moved_reason,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(occ)
        self.session.flush()
        record_event(self.session, EventKind.CREATED, occ, self.now)
        report.created.append(uid)
        return occ


def _instance_for_case(spec: SeriesSpec, district: str) -> Any:
    if len(spec.instances) == 1:
        return spec.instances[0]
    zones = spec.decl.agenda.zone_districts or {}
    for inst in spec.instances:
        if inst.district == district:
            return inst
        if inst.zone is not None and district in zones.get(inst.zone, []):
            return inst
    return None


def roll_repeats(session: Session, now: datetime) -> ChangeReport:
    """Schedule the next round of repeating case meetings (成效評估) once one has passed.

    The next nominal date is the previous meeting's actual date + ``every``, and never
    later than the previous nominal date + ``max_span``. Stops when the case closes.
    """
    report = ChangeReport()
    warnings: list[str] = []
    for city in session.scalars(select(City).order_by(City.id)):
        ctx = _TriggerContext(session, city, now)
        for series, spec in ctx.triggered():
            trig = spec.decl.trigger
            assert trig is not None
            if trig.repeat is None:
                continue
            every = parse_span(trig.repeat.every)
            cap = parse_span(trig.repeat.max_span) if trig.repeat.max_span else None
            latest: dict[str, Occurrence] = {}
            for occ in session.scalars(
                select(Occurrence)
                .where(Occurrence.series_id == series.id, Occurrence.origin == "event")
                .order_by(Occurrence.nominal_date)
            ):
                if occ.case_no is not None and occ.status != "cancelled":
                    latest[occ.case_no] = occ
            if not latest:
                continue
            cases = {
                c.case_no: c
                for c in session.scalars(
                    select(Case).where(Case.city_id == city.id, Case.case_no.in_(list(latest)))
                )
            }
            for case_no, occ in latest.items():
                case = cases.get(case_no)
                if case is None or case.status == CLOSED_STATUS:
                    continue
                for _ in range(50):
                    if occ.start_at > now:
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
    report.warnings += warnings
    return report


def derive_held_events(session: Session, now: datetime) -> CaseReport:
    """A held needs-assessment meeting is the case event ``needs_assessment_held``.

    Needs-assessment meetings are the event meetings of series triggered by
    ``deviant_behaviour_report``. Once such a meeting is recorded as held, the event is
    recorded (once) on the day it was held, so the series triggered by
    ``needs_assessment_held`` (成效評估) follow without anyone typing the event.
    """
    report = CaseReport()
    for city in session.scalars(select(City).order_by(City.id)):
        ctx = _TriggerContext(session, city, now)
        series = ctx.triggered()
        wanted = any(
            spec.decl.trigger is not None and spec.decl.trigger.event == "needs_assessment_held"
            for _s, spec in series
        )
        sources = [
            s.id
            for s, spec in series
            if spec.decl.trigger is not None
            and spec.decl.trigger.event == "deviant_behaviour_report"
        ]
        if not wanted or not sources:
            continue
        rows = session.execute(
            select(Occurrence, HeldMeeting.held_on, Case)
            .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
            .join(Case, (Case.case_no == Occurrence.case_no) & (Case.city_id == city.id))
            .where(
                Occurrence.series_id.in_(sources),
                Occurrence.origin == "event",
                Occurrence.status == "held",
                Case.status != CLOSED_STATUS,
            )
            .order_by(Occurrence.start_at)
        ).all()
        for occ, held_on, case in rows:
            day = held_on or occ.start_at.astimezone(ctx.tz).date()
            seen = session.scalar(
                select(CaseEvent.id).where(
                    CaseEvent.case_id == case.id,
                    CaseEvent.kind == "needs_assessment_held",
                    CaseEvent.at >= day,
                )
            )
            if seen is not None:
                continue
            session.add(
                CaseEvent(
                    case_id=case.id,
                    kind="needs_assessment_held",
                    at=day,
                    source="meeting",
                    created_at=now,
                )
            )
            report.events.append((case.case_no, "needs_assessment_held", day.isoformat()))
            report.meetings.merge(ctx.on_event(case, "needs_assessment_held", day, report.warnings))
    session.flush()
    return report


@dataclass
class CaseJobsReport:
    """What one pass of :func:`run_case_jobs` did."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    meetings: ChangeReport = field(default_factory=ChangeReport)
    escalations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": [{"case_no": c, "kind": k, "at": d} for c, k, d in self.events],
            "meetings_created": self.meetings.created,
            "escalations": self.escalations,
            "warnings": self.meetings.warnings,
        }


def run_case_jobs(session: Session, now: datetime) -> CaseJobsReport:
    """The daemon tick's case work, in the caller's transaction (idempotent).

    1. held needs-assessment meetings → ``needs_assessment_held`` events (成效評估 follows);
    2. the next round of repeating case meetings once one has passed;
    3. escalations of listed cases undiscussed past their rule's window (once per listing).
    """
    report = CaseJobsReport()
    derived = derive_held_events(session, now)
    report.events += derived.events
    report.meetings.merge(derived.meetings)
    report.meetings.warnings += derived.warnings
    report.meetings.merge(roll_repeats(session, now))
    report.escalations = check_escalations(session, now)
    return report


# --- discussions ------------------------------------------------------------------------


# --- agendas ------------------------------------------------------------------------


# --- escalation ---------------------------------------------------------------------------


def check_escalations(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Raise an ``escalation`` event, once, for each listed case undiscussed past its window."""
    raised: list[dict[str, Any]] = []
    rules = session.scalars(
        select(ListingRule).where(ListingRule.window.is_not(None), ListingRule.active.is_(True))
    ).all()
    for rule in rules:
        assert rule.window is not None
        city = session.get(City, rule.city_id)
        assert city is not None
        span = parse_span(rule.window)
        today = local_today(now, city.timezone)
        loose = {"d": 1, "wd": 1, "w": 7, "mo": 28}[span.unit] * span.amount
        rows = session.execute(
            select(CaseListing, Case)
            .join(Case, Case.id == CaseListing.case_id)
            .where(
                CaseListing.rule_id == rule.id,
                CaseListing.delisted_at.is_(None),
                CaseListing.escalated_at.is_(None),
                CaseListing.listed_at < today - timedelta(days=loose),
            )
            .order_by(CaseListing.listed_at, Case.case_no)
        ).all()
        if not rows:
            continue
        calendar = office_calendar_for(session, city.id)
        discussed: dict[str, date] = {}
        numbers = [c.case_no for _l, c in rows]
        for i in range(0, len(numbers), 500):
            for case_no, on in session.execute(
                select(CaseDiscussion.case_no, CaseDiscussion.discussed_on).where(
                    CaseDiscussion.case_no.in_(numbers[i : i + 500])
                )
            ):
                discussed[case_no] = max(on, discussed.get(case_no, on))
        series = _series_for_rule(session, city.id, rule.rule_id)
        for listing, case in rows:
            deadline = shift(listing.listed_at, span, calendar)
            if today <= deadline:
                continue
            last = discussed.get(case.case_no)
            if last is not None and last >= listing.listed_at:
                continue
            nxt = _next_meeting(session, series, case.district, now)
            payload = {
                "city_id": city.id,
                "case_no": case.case_no,
                "masked_name": case.masked_name,
                "district": case.district,
                "rule": rule.rule_id,
                "rule_title": rule.title,
                "listed_at": listing.listed_at.isoformat(),
                "window": rule.window,
                "deadline": deadline.isoformat(),
                "series": nxt.series_id if nxt else (series[0][0].id if series else None),
                "uid": nxt.uid if nxt else None,
            }
            # Claim the listing first: with several daemons (PostgreSQL), the second
            # UPDATE waits for the first to commit, then matches no row.
            claimed = session.execute(
                update(CaseListing)
                .where(CaseListing.id == listing.id, CaseListing.escalated_at.is_(None))
                .values(escalated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue
            session.add(
                OutboxEvent(
                    kind="escalation",
                    occurrence_uid=nxt.uid if nxt else None,
                    sequence=nxt.sequence if nxt else None,
                    payload=payload,
                    created_at=now,
                )
            )
            raised.append(payload)
    session.flush()
    return raised


def _series_for_rule(
    session: Session, city_id: int, rule_id: str
) -> list[tuple[Series, SeriesSpec]]:
    registry = SpecRegistry(session)
    out = []
    for s in session.scalars(
        select(Series).where(Series.city_id == city_id, Series.active.is_(True)).order_by(Series.id)
    ):
        if (s.spec.get("agenda") or {}).get("listing_rule") == rule_id:
            out.append((s, registry.spec(s)))
    return out


def _next_meeting(
    session: Session, series: list[tuple[Series, SeriesSpec]], district: str, now: datetime
) -> Occurrence | None:
    """The next scheduled meeting, among ``series``, whose group covers ``district``."""
    best: Occurrence | None = None
    for s, spec in series:
        inst = _instance_for_case(spec, district)
        if inst is None:
            continue
        occ = session.scalar(
            select(Occurrence)
            .where(
                Occurrence.series_id == s.id,
                Occurrence.instance_key == inst.key,
                Occurrence.status == "scheduled",
                Occurrence.start_at > now,
            )
            .order_by(Occurrence.start_at)
            .limit(1)
        )
        if occ is not None and (best is None or occ.start_at < best.start_at):
            best = occ
    return best


# --- audit ---------------------------------------------------------------------------------


def record_audit(
    session: Session,
    *,
    viewer: str,
    reason: str,
    action: str,
    uid: str | None,
    case_nos: Sequence[str],
    now: datetime,
) -> AuditRecord:
    """Record a look-up of case rows: who, when, which meeting and cases, and why."""
    if not viewer.strip():
        raise OperationError("--as: say who is looking (e.g. an email address)")
    if not reason.strip():
        raise OperationError("--reason: state why the case data is needed")
    rec = AuditRecord(
        viewer=viewer.strip(),
        reason=reason.strip(),
        action=action,
        occurrence_uid=uid,
        case_nos=list(case_nos),
        viewed_at=now,
    )
    session.add(rec)
    session.flush()
    return rec


def is_legitimate_reason(reason: str) -> bool:
    """A stated reason: at least 2 letters/ideographs and not a placeholder (test, 無 …)."""
    text = reason.strip()
    if text.lower() in PLACEHOLDER_REASONS:
        return False
    return sum(1 for ch in text if ch.isalpha()) >= 2


def audit_report(session: Session, year: int, tz: str = "Asia/Taipei") -> dict[str, Any]:
    """Look-ups of case data in a year, and the share with a legitimate reason (TL3.1)."""
    g = gregorian_year(year)
    zone = ZoneInfo(tz)
    start = datetime.combine(date(g, 1, 1), time(0), zone)
    end = datetime.combine(date(g + 1, 1, 1), time(0), zone)
    rows = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.viewed_at >= start, AuditRecord.viewed_at < end)
        .order_by(AuditRecord.viewed_at, AuditRecord.id)
    ).all()
    legit = [r for r in rows if is_legitimate_reason(r.reason)]
    by_viewer: dict[str, dict[str, int]] = {}
    for r in rows:
        v = by_viewer.setdefault(r.viewer, {"lookups": 0, "legitimate": 0})
        v["lookups"] += 1
        v["legitimate"] += int(is_legitimate_reason(r.reason))
    return {
        "year": roc_year(g),
        "lookups": len(rows),
        "with_legitimate_reason": len(legit),
        "legitimate_reason_rate": round(100 * len(legit) / len(rows), 1) if rows else None,
        "by_viewer": by_viewer,
        "records": [
            {
                "id": r.id,
                "viewer": r.viewer,
                "viewed_at": r.viewed_at.astimezone(zone).isoformat(),
                "action": r.action,
                "uid": r.occurrence_uid,
                "cases": list(r.case_nos),
                "reason": r.reason,
                "legitimate": is_legitimate_reason(r.reason),
            }
            for r in rows
        ],
    }
