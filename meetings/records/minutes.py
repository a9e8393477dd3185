"""Minutes (會議紀錄) of held meetings, and the meetings whose minutes are overdue.

The minutes text never goes into an event: feeds and emails must not carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from meetings.db import HeldMeeting, Minutes, Occurrence
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import EventKind, OccurrenceStatus
from meetings.records.held import (
    local_date,
    minutes_due_on,
    require_held,
    screen_entry,
    today_for,
)
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_occurrence


def record_minutes(
    session: Session,
    uid: str,
    text: str,
    now: datetime,
    *,
    on: date | None = None,
    warnings: list[str] | None = None,
) -> Minutes:
    """Store (or revise) the minutes of a held meeting. The first date recorded counts.

    If the text was screened, its summary (kinds, never values) goes to ``warnings``.
    """
    occ = get_occurrence(session, uid)
    held = require_held(session, occ, "minutes")
    if not text.strip():
        raise OperationError("the minutes file is empty")
    day = on or today_for(occ, now)
    if day < held.held_on:
        raise OperationError(f"minutes dated {day} are before the meeting ({held.held_on})")
    if day > today_for(occ, now):
        raise OperationError(f"--at {day} is in the future")
    text = screen_entry(session, occ, text, warnings).text  # never stored unscreened
    row = session.get(Minutes, occ.id)
    if row is None:
        row = Minutes(
            occurrence_id=occ.id,
            text=text,
            recorded_on=day,
            revised_on=day,
            recorded_at=now,
            updated_at=now,
        )
        session.add(row)
        kind = EventKind.MINUTES_RECORDED
    else:
        row.text, row.revised_on, row.updated_at = text, max(day, row.recorded_on), now
        kind = EventKind.MINUTES_REVISED
    session.flush()
    on_time = row.recorded_on <= held.minutes_due_on
    record_event(
        session,
        kind,
        occ,
        now,
        recorded_on=row.recorded_on.isoformat(),
        due_on=held.minutes_due_on.isoformat(),
        on_time=on_time,
    )
    return row


# --- minutes due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingMinutes:
    """A meeting whose minutes deadline has passed without minutes (``minutes_due``)."""

    uid: str
    series_id: str
    title: str
    held: bool  # recorded as held (else: its date passed and nothing was recorded)
    meeting_on: date  # the date held, or the scheduled date
    due_on: date  # the last day the minutes were on time

    def as_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "series": self.series_id,
            "title": self.title,
            "held": self.held,
            "meeting_on": self.meeting_on.isoformat(),
            "due_on": self.due_on.isoformat(),
        }


def _candidates(
    session: Session, now: datetime, lookback_days: int
) -> list[tuple[Occurrence, HeldMeeting | None]]:
    """Past meetings without minutes that may be overdue (generous bounds in SQL).

    minutes_due is days or weeks, so a meeting more than lookback + 120 days old is past
    any deadline window; deadlines are checked exactly by the caller.
    """
    horizon = now - timedelta(days=lookback_days + 120)
    oldest_due = now.date() - timedelta(days=lookback_days + 1)
    rows = session.execute(
        select(Occurrence, HeldMeeting)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .outerjoin(Minutes, Minutes.occurrence_id == Occurrence.id)
        .where(
            Minutes.occurrence_id.is_(None),
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Occurrence.start_at < now,
            or_(
                HeldMeeting.minutes_due_on >= oldest_due,
                and_(HeldMeeting.occurrence_id.is_(None), Occurrence.start_at >= horizon),
            ),
        )
        .order_by(Occurrence.start_at, Occurrence.id)
    ).all()
    return [(occ, held) for occ, held in rows]


def _missing(
    session: Session, occ: Occurrence, held: HeldMeeting | None, now: datetime, lookback_days: int
) -> MissingMinutes | None:
    today = today_for(occ, now)
    if held is not None:
        meeting_on, due = held.held_on, held.minutes_due_on
    else:
        meeting_on = local_date(occ)
        if meeting_on >= today:
            return None
        due = minutes_due_on(session, occ, meeting_on)
    if not (due < today and (today - due).days <= lookback_days):
        return None
    return MissingMinutes(
        uid=occ.uid,
        series_id=occ.series_id,
        title=occ.title,
        held=held is not None,
        meeting_on=meeting_on,
        due_on=due,
    )


def meetings_missing_minutes(
    session: Session, now: datetime, *, lookback_days: int = 90
) -> list[MissingMinutes]:
    """Held or past meetings whose minutes are overdue at ``now`` and have no Minutes row.

    The deadline is the series' ``minutes_due`` (default 7d) after the date the meeting
    was held (or, when nothing was recorded, its scheduled date); the minutes are
    missing once that day has ended in the city's time zone. Cancelled meetings never
    owe minutes. Only deadlines in the last ``lookback_days`` days are returned, so a
    daemon does not dig up years of history; oldest deadline first. Reads only.
    """
    found = (
        _missing(session, occ, held, now, lookback_days)
        for occ, held in _candidates(session, now, lookback_days)
    )
    out = [m for m in found if m is not None]
    out.sort(key=lambda m: (m.due_on, m.uid))
    return out
