"""What a `readiness` mail lists: the meeting's open problems, looked up when it is sent.

Planned by the planner ``readiness`` (default 3 working days) before each meeting, to
the series' secretariat (or the city's secretariat people), once per version of the
meeting. It names, in words a secretariat acts on:

- required agencies double-booked at that time (``schedule.citywide.city_conflicts``:
  the other meeting, and whether ``liaison schedule generate`` could still move one);
- required agencies (or their district's unit) with no address, who got no notice;
- invitations, updates and agendas of this version that failed to send;
- required seats (回條) not answered, only tentatively answered, or declined (請假,
  with its reason); a meeting whose invitations made no seats yet lists its declared
  required agencies as unanswered;
- a declared ``chair`` without ``substitute_chair``, and the organiser's seat declined
  (who chairs then);
- the first notice (invitation, or update) sent later than ``notice_min`` (default 3
  days) before the meeting, or none sent at all.

No case data: titles, agency names, times and the agency's own 請假 reason (screened
again here, as it is mailed) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meetings.db import Agency, Occurrence, OutboxMessage
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.screening import screen_text
from meetings.kernel.vocabulary import MessageKind, MessageStatus, SeatState
from meetings.schedule.citywide import agency_names, city_conflicts, required_of
from meetings.schedule.conflicts import agency_of
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.spans import Span, parse_span, shift
from meetings.schedule.units import unit_for
from meetings.seats.queries import SeatRow, seat_rows

_NOTICE_ZH = {
    MessageKind.INVITATION: "開會通知",
    MessageKind.UPDATE: "異動通知",
    MessageKind.AGENDA: "議程",
}
# The least notice an invitation must give when a series declares none (Taipei's rule).
DEFAULT_NOTICE_MIN = "3d"
_SPAN_ZH = {"d": "日", "wd": "個工作日", "w": "週", "mo": "個月"}


def readiness_items(session: Session, occ: Occurrence, now: datetime) -> list[str]:
    """The lines of the readiness mail (empty: nothing to do)."""
    names = agency_names(session, occ.series.city_id)
    decl = SeriesDecl.model_validate(occ.series.spec)
    rows = seat_rows(session, occ)
    return [
        *_clashes(session, occ, now, names),
        *_without_address(session, occ),
        *_undelivered(session, occ),
        *_seats(rows),
        *_chair(decl, rows),
        *_late_notice(session, occ, decl),
    ]


def _clashes(session: Session, occ: Occurrence, now: datetime, names: dict[str, str]) -> list[str]:
    city = occ.series.city
    day = local(occ.start_at, city.timezone).date()
    lines = []
    for c in city_conflicts(session, SpecRegistry(session), city, day, day, now):
        if occ.uid not in (c.first.key, c.second.key):
            continue
        other_uid = c.second.key if c.first.key == occ.uid else c.first.key
        other = session.scalar(select(Occurrence).where(Occurrence.uid == other_uid))
        if other is None:
            continue
        who = "、".join(names.get(a, a) for a in sorted({agency_of(s) for s in c.seats}))
        when = format_roc_datetime(local(other.start_at, city.timezone))
        fix = "（可重新排程錯開）" if c.avoidable else "（固定日期，請協調代理出席或調整時間）"
        lines.append(f"時段衝突：{who}同一時段另有「{other.title}」（{when}）{fix}")
    return lines


def _without_address(session: Session, occ: Occurrence) -> list[str]:
    codes = required_of(occ.series.spec)
    agencies = session.scalars(
        select(Agency).where(Agency.city_id == occ.series.city_id, Agency.code.in_(codes))
    )
    lines = []
    for agency in sorted(agencies, key=lambda a: codes.index(a.code)):
        unit = unit_for(agency, occ.district)
        if agency.active and not unit.emails:
            lines.append(f"無電子郵件地址：{unit.name}未收到開會通知，請另行通知")
    return lines


def _undelivered(session: Session, occ: Occurrence) -> list[str]:
    failed = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.occurrence_uid == occ.uid,
            OutboxMessage.sequence == occ.sequence,
            OutboxMessage.kind.in_(sorted(_NOTICE_ZH)),
            OutboxMessage.status == MessageStatus.FAILED,
        )
        .order_by(OutboxMessage.id)
    )
    return [
        f"寄送失敗：{_NOTICE_ZH[MessageKind(m.kind)]}未送達{m.recipient_name or m.recipient}"
        f"（{m.recipient}），請確認地址或另行通知"
        for m in failed
    ]


def _seats(rows: list[SeatRow]) -> list[str]:
    """Required seats nobody settled: not answered, tentative, or 請假 (with the reason)."""
    lines = []
    for r in (r for r in rows if r.required):
        if r.state == SeatState.INVITED:
            lines.append(f"未回覆：{r.agency_name}尚未回覆出席人員")
        elif r.state == SeatState.TENTATIVE:
            lines.append(f"未確定：{r.agency_name}回覆暫定出席，請確認出席人員")
        elif r.state == SeatState.DECLINED:
            reason = screen_text(r.reason) if r.reason else "未說明事由"
            lines.append(f"請假：{r.agency_name}（{reason}）")
    return lines


def _chair(decl: SeriesDecl, rows: list[SeatRow]) -> list[str]:
    """Who chairs when the chair cannot come: declared, and needed when the organiser's
    seat declined (its head chairs the meeting)."""
    organiser = next((r for r in rows if r.agency_code == decl.organizer), None)
    if organiser is not None and organiser.state == SeatState.DECLINED:
        host = organiser.agency_name
        if decl.substitute_chair:
            return [f"主席請假：{host}已請假，請由{decl.substitute_chair}代理主持"]
        return [f"主席請假：{host}已請假，且未指定主席代理人，請協調代理主持人"]
    if decl.chair and not decl.substitute_chair:
        return [f"主席代理人未指定：{decl.chair}不克出席時無人代理主持，請指定主席代理人"]
    return []


@dataclass(frozen=True)
class NoticeState:
    """Whether the invitees were told of a meeting's current version (its invitation or
    update, at its current sequence): how many were sent, failed, and when the next
    pending one is due."""

    sent: int
    failed: int
    pending_due: datetime | None


def notice_state(session: Session, uid: str, sequence: int) -> NoticeState:
    """The invitation (or update) mails of a meeting's current version, by state."""
    rows = session.execute(
        select(OutboxMessage.status, func.count(), func.min(OutboxMessage.due_at))
        .where(
            OutboxMessage.occurrence_uid == uid,
            OutboxMessage.sequence == sequence,
            OutboxMessage.kind.in_([MessageKind.INVITATION, MessageKind.UPDATE]),
        )
        .group_by(OutboxMessage.status)
    ).all()
    counts = {status: (n, due) for status, n, due in rows}
    pending = counts.get(MessageStatus.PENDING)
    return NoticeState(
        sent=counts.get(MessageStatus.SENT, (0, None))[0],
        failed=counts.get(MessageStatus.FAILED, (0, None))[0],
        pending_due=pending[1] if pending else None,
    )


