"""The one writer of a seat's answer, called by the reply slip page, the inbound mail
processor and the secretariat's override alike.

Every answer is kept (``seat_answers``); the latest applicable one is the seat's state.
An answer about an older version of the meeting (a calendar reply to an earlier
SEQUENCE) is kept in the history and not applied. Free text is screened (IDs, phones,
addresses) before it is stored, since it is shown and mailed back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from meetings.db import Occurrence, Seat, SeatAnswer
from meetings.kernel.errors import OperationError, control_character
from meetings.kernel.screening import screen_text
from meetings.kernel.vocabulary import (
    EventKind,
    OccurrenceStatus,
    ReplyChannel,
    SeatState,
)
from meetings.schedule.events import record

MAX_PERSON = 100
MAX_TITLE = 100
MAX_REASON = 200
ANSWER_STATES = (SeatState.DESIGNATED, SeatState.DEPUTY, SeatState.TENTATIVE, SeatState.DECLINED)


class AnswerError(OperationError):
    """An answer that cannot be recorded (the field is named; nothing is changed)."""


@dataclass(frozen=True)
class Answer:
    state: SeatState
    channel: ReplyChannel
    person: str | None = None
    title: str | None = None
    for_whom: str | None = None
    reason: str | None = None
    by: str | None = None  # who answered: a sender address, a user's email
    sequence: int | None = None  # the meeting version answered (calendar replies)
    note: str | None = None


def _field(name: str, value: str | None, limit: int) -> str | None:
    """A cleaned free-text field, or None; too long or control characters → AnswerError."""
    if value is None or not value.strip():
        return None
    text = " ".join(value.split())
    if control_character(value.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        raise AnswerError(f"{name}: control characters are not allowed")
    if len(text) > limit:
        raise AnswerError(f"{name}: at most {limit} characters (got {len(text)})")
    return screen_text(text)


def checked(answer: Answer) -> Answer:
    """The answer with its text cleaned and screened, or AnswerError naming the field."""
    if answer.state not in ANSWER_STATES:
        raise AnswerError(f"state: one of {', '.join(ANSWER_STATES)} (got {answer.state!r})")
    person = _field("person", answer.person, MAX_PERSON)
    title = _field("title", answer.title, MAX_TITLE)
    for_whom = _field("for_whom", answer.for_whom, MAX_PERSON)
    reason = _field("reason", answer.reason, MAX_REASON)
    manual = answer.channel != ReplyChannel.ITIP  # a calendar says only yes, no or who
    if manual and answer.state in (SeatState.DESIGNATED, SeatState.DEPUTY) and not person:
        raise AnswerError("person: say who will come")
    if manual and answer.state == SeatState.DECLINED and not reason:
        raise AnswerError("reason: say why the agency cannot come (請假事由)")
    return Answer(
        answer.state,
        answer.channel,
        person,
        title,
        for_whom if answer.state == SeatState.DEPUTY else None,
        reason if answer.state in (SeatState.DECLINED, SeatState.TENTATIVE) else None,
        answer.by,
        answer.sequence,
        answer.note,
    )


def open_for_answers(occ: Occurrence, now: datetime, channel: ReplyChannel) -> bool:
    """Agencies answer until the meeting ends; the secretariat may correct any time."""
    if channel == ReplyChannel.SECRETARIAT:
        return True
    return occ.status == OccurrenceStatus.SCHEDULED and occ.end_at > now


def answer_seat(
    session: Session, seat: Seat, occ: Occurrence, answer: Answer, now: datetime
) -> SeatAnswer:
    """Record ``answer`` for ``seat``; apply it unless it is about an older version.

    Applied answers record ``seat.answered`` (the confirmation mail is planned from it)
    in the same transaction.
    """
    if seat.occurrence_id != occ.id:
        raise AnswerError("seat: not a seat of this meeting")
    if not open_for_answers(occ, now, answer.channel):
        raise AnswerError("the meeting is over or cancelled: replies are closed")
    a = checked(answer)
    stale = a.sequence is not None and a.sequence < occ.sequence
    row = SeatAnswer(
        seat_id=seat.id,
        state=a.state,
        person=a.person,
        title=a.title,
        for_whom=a.for_whom,
        reason=a.reason,
        channel=a.channel,
        answered_by=a.by,
        sequence=a.sequence,
        applied=not stale,
        note=(a.note or ("about an older version of the meeting" if stale else None)),
        answered_at=now,
    )
    session.add(row)
    if not stale:
        seat.state, seat.person, seat.title = a.state, a.person, a.title
        seat.for_whom, seat.reason = a.for_whom, a.reason
        seat.channel, seat.answered_by, seat.answered_at = a.channel, a.by, now
        seat.updated_at = now
    session.flush()
    if not stale:
        record(session, EventKind.SEAT_ANSWERED, occ, now, seat_id=seat.id, answer_id=row.id)
    return row
