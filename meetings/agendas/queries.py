"""Fetching agendas' inputs: shared look-ups once per batch, then at most one query per meeting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from meetings.agendas.action_items import ItemScope, open_action_items_for
from meetings.agendas.model import (
    ActionItemRow,
    Agenda,
    ListedCase,
    MeetingInfo,
    ReportSlot,
    agenda_from_json,
    build_agenda,
)
from meetings.cases.discussed import discussed
from meetings.db import (
    Agency,
    AgendaCase,
    Case,
    CaseEvent,
    CaseListing,
    FrozenAgenda,
    ListingRule,
    Occurrence,
)
from meetings.kernel.localtime import local
from meetings.kernel.vocabulary import CASE_EVENT_ZH, OccurrenceStatus
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.units import unit_for


def meeting_info(occ: Occurrence, decl: SeriesDecl, agencies: dict[str, str]) -> MeetingInfo:
    tz = occ.series.city.timezone
    return MeetingInfo(
        uid=occ.uid,
        series_id=occ.series_id,
        title=occ.title,
        city=occ.series.city.name,
        start=local(occ.start_at, tz),
        end=local(occ.end_at, tz),
        location=occ.location,
        chair=decl.chair,
        organizer=agencies.get(decl.organizer or "", decl.organizer),
        status=occ.status,
        sequence=occ.sequence,
        timezone=tz,
    )


def agency_names(
    session: Session, keys: Iterable[tuple[int, str | None]]
) -> dict[tuple[int, str | None], dict[str, str]]:
    """Section 三: the agencies' names by (city, district) and code (one query); at a
    district's meeting an agency is named as its unit there (中壢分局)."""
    out: dict[tuple[int, str | None], dict[str, str]] = {key: {} for key in keys}
    cities = {cid for cid, _ in out}
    for agency in session.scalars(select(Agency).where(Agency.city_id.in_(cities))):
        for (cid, district), names in out.items():
            if cid == agency.city_id:
                names[agency.code] = unit_for(agency, district).name
    return out


def rule_titles(session: Session, city_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """Listing-rule titles by (city, rule id), for agenda headings (one query)."""
    return {
        (city_id, rule_id): title
        for city_id, rule_id, title in session.execute(
            select(ListingRule.city_id, ListingRule.rule_id, ListingRule.title).where(
                ListingRule.city_id.in_(list(city_ids))
            )
        )
    }


def previous_meeting_days(session: Session, occs: Sequence[Occurrence]) -> dict[int, date]:
    """The local date of each meeting's previous (not cancelled) meeting of its instance.

    One query for all of ``occs`` (a correlated MAX per meeting, on the series index).
    """
    if not occs:
        return {}
    prev = Occurrence.__table__.alias("prev")
    latest = (
        select(func.max(prev.c.start_at))
        .where(
            prev.c.series_id == Occurrence.series_id,
            prev.c.instance_key == Occurrence.instance_key,
            prev.c.start_at < Occurrence.start_at,
            prev.c.status != OccurrenceStatus.CANCELLED,
        )
        .scalar_subquery()
    )
    tz = {o.id: o.series.city.timezone for o in occs}
    out: dict[int, date] = {}
    for occ_id, start in session.execute(
        select(Occurrence.id, latest).where(Occurrence.id.in_(list(tz)))
    ):
        if start is None:
            continue
        if isinstance(start, str):  # SQLite aggregates bypass the column type
            start = datetime.fromisoformat(start).replace(tzinfo=UTC)
        out[occ_id] = local(start, tz[occ_id]).date()
    return out


def section_two_scope(occ: Occurrence) -> ItemScope:
    """Section 二 of a meeting: items of its group's earlier meetings open on its day."""
    day = local(occ.start_at, occ.series.city.timezone).date()
    return ItemScope(occ.series_id, occ.instance_key, day)


def reserved_cases(
    session: Session, occs: Sequence[Occurrence], now: datetime
) -> dict[str, set[str]]:
    """For each meeting, the cases that frozen agendas of *other* upcoming meetings of
    its series have taken (they are discussed there). One query for all of ``occs``."""
    series = sorted({o.series_id for o in occs})
    if not series:
        return {}
    rows = session.execute(
        select(Occurrence.series_id, AgendaCase.occurrence_uid, AgendaCase.case_no)
        .join(Occurrence, Occurrence.uid == AgendaCase.occurrence_uid)
        .where(
            Occurrence.series_id.in_(series),
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.start_at >= now,
        )
    ).all()
    return {o.uid: {c for sid, uid, c in rows if sid == o.series_id and uid != o.uid} for o in occs}


def listed_cases(
    session: Session,
    occ: Occurrence,
    decl: SeriesDecl,
    now: datetime,
    *,
    since: date | None = None,
    reserved: Iterable[str] | None = None,
) -> tuple[list[ListedCase], int, str | None]:
    """Section 四: listed, undiscussed cases for this meeting, in one query.

    Returns (up to max_cases rows, oldest listing first; the total; the rule title).
    Cases reserved by another upcoming meeting's frozen agenda are left to it.
    """
    if decl.agenda.listing_rule is None:
        return [], 0, None
    if reserved is None:
        reserved = reserved_cases(session, [occ], now).get(occ.uid, set())
    chosen = listing_page(occ, decl, since=since, reserved=reserved).subquery("page")
    q = (
        select(
            Case.case_no,
            Case.masked_name,
            Case.district,
            Case.sdm_risk,
            Case.tipvda_score,
            Case.listed_reason,
            chosen.c.listed_at,
            chosen.c.title,
            chosen.c.total,
        )
        .join(chosen, chosen.c.case_id == Case.id)
        .order_by(chosen.c.listed_at, chosen.c.case_no)
    )
    rows = session.execute(q).all()
    listed = [
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
    ]
    return listed, rows[0].total if rows else 0, rows[0].title if rows else None


def listing_page(
    occ: Occurrence, decl: SeriesDecl, *, since: date | None, reserved: Iterable[str]
) -> Select[int, str | None, date, str, int]:
    """The open, undiscussed listings a meeting may take, oldest first, up to max_cases.

    The page is chosen on the listings index alone (it carries the case number and
    district); only the chosen few cases are then read. Listings discussed for this
    meeting's series instance (:mod:`meetings.cases.discussed`) are left out. Each row
    also carries the rule title and the total count before the limit.
    """
    day = local(occ.start_at, occ.series.city.timezone).date()
    # One rule with BC3.1 and escalation (meetings.cases.discussed): a held meeting of
    # this meeting's series instance discussed the case on or after its listing date.
    already = discussed(
        CaseListing.case_no, CaseListing.listed_at, occ.instance_key, besides=occ.uid
    )
    page = (
        select(
            CaseListing.case_id,
            CaseListing.case_no,
            CaseListing.listed_at,
            ListingRule.title,
            func.count().over().label("total"),
        )
        .join(ListingRule, ListingRule.id == CaseListing.rule_id)
        .where(
            ListingRule.city_id == occ.series.city_id,
            ListingRule.rule_id == decl.agenda.listing_rule,
            CaseListing.delisted_at.is_(None),
            CaseListing.listed_at <= day,
            ~already,
        )
        .order_by(CaseListing.listed_at, CaseListing.case_no)
        .limit(decl.agenda.max_cases)
    )
    if occ.district is not None:
        page = page.where(CaseListing.district == occ.district)
    elif occ.zone is not None and decl.agenda.zone_districts:
        page = page.where(CaseListing.district.in_(decl.agenda.zone_districts.get(occ.zone, [])))
    if since is not None:
        page = page.where(CaseListing.listed_at >= since)
    held_back = sorted(set(reserved))
    if held_back:
        page = page.where(CaseListing.case_no.not_in(held_back))
    return page


def triggering_case(session: Session, occ: Occurrence) -> list[ListedCase]:
    """Section 四 of an event-triggered meeting: the case that triggered it (one query)."""
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
            listed_reason=case.listed_reason or f"觸發事件：{CASE_EVENT_ZH.get(trigger, trigger)}",
            listed_at=case.reported_at,
            rule_title=f"觸發事件：{CASE_EVENT_ZH.get(trigger, trigger)}",
        )
    ]