def notice_deadline(session: Session, occ: Occurrence, span_text: str) -> datetime:
    """The latest instant the first notice may go: the meeting's local start moved back
    by ``span_text`` (working days on the city's office calendar), same wall time."""
    span = parse_span(span_text)
    start = local(occ.start_at, occ.series.city.timezone)
    calendar = office_calendar_for(session, occ.series.city_id) if span.unit == "wd" else None
    day = shift(start.date(), Span(-abs(span.amount), span.unit), calendar)
    return datetime.combine(day, start.timetz())


def _late_notice(session: Session, occ: Occurrence, decl: SeriesDecl) -> list[str]:
    """The first invitation (or update) of the meeting sent later than ``notice_min``
    before it, or none sent at all."""
    span_text = decl.notice_min or DEFAULT_NOTICE_MIN
    first = session.scalar(
        select(func.min(OutboxMessage.sent_at)).where(
            OutboxMessage.occurrence_uid == occ.uid,
            OutboxMessage.kind.in_([MessageKind.INVITATION, MessageKind.UPDATE]),
            OutboxMessage.status == MessageStatus.SENT,
        )
    )
    if first is not None and first <= notice_deadline(session, occ, span_text):
        return []
    span = parse_span(span_text)
    actual = "尚未寄發"
    if first is not None:
        actual = f"{format_roc_datetime(local(first, occ.series.city.timezone))}寄發"
    return [f"開會通知寄發時間少於會前{abs(span.amount)}{_SPAN_ZH[span.unit]}（實際：{actual}）"]
