"""Who asks: the roles of people and API tokens, and what each role may do.

The role words are the vocabulary's (``meetings.kernel.vocabulary.Role``): a user or
an API token has one, and a role includes every lower one
(admin > secretariat > participant). A :class:`Scope` adds the cities they may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from meetings.cases.lookup import resolve_city
from meetings.db import City, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import Role

# A role may do what every lower role may.
RANK = {Role.PARTICIPANT: 0, Role.SECRETARIAT: 1, Role.ADMIN: 2}
# Who runs the meetings (may read KPIs and record what happened).
STAFF = frozenset({Role.ADMIN, Role.SECRETARIAT})


class AccessError(OperationError):
    """A user, token or scope request that cannot be carried out (bad input: exit 2)."""


def check_role(role: str) -> Role:
    """``role`` (any case) as a Role, or an AccessError naming the choices."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(Role)
        raise AccessError(f"--role: must be one of {choices}, not {role!r}") from None


def at_least(role: str, minimum: Role) -> bool:
    """True if ``role`` may do what ``minimum`` may (an unknown role may do nothing)."""
    try:
        return RANK[Role(role)] >= RANK[minimum]
    except ValueError:
        return False


def city_choice(session: Session, city: str | None, all_cities: bool) -> int | None:
    """The city id of a login or token: exactly one of a city name or ``all_cities``."""
    if all_cities and city is not None:
        raise AccessError("--city and --all-cities: give one, not both")
    if all_cities:
        return None
    if city is None:
        raise AccessError("--city NAME (the city it belongs to) or --all-cities (a ministry)")
    return resolve_city(session, city.strip()).id


# --- the city scope -----------------------------------------------------------------

NO_CITY = "此帳號尚未指定縣市，請洽系統管理者。"


@dataclass(frozen=True)
class Scope:
    """Who asks and which cities they may see: the one city scope of every query.

    ``city_ids`` None means every city (a ministry login or token); an empty set means
    none (a login or token from before cities were scoped, until an admin assigns one).
    Every page, API response, feed and CLI ``--as`` view filters with it; another
    city's object is treated as unknown (404), so a UID says nothing about other cities.
    """

    role: str
    city_ids: frozenset[int] | None
    who: str = ""

    @classmethod
    def of(cls, role: str, city_id: int | None, all_cities: bool, who: str = "") -> Scope:
        """The scope of a user or API token row (``city_id``, ``all_cities``)."""
        if all_cities:
            return cls(role, None, who)
        return cls(role, frozenset({city_id}) if city_id is not None else frozenset(), who)

    @property
    def all_cities(self) -> bool:
        return self.city_ids is None

    @property
    def unassigned(self) -> bool:
        """True when the principal sees no city at all."""
        return self.city_ids is not None and not self.city_ids

    def sees(self, city_id: int | None) -> bool:
        """True if an object of this city may be shown (and written) to the principal."""
        return self.city_ids is None or (city_id is not None and city_id in self.city_ids)

    def cities(self, column: Any = None) -> ColumnElement[bool]:
        """A WHERE clause on a city id column (``City.id`` unless another is given)."""
        col = City.id if column is None else column
        if self.city_ids is None:
            return true()
        if not self.city_ids:
            return false()
        return col.in_(sorted(self.city_ids))

    def series(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Series``: the series of the scope's cities."""
        return self.cities(Series.city_id)

    def occurrences(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Occurrence``: the meetings of the scope's cities."""
        if self.city_ids is None:
            return true()
        return Occurrence.series_id.in_(select(Series.id).where(self.series()))

    def city_names(self, session: Session) -> list[tuple[int, str]]:
        """(id, name) of the cities in scope, by name."""
        q = select(City.id, City.name).where(self.cities()).order_by(City.name)
        return [(cid, name) for cid, name in session.execute(q)]

    def only_city(self, session: Session) -> int | None:
        """The one city in scope (a city login), or None (ministry: several or none)."""
        if self.city_ids is not None and len(self.city_ids) == 1:
            return next(iter(self.city_ids))
        names = self.city_names(session)
        return names[0][0] if len(names) == 1 else None


ALL = Scope(Role.ADMIN, None, "operator")  # the command line without --as: the operator
