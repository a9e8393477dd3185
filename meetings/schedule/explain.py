"""What a series declaration was understood to mean: its rule and its next dates.

Shared by `liaison series explain` and the admin page, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Occurrence, Series
from meetings.kernel.localtime import local, zone
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from meetings.kernel.vocabulary import OccurrenceStatus, Origin
from meetings.schedule.cadence import describe_zh
from meetings.schedule.declarations import SeriesInstance, SeriesSpec
from meetings.schedule.planning import POLICY_ZH, Placement, PlannedOccurrence, plan_series
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.workdays import HolidayPolicy, OfficeCalendar


def _upcoming(p: PlannedOccurrence, policy: HolidayPolicy, tz: str) -> dict[str, Any]:
    """One planned date as ``{"nominal_date", "start", "roc"}`` (start None when skipped)."""
    nominal = p.nominal_date.isoformat()
    if p.placement is None:
        roc = f"{format_roc_date(p.nominal_date)} 停開（{POLICY_ZH[policy]}）"
        return {"nominal_date": nominal, "start": None, "roc": roc}
    start = local(p.placement.start_at, tz)
    roc = format_roc_datetime(start)
    if p.placement.moved_reason:
        roc += f"（原訂{format_roc_date(p.nominal_date)}，{p.placement.moved_reason}）"
    return {"nominal_date": nominal, "start": start.isoformat(), "roc": roc}


def _instance(
    spec: SeriesSpec,
    inst: SeriesInstance,
    today: date,
    cal: OfficeCalendar,
    tz: str,
    count: int,
    stored: Mapping[tuple[str, date], Placement],
) -> dict[str, Any]:
    """One instance of a series with its next ``count`` dates (within three years)."""
    horizon = date(today.year + 3, 12, 31)
    planned = plan_series(replace(spec, instances=(inst,)), today, horizon, cal, zone(tz))
    # Generated meetings are shown where they are: the planner may have moved a free
    # day off another meeting's agencies (meetings.schedule.placing).
    planned = [
        replace(p, placement=stored.get((inst.key, p.nominal_date), p.placement))
        for p in planned[:count]
    ]
    return {
        "key": inst.key,
        "title": inst.title,
        "district": inst.district,
        "zone": inst.zone,
        "label": inst.district or inst.zone or "",
        "rrule": inst.cadence.rrule if inst.cadence else None,
        "next": [_upcoming(p, spec.policy, tz) for p in planned],
    }


def explain_series(session: Session, series: Series, today: date, count: int = 5) -> dict[str, Any]:
    """The normalised rule of ``series`` and its next ``count`` dates per instance (ROC text).

    Event-triggered series have a ``trigger`` and no instances. Each upcoming date is
    ``{"nominal_date", "start" (ISO or None when skipped), "roc"}``.
    """
    spec = SpecRegistry(session).spec(series)
    out: dict[str, Any] = {
        "id": spec.id,
        "city": spec.city,
        "title": spec.title,
        "holidays": spec.policy.value,
        "policy_zh": POLICY_ZH[spec.policy],
        "time": spec.decl.time,
        "duration": spec.decl.duration,
    }
    if spec.cadence is None:
        trig = spec.decl.trigger
        out["trigger"] = trig.model_dump(exclude_none=True) if trig else {}
        out["instances"] = []
        return out
    out["cadence"] = spec.cadence.source
    out["rrule"] = spec.cadence.rrule
    out["description"] = describe_zh(spec.cadence)
    out["anchor_month"] = spec.cadence.anchor_month
    out["adhoc_allowed"] = spec.cadence.adhoc_allowed or spec.decl.adhoc
    cal = office_calendar_for(session, series.city_id)
    tz = series.city.timezone
    stored = _stored(session, series.id, today)
    out["instances"] = [_instance(spec, i, today, cal, tz, count, stored) for i in spec.instances]
    return out


def _stored(session: Session, series_id: str, today: date) -> dict[tuple[str, date], Placement]:
    """Where the series' generated, not cancelled cadence meetings from ``today`` on are."""
    rows = session.scalars(
        select(Occurrence).where(
            Occurrence.series_id == series_id,
            Occurrence.origin == Origin.CADENCE,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Occurrence.nominal_date >= today,
        )
    )
    return {
        (o.instance_key, o.nominal_date): Placement(o.start_at, o.end_at, o.moved_reason)
        for o in rows
    }
