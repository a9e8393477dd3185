"""What the secretariat reads about inbound mail: a meeting's COUNTER proposals, and
the quarantine (what could not be used, and why). Read-only."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import InboundMessage, Occurrence
from meetings.kernel.vocabulary import InboundStatus

MAX_LISTED = 500  # quarantined messages listed at most, newest first


def counters_of(session: Session, occ: Occurrence) -> list[InboundMessage]:
    """The new times agencies proposed for ``occ`` (COUNTER), oldest first. Never applied."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.occurrence_uid == occ.uid,
                InboundMessage.status == InboundStatus.COUNTER,
                InboundMessage.city_id == occ.series.city_id,
            )
            .order_by(InboundMessage.received_at, InboundMessage.id)
        )
    )


def quarantined(
    session: Session, cities: Collection[int] | None = None, limit: int = MAX_LISTED
) -> list[InboundMessage]:
    """Quarantined messages, newest first. ``cities``: only those of these cities (None:
    every message, those of no known city too — the operator's view)."""
    q = select(InboundMessage).where(InboundMessage.status == InboundStatus.QUARANTINED)
    if cities is not None:
        q = q.where(InboundMessage.city_id.in_(list(cities)))
    q = q.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit)
    return list(session.scalars(q))
