"""Whether, when and in which cycle a meeting was held, and the look-ups its records share.

A meeting becomes held when its first attendance line is recorded (``mark_held``);
the ``HeldMeeting`` row fixes the day it was held, its cadence cycle and the day its
minutes are due. Attendance, minutes, discussions and action items all require it.
Like ``meetings.schedule.operations`` these work inside the caller's transaction.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, AgendaCase, Case, CaseDiscussion, HeldMeeting, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, local_today
from meetings.kernel.screening import Screened, screen
from meetings.kernel.vocabulary import EventKind, OccurrenceStatus
from meetings.schedule.cycles import HELD_AT_MAX_SHIFT, meeting_cycle
from meetings.schedule.events import record as record_event
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.spans import parse_span, shift

# --- lookups -----------------------------------------------------------------------


def local_date(occ: Occurrence) -> date:
    """The scheduled date of a meeting in its city's time zone."""
    return local(occ.start_at, occ.series.city.timezone).date()


def today_for(occ: Occurrence, now: datetime) -> date:
    """Today (at ``now``) in the meeting's city."""
    return local_today(now, occ.series.city.timezone)


def city_agency(session: Session, series: Series, code: str) -> Agency:
    """The agency ``code`` of the series' city; an OperationError naming the known ones."""
    code = code.strip()
    agency = session.scalar(
        select(Agency).where(Agency.city_id == series.city_id, Agency.code == code)
    )
    if agency is None:
        known = ", ".join(
            session.scalars(
                select(Agency.code).where(Agency.city_id == series.city_id).order_by(Agency.code)
            )
        )
        raise OperationError(
            f"unknown agency {code!r} in {series.city.name}"
            + (f" (known: {known})" if known else "")
        )
    return agency


def held_record(session: Session, occ: Occurrence) -> HeldMeeting | None:
    """When and in which cycle the meeting was held, if it was recorded held."""
    return session.get(HeldMeeting, occ.id)


def occurrence_cycle(session: Session, occ: Occurrence) -> tuple[date, date]:
    """The cadence cycle an occurrence belongs to (see ``schedule.cycles.meeting_cycle``),
    stretched to its scheduled day when that lies outside: only the product places
    meetings (a holiday policy, a date already past, a closure), so holding one on the
    day it was given is on schedule."""
    spec = SpecRegistry(session).spec(occ.series)
    try:
        cadence = spec.instance(occ.instance_key).cadence
    except KeyError:
        cadence = spec.cadence
    first, last = meeting_cycle(cadence, occ.nominal_date)
    placed = local_date(occ)
    return min(first, placed), max(last, placed)


def minutes_due_on(session: Session, occ: Occurrence, held_on: date) -> date:
    """The last day the minutes of a meeting held on ``held_on`` are on time."""
    spec = SpecRegistry(session).spec(occ.series)
    span = parse_span(spec.decl.minutes_due)
    # The office calendar is a query: load it only when the span counts working days.
    calendar = office_calendar_for(session, occ.series.city_id) if span.unit == "wd" else None
    return shift(held_on, span, calendar)


# --- held ----------------------------------------------------------------------------


def check_held_shift(occ: Occurrence, held_on: date) -> None:
    """Refuse a held date more than a year from the scheduled one (a typo, not a meeting).

    The KPI report relies on this bound to search discussions by date.
    """
    scheduled = local_date(occ)
    if abs(held_on - scheduled) > HELD_AT_MAX_SHIFT:
        raise OperationError(
            f"meeting {occ.uid} was scheduled for {scheduled}; {held_on} is more than "
            f"{HELD_AT_MAX_SHIFT.days} days away (add an ad-hoc meeting instead)"
        )


def _held_day(occ: Occurrence, record: HeldMeeting | None, held_on: date | None) -> date:
    """The day to record: as given, else as recorded, else the scheduled date."""
    if held_on is not None:
        return held_on
    return record.held_on if record is not None else local_date(occ)


