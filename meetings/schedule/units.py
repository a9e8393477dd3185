"""District units of an agency (警察分局, 消防分隊, 衛生所, 區公所…): who stands for it at a
meeting of one district.

An agency may declare ``units: {中壢區: {name: 中壢分局, emails: [...]}}``. A meeting of a
district (``Occurrence.district``) invites the agency's unit there, else the agency itself.
The unit is a seat of its agency, not an agency of its own: attendance, action items and
KPIs stay keyed by the agency code. This is the one place that picks the unit; mail,
pages and agendas all ask it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class HasUnits(Protocol):
    """An agency as stored (``meetings.db.Agency``) or declared (``AgencyDecl``)."""

    @property
    def name(self) -> str: ...

    @property
    def emails(self) -> Sequence[Any]: ...

    @property
    def units(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Unit:
    """Who an agency sends to a meeting: its name as shown and the addresses invited."""

    name: str
    emails: tuple[str, ...]
    district: str | None  # None: the agency itself (no unit in that district)


def _field(unit: Any, key: str) -> Any:
    # Stored units are JSON (dicts); declared ones are pydantic models.
    return unit.get(key) if isinstance(unit, Mapping) else getattr(unit, key, None)


def unit_for(agency: HasUnits, district: str | None) -> Unit:
    """The agency's unit in ``district``, falling back to the agency (no district, e.g. a
    city-wide or zoned meeting, or no unit declared there)."""
    unit = (agency.units or {}).get(district) if district else None
    if unit is None:
        return Unit(agency.name, tuple(str(e) for e in agency.emails), None)
    return Unit(
        str(_field(unit, "name") or agency.name),
        tuple(str(e) for e in _field(unit, "emails") or ()),
        district,
    )


def stored_units(units: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON kept in ``agencies.units`` for declared units (district → name, emails)."""
    return {
        district: {
            "name": str(_field(u, "name")),
            "emails": [str(e) for e in _field(u, "emails") or ()],
        }
        for district, u in units.items()
    }
