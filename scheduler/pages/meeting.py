"""One meeting: its page (who is coming, agenda, attendance, minutes, action items), its
printable notice, and its case rows, which the secretariat sees only with a reason that
is audited.

Times and "today" are the meeting's city's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.access.principals import Scope
from meetings.agendas.model import Agenda, withhold_cases
from meetings.agendas.queries import load_agenda
from meetings.agendas.render import city_template_dirs, render_agenda, render_agenda_fragment
from meetings.cases.audit import record_audit
from meetings.db import Agency, Attendance, CaseDiscussion, HeldMeeting, Minutes, Occurrence
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, local_today
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime, format_roc_time
from meetings.kernel.vocabulary import OccurrenceStatus, Role
from meetings.records.action_items import list_action_items
from meetings.records.deliverables import DELIVERABLE_STATE_ZH, deliverables_of
from meetings.schedule.occurrences import get_occurrence
from meetings.schedule.units import unit_for
from meetings.seats.queries import seat_rows
from scheduler.pages.rendering import Text, meeting_url, occurrence_row, redirect, render
from scheduler.pages.seating import notice_roster, seats_section
from scheduler.pages.session import CurrentVisit, PageRefused, Viewer, Visit, finish

router = APIRouter(include_in_schema=False)


def load_meeting(session: Session, uid: str, scope: Scope) -> Occurrence:
    """The meeting with this UID in the viewer's cities, or the pages' 404 (another city's
    meeting is answered exactly as an unknown one, so a UID reveals nothing)."""
    try:
        return get_occurrence(session, uid, scope.city_ids)
    except OperationError:
        raise PageRefused(404, "找不到這場會議。") from None


def invited_agencies(session: Session, occ: Occurrence) -> list[tuple[str, str, str]]:
    """(code, name, 主辦|應出席|選擇出席|列席) for every agency invited to the meeting's
    series: required and optional members sit as 出席 (optional ones need not come),
    ``invite.observers`` as 列席. At a district's meeting the name is the agency's unit
    there (中壢分局), the code the agency's."""
    spec = occ.series.spec
    invite = spec.get("invite") or {}
    codes: list[tuple[str, str]] = [(code, "應出席") for code in invite.get("required") or []]
    organizer = spec.get("organizer")
    if organizer and organizer not in {c for c, _ in codes}:
        codes.insert(0, (organizer, "主辦"))
    for group, kind in (("optional", "選擇出席"), ("observers", "列席")):
        for code in invite.get(group) or []:
            if code not in {c for c, _ in codes}:
                codes.append((code, kind))
    names = {
        a.code: unit_for(a, occ.district).name
        for a in session.scalars(select(Agency).where(Agency.city_id == occ.series.city_id))
    }
    return [(c, names.get(c, c), kind) for c, kind in codes]


def _agenda(
    session: Session, occ: Occurrence, user: Viewer, reason: str | None, now: datetime
) -> tuple[Agenda, list[dict[str, Any]]]:
    """The agenda, with its case rows only when a reason was given (and audited)."""
    agenda = load_agenda(session, occ, now)
    if reason is None:
        return withhold_cases(agenda, viewable=user.staff), []
    record_audit(
        session,
        viewer=user.email,
        reason=reason,
        action="web.agenda",
        uid=occ.uid,
        case_nos=[c.case_no for c in agenda.cases],
        now=now,
    )
    return agenda, [{"case_no": c.case_no} for c in agenda.cases]


