"""The secretariat's override of a seat's answer (a phone call, a letter: 秘書處 channel).

``POST /meetings/{uid}/seats/{agency}`` runs the same writer as the reply slip and the
calendar replies (``answer_seat``), with ``ReplyChannel.SECRETARIAT`` and the login's
email as who answered. The audit trail is the seat's history (``seat_answers``: who,
when, by which channel, note ``web.seat_override``) and the ``seat.answered`` event — not
an ``audit_records`` row, which records look-ups of case data and feeds TL3.1.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from meetings.access.users import secret
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import SEAT_STATE_ZH, ReplyChannel, Role, SeatState
from meetings.seats.answers import Answer, AnswerError, answer_seat
from meetings.seats.seats import sync_seats
from scheduler.pages.meeting import load_meeting
from scheduler.pages.records import write
from scheduler.pages.rendering import Text
from scheduler.pages.seating import OVERRIDE_STATES, FormAnswer, answer_error_zh
from scheduler.pages.session import CurrentVisit, PageRefused

router = APIRouter(include_in_schema=False)
NOTE = "web.seat_override"


@router.post("/meetings/{uid}/seats/{agency}")
def seat_override(
    v: CurrentVisit,
    uid: str,
    agency: str,
    state: Text = "",
    person: Text = "",
    title: Text = "",
    for_whom: Text = "",
    reason: Text = "",
    csrf: Text = "",
) -> Response:
    """Record an agency's answer for it; the seat is created first if invitations have
    not gone yet. An agency the meeting does not invite is a 404, as another city's
    meeting is."""
    user = v.require(Role.SECRETARIAT)
    v.check_csrf(csrf)
    now = v.site.now()
    typed = FormAnswer.typed(state, person, title, for_whom, reason)

    def do(session: Session) -> str:
        occ = load_meeting(session, uid, user.scope)
        seats = sync_seats(session, occ, secret(session, "reply-links", now), now)
        seat = next((s for s in seats if s.agency_code == agency), None)
        if seat is None:  # raised through the transaction: the seats made above go too
            raise PageRefused(404, "這場會議沒有邀請這個機關。")
        if typed.state not in OVERRIDE_STATES:
            raise OperationError("請選擇回覆方式")
        answer = Answer(
            SeatState(typed.state),
            ReplyChannel.SECRETARIAT,
            person=typed.person,
            title=typed.title,
            for_whom=typed.for_whom,
            reason=typed.reason,
            by=user.email,
            note=NOTE,
        )
        try:
            answer_seat(session, seat, occ, answer, now)
        except AnswerError as exc:
            raise OperationError(answer_error_zh(exc)[1]) from None
        return f"已代為登錄{agency}的回覆：{SEAT_STATE_ZH[SeatState(typed.state)]}。"

    return write(v, uid, "出席回覆", do)
