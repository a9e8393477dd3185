"""Fetching an agenda's inputs: at most one query per section, then ``build_agenda``."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from meetings.agenda import (
    ActionItemRow,
    Agenda,
    ListedCase,
    MeetingInfo,
    ReportSlot,
    agenda_from_json,
    build_agenda,
)
from meetings.models import (
    ActionItem,
    Agency,
    AgendaCase,
    Case,
    CaseDiscussion,
    CaseEvent,
    CaseListing,
    FrozenAgenda,
    ListingRule,
    Occurrence,
)
from meetings.series import SeriesDecl


def meeting_info(occ: Occurrence, decl: SeriesDecl, agencies: dict[str, str]) -> MeetingInfo:
    tz = ZoneInfo(occ.series.city.timezone)
    return MeetingInfo(
        uid=occ.uid,
        series_id=occ.series_id,
        title=occ.title,
        city=occ.series.city.name,
        start=occ.start_at.astimezone(tz),
        end=occ.end_at.astimezone(tz),
        location=occ.location,
        chair=decl.chair,
        organizer=agencies.get(decl.organizer or "", decl.organizer),
        status=occ.status,
        sequence=occ.sequence,
    )


def agency_names(session: Session, city_id: int) -> dict[str, str]:
    """Section 三: the names of the city's agencies, by code (one query)."""
    return {
        code: name
        for code, name in session.execute(
            select(Agency.code, Agency.name).where(Agency.city_id == city_id)
        )
    }


def previous_meeting_day(session: Session, occ: Occurrence) -> date | None:
    """The local date of the previous meeting of the same series instance."""
    start = session.scalar(
        select(func.max(Occurrence.start_at)).where(
            Occurrence.instance_key == occ.instance_key,
            Occurrence.series_id == occ.series_id,
            Occurrence.start_at < occ.start_at,
            Occurrence.status != "cancelled",
        )
    )
    if start is None:
        return None
    if isinstance(start, str):  # SQLite aggregates bypass the column type
        start = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo("UTC"))
    return start.astimezone(ZoneInfo(occ.series.city.timezone)).date()


def open_action_items(
    session: Session, occ: Occurrence, agencies: dict[str, str]
) -> list[ActionItemRow]:
    """Section 二: open action items decided at earlier meetings of the same instance."""
    rows = session.execute(
        select(ActionItem.id, ActionItem.owner_code, ActionItem.text, ActionItem.due_on)
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .where(
            Occurrence.series_id == occ.series_id,
            Occurrence.instance_key == occ.instance_key,
            Occurrence.start_at < occ.start_at,
            ActionItem.closed_on.is_(None),
        )
        .order_by(ActionItem.due_on, ActionItem.id)
    ).all()
    return [ActionItemRow(i, agencies.get(o, o), t, d) for i, o, t, d in rows]


