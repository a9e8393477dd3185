"""What a `readiness` mail lists: the meeting's open problems, looked up when it is sent.

Planned by the planner ``readiness`` (default 3 working days) before each meeting, to
the series' secretariat (or the city's secretariat people), once per version of the
meeting. It names, in words a secretariat acts on:

- required agencies double-booked at that time (``schedule.citywide.city_conflicts``:
  the other meeting, and whether ``liaison schedule generate`` could still move one);
- required agencies (or their district's unit) with no address, who got no notice;
- invitations, updates and agendas of this version that failed to send.

No case data: titles, agency names and times only. Reply slips (回條) and seats will add
their unanswered seats here (issue "Who is coming").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, Occurrence, OutboxMessage
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.vocabulary import MessageKind, MessageStatus
from meetings.schedule.citywide import agency_names, city_conflicts, required_of
from meetings.schedule.conflicts import agency_of
from meetings.schedule.registry import SpecRegistry
from meetings.schedule.units import unit_for

_NOTICE_ZH = {
    MessageKind.INVITATION: "開會通知",
    MessageKind.UPDATE: "異動通知",
    MessageKind.AGENDA: "議程",
}


def readiness_items(session: Session, occ: Occurrence, now: datetime) -> list[str]:
    """The lines of the readiness mail (empty: nothing to do)."""
    names = agency_names(session, occ.series.city_id)
    return [
        *_clashes(session, occ, now, names),
        *_without_address(session, occ),
        *_undelivered(session, occ),
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
