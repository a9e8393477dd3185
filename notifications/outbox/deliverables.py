"""`deliverable_due` and `deliverable_overdue`: remind who owes a held meeting's deliverable.

A series' deliverable (成效檢核表 to 教育局, 7 days after the meeting) not yet handed
in gets one ``deliverable_due`` message per address of the series' secretariat and
of the receiving agency from ``REMIND_BEFORE`` days before its due date through that
day, and one ``deliverable_overdue`` once the due date is over in the city's time
zone. Each once: Message-IDs are deterministic per (meeting, deliverable, recipient)
and a planned one is never planned again. A deliverable first noticed after its due
date gets only the overdue notice; due dates more than ``HORIZON`` ago are not chased.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, City, OutboxMessage, Series
from meetings.kernel.localtime import local_today
from meetings.kernel.rocdate import format_roc_date
from meetings.kernel.vocabulary import MessageKind, MessageStatus
from meetings.records.deliverables import Owed, Window, owed
from notifications.outbox.recipients import Recipient, message_id_for, secretariat_for

REMIND_BEFORE = timedelta(days=2)
HORIZON = timedelta(days=30)


def deliverable_key(uid: str, name: str) -> str:
    """What a deliverable's Message-IDs are derived from (hashed: never shown)."""
    return f"{uid}|deliverable|{name}"


def _recipients(session: Session, city_id: int, series: Series, to: str) -> list[Recipient]:
    """The series' secretariat, then the receiving agency (each address once)."""
    out = list(secretariat_for(session, city_id, series))
    agency = session.scalar(select(Agency).where(Agency.city_id == city_id, Agency.code == to))
    if agency is not None and agency.active:
        out += [Recipient(str(e), agency.name, "NON-PARTICIPANT") for e in agency.emails]
    seen: set[str] = set()
    unique = []
    for r in out:
        if r.email.lower() not in seen:
            seen.add(r.email.lower())
            unique.append(r)
    return unique


def _context(o: Owed, to_name: str) -> dict[str, Any]:
    """What the mail says: the deliverable, its due and held dates, the receiving agency."""
    return {
        "uid": o.uid,
        "deliverable": o.name,
        "to_name": to_name,
        "due_text": format_roc_date(o.due_on),
        "held_text": format_roc_date(o.held_on),
    }


def _plan_city(session: Session, city: City, now: datetime) -> int:
    today = local_today(now, city.timezone)
    names = dict(
        session.execute(select(Agency.code, Agency.name).where(Agency.city_id == city.id)).all()
    )
    planned = 0
    recipients: dict[tuple[str, str], list[Recipient]] = {}  # per (series, to), once
    for o in owed(session, Window(today - HORIZON, today + REMIND_BEFORE, city.id)):
        if o.submitted_on is not None:
            continue
        kind = MessageKind.DELIVERABLE_OVERDUE if o.due_on < today else MessageKind.DELIVERABLE_DUE
        if (o.series_id, o.to) not in recipients:
            series = session.get(Series, o.series_id)
            assert series is not None
            recipients[(o.series_id, o.to)] = _recipients(session, city.id, series, o.to)
        rcpts = recipients[(o.series_id, o.to)]
        key = deliverable_key(o.uid, o.name)
        mids = {r.email: message_id_for(kind, key, 0, r.email, city.domain) for r in rcpts}
        existing = set(
            session.scalars(
                select(OutboxMessage.message_id).where(
                    OutboxMessage.message_id.in_(sorted(mids.values()))
                )
            )
        )
        context = _context(o, names.get(o.to, o.to))
        for r in rcpts:
            if mids[r.email] not in existing:
                session.add(_message(mids[r.email], kind, o, city, r, now, context))
                planned += 1
    return planned


def _message(
    mid: str, kind: str, o: Owed, city: City, r: Recipient, now: datetime, context: dict[str, Any]
) -> OutboxMessage:
    return OutboxMessage(
        message_id=mid,
        kind=kind,
        occurrence_uid=o.uid,
        sequence=0,
        city_id=city.id,
        recipient=r.email,
        recipient_name=r.name,
        role=r.role,
        due_at=now,
        status=MessageStatus.PENDING,
        attempts=0,
        context=context,
        created_at=now,
    )


def plan_deliverables_due(session: Session, now: datetime) -> int:
    """Plan the deliverable reminders and overdue notices due at ``now``; returns how many."""
    planned = 0
    for city in session.scalars(select(City).order_by(City.id)):
        planned += _plan_city(session, city, now)
    session.flush()
    return planned
