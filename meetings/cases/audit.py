"""The audit trail of case-data look-ups (TL3.1): who looked, when, at which cases, why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.lookup import resolve_city
from meetings.db import AuditRecord, City
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import day_span, local
from meetings.kernel.rocdate import gregorian_year, roc_year

# Reasons that state nothing (TL3.1 counts them as no legitimate reason).
PLACEHOLDER_REASONS = frozenset(
    {"test", "測試", "無", "na", "n/a", "none", "-", "--", "x", "查詢", "查看", "看看", "?", "."}
)


def record_audit(
    session: Session,
    *,
    viewer: str,
    reason: str,
    action: str,
    uid: str | None,
    case_nos: Sequence[str],
    now: datetime,
) -> AuditRecord:
    """Record a look-up of case rows: who, when, which meeting and cases, and why."""
    if not viewer.strip():
        raise OperationError("--as: say who is looking (e.g. an email address)")
    if not reason.strip():
        raise OperationError("--reason: state why the case data is needed")
    rec = AuditRecord(
        viewer=viewer.strip(),
        reason=reason.strip(),
        action=action,
        occurrence_uid=uid,
        case_nos=list(case_nos),
        viewed_at=now,
    )
    session.add(rec)
    session.flush()
    return rec


def is_legitimate_reason(reason: str) -> bool:
    """A stated reason: at least 2 letters/ideographs and not a placeholder (test, 無 …)."""
    text = reason.strip()
    if text.lower() in PLACEHOLDER_REASONS:
        return False
    return sum(1 for ch in text if ch.isalpha()) >= 2


def report_zone(session: Session, city: str | None = None) -> str | None:
    """The zone whose calendar year a report covers: the named city's, else the one
    zone every loaded city shares (None, the default zone, when no city is loaded).

    Look-ups are not filed by city, so cities in different zones need ``city``.
    """
    if city is not None:
        return resolve_city(session, city).timezone
    zones = sorted(set(session.scalars(select(City.timezone))))
    if len(zones) > 1:
        raise OperationError(
            f"the loaded cities keep different time zones ({', '.join(zones)}): give --city"
        )
    return zones[0] if zones else None


def audit_report(session: Session, year: int, *, city: str | None = None) -> dict[str, Any]:
    """Look-ups of case data in a year, and the share with a legitimate reason (TL3.1).

    The year runs in the zone of :func:`report_zone`.
    """
    g = gregorian_year(year)
    tz = report_zone(session, city)
    start, end = day_span(date(g, 1, 1), date(g, 12, 31), tz)
    rows = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.viewed_at >= start, AuditRecord.viewed_at < end)
        .order_by(AuditRecord.viewed_at, AuditRecord.id)
    ).all()
    legit = sum(1 for r in rows if is_legitimate_reason(r.reason))
    return {
        "year": roc_year(g),
        "lookups": len(rows),
        "with_legitimate_reason": legit,
        "legitimate_reason_rate": round(100 * legit / len(rows), 1) if rows else None,
        "by_viewer": _by_viewer(rows),
        "records": [_record_json(r, tz) for r in rows],
    }


def _by_viewer(rows: Sequence[AuditRecord]) -> dict[str, dict[str, int]]:
    by_viewer: dict[str, dict[str, int]] = {}
    for r in rows:
        v = by_viewer.setdefault(r.viewer, {"lookups": 0, "legitimate": 0})
        v["lookups"] += 1
        v["legitimate"] += int(is_legitimate_reason(r.reason))
    return by_viewer


def _record_json(r: AuditRecord, tz: str | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "viewer": r.viewer,
        "viewed_at": local(r.viewed_at, tz).isoformat(),
        "action": r.action,
        "uid": r.occurrence_uid,
        "cases": list(r.case_nos),
        "reason": r.reason,
        "legitimate": is_legitimate_reason(r.reason),
    }
