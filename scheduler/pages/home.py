"""The home page after login (待辦): what needs the user now, in their city.

The sections are ``meetings.records.queue``'s — the next 14 days' meetings with their
readiness (answers, whether the invitation went out: ``notifications.outbox.readiness``),
meetings awaiting their record, minutes and action items overdue, and the count of
cases undiscussed past their window. Counts and meeting links only, never case data
(so the page audits nothing). Staff see every meeting of the city; a participant the
meetings of the series inviting their agency (as their personal feed), and no case count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from meetings.access.feeds import invited_series
from meetings.db import City
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import DEFAULT_TIMEZONE, local
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from meetings.kernel.vocabulary import SeatState
from meetings.records.queue import QueueMeeting, Upcoming, WorkQueue, work_queue
from notifications.outbox.readiness import NoticeState, notice_state
from scheduler.pages.kpi import kpi_city
from scheduler.pages.rendering import meeting_url, redirect, render
from scheduler.pages.session import CurrentVisit, Viewer

router = APIRouter(include_in_schema=False)


def _meeting(m: QueueMeeting, tz: str) -> dict[str, Any]:
    return {
        "uid": m.uid,
        "url": meeting_url(m.uid),
        "title": m.title,
        "when": format_roc_datetime(local(m.start_at, tz)),
        "place": m.place,
    }


def notice_words(n: NoticeState, tz: str) -> str:
    """Whether the invitation of the meeting's current version went out, in words."""
    if n.failed:
        return f"開會通知寄送失敗 {n.failed} 封"
    if n.pending_due is not None:
        sent = f"已寄發 {n.sent} 封，" if n.sent else ""
        return f"開會通知{sent}預定{format_roc_datetime(local(n.pending_due, tz))}寄發"
    return "開會通知已寄發" if n.sent else "開會通知尚未排定"


def readiness_words(item: Upcoming, notice: NoticeState, tz: str) -> list[str]:
    """A meeting's readiness: seats not answered and declined, the invitation."""
    seats = item.seats
    words = [
        f"未回覆 {seats[SeatState.INVITED]}、請假 {seats[SeatState.DECLINED]}"
        f"（共 {seats['total']} 個席次）",
        notice_words(notice, tz),
    ]
    return words


def _rows(session: Session, queue: WorkQueue, tz: str) -> dict[str, list[dict[str, Any]]]:
    upcoming = []
    for item in queue.upcoming.items:
        notice = notice_state(session, item.meeting.uid, item.meeting.sequence)
        ready = readiness_words(item, notice, tz)
        upcoming.append({**_meeting(item.meeting, tz), "readiness": ready})
    return {
        "upcoming": upcoming,
        "unrecorded": [_meeting(m, tz) for m in queue.unrecorded.items],
        "minutes": [
            {**_meeting(m.meeting, tz), "due": format_roc_date(m.due_on)}
            for m in queue.minutes.items
        ],
        "actions": [
            {
                **_meeting(i.meeting, tz),
                "item": i.id,
                "owner": i.owner,
                "due": format_roc_date(i.due_on),
            }
            for i in queue.actions.items
        ],
    }


def _queue(session: Session, user: Viewer, params: dict[str, str], now: datetime) -> dict[str, Any]:
    """The page's data: the city shown (a ministry login picks one), its queue's rows."""
    try:
        city_id, city_name = kpi_city(session, user.scope, params)
    except OperationError:
        city_id, city_name = kpi_city(session, user.scope, {})
    if city_id is None:
        return {"city": city_name, "queue": None, "rows": {}, "cities": []}
    city = session.get(City, city_id)
    tz = city.timezone if city is not None else DEFAULT_TIMEZONE
    series_ids = None if user.staff else invited_series(session, city_id, user.email)
    queue = work_queue(session, city_id, now, series_ids=series_ids, cases=user.staff)
    cities = [name for _id, name in user.scope.city_names(session)] if user.scope.all_cities else []
    return {"city": city_name, "queue": queue, "rows": _rows(session, queue, tz), "cities": cities}


@router.get("/")
def home(v: CurrentVisit, request: Request) -> Response:
    if v.user is None:
        return redirect(v, "/login")
    user = v.require()
    with v.site.app.transaction() as session:
        data = _queue(session, user, dict(request.query_params), v.site.now())
    return render(v, "home.html", **data)