def mark_held(
    session: Session, occ: Occurrence, now: datetime, held_on: date | None = None
) -> HeldMeeting:
    """Mark a meeting held on ``held_on`` (default: its scheduled date, or as recorded)."""
    if occ.status == OccurrenceStatus.CANCELLED:
        raise OperationError(f"meeting {occ.uid} is cancelled; it cannot have been held")
    record = held_record(session, occ)
    held_on = _held_day(occ, record, held_on)
    today = today_for(occ, now)
    if held_on > today:
        raise OperationError(
            f"meeting {occ.uid} is held on {held_on}, after today ({today}); record it once held"
        )
    check_held_shift(occ, held_on)
    changed = occ.status != OccurrenceStatus.HELD or record is None or record.held_on != held_on
    if record is None:
        first, last = occurrence_cycle(session, occ)
        record = HeldMeeting(
            occurrence_id=occ.id,
            held_on=held_on,
            cycle_first=first,
            cycle_last=last,
            minutes_due_on=minutes_due_on(session, occ, held_on),
            recorded_at=now,
            updated_at=now,
        )
        session.add(record)
    elif record.held_on != held_on:
        record.held_on = held_on
        record.minutes_due_on = minutes_due_on(session, occ, held_on)
        record.updated_at = now
    if changed:
        occ.status = OccurrenceStatus.HELD
        occ.updated_at = now
        record_event(session, EventKind.HELD, occ, now, held_on=held_on.isoformat())
    session.flush()
    return record


MAX_HOURS = 24.0
MAX_PARTICIPANTS = 100_000


def record_size(
    session: Session,
    occ: Occurrence,
    now: datetime,
    *,
    hours: float | None = None,
    participants: int | None = None,
    held_on: date | None = None,
) -> HeldMeeting:
    """Mark a meeting held (as ``mark_held``) and record how long it lasted and how many
    took part: what the grant report counts for supervision and training, where the
    participants are people (social workers), not the agencies of the attendance lines.
    A value left out keeps what was recorded."""
    if hours is not None and not 0 < hours <= MAX_HOURS:
        raise OperationError(f"--hours: {hours:g} is not between 0 and {MAX_HOURS:g}")
    if participants is not None and not 0 <= participants <= MAX_PARTICIPANTS:
        raise OperationError(
            f"--participants: {participants} is not between 0 and {MAX_PARTICIPANTS:,}"
        )
    record = mark_held(session, occ, now, held_on)
    if hours is not None:
        record.hours = round(hours, 1)
    if participants is not None:
        record.participants = participants
    record.updated_at = now
    session.flush()
    return record


def require_held(session: Session, occ: Occurrence, what: str) -> HeldMeeting:
    """The held record of a meeting that ``what`` (minutes, action items…) needs."""
    if occ.status == OccurrenceStatus.CANCELLED:
        raise OperationError(f"meeting {occ.uid} is cancelled; it has no {what}")
    record = held_record(session, occ)
    if occ.status != OccurrenceStatus.HELD or record is None:
        raise OperationError(
            f"meeting {occ.uid} is not recorded as held; record its attendance first "
            f"(liaison attendance record {occ.uid} --agency CODE --status present)"
        )
    return record


def screen_entry(
    session: Session, occ: Occurrence, text: str, warnings: list[str] | None = None
) -> Screened:
    """Free text entered for a meeting (minutes, action items), screened before it is
    stored: IDs, phones, addresses, and the names of the cases on its agenda, discussed
    at it or that triggered it (their masked forms catch the full names).

    When something was redacted its summary (``已遮蔽 1 項（電話）``: kinds, never the
    values) is appended to ``warnings``, so the writer can tell whoever typed it."""
    numbers = set(
        session.scalars(select(AgendaCase.case_no).where(AgendaCase.occurrence_uid == occ.uid))
    )
    numbers |= set(
        session.scalars(
            select(CaseDiscussion.case_no).where(CaseDiscussion.occurrence_uid == occ.uid)
        )
    )
    if occ.case_no is not None:
        numbers.add(occ.case_no)
    names = session.scalars(
        select(Case.masked_name).where(
            Case.city_id == occ.series.city_id, Case.case_no.in_(sorted(numbers))
        )
    ).all()
    screened = screen(text, names)
    if screened.count and warnings is not None:
        warnings.append(screened.summary())
    return screened
