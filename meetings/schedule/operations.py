"""The schedule's writers: generate cadence meetings, and bring one in line with its plan.

Each function works inside the caller's session/transaction and writes an ``OutboxEvent``
for every change a participant would need to hear about, in the same transaction, so that
notifications can never miss or invent a change. Config loading (``loading``), closures
and office calendars (``closures``) and ad-hoc meetings (``adhoc``) build on these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from meetings.db import Occurrence, OutboxEvent, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import CancelCause, EventKind, OccurrenceStatus, Origin
from meetings.schedule.citywide import city_plan
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.events import iso, payload_of
from meetings.schedule.events import record as record_event
from meetings.schedule.planning import Placement, PlannedOccurrence, uid_for
from meetings.schedule.registry import SpecRegistry
from meetings.schedule.workdays import OfficeCalendar

# The reasons shown for a cancellation the planner made (display text, never tested:
# ``Occurrence.cancel_cause`` says why in a form code can rely on).
SKIPPED_REASON = "holiday policy: skip"
REPLANNED_REASON = "cadence changed"
RETIRED_REASON = "series retired"


@dataclass
class ChangeReport:
    """What a scheduling operation changed, by occurrence UID."""

    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    reinstated: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Meetings the change would have moved or cancelled but that are history (held, or
    # already past): (uid, "held" | "past"), so "0 moved" is never a silent surprise.
    kept: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: ChangeReport) -> None:
        self.created += other.created
        self.moved += other.moved
        self.updated += other.updated
        self.cancelled += other.cancelled
        self.reinstated += other.reinstated
        self.unchanged += other.unchanged
        self.kept += other.kept
        self.warnings += [w for w in other.warnings if w not in self.warnings]

    @property
    def changed(self) -> int:
        return (
            len(self.created)
            + len(self.moved)
            + len(self.updated)
            + len(self.cancelled)
            + len(self.reinstated)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "moved": len(self.moved),
            "updated": len(self.updated),
            "cancelled": len(self.cancelled),
            "reinstated": len(self.reinstated),
            "unchanged": self.unchanged,
            "changes": {
                "created": self.created,
                "moved": self.moved,
                "updated": self.updated,
                "cancelled": self.cancelled,
                "reinstated": self.reinstated,
            },
            "kept": [{"uid": uid, "why": why} for uid, why in self.kept],
            "warnings": self.warnings,
        }


# --- one meeting ---------------------------------------------------------------------------


def _would_change(occ: Occurrence, placement: Placement | None) -> bool:
    """Whether ``placement`` differs from where the meeting is (None: cancelled)."""
    if placement is None:
        return occ.status != OccurrenceStatus.CANCELLED
    return (occ.start_at, occ.end_at) != (placement.start_at, placement.end_at)


def _cancel(
    session: Session,
    occ: Occurrence,
    now: datetime,
    report: ChangeReport,
    reason: str,
    cause: CancelCause,
) -> None:
    if occ.status == OccurrenceStatus.CANCELLED:
        report.unchanged += 1
        return
    occ.status = OccurrenceStatus.CANCELLED
    occ.cancel_cause = cause
    occ.sequence += 1
    occ.moved_reason = reason
    occ.updated_at = now
    record_event(session, EventKind.CANCELLED, occ, now, reason=reason)
    report.cancelled.append(occ.uid)


def _place(
    occ: Occurrence, placement: Placement, title: str | None, location: str | None, now: datetime
) -> None:
    occ.start_at, occ.end_at = placement.start_at, placement.end_at
    occ.moved_reason = placement.moved_reason
    if title is not None:
        occ.title = title
    if location is not None:
        occ.location = location
    occ.sequence += 1
    occ.updated_at = now


def apply_placement(
    session: Session,
    occ: Occurrence,
    placement: Placement | None,
    now: datetime,
    report: ChangeReport,
    *,
    title: str | None = None,
    location: str | None = None,
    reason_if_cancelled: str = REPLANNED_REASON,
    cause_if_cancelled: CancelCause = CancelCause.REPLANNED,
    past_too: bool = False,
) -> None:
    """Bring an existing occurrence in line with where it should now be (None: cancelled,
    shown with ``reason_if_cancelled`` and recorded as ``cause_if_cancelled``).

    ``past_too``: a cancellation applies to a past meeting not recorded held as well
    (a case closure entered late: its meetings after the closure never were owed).
    """
    past = occ.start_at <= now and not (past_too and placement is None)
    if occ.status == OccurrenceStatus.HELD or past:
        report.unchanged += 1  # held or already past: history is never rewritten
        if _would_change(occ, placement):
            why = "held" if occ.status == OccurrenceStatus.HELD else "past"
            report.kept.append((occ.uid, why))
        return
    if placement is None:
        _cancel(session, occ, now, report, reason_if_cancelled, cause_if_cancelled)
        return
    if occ.status == OccurrenceStatus.CANCELLED:
        occ.status = OccurrenceStatus.SCHEDULED
        occ.cancel_cause = None
        _place(occ, placement, title, location, now)
        record_event(session, EventKind.REINSTATED, occ, now)
        report.reinstated.append(occ.uid)
        return
    old_start = occ.start_at
    moved = occ.start_at != placement.start_at or occ.end_at != placement.end_at
    details = (title is not None and occ.title != title) or (
        location is not None and occ.location != location
    )
    if not moved and not details:
        report.unchanged += 1
        return
    _place(occ, placement, title, location, now)
    if moved:
        record_event(
            session,
            EventKind.MOVED,
            occ,
            now,
            previous_start=iso(old_start),
            reason=placement.moved_reason,
        )
        report.moved.append(occ.uid)
    else:
        record_event(session, EventKind.UPDATED, occ, now)
        report.updated.append(occ.uid)


# --- generating -----------------------------------------------------------------------------


@dataclass
class _Generation:
    """One run of generate_schedule: the report, and the new meetings to insert in bulk."""

    session: Session
    now: datetime
    create: bool
    report: ChangeReport = field(default_factory=ChangeReport)
    # New meetings are inserted in bulk (executemany): the ORM unit of work is
    # ~4x slower for the tens of thousands of rows a multi-year generate makes.
    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def new_meeting(self, series: Series, planned: PlannedOccurrence, location: str | None) -> None:
        placement = planned.placement
        assert placement is not None
        inst = planned.instance
        values = {
            "uid": uid_for(inst.key, planned.nominal_date, series.city.domain),
            "series_id": series.id,
            "instance_key": inst.key,
            "district": inst.district,
            "zone": inst.zone,
            "title": inst.title,
            "nominal_date": planned.nominal_date,
            "start_at": placement.start_at,
            "end_at": placement.end_at,
            "location": location,
            "status": OccurrenceStatus.SCHEDULED,
            "sequence": 0,
            "origin": Origin.CADENCE,
            "case_no": None,
            "moved_reason": placement.moved_reason,
            "created_at": self.now,
            "updated_at": self.now,
        }
        self.rows.append(values)
        self.events.append(
            {
                "kind": EventKind.CREATED,
                "occurrence_uid": values["uid"],
                "sequence": 0,
                "payload": payload_of(values),
                "created_at": self.now,
                "processed_at": None,
            }
        )
        self.report.created.append(str(values["uid"]))

    def plan(
        self,
        series: Series,
        spec: SeriesSpec,
        existing: dict[tuple[str, date], Occurrence],
        planned: list[PlannedOccurrence],
    ) -> None:
        """Create or re-place the planned meetings; ``existing`` keeps the unplanned rest."""
        location = spec.decl.location
        for p in planned:
            occ = existing.pop((p.instance.key, p.nominal_date), None)
            if occ is None:
                if p.placement is not None and self.create:
                    self.new_meeting(series, p, location)
                continue
            skipped = p.placement is None  # the holiday policy 'skip' drops this date
            apply_placement(
                self.session,
                occ,
                p.placement,
                self.now,
                self.report,
                title=p.instance.title,
                location=location,
                reason_if_cancelled=SKIPPED_REASON if skipped else REPLANNED_REASON,
                cause_if_cancelled=CancelCause.HOLIDAY_SKIP if skipped else CancelCause.REPLANNED,
            )

    def cancel_unplanned(self, series: Series, leftovers: Iterable[Occurrence]) -> None:
        """Whatever is left no longer fits the cadence (or the series was retired)."""
        reason = RETIRED_REASON if not series.active else REPLANNED_REASON
        for occ in leftovers:
            apply_placement(
                self.session, occ, None, self.now, self.report, reason_if_cancelled=reason
            )

    def warn_unconfirmed(self, calendar: OfficeCalendar, start: date, end: date) -> None:
        for year in calendar.unconfirmed_years(start, end):
            warning = (
                f"the {year} office calendar is not yet published: dates in {year} may still move "
                f"(import it with `liaison calendar import FILE.csv` when the DGPA publishes it)"
            )
            if warning not in self.report.warnings:
                self.report.warnings.append(warning)

    def insert(self) -> None:
        if self.rows:
            # Core executemany on the table: no RETURNING, no per-row ORM bookkeeping.
            conn = self.session.connection()
            conn.execute(insert(Occurrence.__table__), self.rows)  # type: ignore[arg-type]
            conn.execute(insert(OutboxEvent.__table__), self.events)  # type: ignore[arg-type]


def _cadence_meetings(
    session: Session, series_id: str, start: date, end: date
) -> dict[tuple[str, date], Occurrence]:
    """The series' cadence meetings with nominal dates in [start, end], by (instance, date)."""
    q = select(Occurrence).where(
        Occurrence.series_id == series_id,
        Occurrence.origin == Origin.CADENCE,
        Occurrence.nominal_date >= start,
        Occurrence.nominal_date <= end,
    )
    return {(o.instance_key, o.nominal_date): o for o in session.scalars(q)}


