"""One JSON form per resource, shared by the CLI (``--json``), the HTTP API and pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import City, InboundMessage, Occurrence, Series
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.vocabulary import SEAT_ROLE_ZH, SEAT_STATE_ZH, OccurrenceStatus, Origin
from meetings.schedule.citywide import agency_names, city_conflicts
from meetings.schedule.conflicts import Conflict, agency_of
from meetings.schedule.registry import SpecRegistry
from meetings.seats.queries import SeatRow, state_counts


def occurrence_json(o: Occurrence, *, staff: bool) -> dict[str, Any]:
    """A meeting, times in its city's zone. ``moved_reason`` is the secretariat's note
    and is shown to staff only (admin, secretariat, the CLI)."""
    tz = o.series.city.timezone
    data: dict[str, Any] = {
        "uid": o.uid,
        "series": o.series_id,
        "city": o.series.city.name,
        "district": o.district,
        "zone": o.zone,
        "title": o.title,
        "nominal_date": o.nominal_date.isoformat(),
        "start": local(o.start_at, tz).isoformat(),
        "end": local(o.end_at, tz).isoformat(),
        "location": o.location,
        "status": o.status,
        "sequence": o.sequence,
        "origin": o.origin,
        "moved": o.moved_reason is not None and o.status != OccurrenceStatus.CANCELLED,
    }
    if staff:
        data["moved_reason"] = o.moved_reason
    elif o.origin == Origin.EVENT:
        # An event meeting's nominal date is computed from the case event (an order's
        # expiry − 2 months): participants see only the meeting's own time.
        data["nominal_date"] = None
        data["moved"] = False
    return data


def series_json(s: Series) -> dict[str, Any]:
    """A declared series: its rule and invitations as declared (``trigger`` is the case
    event an event-triggered series waits for)."""
    spec = s.spec
    invite = spec.get("invite") or {}
    trigger = spec.get("trigger") or None
    return {
        "id": s.id,
        "city": s.city.name,
        "title": s.title,
        "organizer": spec.get("organizer"),
        "chair": spec.get("chair"),
        "location": spec.get("location"),
        "time": spec.get("time"),
        "duration": spec.get("duration"),
        "rrule": s.rrule,
        "per_district": bool(spec.get("per_district")),
        "trigger": trigger.get("event") if isinstance(trigger, dict) else None,
        "invite": {
            "required": list(invite.get("required") or []),
            "optional": list(invite.get("optional") or []),
        },
        "active": s.active,
    }


def conflict_json(
    c: Conflict, meetings: Mapping[str, Occurrence], names: Mapping[str, str], city: str
) -> dict[str, Any]:
    """One double-booking: the two meetings, the seats they share, whether one could move."""

    def side(key: object) -> dict[str, Any]:
        o = meetings[str(key)]
        start = local(o.start_at, o.series.city.timezone)
        return {
            "uid": o.uid,
            "series": o.series_id,
            "title": o.title,
            "start": start.isoformat(),
            "end": local(o.end_at, o.series.city.timezone).isoformat(),
            "when": format_roc_datetime(start),
        }

    agencies = sorted({agency_of(s) for s in c.seats})
    return {
        "city": city,
        "first": side(c.first.key),
        "second": side(c.second.key),
        "seats": sorted(c.seats),
        "agencies": agencies,
        "agency_names": [names.get(a, a) for a in agencies],
        "avoidable": c.avoidable,
    }


def city_conflicts_json(
    session: Session, registry: SpecRegistry, city: City, start: date, end: date, now: datetime
) -> list[dict[str, Any]]:
    """The city's double-bookings in [start, end] (``city_conflicts``), serialised."""
    found = city_conflicts(session, registry, city, start, end, now)
    uids = {b.key for c in found for b in (c.first, c.second)}
    meetings = {
        o.uid: o for o in session.scalars(select(Occurrence).where(Occurrence.uid.in_(uids)))
    }
    names = agency_names(session, city.id)
    return [conflict_json(c, meetings, names, city.name) for c in found]


def seat_json(row: SeatRow, tz: str) -> dict[str, Any]:
    """One agency's seat at a meeting: who comes, as which role, answered when and how."""
    return {
        "agency": row.agency_code,
        "agency_name": row.agency_name,
        "required": row.required,
        "role": row.role,
        "role_zh": SEAT_ROLE_ZH[row.role],
        "state": row.state,
        "state_zh": SEAT_STATE_ZH[row.state],
        "person": row.person,
        "title": row.title,
        "for_whom": row.for_whom,
        "reason": row.reason,
        "channel": row.channel,
        "answered_at": local(row.answered_at, tz).isoformat() if row.answered_at else None,
        "answered_by": row.answered_by,
    }


def seats_json(occ: Occurrence, rows: list[SeatRow]) -> dict[str, Any]:
    """A meeting's seats and the counts per state (``liaison replies list --json``)."""
    tz = occ.series.city.timezone
    return {
        "uid": occ.uid,
        "title": occ.title,
        "start": local(occ.start_at, tz).isoformat(),
        "counts": state_counts(rows),
        "seats": [seat_json(r, tz) for r in rows],
    }


def inbound_json(m: InboundMessage, tz: str | None) -> dict[str, Any]:
    """One received reply as the secretariat sees it (a COUNTER or a quarantined mail):
    never its body, only the screened subject, the sender and the reason."""
    return {
        "message_id": m.message_id,
        "received_at": local(m.received_at, tz).isoformat(),
        "status": m.status,
        "sender": m.sender,
        "subject": m.subject,
        "reason": m.reason,
        "uid": m.occurrence_uid,
        "proposed_start": local(m.proposed_start, tz).isoformat() if m.proposed_start else None,
        "proposed_end": local(m.proposed_end, tz).isoformat() if m.proposed_end else None,
    }
