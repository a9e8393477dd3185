"""Deliverables (成效檢核表 …) a held meeting owes after it, tracked like its minutes.

A series declares them (``deliverables: [{name, due, to}]``); each is due the span
``due`` after the day the meeting was held, to the agency ``to``. One row per (held
meeting, deliverable) records when it was handed in (``record_deliverable``, the one
writer: CLI and pages call it). Due dates are not stored: they follow from the series'
declaration and the day held, so ``owed`` works them out for a window of due dates,
and the listing, the reminders and the on-time KPI all read them from there.
Deliverables carry no case data; the optional note is screened like minutes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from meetings.db import City, DeliverableSubmission, HeldMeeting, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local_today
from meetings.kernel.rocdate import gregorian_year
from meetings.kernel.vocabulary import EventKind, OccurrenceStatus
from meetings.records.held import require_held, screen_entry, today_for
from meetings.schedule.declarations import DeliverableDecl, SeriesDecl
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_occurrence
from meetings.schedule.registry import office_calendar_for
from meetings.schedule.spans import parse_span, shift
from meetings.schedule.workdays import OfficeCalendar

MAX_NOTE = 2000


class DeliverableState(StrEnum):
    """Where a deliverable stands on a given day (worked out, never stored)."""

    SUBMITTED = "submitted"
    OVERDUE = "overdue"
    PENDING = "pending"


DELIVERABLE_STATE_ZH = {
    DeliverableState.SUBMITTED: "已繳交",
    DeliverableState.OVERDUE: "逾期",
    DeliverableState.PENDING: "待繳",
}


def declared(series: Series) -> list[DeliverableDecl]:
    """The deliverables the series declares now (none for most series)."""
    return list(SeriesDecl.model_validate(series.spec).deliverables or ())


def due_on(held_on: date, decl: DeliverableDecl, calendar: OfficeCalendar | None) -> date:
    """The last day a deliverable of a meeting held on ``held_on`` is on time
    (``calendar`` is needed only for working-day spans)."""
    return shift(held_on, parse_span(decl.due), calendar)


def _calendar_if_needed(
    session: Session, city_id: int, decls: Iterable[DeliverableDecl]
) -> OfficeCalendar | None:
    """The office calendar is a query: load it only when a span counts working days."""
    if any(parse_span(d.due).unit == "wd" for d in decls):
        return office_calendar_for(session, city_id)
    return None


# --- the one writer -------------------------------------------------------------------


def _pick(occ: Occurrence, name: str) -> DeliverableDecl:
    decls = declared(occ.series)
    for d in decls:
        if d.name == name.strip():
            return d
    known = ", ".join(d.name for d in decls)
    raise OperationError(
        f"series {occ.series_id} declares no deliverable {name.strip()!r}"
        + (f" (declared: {known})" if known else " (it declares none)")
    )


def record_deliverable(
    session: Session,
    uid: str,
    name: str,
    now: datetime,
    by: str,
    *,
    on: date | None = None,
    note: str | None = None,
    warnings: list[str] | None = None,
    cities: Collection[int] | None = None,
) -> DeliverableSubmission:
    """Record that a held meeting's deliverable was handed in on ``on`` (default today).

    The first date recorded counts (recording again updates who and the note). The
    note is screened before it is stored; its summary (kinds, never values) goes to
    ``warnings``. ``cities``: only a meeting of these cities (another is unknown).
    """
    occ = get_occurrence(session, uid, cities)
    held = require_held(session, occ, "deliverables")
    decl = _pick(occ, name)
    today = today_for(occ, now)
    day = on or today
    if day < held.held_on:
        raise OperationError(f"--at {day} is before the meeting ({held.held_on})")
    if day > today:
        raise OperationError(f"--at {day} is in the future")
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise OperationError(f"the note is longer than {MAX_NOTE} characters")
    stored = screen_entry(session, occ, text, warnings).text if text else None
    row = session.scalar(
        select(DeliverableSubmission).where(
            DeliverableSubmission.occurrence_id == occ.id, DeliverableSubmission.name == decl.name
        )
    )
    if row is None:
        row = DeliverableSubmission(
            occurrence_id=occ.id,
            name=decl.name,
            submitted_on=day,
            submitted_by=by,
            note=stored,
            recorded_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.submitted_by, row.updated_at = by, now
        if stored is not None:
            row.note = stored
    session.flush()
    due = due_on(held.held_on, decl, _calendar_if_needed(session, occ.series.city_id, [decl]))
    record_event(
        session,
        EventKind.DELIVERABLE_RECORDED,
        occ,
        now,
        deliverable=decl.name,
        submitted_on=row.submitted_on.isoformat(),
        due_on=due.isoformat(),
        on_time=row.submitted_on <= due,
    )
    return row


# --- what is owed ---------------------------------------------------------------------


@dataclass(frozen=True)
class Owed:
    """One deliverable of one held meeting, and whether (when) it was handed in."""

    uid: str
    series_id: str
    instance_key: str
    city_id: int
    title: str
    name: str
    to: str  # the receiving agency's code
    held_on: date
    due_on: date
    submitted_on: date | None
    submitted_by: str | None
    note: str | None

    def state(self, today: date) -> DeliverableState:
        if self.submitted_on is not None:
            return DeliverableState.SUBMITTED
        return DeliverableState.OVERDUE if self.due_on < today else DeliverableState.PENDING

    @property
    def on_time(self) -> bool:
        return self.submitted_on is not None and self.submitted_on <= self.due_on

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "series": self.series_id,
            "title": self.title,
            "name": self.name,
            "to": self.to,
            "held_on": self.held_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "state": self.state(today).value,
            "submitted_on": self.submitted_on.isoformat() if self.submitted_on else None,
            "by": self.submitted_by,
            "on_time": self.on_time if self.submitted_on else None,
            "note": self.note,
        }


def _max_days(decl: DeliverableDecl) -> int:
    """More days than the span can ever take (working days skip weekends and holidays)."""
    span = parse_span(decl.due)
    return {"d": 1, "w": 7, "wd": 3, "mo": 31}[span.unit] * span.amount + 31


@dataclass(frozen=True)
class Window:
    """Which deliverables ``owed`` returns: due in [first, last], of these meetings."""

    first: date
    last: date
    city_id: int | None = None
    series_id: str | None = None
    district: str | None = None  # a district or zone
    uid: str | None = None


def _series_with_deliverables(
    session: Session, w: Window
) -> dict[str, tuple[Series, list[DeliverableDecl]]]:
    q = select(Series)
    if w.city_id is not None:
        q = q.where(Series.city_id == w.city_id)
    if w.series_id is not None:
        q = q.where(Series.id == w.series_id)
    out = {}
    for s in session.scalars(q):  # a few dozen series: the JSON spec is read in Python
        decls = declared(s)
        if decls:
            out[s.id] = (s, decls)
    return out


def _held_meetings(
    session: Session, w: Window, series_ids: list[str], days: int
) -> list[tuple[Occurrence, HeldMeeting]]:
    """Held meetings of these series that may owe something due in the window."""
    q = (
        select(Occurrence, HeldMeeting)
        .join(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(
            Occurrence.series_id.in_(series_ids),
            Occurrence.status == OccurrenceStatus.HELD,
            HeldMeeting.held_on <= w.last,
        )
        .order_by(HeldMeeting.held_on, Occurrence.uid)
    )
    if w.first > date.min + timedelta(days=days):
        q = q.where(HeldMeeting.held_on >= w.first - timedelta(days=days))
    if w.district is not None:
        q = q.where(or_(Occurrence.district == w.district, Occurrence.zone == w.district))
    if w.uid is not None:
        q = q.where(Occurrence.uid == w.uid)
    return [(occ, held) for occ, held in session.execute(q).all()]


def _submissions(
    session: Session, occurrence_ids: list[int]
) -> dict[tuple[int, str], DeliverableSubmission]:
    found: dict[tuple[int, str], DeliverableSubmission] = {}
    for i in range(0, len(occurrence_ids), 500):
        chunk = occurrence_ids[i : i + 500]
        for row in session.scalars(
            select(DeliverableSubmission).where(DeliverableSubmission.occurrence_id.in_(chunk))
        ):
            found[(row.occurrence_id, row.name)] = row
    return found


def owed(session: Session, window: Window) -> list[Owed]:
    """The deliverables of held meetings due in the window, as the series declare them
    now; oldest due first. Reads only."""
    series = _series_with_deliverables(session, window)
    if not series:
        return []
    days = max(_max_days(d) for _s, decls in series.values() for d in decls)
    meetings = _held_meetings(session, window, sorted(series), days)
    done = _submissions(session, [occ.id for occ, _h in meetings])
    calendars: dict[int, OfficeCalendar | None] = {}
    out: list[Owed] = []
    for occ, held in meetings:
        stored, decls = series[occ.series_id]
        if stored.city_id not in calendars:
            calendars[stored.city_id] = _calendar_if_needed(session, stored.city_id, decls)
        for d in decls:
            due = due_on(held.held_on, d, calendars[stored.city_id])
            if not window.first <= due <= window.last:
                continue
            row = done.get((occ.id, d.name))
            out.append(
                Owed(
                    uid=occ.uid,
                    series_id=occ.series_id,
                    instance_key=occ.instance_key,
                    city_id=stored.city_id,
                    title=occ.title,
                    name=d.name,
                    to=d.to,
                    held_on=held.held_on,
                    due_on=due,
                    submitted_on=row.submitted_on if row else None,
                    submitted_by=row.submitted_by if row else None,
                    note=row.note if row else None,
                )
            )
    out.sort(key=lambda o: (o.due_on, o.uid, o.name))
    return out


def deliverables_of(session: Session, occ: Occurrence) -> list[Owed]:
    """Every deliverable a meeting owes (none unless it was held), in declared order."""
    held = session.get(HeldMeeting, occ.id)
    if held is None or occ.status != OccurrenceStatus.HELD:
        return []
    found = owed(session, Window(date.min, date.max, uid=occ.uid))
    order = [d.name for d in declared(occ.series)]
    return sorted(found, key=lambda o: order.index(o.name) if o.name in order else len(order))


def overdue_deliverables(
    session: Session,
    now: datetime,
    *,
    lookback_days: int = 90,
    cities: Collection[int] | None = None,
) -> list[Owed]:
    """Deliverables due in the last ``lookback_days`` days (each city's today) and not
    handed in; oldest due first."""
    out: list[Owed] = []
    for city in session.scalars(select(City).order_by(City.id)):
        if cities is not None and city.id not in cities:
            continue
        today = local_today(now, city.timezone)
        window = Window(today - timedelta(days=lookback_days), today - timedelta(days=1), city.id)
        out.extend(o for o in owed(session, window) if o.submitted_on is None)
    out.sort(key=lambda o: (o.due_on, o.uid, o.name))
    return out


# --- the on-time KPI ------------------------------------------------------------------


def on_time_counts(items: Iterable[Owed]) -> dict[tuple[str, str], tuple[int, int]]:
    """(handed in on or before the due date, due) per (series, instance key). Pure."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for o in items:
        num, den = counts.get((o.series_id, o.instance_key), (0, 0))
        counts[(o.series_id, o.instance_key)] = (num + int(o.on_time), den + 1)
    return counts


def deliverable_on_time_counts(
    session: Session,
    year: int,
    *,
    as_of: date | None = None,
    city_id: int | None = None,
    series_id: str | None = None,
    district: str | None = None,
) -> dict[tuple[str, str], tuple[int, int]]:
    """``deliverables_on_time_rate``'s counts per (series, instance key): deliverables
    due in the year (ROC 112 or 2023), cut at ``as_of`` like the other KPIs (one due
    later was not due yet and counts nowhere). The total is the sum of the rows."""
    y = gregorian_year(year)
    last = date(y, 12, 31) if as_of is None else min(date(y, 12, 31), as_of)
    window = Window(date(y, 1, 1), last, city_id, series_id, district)
    return on_time_counts(owed(session, window))
