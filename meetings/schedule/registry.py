"""Stored series resolved back into specs, and each city's office calendar, from the DB."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from meetings.db import City, Closure, District, OfficeDay, Series
from meetings.schedule.declarations import (
    CityConfig,
    DistrictDecl,
    SeriesDecl,
    SeriesSpec,
    spec_from_decl,
)
from meetings.schedule.workdays import OfficeCalendar


def city_config_from_db(session: Session, city: City) -> CityConfig:
    """The parts of a city's config that series resolution needs, from the DB."""
    cc = CityConfig(name=city.name, timezone=city.timezone, domain=city.domain)
    for d in session.scalars(
        select(District).where(District.city_id == city.id).order_by(District.id)
    ):
        cc.districts[d.name] = DistrictDecl(name=d.name, code=d.code)
    return cc


def office_calendar_for(session: Session, city_id: int | None) -> OfficeCalendar:
    """The office calendar of a city: package + published DGPA days + closures."""
    closures: dict[date, str] = {}
    q = select(Closure)
    q = q.where(or_(Closure.city_id.is_(None), Closure.city_id == city_id))
    for c in session.scalars(q):
        closures[c.day] = c.reason
    published = {d.day: (d.day_off, d.note) for d in session.scalars(select(OfficeDay))}
    return OfficeCalendar(closures=closures, published=published)


class SpecRegistry:
    """Resolved SeriesSpecs and office calendars for stored series, built once per operation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cities: dict[int, CityConfig] = {}
        self._specs: dict[str, SeriesSpec] = {}
        self._calendars: dict[int, OfficeCalendar] = {}

    def city(self, city: City) -> CityConfig:
        if city.id not in self._cities:
            self._cities[city.id] = city_config_from_db(self.session, city)
        return self._cities[city.id]

    def spec(self, series: Series) -> SeriesSpec:
        if series.id not in self._specs:
            decl = SeriesDecl.model_validate(series.spec)
            self._specs[series.id] = spec_from_decl(self.city(series.city), decl)
        return self._specs[series.id]

    def calendar(self, city_id: int) -> OfficeCalendar:
        """The city's office calendar as it was when first asked for in this operation."""
        if city_id not in self._calendars:
            self._calendars[city_id] = office_calendar_for(self.session, city_id)
        return self._calendars[city_id]
