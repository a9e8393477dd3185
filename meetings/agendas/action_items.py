"""Open action items (決議事項) of earlier meetings: section 二 of an agenda.

The one query for them. An item is open for a meeting on day D when the meeting
that decided it was held before D (same series, and same district or zone group) and
it was not closed before D — so an agenda built after the fact shows what was open
then. Agendas ask for many meetings at once; records ask for one series and day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import ActionItem, Agency, HeldMeeting, Occurrence, Series


@dataclass(frozen=True)
class OpenActionItem:
    """An open item, with the meeting that decided it."""

    id: int
    uid: str  # the meeting that decided it
    series: str
    instance_key: str
    meeting_date: date  # the day that meeting was held
    owner: str  # agency code
    owner_name: str
    text: str
    due_on: date
    closed_on: date | None


@dataclass(frozen=True)
class ItemScope:
    """Whose section 二: a series (one instance of it, or all when None) and a day."""

    series_id: str
    instance_key: str | None
    day: date

    def covers(self, item: OpenActionItem) -> bool:
        return (
            item.series == self.series_id
            and (self.instance_key is None or item.instance_key == self.instance_key)
            and item.meeting_date < self.day
            and (item.closed_on is None or item.closed_on >= self.day)
        )


def open_action_items_for(
    session: Session, scopes: Sequence[ItemScope]
) -> dict[ItemScope, list[OpenActionItem]]:
    """The open items of each scope, in one query (oldest meeting first, then by id)."""
    if not scopes:
        return {}
    first, last = min(s.day for s in scopes), max(s.day for s in scopes)
    q = (
        select(
            ActionItem.id,
            Occurrence.uid,
            Occurrence.series_id,
            Occurrence.instance_key,
            HeldMeeting.held_on,
            ActionItem.owner_code,
            Agency.name,
            ActionItem.text,
            ActionItem.due_on,
            ActionItem.closed_on,
        )
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .join(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .join(Series, Series.id == Occurrence.series_id)
        .outerjoin(
            Agency, (Agency.city_id == Series.city_id) & (Agency.code == ActionItem.owner_code)
        )
        .where(
            Occurrence.series_id.in_(sorted({s.series_id for s in scopes})),
            HeldMeeting.held_on < last,
            ActionItem.closed_on.is_(None) | (ActionItem.closed_on >= first),
        )
        .order_by(HeldMeeting.held_on, ActionItem.id)
    )
    keys = {s.instance_key for s in scopes}
    if None not in keys:
        q = q.where(Occurrence.instance_key.in_(sorted(k for k in keys if k is not None)))
    items = [
        OpenActionItem(i, uid, sid, key, held, owner, name or owner, text, due, closed)
        for i, uid, sid, key, held, owner, name, text, due, closed in session.execute(q)
    ]
    return {s: [item for item in items if s.covers(item)] for s in scopes}


def open_action_items(
    session: Session,
    series_id: str,
    before: date | datetime,
    *,
    instance_key: str | None = None,
) -> list[OpenActionItem]:
    """Items from meetings of a series held before ``before`` and still open on it.

    ``instance_key`` narrows a per-district series to one district's meetings.
    """
    day = before.date() if isinstance(before, datetime) else before
    scope = ItemScope(series_id, instance_key, day)
    return open_action_items_for(session, [scope])[scope]
