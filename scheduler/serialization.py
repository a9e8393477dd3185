"""One JSON form per resource, shared by the CLI (``--json``), the HTTP API and pages."""

from __future__ import annotations

from typing import Any

from meetings.db import Occurrence
from meetings.kernel.localtime import local
from meetings.kernel.vocabulary import OccurrenceStatus


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
    return data
