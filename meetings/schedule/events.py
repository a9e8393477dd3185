"""Domain events: recorded in the same transaction as the change they describe.

``record()`` is the one way an event is written. Notifications read the outbox
afterwards (``notifications.outbox.planner``), so a crash either keeps both the change
and its event or neither. Payloads carry meeting facts only, never case data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from meetings.db import Occurrence, OutboxEvent
from meetings.kernel.vocabulary import EventKind

PAYLOAD_COLUMNS = (
    "uid",
    "series_id",
    "title",
    "nominal_date",
    "start_at",
    "end_at",
    "location",
    "status",
    "sequence",
)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def payload_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """What an event says about its occurrence (no case data: notifications read it)."""
    return {
        "uid": values["uid"],
        "series": values["series_id"],
        "title": values["title"],
        "nominal_date": values["nominal_date"].isoformat(),
        "start": iso(values["start_at"]),
        "end": iso(values["end_at"]),
        "location": values["location"],
        "status": values["status"],
        "sequence": values["sequence"],
    }


def record(session: Session, kind: EventKind, occ: Occurrence, now: datetime, **extra: Any) -> None:
    """Add one event about ``occ`` to the session (committed with the change)."""
    payload = payload_of({c: getattr(occ, c) for c in PAYLOAD_COLUMNS})
    payload.update(extra)
    session.add(
        OutboxEvent(
            kind=kind,
            occurrence_uid=occ.uid,
            sequence=occ.sequence,
            payload=payload,
            created_at=now,
        )
    )
