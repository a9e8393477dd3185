"""The reply slip (回條): an invited agency answers for its seat by the link in its
invitation, without a login.

- ``GET /reply/{token}`` shows the meeting (title, ROC time, place, organiser), the agency
  and whether it sits as 出席 or 列席, its current answer, and three small forms:
  指派出席 (person, title), 代理出席 (person, title, for whom), 請假 (reason). Never case data.
- ``POST /reply/{token}`` records the answer with ``answer_seat`` (channel ``link``, by
  ``reply-slip``); the confirmation mail is planned from the ``seat.answered`` event. A
  refused answer is a 400 showing the form again, the field's message and what was typed.
- A link that opens nothing (malformed, unknown, the meeting ended or was cancelled) is one
  404 page, the same for every such link: the answer tells nothing about a token.
- CSRF: the session's token (``scheduler.pages.session``; the page sets the cookie).
  Checked before the token is looked up, so a 403 reveals nothing about the link either.
- Rate: every POST and every dead link counts against the client address (``reply:IP``
  in ``meetings.access.throttle``, shared by every server process); past its free count
  the address waits (429 with ``Retry-After``), like failed logins. Body size: the web
  app's cap (``scheduler.web.limits``).
- Headers: ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` (the token is
  in the URL), ``X-Robots-Tag: noindex``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.access.throttle import record_failure, wait_seconds
from meetings.db import Agency, Occurrence, Seat
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime, format_roc_time
from meetings.kernel.vocabulary import SEAT_ROLE_ZH, ReplyChannel, SeatState
from meetings.schedule.units import unit_for
from meetings.seats.answers import MAX_PERSON, MAX_REASON, MAX_TITLE, Answer, AnswerError
from meetings.seats.answers import answer_seat as write_answer
from meetings.seats.queries import seat_rows
from meetings.seats.seats import seat_for_token
from scheduler.pages.auth import client_address
from scheduler.pages.rendering import Text, render
from scheduler.pages.seating import SLIP_STATES, FormAnswer, answer_error_zh, seat_view
from scheduler.pages.session import CurrentVisit, PageRefused, Visit

router = APIRouter(include_in_schema=False)
BY = "reply-slip"
GONE = "這個回條連結無效或已逾期（會議結束或取消後即不再受理回覆）。如需協助，請洽會議主辦單位。"
LIMITS = {"person": MAX_PERSON, "title": MAX_TITLE, "for_whom": MAX_PERSON, "reason": MAX_REASON}


def _page(v: Visit, name: str, status: int = 200, **context: Any) -> Response:
    response = render(v, name, status=status, limits=LIMITS, **context)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(v: Visit, status: int, text: str, wait: int = 0) -> Response:
    response = _page(v, "reply_message.html", status, message=text)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def _gone(v: Visit) -> Response:
    return _message(v, 404, GONE)


def _too_many(v: Visit, wait: int) -> Response:
    return _message(v, 429, f"要求次數過多，請於 {wait} 秒後再試。", wait)


def _key(v: Visit) -> str:
    return "reply:" + client_address(v)[:64]


def _slip(session: Session, seat: Seat, occ: Occurrence) -> dict[str, Any]:
    """What the slip shows: the meeting as invitations show it, the seat and its answer."""
    tz = occ.series.city.timezone
    row = next(r for r in seat_rows(session, occ) if r.seat_id == seat.id)
    organizer = occ.series.spec.get("organizer")
    agency = session.scalar(
        select(Agency).where(Agency.city_id == occ.series.city_id, Agency.code == organizer)
    )
    return {
        "title": occ.title,
        "when": format_roc_datetime(local(occ.start_at, tz))
        + "至"
        + format_roc_time(local(occ.end_at, tz)),
        "location": occ.location or "另行通知",
        "organizer": unit_for(agency, occ.district).name
        if agency is not None
        else occ.series.city.name,
        "agency": row.agency_name,
        "role_zh": SEAT_ROLE_ZH[row.role],
        "required": row.required,
        "answer": seat_view(row, tz) if row.answered else None,
    }


@router.get("/reply/{token}")
def reply_slip(v: CurrentVisit, token: str) -> Response:
    now = v.site.now()
    with v.site.app.transaction() as session:
        wait = wait_seconds(session, [_key(v)], now)
        found = None if wait else seat_for_token(session, token, now)
        if found is None and not wait:
            record_failure(session, [_key(v)], now)  # a dead link: maybe guessing
        slip = _slip(session, *found) if found is not None else None
    if wait:
        return _too_many(v, wait)
    if slip is None:
        return _gone(v)
    return _page(v, "reply.html", slip=slip, form=FormAnswer(), errors={}, done=False)


def _answer(typed: FormAnswer) -> Answer:
    if typed.state not in SLIP_STATES:
        raise AnswerError("state: one of " + ", ".join(SLIP_STATES))
    return Answer(
        SeatState(typed.state),
        ReplyChannel.LINK,
        person=typed.person,
        title=typed.title,
        for_whom=typed.for_whom,
        reason=typed.reason,
        by=BY,
    )


@router.post("/reply/{token}")
def reply_answer(
    v: CurrentVisit,
    token: str,
    state: Text = "",
    person: Text = "",
    title: Text = "",
    for_whom: Text = "",
    reason: Text = "",
    csrf: Text = "",
) -> Response:
    now = v.site.now()
    with v.site.app.transaction() as session:  # counted whatever becomes of the answer
        wait = wait_seconds(session, [_key(v)], now)
        if not wait:
            record_failure(session, [_key(v)], now)
    if wait:
        return _too_many(v, wait)
    try:
        v.check_csrf(csrf)
    except PageRefused as refused:
        return _message(v, refused.status, refused.message)
    typed = FormAnswer.typed(state, person, title, for_whom, reason)
    slip: dict[str, Any] | None = None
    try:
        with v.site.app.transaction() as session:
            found = seat_for_token(session, token, now)
            if found is not None:
                seat, occ = found
                slip = _slip(session, seat, occ)
                write_answer(session, seat, occ, _answer(typed), now)
                slip = _slip(session, seat, occ)
    except AnswerError as exc:  # rolled back: nothing was written
        assert slip is not None
        field, text = answer_error_zh(exc)
        return _page(v, "reply.html", 400, slip=slip, form=typed, errors={field: text}, error=text)
    if slip is None:
        return _gone(v)
    return _page(v, "reply.html", slip=slip, form=FormAnswer(), errors={}, done=True)
