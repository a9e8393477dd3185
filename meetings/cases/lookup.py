"""Finding a city or a case by what people type."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Case, City
from meetings.kernel.errors import OperationError


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
