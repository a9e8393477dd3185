"""One JSON form per resource, shared by the CLI (``--json``), the HTTP API and pages."""

from __future__ import annotations

from typing import Any

from meetings.db import Occurrence, Series
from meetings.kernel.localtime import local
from meetings.kernel.vocabulary import OccurrenceStatus, Origin


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
