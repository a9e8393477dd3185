"""A held needs-assessment meeting is itself a case event (``needs_assessment_held``).

Needs-assessment meetings are the event meetings of series triggered by
``deviant_behaviour_report``. Once one is recorded as held, the event is recorded
(once) on the day it was held, so the series triggered by ``needs_assessment_held``
(成效評估) follow without anyone typing the event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.events import CaseReport
from meetings.cases.triggers import TriggerContext
from meetings.db import Case, CaseEvent, City, HeldMeeting, Occurrence
from meetings.kernel.vocabulary import CaseEventKind, CaseStatus, OccurrenceStatus, Origin

SOURCE_EVENT = CaseEventKind.DEVIANT_BEHAVIOUR_REPORT
HELD_EVENT = CaseEventKind.NEEDS_ASSESSMENT_HELD


def derive_held_events(session: Session, now: datetime) -> CaseReport:
    """Record ``needs_assessment_held`` for each held needs-assessment meeting, once."""
    report = CaseReport()
    for city in session.scalars(select(City).order_by(City.id)):
        ctx = TriggerContext(session, city, now)
        for case, day in _held_assessments(ctx):
            seen = session.scalar(
                select(CaseEvent.id).where(
                    CaseEvent.case_id == case.id,
                    CaseEvent.kind == HELD_EVENT,
                    CaseEvent.at >= day,
                )
            )
            if seen is not None:
                continue
            session.add(
                CaseEvent(
                    case_id=case.id, kind=HELD_EVENT, at=day, source="meeting", created_at=now
                )
            )
            report.events.append((case.case_no, HELD_EVENT, day.isoformat()))
            report.meetings.merge(ctx.on_event(case, HELD_EVENT, day, report.warnings))
    session.flush()
    return report


def _held_assessments(ctx: TriggerContext) -> list[tuple[Case, date]]:
    """Open cases with a held needs-assessment meeting, and the day it was held.

    Empty when the city has no series that a held assessment would trigger.
    """
    series = ctx.triggered()
    wanted = any(
        spec.decl.trigger is not None and spec.decl.trigger.event == HELD_EVENT
        for _s, spec in series
    )
    sources = [
        s.id
        for s, spec in series
        if spec.decl.trigger is not None and spec.decl.trigger.event == SOURCE_EVENT
    ]
    if not wanted or not sources:
        return []
    rows = ctx.session.execute(
        select(Occurrence, HeldMeeting.held_on, Case)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .join(Case, (Case.case_no == Occurrence.case_no) & (Case.city_id == ctx.city.id))
        .where(
            Occurrence.series_id.in_(sources),
            Occurrence.origin == Origin.EVENT,
            Occurrence.status == OccurrenceStatus.HELD,
            Case.status != CaseStatus.CLOSED,
        )
        .order_by(Occurrence.start_at)
    ).all()
    return [
        (case, held_on or occ.start_at.astimezone(ctx.tz).date()) for occ, held_on, case in rows
    ]
