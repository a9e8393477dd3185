"""The seat KPIs of SPEC §7 (issue "Who is coming"): how agencies answered their seats.

- ``reply_rate``: seats answered before the meeting's start ÷ seats;
- ``designated_attendance_rate``: seats naming who comes (designated or deputy) whose
  agency was recorded present or delegated ÷ such seats;
- ``representative_continuity[agency]``: of a series instance's held meetings after the
  agency's first named seat, the share where it named the same person as at its
  previous named seat.

Pure folds over one ``SeatFact`` per seat, and the one query that loads those facts.

Decisions where the issue is silent (also in docs/cli.md):

- Over held meetings of the report's year (their nominal date, cut at ``--as-of``), as
  every other rate. Only stored seats count: meetings from before seats existed have
  none, so a year of them gives ``null``, never 0.
- A seat counts as answered before the meeting when its *first* applied answer came
  before the start: a later correction (the secretariat's after the meeting) does not
  undo that; an answer kept only in history (an older SEQUENCE) is no answer.
- "Recorded present" is any attendance row of the agency with status present or
  delegated — the same test as ``agency_attendance_rate``.
- Continuity looks back before the year (the previous named seat may be last
  December's) and compares the names as stored (trimmed, screened). A meeting where
  the agency had a seat but named nobody (declined, unanswered) breaks the run; one
  where it had no seat is not counted. An agency appears once it named someone in the
  instance and has a seat in the year; with no meeting after its first named seat its
  rate is ``null``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from meetings.db import Attendance, Occurrence, Seat, SeatAnswer
from meetings.kernel.vocabulary import ATTENDED, SEAT_COMING, SeatState
from meetings.kpis.formulas import RowCounts
from meetings.kpis.selection import Selection, held


@dataclass(frozen=True, order=True)
class SeatFact:
    """One seat at a held meeting, as the seat KPIs need it."""

    instance: str  # the meeting's series instance key
    agency: str
    start: datetime  # the meeting's start
    counted: bool  # in the report's period (else only history for continuity)
    state: SeatState
    person: str | None = None
    first_answer: datetime | None = None  # its first applied answer
    attended: bool = False  # the agency was recorded present or delegated


@dataclass
class SeatCounts:
    """The seat KPIs' numerators and denominators of one series instance."""

    seats: int = 0
    answered: int = 0  # before the meeting's start
    named: int = 0  # designated or deputy
    named_present: int = 0
    # agency code → (same person as at its previous named seat, meetings after the first)
    continuity: dict[str, tuple[int, int]] = field(default_factory=dict)


def answered_in_time(fact: SeatFact) -> bool:
    return (
        fact.state != SeatState.INVITED
        and fact.first_answer is not None
        and fact.first_answer < fact.start
    )


def named_person(fact: SeatFact) -> str | None:
    """Who the seat names (its representative or deputy); None when nobody."""
    return fact.person if fact.state in SEAT_COMING and fact.person else None


def continuity(seats: Iterable[tuple[bool, str | None]]) -> tuple[int, int]:
    """(same person as last time, meetings after the first named seat) over one agency's
    seats in one instance, oldest first, each given as (counted, named person or None)."""
    same = total = 0
    last: str | None = None
    for counted, person in seats:
        if last is not None and counted:
            total += 1
            same += person == last
        if person is not None:
            last = person
    return same, total


def _agency_continuity(facts: list[SeatFact]) -> tuple[int, int] | None:
    """One agency's continuity in one instance; None when it is not reported."""
    if not any(f.counted for f in facts) or not any(named_person(f) for f in facts):
        return None
    return continuity((f.counted, named_person(f)) for f in sorted(facts, key=lambda f: f.start))


def seat_counts(facts: Iterable[SeatFact]) -> dict[str, SeatCounts]:
    """The seat KPIs' counts per series instance."""
    out: dict[str, SeatCounts] = {}
    ordered = sorted(facts, key=lambda f: (f.instance, f.agency, f.start))
    for (instance, agency), group in groupby(ordered, key=lambda f: (f.instance, f.agency)):
        seats = list(group)
        counts = out.setdefault(instance, SeatCounts())
        for f in (f for f in seats if f.counted):
            counts.seats += 1
            counts.answered += answered_in_time(f)
            if f.state in SEAT_COMING:
                counts.named += 1
                counts.named_present += f.attended
        run = _agency_continuity(seats)
        if run is not None:
            counts.continuity[agency] = run
    return out


def add_seat_counts(rows: Mapping[str, RowCounts], counts: Mapping[str, SeatCounts]) -> None:
    """Put each instance's seat counts on its report row."""
    for key, c in counts.items():
        row = rows.get(key)
        if row is None:
            continue  # an instance seen only before the year
        row.seats, row.seats_answered = c.seats, c.answered
        row.seats_named, row.named_present = c.named, c.named_present
        row.continuity = dict(c.continuity)


# --- the query ---------------------------------------------------------------------------


def seat_facts(session: Session, sel: Selection) -> Iterator[SeatFact]:
    """The seats of the selection's held meetings up to the report's last day (those
    before the year too: continuity's history), one fact each."""
    first = (
        select(SeatAnswer.seat_id, func.min(SeatAnswer.answered_at).label("at"))
        .where(SeatAnswer.applied.is_(True))
        .group_by(SeatAnswer.seat_id)
        .subquery()
    )
    attended = (
        exists()
        .where(
            Attendance.occurrence_id == Seat.occurrence_id,
            Attendance.agency_code == Seat.agency_code,
            Attendance.status.in_(sorted(ATTENDED)),
        )
        .correlate(Seat)
    )
    q = (
        select(
            Occurrence.instance_key,
            Seat.agency_code,
            Occurrence.start_at,
            Occurrence.nominal_date >= sel.start,
            Seat.state,
            Seat.person,
            first.c.at,
            attended,
        )
        .join(Seat, Seat.occurrence_id == Occurrence.id)
        .outerjoin(first, first.c.seat_id == Seat.id)
        .where(*sel.occurrences(), held(), Occurrence.nominal_date <= sel.last_day)
    )
    for key, code, start, counted, state, person, at, present in session.execute(q):
        yield SeatFact(key, code, start, bool(counted), SeatState(state), person, at, bool(present))
