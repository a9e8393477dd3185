"""Ad-hoc meetings (不定期會議): an admin adds one to a series, outside its cadence."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meetings.db import Occurrence
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, zone
from meetings.kernel.vocabulary import EventKind, OccurrenceStatus, Origin
from meetings.schedule.declarations import SeriesInstance, SeriesSpec
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_series
from meetings.schedule.planning import uid_for
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.spans import parse_duration


def _instance(spec: SeriesSpec, district: str | None) -> SeriesInstance:
    """The instance (district or zone) an ad-hoc meeting belongs to."""
    names = ", ".join(i.district or i.zone or "" for i in spec.instances)
    try:
        inst = spec.instance_for_district(district)
    except KeyError:
        raise OperationError(
            f"series {spec.id!r} has no district or zone {district!r} (has: {names})"
        ) from None
    if district is None and len(spec.instances) > 1:
        raise OperationError(
            f"series {spec.id!r} is per district: give --district (one of {names})"
        )
    return inst


def _check_allowed(spec: SeriesSpec) -> None:
    if spec.decl.trigger is not None:
        raise OperationError(
            f"series {spec.id!r} is event-triggered; its meetings come from case events"
        )
    if not spec.decl.adhoc:
        raise OperationError(f"series {spec.id!r} does not allow ad-hoc meetings (adhoc: false)")


def _next_number(session: Session, inst: SeriesInstance, nominal: date) -> int:
    """1 + the ad-hoc meetings this instance already has on that day (for a unique UID)."""
    count = session.scalar(
        select(func.count())
        .select_from(Occurrence)
        .where(
            Occurrence.instance_key == inst.key,
            Occurrence.nominal_date == nominal,
            Occurrence.origin == Origin.ADHOC,
        )
    )
    return 1 + (count or 0)


def add_adhoc_meeting(
    session: Session,
    series_id: str,
    at: datetime,
    now: datetime,
    *,
    district: str | None = None,
    duration: str | None = None,
    location: str | None = None,
    title: str | None = None,
) -> tuple[Occurrence, list[str]]:
    """Add a 不定期會議 to a series. Returns the occurrence and warnings."""
    series = get_series(session, series_id)
    if not series.active:
        raise OperationError(f"series {series_id!r} is retired")
    spec = SpecRegistry(session).spec(series)
    _check_allowed(spec)
    tz = series.city.timezone
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(tz))
    inst = _instance(spec, district)
    length = parse_duration(duration) if duration else spec.duration
    nominal = local(at, tz).date()
    warnings: list[str] = []
    cal = office_calendar_for(session, series.city_id)
    if not cal.is_working_day(nominal):
        warnings.append(f"{nominal} is not a working day ({cal.day_info(nominal).reason})")
    n = _next_number(session, inst, nominal)
    occ = Occurrence(
        uid=uid_for(inst.key, nominal, series.city.domain, suffix=f"-adhoc{n}"),
        series_id=series.id,
        instance_key=inst.key,
        district=inst.district,
        zone=inst.zone,
        title=title or f"{inst.title}（不定期會議）",
        nominal_date=nominal,
        start_at=at,
        end_at=at + length,
        location=location or spec.decl.location,
        status=OccurrenceStatus.SCHEDULED,
        sequence=0,
        origin=Origin.ADHOC,
        created_at=now,
        updated_at=now,
    )
    session.add(occ)
    session.flush()
    record_event(session, EventKind.CREATED, occ, now)
    return occ, warnings