def generate_schedule(
    session: Session,
    start: date,
    end: date,
    now: datetime,
    *,
    series_ids: Iterable[str] | None = None,
    create: bool = True,
) -> ChangeReport:
    """Create, move or cancel cadence meetings with nominal dates in [start, end].

    Idempotent: a second run with the same config and calendar changes nothing.
    Held and past meetings are never touched.
    """
    if end < start:
        raise OperationError(f"--to {end} is before --from {start}")
    q = select(Series).order_by(Series.id)
    if series_ids is not None:
        q = q.where(Series.id.in_(list(series_ids)))
    registry = SpecRegistry(session)
    run = _Generation(session, now, create)
    selected = list(session.scalars(q))
    # Each city is planned as a whole (free days placed off each other's agencies),
    # so one series generated alone lands where generating them all would put it.
    plans: dict[str, list[PlannedOccurrence]] = {}
    for city in {s.city_id: s.city for s in selected if s.active}.values():
        plans.update(city_plan(session, registry, city, start, end, now))
    for series in selected:
        calendar = registry.calendar(series.city_id)
        existing = _cadence_meetings(session, series.id, start, end)
        if series.active:
            spec = registry.spec(series)
            if spec.cadence is None:
                continue
            planned = [p for p in plans.get(series.id, ()) if start <= p.nominal_date <= end]
            run.plan(series, spec, existing, planned)
        run.cancel_unplanned(series, existing.values())
        run.warn_unconfirmed(calendar, start, end)
    session.flush()
    run.insert()
    return run.report


def resync_series(session: Session, series_id: str, now: datetime) -> ChangeReport:
    """Re-plan the already generated future of one series after its declaration changed."""
    series = session.get(Series, series_id)
    assert series is not None
    last = session.scalar(
        select(func.max(Occurrence.nominal_date)).where(
            Occurrence.series_id == series_id, Occurrence.origin == Origin.CADENCE
        )
    )
    if last is None:
        return ChangeReport()
    today = local_today(now, series.city.timezone)
    if last < today:
        return ChangeReport()
    return generate_schedule(session, today, last, now, series_ids=[series_id], create=False)
