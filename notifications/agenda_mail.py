"""The agenda part of an agenda email: freezing the agenda as it is sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from meetings.agendas.freeze import freeze_agenda
from meetings.agendas.render import city_template_dirs, render_agenda, render_agenda_fragment
from meetings.db import Occurrence
from meetings.kernel.vocabulary import OccurrenceStatus


def agenda_for_email(session: Session, occ: Occurrence, now: datetime) -> tuple[str, str] | None:
    """Freeze the meeting's agenda and return (text, HTML fragment) for the email body.

    The email carries only what an agenda row shows: case number, masked name,
    district, risk, the listing rule's title and a screened reason of at most 60
    characters (screened again as rendered). Cancelled meetings have no agenda.
    """
    if occ.status == OccurrenceStatus.CANCELLED:
        return None
    agenda = freeze_agenda(session, occ.uid, now)
    dirs = city_template_dirs(session, occ.series.city.name)
    return render_agenda(agenda, "text", dirs), render_agenda_fragment(agenda, dirs)
