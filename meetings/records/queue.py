"""The work queue (待辦): what in one city needs the secretariat now. Reads only.

Five sections, each a count and its first items (the page's home, ``/``):

- the meetings starting in the next 14 days, with their seats' answers;
- meetings started without any record (待補登: scheduled, started, not held);
- held meetings whose minutes are past ``minutes_due_on`` and not recorded;
- open action items past their due date;
- how many cases are listed and undiscussed past their rule's window (a count only,
  ``meetings.cases.escalation.overdue_case_count``: no case data, so nothing to audit).

Cancelled meetings appear nowhere. Days (a deadline passed, an item overdue) are the
city's (``meetings.kernel.localtime``); ``now`` is the injected clock's. ``series_ids``
narrows the meeting sections to some series (a participant's: those inviting their agency).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, select, true
from sqlalchemy.orm import Session

from meetings.cases.escalation import overdue_case_count
from meetings.db import ActionItem, Agency, City, HeldMeeting, Minutes, Occurrence, Series
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import OccurrenceStatus
from meetings.schedule.units import unit_for
from meetings.seats.queries import seat_rows, state_counts

UPCOMING = timedelta(days=14)
MAX_ITEMS = 50  # items listed per section (the count is always the whole)


def awaits_record(status: str, start_at: datetime, now: datetime) -> bool:
    """True for a meeting that has started without a record (待補登): still scheduled."""
    return status == OccurrenceStatus.SCHEDULED and start_at <= now


def awaiting_record(now: datetime) -> ColumnElement[bool]:
    """:func:`awaits_record` as a WHERE clause on ``Occurrence``."""
    return and_(Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.start_at <= now)


@dataclass(frozen=True)
class QueueMeeting:
    """A meeting as a queue item (no case data: title, time, place)."""

    uid: str
    title: str
    start_at: datetime
    place: str  # district or zone
    sequence: int


@dataclass(frozen=True)
class Upcoming:
    meeting: QueueMeeting
    seats: dict[str, int]  # seats per state (``state_counts``), plus ``total``


@dataclass(frozen=True)
class MinutesLate:
    meeting: QueueMeeting
    held_on: date
    due_on: date


@dataclass(frozen=True)
class ItemLate:
    """An open action item past due: its meeting, owner and due day (its text stays on
    the meeting's page)."""

    id: int
    meeting: QueueMeeting
    owner: str
    due_on: date


@dataclass(frozen=True)
class Section:
    count: int
    items: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class WorkQueue:
    upcoming: Section
    unrecorded: Section
    minutes: Section
    actions: Section
    overdue_cases: int | None  # None: not shown (a participant)


def _meeting(o: Occurrence) -> QueueMeeting:
    return QueueMeeting(o.uid, o.title, o.start_at, o.district or o.zone or "", o.sequence)


def _of_city(city_id: int, series_ids: Collection[str] | None) -> ColumnElement[bool]:
    """The city's meetings, not cancelled (of ``series_ids`` only, when given)."""
    series = Occurrence.series_id.in_(select(Series.id).where(Series.city_id == city_id))
    only = Occurrence.series_id.in_(sorted(series_ids)) if series_ids is not None else true()
    return and_(series, only, Occurrence.status != OccurrenceStatus.CANCELLED)


def _section(session: Session, q: Select[*tuple[Any, ...]]) -> tuple[int, list[Any]]:
    """The whole count of ``q``'s rows and its first MAX_ITEMS."""
    count = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    return count, list(session.execute(q.limit(MAX_ITEMS)).all())


def upcoming(
    session: Session, city_id: int, now: datetime, series_ids: Collection[str] | None = None
) -> Section:
    """Meetings starting in [now, now + 14 days), soonest first, with their seats."""
    q = (
        select(Occurrence)
        .where(
            _of_city(city_id, series_ids),
            Occurrence.start_at >= now,
            Occurrence.start_at < now + UPCOMING,
        )
        .order_by(Occurrence.start_at, Occurrence.uid)
    )
    count, rows = _section(session, q)
    items = [Upcoming(_meeting(o), state_counts(seat_rows(session, o))) for (o,) in rows]
    return Section(count, items)


def unrecorded(
    session: Session, city_id: int, now: datetime, series_ids: Collection[str] | None = None
) -> Section:
    """Meetings started with nothing recorded (待補登), oldest first."""
    q = (
        select(Occurrence)
        .where(_of_city(city_id, series_ids), awaiting_record(now))
        .order_by(Occurrence.start_at, Occurrence.uid)
    )
    count, rows = _section(session, q)
    return Section(count, [_meeting(o) for (o,) in rows])


def minutes_late(
    session: Session, city_id: int, today: date, series_ids: Collection[str] | None = None
) -> Section:
    """Held meetings without minutes whose last on-time day is before ``today``."""
    q = (
        select(Occurrence, HeldMeeting)
        .join(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(
            _of_city(city_id, series_ids),
            Occurrence.status == OccurrenceStatus.HELD,
            HeldMeeting.minutes_due_on < today,
            ~exists().where(Minutes.occurrence_id == Occurrence.id),
        )
        .order_by(HeldMeeting.minutes_due_on, Occurrence.uid)
    )
    count, rows = _section(session, q)
    items = [MinutesLate(_meeting(o), h.held_on, h.minutes_due_on) for o, h in rows]
    return Section(count, items)


def actions_late(
    session: Session, city_id: int, today: date, series_ids: Collection[str] | None = None
) -> Section:
    """Open action items due before ``today``, the longest overdue first."""
    q = (
        select(ActionItem, Occurrence)
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .where(
            _of_city(city_id, series_ids),
            ActionItem.closed_on.is_(None),
            ActionItem.due_on < today,
        )
        .order_by(ActionItem.due_on, ActionItem.id)
    )
    count, rows = _section(session, q)
    agencies = {a.code: a for a in session.scalars(select(Agency).where(Agency.city_id == city_id))}

    def owner(code: str, district: str | None) -> str:
        agency = agencies.get(code)
        return unit_for(agency, district).name if agency is not None else code

    items = [
        ItemLate(i.id, _meeting(o), owner(i.owner_code, o.district), i.due_on) for i, o in rows
    ]
    return Section(count, items)


def work_queue(
    session: Session,
    city_id: int,
    now: datetime,
    *,
    series_ids: Collection[str] | None = None,
    cases: bool = True,
) -> WorkQueue:
    """The city's work queue at ``now`` (see the module); ``cases`` False leaves out the
    count of overdue cases."""
    city = session.get(City, city_id)
    today = local_today(now, city.timezone if city is not None else None)
    return WorkQueue(
        upcoming=upcoming(session, city_id, now, series_ids),
        unrecorded=unrecorded(session, city_id, now, series_ids),
        minutes=minutes_late(session, city_id, today, series_ids),
        actions=actions_late(session, city_id, today, series_ids),
        overdue_cases=overdue_case_count(session, city_id, now) if cases else None,
    )
