"""The only writers. CLI, web and jobs change state through these functions.

Each function works inside the caller's session/transaction and writes an
``OutboxEvent`` for every change a participant would need to hear about, in the
same transaction, so that notifications can never miss or invent a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from meetings.db import (
    Agency,
    City,
    Closure,
    District,
    Occurrence,
    OfficeDay,
    OutboxEvent,
    Person,
    Series,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import EventKind
from meetings.schedule.cadence import localize
from meetings.schedule.declarations import (
    CityConfig,
    Config,
    DistrictDecl,
    SeriesDecl,
    SeriesSpec,
    parse_duration,
    spec_from_decl,
)
from meetings.schedule.events import iso, payload_of
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_series
from meetings.schedule.planning import Placement, place, plan_series, uid_for
from meetings.schedule.workdays import OfficeCalendar

# How far a holiday policy can move a meeting, at most; used to find the
# meetings a changed calendar day may affect.
POLICY_REACH = timedelta(days=45)


@dataclass
class ChangeReport:
    """What a scheduling operation changed, by occurrence UID."""

    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    reinstated: list[str] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: ChangeReport) -> None:
        self.created += other.created
        self.moved += other.moved
        self.updated += other.updated
        self.cancelled += other.cancelled
        self.reinstated += other.reinstated
        self.unchanged += other.unchanged
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
            "warnings": self.warnings,
        }


# --- reading helpers ---------------------------------------------------------


def city_config_from_db(session: Session, city: City) -> CityConfig:
    """The parts of a city's config that series resolution needs, from the DB."""
    cc = CityConfig(name=city.name, timezone=city.timezone, domain=city.domain)
    for d in session.scalars(
        select(District).where(District.city_id == city.id).order_by(District.id)
    ):
        cc.districts[d.name] = DistrictDecl(name=d.name, code=d.code)
    return cc


