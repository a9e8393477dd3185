"""Freezing an agenda: the cases on it are fixed when it is first sent.

Later listings go to the next meeting; freezing twice returns the stored agenda.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from meetings.agendas.model import Agenda, agenda_from_json, agenda_to_json
from meetings.agendas.queries import build_agenda_for
from meetings.db import AgendaCase
from meetings.db import FrozenAgenda as FrozenAgendaRow
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import OccurrenceStatus
from meetings.schedule.occurrences import get_occurrence


def freeze_agenda(session: Session, uid: str, now: datetime) -> Agenda:
    """Store the agenda as it is now (idempotent); later listings go to the next meeting."""
    occ = get_occurrence(session, uid)
    frozen = session.get(FrozenAgendaRow, uid)
    if frozen is not None:
        return agenda_from_json(frozen.content, occ.series.city.timezone)
    if occ.status == OccurrenceStatus.CANCELLED:
        raise OperationError(f"meeting {uid} is cancelled; its agenda cannot be frozen")
    built = build_agenda_for(session, occ, now)
    agenda = replace(built, frozen_at=now)
    session.add(FrozenAgendaRow(occurrence_uid=uid, content=agenda_to_json(agenda), frozen_at=now))
    session.flush()
    for row in agenda.cases:
        session.add(
            AgendaCase(
                occurrence_uid=uid,
                case_no=row.case_no,
                position=row.position,
                carried_over=row.carried_over,
            )
        )
    session.flush()
    return agenda
