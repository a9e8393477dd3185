"""Office closures and the DGPA calendar: changing a day re-places the meetings it affects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from meetings.db import City, Closure, Occurrence, OfficeDay, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, zone
from meetings.kernel.vocabulary import CancelCause, OccurrenceStatus, Origin
from meetings.schedule.cadence import localize
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.operations import SKIPPED_REASON, ChangeReport, apply_placement
from meetings.schedule.planning import Placement, place
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.workdays import OfficeCalendar

# How far a holiday policy can move a meeting, at most; used to find the
# meetings a changed calendar day may affect.
POLICY_REACH = timedelta(days=45)
# Where a closure came from: an admin's command, or a config file (kept in step with it).
BY_ADMIN = "admin"
FROM_CONFIG = "config"


def _replacement(
    occ: Occurrence, spec: SeriesSpec, calendar: OfficeCalendar, tz: str
) -> Placement | None:
    """Where an existing meeting belongs on the current office calendar (``tz``: the city's)."""
    if occ.origin == Origin.CADENCE:
        return place(spec, occ.nominal_date, calendar, zone(tz))
    # Ad-hoc and event meetings keep their own time of day and length.
    actual = calendar.apply_policy(occ.nominal_date, spec.policy)
    if actual is None:
        return None
    local_start = local(occ.start_at, tz)
    start = localize(actual, local_start.time().replace(tzinfo=None), zone(tz))
    reason = None
    if actual != occ.nominal_date:
        reason = f"{calendar.day_info(occ.nominal_date).reason or '非上班日'}，改期"
    return Placement(start, start + (occ.end_at - occ.start_at), reason)


def reconcile_days(
    session: Session, days: Iterable[date], city_id: int | None, now: datetime
) -> ChangeReport:
    """Re-place every future, unheld meeting that a change on ``days`` may affect."""
    days = sorted(set(days))
    report = ChangeReport()
    if not days:
        return report
    lo, hi = days[0] - POLICY_REACH, days[-1] + POLICY_REACH
    q = (
        select(Occurrence)
        .join(Series)
        .where(
            Occurrence.nominal_date >= lo,
            Occurrence.nominal_date <= hi,
            Occurrence.status != OccurrenceStatus.HELD,
            Occurrence.start_at > now,
        )
        .order_by(Occurrence.start_at)
    )
    if city_id is not None:
        q = q.where(Series.city_id == city_id)
    registry = SpecRegistry(session)
    for occ in session.scalars(q):
        series = occ.series
        if not series.active:
            continue
        calendar = registry.calendar(series.city_id)
        placement = _replacement(occ, registry.spec(series), calendar, series.city.timezone)
        if (
            occ.status == OccurrenceStatus.CANCELLED
            and occ.cancel_cause != CancelCause.HOLIDAY_SKIP
        ):
            report.unchanged += 1  # cancelled for other reasons: a calendar change won't revive it
            continue
        apply_placement(
            session,
            occ,
            placement,
            now,
            report,
            reason_if_cancelled=SKIPPED_REASON,
            cause_if_cancelled=CancelCause.HOLIDAY_SKIP,
        )
    _history_on(session, days, city_id, now, report)
    session.flush()
    return report


def _history_on(
    session: Session, days: list[date], city_id: int | None, now: datetime, report: ChangeReport
) -> None:
    """The meetings on a changed day that are held or already past: left as they were
    (history is not rewritten), and named in the report so "0 moved" is no surprise."""
    lo = datetime.combine(days[0] - timedelta(days=1), time.min, UTC)
    hi = datetime.combine(days[-1] + timedelta(days=2), time.min, UTC)
    q = (
        select(Occurrence)
        .join(Series)
        .where(
            Occurrence.start_at >= lo,
            Occurrence.start_at < hi,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            or_(Occurrence.status == OccurrenceStatus.HELD, Occurrence.start_at <= now),
        )
        .order_by(Occurrence.start_at)
    )
    if city_id is not None:
        q = q.where(Series.city_id == city_id)
    wanted = set(days)
    for occ in session.scalars(q):
        if local(occ.start_at, occ.series.city.timezone).date() in wanted:
            why = "held" if occ.status == OccurrenceStatus.HELD else "past"
            report.kept.append((occ.uid, why))


def _city_id(session: Session, city: str | None) -> int | None:
    if city is None:
        return None
    cid = session.scalar(select(City.id).where(City.name == city))
    if cid is None:
        names = ", ".join(session.scalars(select(City.name)).all())
        raise OperationError(f"unknown city {city!r}" + (f" (loaded: {names})" if names else ""))
    return cid


def _closures_on(session: Session, day: date, cid: int | None) -> list[Closure]:
    """The closures of ``day`` for one city (``cid``) or for every city (None)."""
    q = select(Closure).where(
        Closure.day == day, Closure.city_id.is_(None) if cid is None else Closure.city_id == cid
    )
    return list(session.scalars(q))


def add_closure(
    session: Session, day: date, reason: str, now: datetime, *, city: str | None = None
) -> ChangeReport:
    """Close the offices on ``day`` (for one city, or all) and move what that affects."""
    if not reason.strip():
        raise OperationError("--reason is required (e.g. 颱風停班)")
    cid = _city_id(session, city)
    dup = next(iter(_closures_on(session, day, cid)), None)
    if dup is not None:
        raise OperationError(f"{day} is already closed ({dup.reason})")
    session.add(
        Closure(city_id=cid, day=day, reason=reason.strip(), source=BY_ADMIN, created_at=now)
    )
    session.flush()
    return reconcile_days(session, [day], cid, now)


def remove_closure(
    session: Session, day: date, now: datetime, *, city: str | None = None
) -> ChangeReport:
    """Reopen ``day``; meetings moved away from it move back."""
    cid = _city_id(session, city)
    rows = _closures_on(session, day, cid)
    if not rows:
        raise OperationError(f"no closure on {day}" + (f" for {city}" if city else ""))
    for r in rows:
        session.delete(r)
    session.flush()
    return reconcile_days(session, [day], cid, now)


def import_office_calendar(
    session: Session, days: Mapping[date, tuple[bool, str]], now: datetime
) -> ChangeReport:
    """Store a DGPA office calendar; meetings on days whose status changed move."""
    before = office_calendar_for(session, None)
    changed = [d for d, (off, _note) in days.items() if before.is_working_day(d) == off]
    existing = {
        o.day: o for o in session.scalars(select(OfficeDay).where(OfficeDay.day.in_(list(days))))
    }
    for d, (off, note) in days.items():
        row = existing.get(d)
        if row is None:
            session.add(OfficeDay(day=d, day_off=off, note=note, imported_at=now))
        else:
            row.day_off, row.note, row.imported_at = off, note, now
    session.flush()
    return reconcile_days(session, changed, None, now)
