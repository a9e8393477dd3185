"""What the secretariat reads about a meeting's seats: one row per invited agency.

Read-only: a meeting whose invitations have not gone yet has no stored seats; its rows
are the declared ones, still ``invited`` (``stored`` False). Names are the agency's unit
at a district's meeting (中壢分局), as the invitations name them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, Occurrence
from meetings.kernel.vocabulary import SeatRole, SeatState
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.units import unit_for
from meetings.seats.seats import expected_seats, seats_of


@dataclass(frozen=True)
class SeatRow:
    agency_code: str
    agency_name: str
    required: bool
    role: SeatRole
    state: SeatState
    person: str | None
    title: str | None
    for_whom: str | None
    reason: str | None
    channel: str | None
    answered_at: datetime | None
    answered_by: str | None
    seat_id: int | None  # None: not stored yet (no invitation sent)

    @property
    def answered(self) -> bool:
        return self.state != SeatState.INVITED


def seat_rows(session: Session, occ: Occurrence) -> list[SeatRow]:
    """The meeting's seats (stored, else as declared), required first, by agency code."""
    agencies = {
        a.code: a
        for a in session.scalars(select(Agency).where(Agency.city_id == occ.series.city_id))
    }

    def name(code: str) -> str:
        agency = agencies.get(code)
        return unit_for(agency, occ.district).name if agency is not None else code

    stored = seats_of(session, occ)
    rows = [
        SeatRow(
            s.agency_code,
            name(s.agency_code),
            s.required,
            SeatRole(s.role),
            SeatState(s.state),
            s.person,
            s.title,
            s.for_whom,
            s.reason,
            s.channel,
            s.answered_at,
            s.answered_by,
            s.id,
        )
        for s in stored
    ]
    if not stored:
        decl = SeriesDecl.model_validate(occ.series.spec)
        active = [c for c, a in agencies.items() if a.active]
        rows = [
            SeatRow(
                spec.agency_code,
                name(spec.agency_code),
                spec.required,
                spec.role,
                SeatState.INVITED,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            )
            for spec in expected_seats(decl, active)
        ]
    return sorted(rows, key=lambda r: (not r.required, r.role != SeatRole.MEMBER, r.agency_code))


def state_counts(rows: list[SeatRow]) -> dict[str, int]:
    """Seats per state, every state named (0 included), plus ``total``."""
    counts = Counter(r.state for r in rows)
    out = {str(state): counts.get(state, 0) for state in SeatState}
    out["total"] = len(rows)
    return out