class SpecRegistry:
    """Resolved SeriesSpecs for stored series, built once per operation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cities: dict[int, CityConfig] = {}
        self._specs: dict[str, SeriesSpec] = {}

    def city(self, city: City) -> CityConfig:
        if city.id not in self._cities:
            self._cities[city.id] = city_config_from_db(self.session, city)
        return self._cities[city.id]

    def spec(self, series: Series) -> SeriesSpec:
        if series.id not in self._specs:
            decl = SeriesDecl.model_validate(series.spec)
            self._specs[series.id] = spec_from_decl(self.city(series.city), decl)
        return self._specs[series.id]


def office_calendar_for(session: Session, city_id: int | None) -> OfficeCalendar:
    """The office calendar of a city: package + published DGPA days + closures."""
    closures: dict[date, str] = {}
    q = select(Closure)
    q = q.where(or_(Closure.city_id.is_(None), Closure.city_id == city_id))
    for c in session.scalars(q):
        closures[c.day] = c.reason
    published = {d.day: (d.day_off, d.note) for d in session.scalars(select(OfficeDay))}
    return OfficeCalendar(closures=closures, published=published)


# --- config ------------------------------------------------------------------


@dataclass
class LoadReport:
    cities: list[str] = field(default_factory=list)
    series_added: list[str] = field(default_factory=list)
    series_changed: list[str] = field(default_factory=list)
    series_retired: list[str] = field(default_factory=list)
    schedule: ChangeReport = field(default_factory=ChangeReport)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cities": self.cities,
            "series_added": self.series_added,
            "series_changed": self.series_changed,
            "series_retired": self.series_retired,
            "schedule": self.schedule.as_dict(),
        }


def _spec_json(decl: SeriesDecl) -> dict[str, Any]:
    data: dict[str, Any] = decl.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_schedule(session: Session, config: Config, now: datetime) -> LoadReport:
    """Store a validated config's cities, agencies, people and series; changed cadences
    re-plan already generated meetings. ``meetings.cases.config.load_config`` is the
    writer callers use: it adds the cases part (listing rules)."""
    report = LoadReport()
    changed_series: list[str] = []
    for cc in config.cities.values():
        report.cities.append(cc.name)
        city = session.scalar(select(City).where(City.name == cc.name))
        if city is None:
            city = City(name=cc.name, domain=cc.domain, timezone=cc.timezone, updated_at=now)
            session.add(city)
            session.flush()
        else:
            city.domain, city.timezone, city.updated_at = cc.domain, cc.timezone, now

        agencies = {
            a.code: a for a in session.scalars(select(Agency).where(Agency.city_id == city.id))
        }
        for code, a in cc.agencies.items():
            row = agencies.pop(code, None)
            if row is None:
                session.add(
                    Agency(
                        city_id=city.id, code=code, name=a.name, kind=a.kind, emails=list(a.emails)
                    )
                )
            else:
                row.name, row.kind, row.emails, row.active = a.name, a.kind, list(a.emails), True
        for row in agencies.values():
            row.active = False

        districts = {
            d.name: d for d in session.scalars(select(District).where(District.city_id == city.id))
        }
        for name, d in cc.districts.items():
            drow = districts.pop(name, None)
            if drow is None:
                session.add(District(city_id=city.id, name=name, code=d.code))
            else:
                drow.code = d.code
        for drow in districts.values():
            session.delete(drow)

        session.execute(delete(Person).where(Person.city_id == city.id))
        for email, p in cc.people.items():
            session.add(
                Person(
                    city_id=city.id,
                    email=email,
                    name=p.name,
                    agency_code=p.agency,
                    roles=list(p.roles),
                )
            )

        existing = {
            s.id: s for s in session.scalars(select(Series).where(Series.city_id == city.id))
        }
        for sid, spec in cc.series.items():
            data = _spec_json(spec.decl)
            digest = _hash(data)
            row_s = existing.pop(sid, None)
            other = session.get(Series, sid) if row_s is None else None
            if other is not None:
                raise OperationError(
                    f"series id {sid!r} is already used by city {other.city.name}; series ids are "
                    f"unique across the database"
                )
            if row_s is None:
                session.add(
                    Series(
                        id=sid,
                        city_id=city.id,
                        title=spec.title,
                        spec=data,
                        rrule=spec.cadence.rrule if spec.cadence else None,
                        spec_hash=digest,
                        active=True,
                        updated_at=now,
                    )
                )
                report.series_added.append(sid)
            elif row_s.spec_hash != digest or not row_s.active:
                row_s.spec, row_s.spec_hash, row_s.title = data, digest, spec.title
                row_s.rrule = spec.cadence.rrule if spec.cadence else None
                row_s.active, row_s.updated_at = True, now
                report.series_changed.append(sid)
                changed_series.append(sid)
        for row_s in existing.values():
            if row_s.active:
                row_s.active, row_s.updated_at = False, now
                report.series_retired.append(sid := row_s.id)
                changed_series.append(sid)

        # Closures declared in config are kept in step with the file.
        before = {
            c.day: c
            for c in session.scalars(
                select(Closure).where(Closure.city_id == city.id, Closure.source == "config")
            )
        }
        touched: list[date] = []
        for day, reason in cc.closures.items():
            c = before.pop(day, None)
            if c is None:
                session.add(
                    Closure(
                        city_id=city.id, day=day, reason=reason, source="config", created_at=now
                    )
                )
                touched.append(day)
            else:
                c.reason = reason
        for c in before.values():
            session.delete(c)
            touched.append(c.day)
        session.flush()
        if touched:
            report.schedule.merge(_reconcile_days(session, touched, city.id, now))

    session.flush()
    for sid in changed_series:
        report.schedule.merge(_resync_series(session, sid, now))
    return report


def _resync_series(session: Session, series_id: str, now: datetime) -> ChangeReport:
    """Re-plan the already generated future of one series after its declaration changed."""
    series = session.get(Series, series_id)
    assert series is not None
    last = session.scalar(
        select(func.max(Occurrence.nominal_date)).where(
            Occurrence.series_id == series_id, Occurrence.origin == "cadence"
        )
    )
    if last is None:
        return ChangeReport()
    tz = ZoneInfo(series.city.timezone)
    today = now.astimezone(tz).date()
    if last < today:
        return ChangeReport()
    return generate_schedule(session, today, last, now, series_ids=[series_id], create=False)


# --- schedule ----------------------------------------------------------------


def apply_placement(
    session: Session,
    occ: Occurrence,
    placement: Placement | None,
    now: datetime,
    report: ChangeReport,
    *,
    title: str | None = None,
    location: str | None = None,
    reason_if_cancelled: str = "cadence changed",
) -> None:
    """Bring an existing occurrence in line with where it should now be."""
    if occ.status == "held" or occ.start_at <= now:
        report.unchanged += 1  # held or already past: history is never rewritten
        return
    if placement is None:
        if occ.status != "cancelled":
            occ.status = "cancelled"
            occ.sequence += 1
            occ.moved_reason = reason_if_cancelled
            occ.updated_at = now
            record_event(session, EventKind.CANCELLED, occ, now, reason=reason_if_cancelled)
            report.cancelled.append(occ.uid)
        else:
            report.unchanged += 1
        return
    old_start = occ.start_at
    moved = occ.start_at != placement.start_at or occ.end_at != placement.end_at
    details = (title is not None and occ.title != title) or (
        location is not None and occ.location != location
    )
    if occ.status == "cancelled":
        occ.status = "scheduled"
        occ.start_at, occ.end_at = placement.start_at, placement.end_at
        occ.moved_reason = placement.moved_reason
        if title is not None:
            occ.title = title
        if location is not None:
            occ.location = location
        occ.sequence += 1
        occ.updated_at = now
        record_event(session, EventKind.REINSTATED, occ, now)
        report.reinstated.append(occ.uid)
        return
    if not moved and not details:
        report.unchanged += 1
        return
    occ.start_at, occ.end_at = placement.start_at, placement.end_at
    occ.moved_reason = placement.moved_reason
    if title is not None:
        occ.title = title
    if location is not None:
        occ.location = location
    occ.sequence += 1
    occ.updated_at = now
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
    report = ChangeReport()
    q = select(Series).order_by(Series.id)
    if series_ids is not None:
        q = q.where(Series.id.in_(list(series_ids)))
    registry = SpecRegistry(session)
    calendars: dict[int, OfficeCalendar] = {}
    # New meetings are inserted in bulk (executemany): the ORM unit of work is
    # ~4x slower for the tens of thousands of rows a multi-year generate makes.
    new_rows: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    for series in session.scalars(q):
        city = series.city
        if city.id not in calendars:
            calendars[city.id] = office_calendar_for(session, city.id)
        calendar = calendars[city.id]
        tz = ZoneInfo(city.timezone)
        existing = {
            (o.instance_key, o.nominal_date): o
            for o in session.scalars(
                select(Occurrence).where(
                    Occurrence.series_id == series.id,
                    Occurrence.origin == "cadence",
                    Occurrence.nominal_date >= start,
                    Occurrence.nominal_date <= end,
                )
            )
        }
        if series.active:
            spec = registry.spec(series)
            if spec.cadence is None:
                continue
            location = spec.decl.location
            for planned in plan_series(spec, start, end, calendar, tz):
                key = (planned.instance.key, planned.nominal_date)
                occ = existing.pop(key, None)
                if occ is None:
                    if planned.placement is None or not create:
                        continue
                    values = {
                        "uid": uid_for(planned.instance.key, planned.nominal_date, city.domain),
                        "series_id": series.id,
                        "instance_key": planned.instance.key,
                        "district": planned.instance.district,
                        "zone": planned.instance.zone,
                        "title": planned.instance.title,
                        "nominal_date": planned.nominal_date,
                        "start_at": planned.placement.start_at,
                        "end_at": planned.placement.end_at,
                        "location": location,
                        "status": "scheduled",
                        "sequence": 0,
                        "origin": "cadence",
                        "case_no": None,
                        "moved_reason": planned.placement.moved_reason,
                        "created_at": now,
                        "updated_at": now,
                    }
                    new_rows.append(values)
                    new_events.append(
                        {
                            "kind": EventKind.CREATED,
                            "occurrence_uid": values["uid"],
                            "sequence": 0,
                            "payload": payload_of(values),
                            "created_at": now,
                            "processed_at": None,
                        }
                    )
                    report.created.append(str(values["uid"]))
                else:
                    apply_placement(
                        session,
                        occ,
                        planned.placement,
                        now,
                        report,
                        title=planned.instance.title,
                        location=location,
                        reason_if_cancelled="holiday policy: skip"
                        if planned.placement is None
                        else "cadence changed",
                    )
        # Whatever is left no longer fits the cadence (or the series was retired).
        for occ in existing.values():
            apply_placement(
                session,
                occ,
                None,
                now,
                report,
                reason_if_cancelled="series retired" if not series.active else "cadence changed",
            )
        for year in calendar.unconfirmed_years(start, end):
            warning = (
                f"the {year} office calendar is not yet published: dates in {year} may still move "
                f"(import it with `liaison calendar import FILE.csv` when the DGPA publishes it)"
            )
            if warning not in report.warnings:
                report.warnings.append(warning)
    session.flush()
    if new_rows:
        # Core executemany on the table: no RETURNING, no per-row ORM bookkeeping.
        conn = session.connection()
        conn.execute(insert(Occurrence.__table__), new_rows)  # type: ignore[arg-type]
        conn.execute(insert(OutboxEvent.__table__), new_events)  # type: ignore[arg-type]
    return report


def _replacement(
    session: Session, occ: Occurrence, spec: SeriesSpec, calendar: OfficeCalendar, tz: ZoneInfo
) -> Placement | None:
    """Where an existing meeting belongs on the current office calendar."""
    if occ.origin == "cadence":
        return place(spec, occ.nominal_date, calendar, tz)
    # Ad-hoc and event meetings keep their own time of day and length.
    actual = calendar.apply_policy(occ.nominal_date, spec.policy)
    if actual is None:
        return None
    local_start = occ.start_at.astimezone(tz)
    start = localize(actual, local_start.time().replace(tzinfo=None), tz)
    reason = None
    if actual != occ.nominal_date:
        reason = f"{calendar.day_info(occ.nominal_date).reason or '非上班日'}，改期"
    return Placement(start, start + (occ.end_at - occ.start_at), reason)


def _reconcile_days(
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
            Occurrence.status != "held",
            Occurrence.start_at > now,
        )
        .order_by(Occurrence.start_at)
    )
    if city_id is not None:
        q = q.where(Series.city_id == city_id)
    registry = SpecRegistry(session)
    calendars: dict[int, OfficeCalendar] = {}
    for occ in session.scalars(q):
        series = occ.series
        if not series.active:
            continue
        cid = series.city_id
        if cid not in calendars:
            calendars[cid] = office_calendar_for(session, cid)
        tz = ZoneInfo(series.city.timezone)
        spec = registry.spec(series)
        placement = _replacement(session, occ, spec, calendars[cid], tz)
        if occ.status == "cancelled" and occ.moved_reason not in ("holiday policy: skip",):
            report.unchanged += 1  # cancelled for other reasons: a calendar change won't revive it
            continue
        apply_placement(
            session, occ, placement, now, report, reason_if_cancelled="holiday policy: skip"
        )
    session.flush()
    return report


def _city_id(session: Session, city: str | None) -> int | None:
    if city is None:
        return None
    cid = session.scalar(select(City.id).where(City.name == city))
    if cid is None:
        names = ", ".join(session.scalars(select(City.name)).all())
        raise OperationError(f"unknown city {city!r}" + (f" (loaded: {names})" if names else ""))
    return cid


def add_closure(
    session: Session, day: date, reason: str, now: datetime, *, city: str | None = None
) -> ChangeReport:
    """Close the offices on ``day`` (for one city, or all) and move what that affects."""
    if not reason.strip():
        raise OperationError("--reason is required (e.g. 颱風停班)")
    cid = _city_id(session, city)
    dup = session.scalar(
        select(Closure).where(
            Closure.day == day, Closure.city_id.is_(None) if cid is None else Closure.city_id == cid
        )
    )
    if dup is not None:
        raise OperationError(f"{day} is already closed ({dup.reason})")
    session.add(
        Closure(city_id=cid, day=day, reason=reason.strip(), source="admin", created_at=now)
    )
    session.flush()
    return _reconcile_days(session, [day], cid, now)


def remove_closure(
    session: Session, day: date, now: datetime, *, city: str | None = None
) -> ChangeReport:
    """Reopen ``day``; meetings moved away from it move back."""
    cid = _city_id(session, city)
    rows = session.scalars(
        select(Closure).where(
            Closure.day == day, Closure.city_id.is_(None) if cid is None else Closure.city_id == cid
        )
    ).all()
    if not rows:
        raise OperationError(f"no closure on {day}" + (f" for {city}" if city else ""))
    for r in rows:
        session.delete(r)
    session.flush()
    return _reconcile_days(session, [day], cid, now)


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
    report = _reconcile_days(session, changed, None, now)
    return report


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
    if spec.decl.trigger is not None:
        raise OperationError(
            f"series {series_id!r} is event-triggered; its meetings come from case events"
        )
    if not spec.decl.adhoc:
        raise OperationError(f"series {series_id!r} does not allow ad-hoc meetings (adhoc: false)")
    tz = ZoneInfo(series.city.timezone)
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    try:
        inst = spec.instance_for_district(district)
    except KeyError:
        names = ", ".join(i.district or i.zone or "" for i in spec.instances)
        raise OperationError(
            f"series {series_id!r} has no district or zone {district!r} (has: {names})"
        ) from None
    if district is None and len(spec.instances) > 1:
        names = ", ".join(i.district or i.zone or "" for i in spec.instances)
        raise OperationError(
            f"series {series_id!r} is per district: give --district (one of {names})"
        )
    length = parse_duration(duration) if duration else spec.duration
    local = at.astimezone(tz)
    nominal = local.date()
    warnings: list[str] = []
    cal = office_calendar_for(session, series.city_id)
    if not cal.is_working_day(nominal):
        warnings.append(f"{nominal} is not a working day ({cal.day_info(nominal).reason})")
    n = 1 + (
        session.scalar(
            select(func.count())
            .select_from(Occurrence)
            .where(
                Occurrence.instance_key == inst.key,
                Occurrence.nominal_date == nominal,
                Occurrence.origin == "adhoc",
            )
        )
        or 0
    )
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
        status="scheduled",
        sequence=0,
        origin="adhoc",
        created_at=now,
        updated_at=now,
    )
    session.add(occ)
    session.flush()
    record_event(session, EventKind.CREATED, occ, now)
    return occ, warnings
