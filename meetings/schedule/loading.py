"""Storing a validated config: cities, agencies, districts, people, series and closures.

A changed series re-plans its already generated meetings; a changed closure re-places the
meetings of that day. ``meetings.cases.config.load_config`` is the writer callers use: it
adds the cases part (listing rules).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from meetings.db import Agency, City, Closure, District, Person, Series
from meetings.kernel.errors import OperationError
from meetings.schedule.closures import FROM_CONFIG, reconcile_days
from meetings.schedule.declarations import CityConfig, Config, SeriesDecl, SeriesSpec
from meetings.schedule.operations import ChangeReport, resync_series
from meetings.schedule.units import stored_units


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


def _store_city(session: Session, cc: CityConfig, now: datetime) -> City:
    city = session.scalar(select(City).where(City.name == cc.name))
    if city is None:
        city = City(name=cc.name, domain=cc.domain, timezone=cc.timezone, updated_at=now)
        session.add(city)
        session.flush()
    else:
        city.domain, city.timezone, city.updated_at = cc.domain, cc.timezone, now
    city.targets = dict(cc.targets)  # a new dict: the JSON column sees the change
    return city


def _store_agencies(session: Session, city: City, cc: CityConfig) -> None:
    """Agencies no longer declared are kept, inactive (meetings and people refer to them)."""
    rows = {a.code: a for a in session.scalars(select(Agency).where(Agency.city_id == city.id))}
    for code, a in cc.agencies.items():
        row = rows.pop(code, None)
        units = stored_units(a.units)
        if row is None:
            session.add(
                Agency(
                    city_id=city.id,
                    code=code,
                    name=a.name,
                    kind=a.kind,
                    emails=list(a.emails),
                    units=units,
                )
            )
        else:
            row.name, row.kind, row.emails, row.active = a.name, a.kind, list(a.emails), True
            row.units = units
    for row in rows.values():
        row.active = False


def _store_districts(session: Session, city: City, cc: CityConfig) -> None:
    rows = {d.name: d for d in session.scalars(select(District).where(District.city_id == city.id))}
    for name, d in cc.districts.items():
        row = rows.pop(name, None)
        if row is None:
            session.add(District(city_id=city.id, name=name, code=d.code))
        else:
            row.code = d.code
    for row in rows.values():
        session.delete(row)


def _store_people(session: Session, city: City, cc: CityConfig) -> None:
    session.execute(delete(Person).where(Person.city_id == city.id))
    for email, p in cc.people.items():
        session.add(
            Person(
                city_id=city.id,
                email=email,
                name=p.name,
                agency_code=p.agency,
                team=p.team,
                roles=list(p.roles),
            )
        )


def _store_one_series(
    session: Session, city: City, spec: SeriesSpec, row: Series | None, now: datetime
) -> str | None:
    """Add or update one declared series; "added", "changed" or None (unchanged)."""
    data = _spec_json(spec.decl)
    digest = _hash(data)
    rrule = spec.cadence.rrule if spec.cadence else None
    if row is None:
        other = session.get(Series, spec.id)
        if other is not None:
            raise OperationError(
                f"series id {spec.id!r} is already used by city {other.city.name}; series ids "
                f"are unique across the database"
            )
        session.add(
            Series(
                id=spec.id,
                city_id=city.id,
                title=spec.title,
                spec=data,
                rrule=rrule,
                spec_hash=digest,
                active=True,
                updated_at=now,
            )
        )
        return "added"
    if row.spec_hash == digest and row.active:
        return None
    row.spec, row.spec_hash, row.title, row.rrule = data, digest, spec.title, rrule
    row.active, row.updated_at = True, now
    return "changed"


def _store_series(
    session: Session, city: City, cc: CityConfig, now: datetime, report: LoadReport
) -> list[str]:
    """Store the city's series; returns the ids whose meetings must be re-planned."""
    existing = {s.id: s for s in session.scalars(select(Series).where(Series.city_id == city.id))}
    changed: list[str] = []
    for sid, spec in cc.series.items():
        outcome = _store_one_series(session, city, spec, existing.pop(sid, None), now)
        if outcome == "added":
            report.series_added.append(sid)
        elif outcome == "changed":
            report.series_changed.append(sid)
            changed.append(sid)
    for row in existing.values():
        if row.active:
            row.active, row.updated_at = False, now
            report.series_retired.append(row.id)
            changed.append(row.id)
    return changed


def _store_closures(session: Session, city: City, cc: CityConfig, now: datetime) -> list[date]:
    """Keep the config's closures in step with the file; returns the days that changed."""
    before = {
        c.day: c
        for c in session.scalars(
            select(Closure).where(Closure.city_id == city.id, Closure.source == FROM_CONFIG)
        )
    }
    touched: list[date] = []
    for day, reason in cc.closures.items():
        c = before.pop(day, None)
        if c is None:
            session.add(
                Closure(city_id=city.id, day=day, reason=reason, source=FROM_CONFIG, created_at=now)
            )
            touched.append(day)
        else:
            c.reason = reason
    for c in before.values():
        session.delete(c)
        touched.append(c.day)
    return touched


def load_schedule(session: Session, config: Config, now: datetime) -> LoadReport:
    """Store a validated config's cities, agencies, people and series; changed cadences
    re-plan already generated meetings. ``meetings.cases.config.load_config`` is the
    writer callers use: it adds the cases part (listing rules)."""
    report = LoadReport()
    changed_series: list[str] = []
    for cc in config.cities.values():
        report.cities.append(cc.name)
        city = _store_city(session, cc, now)
        _store_agencies(session, city, cc)
        _store_districts(session, city, cc)
        _store_people(session, city, cc)
        changed_series += _store_series(session, city, cc, now, report)
        touched = _store_closures(session, city, cc, now)
        session.flush()
        if touched:
            report.schedule.merge(reconcile_days(session, touched, city.id, now))
    session.flush()
    for sid in changed_series:
        report.schedule.merge(resync_series(session, sid, now))
    return report