def _attendance(
    session: Session, occ: Occurrence, prefill: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """Each invited agency's recorded line (else its seat's answer: ``prefill``, from
    ``scheduler.pages.seating``), and the lines recorded per person."""
    by_agency = {
        a.agency_code: a
        for a in session.scalars(
            select(Attendance).where(
                Attendance.occurrence_id == occ.id, Attendance.person_email.is_(None)
            )
        )
    }
    people = session.scalars(
        select(Attendance).where(
            Attendance.occurrence_id == occ.id, Attendance.person_email.is_not(None)
        )
    ).all()
    recorded = {c: (a.status, a.rank or "") for c, a in by_agency.items()}
    agencies = [
        {
            "code": code,
            "name": name,
            "kind": kind,
            "status": recorded.get(code, prefill.get(code, ("", "")))[0],
            "rank": recorded.get(code, prefill.get(code, ("", "")))[1],
            "prefilled": code not in recorded and code in prefill,
        }
        for code, name, kind in invited_agencies(session, occ)
    ]
    return {
        "agencies": agencies,
        "people_att": [
            {
                "agency": a.agency_code,
                "person": a.person_email,
                "status": a.status,
                "rank": a.rank or "",
            }
            for a in people
        ],
        "owner_options": [(a["code"], a["name"]) for a in agencies],
    }


def _deliverables(session: Session, occ: Occurrence, today: date) -> list[dict[str, Any]]:
    """What the held meeting owes (成效檢核表 …): due date, to whom, handed in or not."""
    names = dict(
        session.execute(
            select(Agency.code, Agency.name).where(Agency.city_id == occ.series.city_id)
        ).all()
    )
    return [
        {
            "name": o.name,
            "to": names.get(o.to, o.to),
            "due": format_roc_date(o.due_on),
            "state": o.state(today).value,
            "state_zh": DELIVERABLE_STATE_ZH[o.state(today)],
            "submitted": format_roc_date(o.submitted_on) if o.submitted_on else None,
            "on_time": o.on_time,
            "note": o.note or "",
        }
        for o in deliverables_of(session, occ)
    ]


def _records(session: Session, occ: Occurrence, today: date) -> dict[str, Any]:
    """Whether it was held, its minutes, the cases discussed and its action items."""
    held = session.get(HeldMeeting, occ.id)
    minutes = session.get(Minutes, occ.id)
    discussed = session.scalars(
        select(CaseDiscussion.case_no)
        .where(CaseDiscussion.occurrence_uid == occ.uid)
        .order_by(CaseDiscussion.case_no)
    ).all()
    items = [i for i in list_action_items(session) if i.uid == occ.uid]
    return {
        "held": {
            "on": format_roc_date(held.held_on),
            "on_iso": held.held_on.isoformat(),
            "minutes_due": format_roc_date(held.minutes_due_on),
        }
        if held is not None
        else None,
        "minutes": {
            "recorded_on": format_roc_date(minutes.recorded_on),
            "revised_on": format_roc_date(minutes.revised_on),
            "on_time": held is not None and minutes.recorded_on <= held.minutes_due_on,
            "chars": len(minutes.text),
        }
        if minutes is not None
        else None,
        "discussed": list(discussed),
        "deliverables": _deliverables(session, occ, today),
        "items": [
            {
                "id": i.id,
                "owner": i.owner_name,
                "text": i.text,
                "due": format_roc_date(i.due_on),
                "closed": format_roc_date(i.closed_on) if i.closed_on else None,
                "overdue": i.closed_on is None and i.due_on < today,
            }
            for i in items
        ],
    }


def meeting_page(v: Visit, uid: str, *, reason: str | None = None) -> Response:
    user = v.require()
    now = v.site.now()
    with v.site.app.transaction() as session:
        occ = load_meeting(session, uid, user.scope)
        tz = occ.series.city.timezone
        today = local_today(now, tz)
        agenda, case_rows = _agenda(session, occ, user, reason, now)
        dirs = city_template_dirs(session, occ.series.city.name)
        fragment = Markup(render_agenda_fragment(agenda, dirs))
        seating = seats_section(session, occ)
        attendance = _attendance(session, occ, seating.pop("prefill"))
        records = _records(session, occ, today)
        start = local(occ.start_at, tz)
        info = {
            **occurrence_row(occ, user.staff, now),
            "when": format_roc_datetime(start),
            "end": format_roc_time(local(occ.end_at, tz)),
            "chair": occ.series.spec.get("chair"),
            "sequence": occ.sequence,
            "started": occ.start_at <= now,
            "cancelled": occ.status == OccurrenceStatus.CANCELLED,
        }
    return render(
        v,
        "meeting.html",
        m=info,
        agenda_html=fragment,
        cases_shown=reason is not None,
        case_rows=case_rows,
        **attendance,
        **records,
        **seating,
        default_held_on=start.date().isoformat(),
        today_iso=today.isoformat(),
    )


@router.get("/meetings/{uid}/notice")
def notice(v: CurrentVisit, uid: str) -> Response:
    """The printable 開會通知單 (agenda without case rows); its 出席者/列席者 follow the
    seats (who answered is named; an agency that declined is left out)."""
    user = v.require()
    with v.site.app.transaction() as session:
        occ = load_meeting(session, uid, user.scope)
        agenda = withhold_cases(load_agenda(session, occ, v.site.now()), viewable=False)
        dirs = city_template_dirs(session, occ.series.city.name)
        roster = notice_roster(seat_rows(session, occ))
        html = render_agenda(agenda, "html", dirs, roster=roster)
    return finish(v, HTMLResponse(html))


@router.get("/meetings/{uid}")
def meeting(v: CurrentVisit, uid: str) -> Response:
    return meeting_page(v, uid)


@router.post("/meetings/{uid}/cases")
def meeting_cases(v: CurrentVisit, uid: str, reason: Text = "", csrf: Text = "") -> Response:
    """The agenda with its case rows: asks for a reason and writes an audit record."""
    v.require(Role.SECRETARIAT)
    v.check_csrf(csrf)
    reason = reason.strip()[:500]
    if not reason:
        v.flash("error", "請填寫查閱事由（將留存查閱紀錄）。")
        return redirect(v, meeting_url(uid) + "#cases")
    return meeting_page(v, uid, reason=reason)