def listed_cases(
    session: Session,
    occ: Occurrence,
    decl: SeriesDecl,
    now: datetime,
    *,
    since: date | None = None,
) -> tuple[list[ListedCase], int, str | None]:
    """Section 四: listed, undiscussed cases for this meeting, in one query.

    Returns (up to max_cases rows, oldest listing first; the total; the rule title).
    Cases reserved by another upcoming meeting's frozen agenda are left to it.
    """
    rule_id = decl.agenda.listing_rule
    if rule_id is None:
        return [], 0, None
    tz = ZoneInfo(occ.series.city.timezone)
    day = occ.start_at.astimezone(tz).date()
    other = Occurrence.__table__.alias("other")
    discussed = exists().where(
        CaseDiscussion.case_no == Case.case_no,
        CaseDiscussion.discussed_on >= CaseListing.listed_at,
        CaseDiscussion.occurrence_uid != occ.uid,
    )
    reserved = exists().where(
        AgendaCase.case_no == Case.case_no,
        AgendaCase.occurrence_uid != occ.uid,
        and_(
            other.c.uid == AgendaCase.occurrence_uid,
            other.c.series_id == occ.series_id,
            other.c.status == "scheduled",
            other.c.start_at >= now,
        ),
    )
    q = (
        select(
            Case.case_no,
            Case.masked_name,
            Case.district,
            Case.sdm_risk,
            Case.tipvda_score,
            Case.listed_reason,
            CaseListing.listed_at,
            ListingRule.title,
            func.count().over().label("total"),
        )
        .join(CaseListing, CaseListing.rule_id == ListingRule.id)
        .join(Case, Case.id == CaseListing.case_id)
        .where(
            ListingRule.city_id == occ.series.city_id,
            ListingRule.rule_id == rule_id,
            CaseListing.delisted_at.is_(None),
            CaseListing.listed_at <= day,
            ~discussed,
            ~reserved,
        )
        .order_by(CaseListing.listed_at, Case.case_no)
        .limit(decl.agenda.max_cases)
    )
    if occ.district is not None:
        q = q.where(Case.district == occ.district)
    elif occ.zone is not None and decl.agenda.zone_districts:
        q = q.where(Case.district.in_(decl.agenda.zone_districts.get(occ.zone, [])))
    if since is not None:
        q = q.where(CaseListing.listed_at >= since)
    rows = session.execute(q).all()
    total = rows[0].total if rows else 0
    title = rows[0].title if rows else _rule_title(session, occ.series.city_id, rule_id)
    return (
        [
            ListedCase(
                case_no=r.case_no,
                masked_name=r.masked_name,
                district=r.district,
                sdm_risk=r.sdm_risk,
                tipvda_score=r.tipvda_score,
                listed_reason=r.listed_reason,
                listed_at=r.listed_at,
                rule_title=r.title,
            )
            for r in rows
        ],
        total,
        title,
    )


def _rule_title(session: Session, city_id: int, rule_id: str) -> str | None:
    return session.scalar(
        select(ListingRule.title).where(
            ListingRule.city_id == city_id, ListingRule.rule_id == rule_id
        )
    )


def triggering_case(session: Session, occ: Occurrence) -> list[ListedCase]:
    """Section 四 of an event-triggered meeting: the case that triggered it (one query)."""
    from meetings.case_operations import EVENT_ZH

    if occ.case_no is None:
        return []
    row = session.execute(
        select(Case, func.max(CaseEvent.at))
        .outerjoin(CaseEvent, CaseEvent.case_id == Case.id)
        .where(Case.city_id == occ.series.city_id, Case.case_no == occ.case_no)
        .group_by(Case.id)
    ).first()
    if row is None:
        return []
    case, _last = row
    trigger = (occ.series.spec.get("trigger") or {}).get("event", "")
    return [
        ListedCase(
            case_no=case.case_no,
            masked_name=case.masked_name,
            district=case.district,
            sdm_risk=case.sdm_risk,
            tipvda_score=case.tipvda_score,
            listed_reason=case.listed_reason or f"觸發事件：{EVENT_ZH.get(trigger, trigger)}",
            listed_at=case.reported_at,
            rule_title=f"觸發事件：{EVENT_ZH.get(trigger, trigger)}",
        )
    ]


def build_agenda_for(session: Session, occ: Occurrence, now: datetime) -> Agenda:
    """The agenda as it would be built now (ignores any frozen copy)."""
    decl = SeriesDecl.model_validate(occ.series.spec)
    agencies = agency_names(session, occ.series.city_id)
    prev = previous_meeting_day(session, occ)
    slots = [ReportSlot(code, agencies.get(code, code)) for code in decl.invite.required]
    items = open_action_items(session, occ, agencies)
    if occ.case_no is not None:
        listed, total, title = triggering_case(session, occ), 1, None
    else:
        since = prev if (prev is not None and not decl.agenda.carry_over) else None
        listed, total, title = listed_cases(session, occ, decl, now, since=since)
    return build_agenda(
        meeting_info(occ, decl, agencies),
        listed=listed,
        listed_total=total,
        action_items=items,
        report_slots=slots,
        max_cases=decl.agenda.max_cases,
        previous_meeting_day=prev,
        rule_title=title,
    )


def load_agenda(session: Session, occ: Occurrence, now: datetime) -> Agenda:
    """The frozen agenda if there is one, else the agenda built now."""
    frozen = session.get(FrozenAgenda, occ.uid)
    if frozen is not None:
        return agenda_from_json(frozen.content)
    return build_agenda_for(session, occ, now)
