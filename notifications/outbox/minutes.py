"""`minutes_due`: tell the secretariat when a held meeting's minutes are missing at the deadline.

A held meeting's deadline is ``held_meetings.minutes_due_on`` (the series'
``minutes_due`` after the day it was held, SPEC §4/§6). Once that day is over in
the city's time zone and no minutes are recorded, one ``minutes_due`` message per
address of the series' secretariat (its ``secretariat`` agency, else the city's
secretariat people) is planned — once per meeting: the Message-ID is
deterministic, and meetings that already have a ``minutes_due`` row are not looked
at again. Deadlines more than ``HORIZON`` in the past when first noticed (e.g.
attendance imported for an earlier year) are not chased by email.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from meetings.db import City, HeldMeeting, Minutes, Occurrence, OutboxMessage, Series
from meetings.kernel.localtime import local_today
from meetings.kernel.rocdate import format_roc_date
from meetings.kernel.vocabulary import MessageKind, MessageStatus, OccurrenceStatus
from notifications.outbox.recipients import Recipient, message_id_for, secretariat_for

HORIZON = timedelta(days=30)


def plan_minutes_due(session: Session, now: datetime) -> int:
    """Plan ``minutes_due`` messages for meetings whose minutes are overdue; returns how many."""
    planned = 0
    for city in session.scalars(select(City).order_by(City.id)):
        today = local_today(now, city.timezone)
        # Each series' own secretariat if it names one, else the city's (once per series
        # and district: a district's meeting is kept by the secretariat's unit there).
        secretariats: dict[tuple[str, str | None], list[Recipient]] = {}
        already = exists().where(
            OutboxMessage.kind == MessageKind.MINUTES_DUE,
            OutboxMessage.occurrence_uid == Occurrence.uid,
        )
        rows = session.execute(
            select(Occurrence, HeldMeeting)
            .join(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
            .join(Series, Series.id == Occurrence.series_id)
            .where(
                Series.city_id == city.id,
                Occurrence.status != OccurrenceStatus.CANCELLED,
                HeldMeeting.minutes_due_on < today,
                HeldMeeting.minutes_due_on >= today - HORIZON,
                ~exists().where(Minutes.occurrence_id == Occurrence.id),
                ~already,
            )
            .order_by(HeldMeeting.minutes_due_on, Occurrence.uid)
        ).all()
        for occ, held in rows:
            key = (occ.series_id, occ.district)
            if key not in secretariats:
                secretariats[key] = secretariat_for(session, city.id, occ.series, occ.district)
            secretariat = secretariats[key]
            context: dict[str, Any] = {
                "uid": occ.uid,
                "due_text": format_roc_date(held.minutes_due_on),
                "held_text": format_roc_date(held.held_on),
            }
            for rcpt in secretariat:
                session.add(
                    OutboxMessage(
                        message_id=message_id_for(
                            MessageKind.MINUTES_DUE, occ.uid, occ.sequence, rcpt.email, city.domain
                        ),
                        kind=MessageKind.MINUTES_DUE,
                        occurrence_uid=occ.uid,
                        sequence=occ.sequence,
                        city_id=city.id,
                        recipient=rcpt.email,
                        recipient_name=rcpt.name,
                        role=rcpt.role,
                        due_at=now,
                        status=MessageStatus.PENDING,
                        attempts=0,
                        context=context,
                        created_at=now,
                    )
                )
                planned += 1
    session.flush()
    return planned
