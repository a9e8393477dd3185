"""Which listed cases a meeting discussed: by hand, or confirmed from its frozen agenda.

The discussion rows are what the coverage KPIs count (SPEC §5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import AgendaCase, Case, CaseDiscussion
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local
from meetings.kernel.vocabulary import OccurrenceStatus
from meetings.records.held import require_held
from meetings.schedule.occurrences import get_occurrence


def record_discussions(
    session: Session, uid: str, case_nos: Iterable[str], now: datetime, *, source: str = "manual"
) -> list[str]:
    """Record that cases were discussed at a meeting; returns the newly recorded numbers."""
    if source not in ("manual", "agenda"):
        raise OperationError(f"unknown discussion source {source!r}")
    occ = get_occurrence(session, uid)
    if occ.status == OccurrenceStatus.CANCELLED:
        raise OperationError(f"meeting {uid} is cancelled")
    if occ.status != OccurrenceStatus.HELD and occ.start_at > now:
        raise OperationError(f"meeting {uid} has not started yet")
    wanted = list(dict.fromkeys(case_nos))
    if not wanted:
        raise OperationError("give at least one case number")
    series = occ.series
    known = set(
        session.scalars(
            select(Case.case_no).where(Case.city_id == series.city_id, Case.case_no.in_(wanted))
        )
    )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise OperationError(f"unknown case number(s): {', '.join(unknown)}")
    already = set(
        session.scalars(
            select(CaseDiscussion.case_no).where(
                CaseDiscussion.occurrence_uid == uid, CaseDiscussion.case_no.in_(wanted)
            )
        )
    )
    on = local(occ.start_at, series.city.timezone).date()
    new = [c for c in wanted if c not in already]
    for c in new:
        session.add(
            CaseDiscussion(
                occurrence_uid=uid,
                case_no=c,
                discussed_at=occ.start_at,
                discussed_on=on,
                source=source,
            )
        )
    session.flush()
    return new


def record_agenda_discussions(session: Session, uid: str, now: datetime) -> list[str]:
    """Minutes confirm the frozen agenda: every case on it was discussed."""
    numbers = list(
        session.scalars(
            select(AgendaCase.case_no)
            .where(AgendaCase.occurrence_uid == uid)
            .order_by(AgendaCase.position)
        )
    )
    if not numbers:
        raise OperationError(f"meeting {uid} has no frozen agenda with cases")
    return record_discussions(session, uid, numbers, now, source="agenda")


def record_case_discussions(
    session: Session, uid: str, case_nos: Sequence[str], now: datetime
) -> list[str]:
    """Record that cases were discussed at a held meeting; returns the case numbers.

    Unknown case numbers are refused; a case is recorded once per meeting.
    """

    occ = get_occurrence(session, uid)
    require_held(session, occ, "case discussions")
    cleaned = list(dict.fromkeys(c.strip() for c in case_nos if c.strip()))
    if not cleaned:
        raise OperationError("give at least one case number")
    record_discussions(session, occ.uid, cleaned, now)
    return cleaned


def confirm_agenda_discussions(session: Session, uid: str, now: datetime) -> list[str]:
    """The minutes confirm the frozen agenda: record every case on it as discussed."""

    occ = get_occurrence(session, uid)
    require_held(session, occ, "case discussions")
    record_agenda_discussions(session, occ.uid, now)
    return list(
        session.scalars(
            select(AgendaCase.case_no)
            .where(AgendaCase.occurrence_uid == occ.uid)
            .order_by(AgendaCase.position)
        )
    )
