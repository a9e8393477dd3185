"""Action items (決議事項) decided at held meetings, and their follow-up.

Each change writes an outbox event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import ActionItem, Agency, HeldMeeting, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import EventKind
from meetings.records.held import (
    city_agency,
    held_record,
    require_held,
    screen_entry,
    today_for,
)
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_occurrence


def add_action_item(
    session: Session,
    uid: str,
    owner: str,
    due: date,
    text: str,
    now: datetime,
    *,
    warnings: list[str] | None = None,
) -> ActionItem:
    """Add a decision to follow up (決議事項) to a held meeting.

    If the text was screened, its summary (kinds, never values) goes to ``warnings``.
    """
    occ = get_occurrence(session, uid)
    held = require_held(session, occ, "action items")
    agency = city_agency(session, occ.series, owner)
    if not text.strip():
        raise OperationError("the action item text is empty")
    if due < held.held_on:
        raise OperationError(f"--due {due} is before the meeting ({held.held_on})")
    item = ActionItem(
        occurrence_id=occ.id,
        owner_code=agency.code,
        text=screen_entry(session, occ, text.strip(), warnings).text,  # never stored unscreened
        due_on=due,
        closed_on=None,
        created_at=now,
        closed_at=None,
    )
    session.add(item)
    session.flush()
    record_event(session, EventKind.ACTION_ITEM_ADDED, occ, now, item=item.id, owner=agency.code)
    return item


def close_action_item(
    session: Session, item_id: int, now: datetime, *, on: date | None = None
) -> ActionItem:
    """Close an action item on ``on`` (default: today)."""
    item = session.get(ActionItem, item_id)
    if item is None:
        raise OperationError(f"unknown action item #{item_id}")
    occ = session.get(Occurrence, item.occurrence_id)
    assert occ is not None
    if item.closed_on is not None:
        raise OperationError(f"action item #{item_id} was already closed on {item.closed_on}")
    today = today_for(occ, now)
    day = on or today
    if day > today:
        raise OperationError(f"--at {day} is in the future")
    held = held_record(session, occ)
    if held is not None and day < held.held_on:
        raise OperationError(f"--at {day} is before the meeting ({held.held_on})")
    item.closed_on, item.closed_at = day, now
    session.flush()
    record_event(
        session, EventKind.ACTION_ITEM_CLOSED, occ, now, item=item.id, closed_on=day.isoformat()
    )
    return item


@dataclass(frozen=True)
class ActionItemView:
    """An action item with its meeting, for lists (an agenda's section 二 has its own
    query: ``meetings.agendas.action_items``)."""

    id: int
    uid: str
    series: str
    meeting_date: date
    owner: str
    owner_name: str
    text: str
    due_on: date
    closed_on: date | None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "series": self.series,
            "meeting_date": self.meeting_date.isoformat(),
            "owner": self.owner,
            "owner_name": self.owner_name,
            "text": self.text,
            "due": self.due_on.isoformat(),
            "closed": self.closed_on.isoformat() if self.closed_on else None,
            "open": self.is_open,
        }


def _views(session: Session, rows: Iterable[Any]) -> list[ActionItemView]:
    names: dict[tuple[int, str], str] = {}
    out: list[ActionItemView] = []
    for item, occ, held_on, city_id in rows:
        key = (city_id, item.owner_code)
        if key not in names:
            names[key] = (
                session.scalar(
                    select(Agency.name).where(
                        Agency.city_id == city_id, Agency.code == item.owner_code
                    )
                )
                or item.owner_code
            )
        out.append(
            ActionItemView(
                id=item.id,
                uid=occ.uid,
                series=occ.series_id,
                meeting_date=held_on or occ.nominal_date,
                owner=item.owner_code,
                owner_name=names[key],
                text=item.text,
                due_on=item.due_on,
                closed_on=item.closed_on,
            )
        )
    return out


def _item_query() -> Any:
    return (
        select(ActionItem, Occurrence, HeldMeeting.held_on, Series.city_id)
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .join(Series, Series.id == Occurrence.series_id)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
    )


def list_action_items(
    session: Session, *, open_only: bool = False, series_id: str | None = None
) -> list[ActionItemView]:
    """Action items, oldest due first."""
    q = _item_query()
    if open_only:
        q = q.where(ActionItem.closed_on.is_(None))
    if series_id is not None:
        q = q.where(Occurrence.series_id == series_id)
    q = q.order_by(ActionItem.due_on, ActionItem.id)
    return _views(session, session.execute(q).all())