def build_agendas(
    session: Session, occs: Sequence[Occurrence], now: datetime, *, use_frozen: bool = True
) -> list[Agenda]:
    """The agendas of ``occs`` (frozen copies where they exist, unless ``use_frozen`` is off).

    Shared look-ups (frozen copies, agencies, rule titles, previous meetings, action
    items) are one query each for the whole batch; then at most one query per meeting
    (its listed cases, or the case that triggered it).
    """
    frozen: dict[str, Agenda] = {}
    if use_frozen and occs:
        zones = {o.uid: o.series.city.timezone for o in occs}
        for uid, content in session.execute(
            select(FrozenAgenda.occurrence_uid, FrozenAgenda.content).where(
                FrozenAgenda.occurrence_uid.in_(list(zones))
            )
        ):
            frozen[uid] = agenda_from_json(content, zones[uid])
    todo = [o for o in occs if o.uid not in frozen]
    city_ids = {o.series.city_id for o in todo}
    agencies = agency_names(session, {(o.series.city_id, o.district) for o in todo}) if todo else {}
    titles = rule_titles(session, city_ids) if todo else {}
    prev = previous_meeting_days(session, todo)
    scopes = {o.id: section_two_scope(o) for o in todo}
    items = open_action_items_for(session, list(scopes.values()))
    reserved = reserved_cases(session, [o for o in todo if o.case_no is None], now)
    decls: dict[str, SeriesDecl] = {}
    built: dict[str, Agenda] = {}
    for occ in todo:
        decl = decls.get(occ.series_id)
        if decl is None:
            decl = decls[occ.series_id] = SeriesDecl.model_validate(occ.series.spec)
        names = agencies.get((occ.series.city_id, occ.district), {})
        day = prev.get(occ.id)
        title: str | None = None
        if occ.case_no is not None:
            listed, total = triggering_case(session, occ), 1
        else:
            since = day if (day is not None and not decl.agenda.carry_over) else None
            listed, total, title = listed_cases(
                session, occ, decl, now, since=since, reserved=reserved.get(occ.uid, set())
            )
            if decl.agenda.listing_rule is not None:
                title = titles.get((occ.series.city_id, decl.agenda.listing_rule), title)
        built[occ.uid] = build_agenda(
            meeting_info(occ, decl, names),
            listed=listed,
            listed_total=total,
            action_items=[
                ActionItemRow(a.id, a.owner_name, a.text, a.due_on) for a in items[scopes[occ.id]]
            ],
            report_slots=[ReportSlot(code, names.get(code, code)) for code in decl.invite.required],
            max_cases=decl.agenda.max_cases,
            previous_meeting_day=day,
            rule_title=title,
        )
    return [frozen.get(o.uid) or built[o.uid] for o in occs]


def build_agenda_for(session: Session, occ: Occurrence, now: datetime) -> Agenda:
    """The agenda as it would be built now (ignores any frozen copy)."""
    return build_agendas(session, [occ], now, use_frozen=False)[0]


def load_agenda(session: Session, occ: Occurrence, now: datetime) -> Agenda:
    """The frozen agenda if there is one, else the agenda built now."""
    return build_agendas(session, [occ], now)[0]
