"""Case events (再通報, 裁定期滿, 結案 …): recording one, and what it changed.

A case event updates the case, re-evaluates its listings and creates the meetings it
triggers, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from meetings.cases.lookup import get_case
from meetings.cases.rules import ListingChange, active_rules, evaluate_listings
from meetings.cases.triggers import TriggerContext
from meetings.db import Case, CaseEvent, City
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import CaseEventKind, CaseStatus
from meetings.schedule.operations import ChangeReport


@dataclass
class CaseReport:
    """What an import or a case event changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (case_no, kind, date)
    listing: ListingChange = field(default_factory=ListingChange)
    meetings: ChangeReport = field(default_factory=ChangeReport)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "events": [{"case_no": c, "kind": k, "at": d} for c, k, d in self.events],
            "listed": [{"case_no": c, "rule": r} for c, r in self.listing.listed],
            "delisted": [{"case_no": c, "rule": r} for c, r in self.listing.delisted],
            "meetings": self.meetings.as_dict(),
            "warnings": self.warnings,
        }


def record_case_event(
    session: Session, case_no: str, kind: str, at: date, now: datetime, *, city: str | None = None
) -> CaseReport:
    """A case event: update the case, re-evaluate listings, create triggered meetings."""
    try:
        event = CaseEventKind(kind)
    except ValueError:
        known = ", ".join(CaseEventKind)
        raise OperationError(f"unknown case event {kind!r} (one of {known})") from None
    case = get_case(session, case_no, city)
    city_row = session.get(City, case.city_id)
    assert city_row is not None
    _apply_event(case, event, at)
    case.updated_at = now
    session.add(CaseEvent(case_id=case.id, kind=event, at=at, source="manual", created_at=now))
    report = CaseReport(updated=1)
    report.events.append((case.case_no, event, at.isoformat()))
    on = min(at, local_today(now, city_row.timezone))
    report.listing.merge(
        evaluate_listings(session, case, active_rules(session, case.city_id), on, now)
    )
    ctx = TriggerContext(session, city_row, now)
    report.meetings.merge(ctx.on_event(case, event, at, report.warnings))
    session.flush()
    return report


def _apply_event(case: Case, kind: CaseEventKind, at: date) -> None:
    """The case fields an event sets (refused on a closed case or before the report)."""
    if case.status == CaseStatus.CLOSED and kind != CaseEventKind.CLOSED:
        raise OperationError(f"case {case.case_no!r} is closed (結案); re-import it to reopen")
    if at < case.reported_at:
        raise OperationError(f"--at {at} is before the case was reported ({case.reported_at})")
    if kind == CaseEventKind.REREPORTED:
        case.rereported_at = at
    elif kind == CaseEventKind.ORDER_EXPIRY:
        case.order_expiry = at
    elif kind == CaseEventKind.CLOSED:
        if case.status == CaseStatus.CLOSED:
            raise OperationError(f"case {case.case_no!r} is already closed")
        case.status, case.closed_at = CaseStatus.CLOSED, at
