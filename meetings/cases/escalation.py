"""Escalation: a listed case left undiscussed past its rule's window is raised, once.

The ``escalation`` outbox event names the next meeting that could discuss the case;
notifications turn it into mail to the secretariat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from meetings.cases.discussed import discussed_listings
from meetings.cases.triggers import instance_for_case
from meetings.db import (
    Case,
    CaseListing,
    City,
    ListingRule,
    Occurrence,
    OutboxEvent,
    Series,
)
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import EventKind, OccurrenceStatus
from meetings.schedule.declarations import SeriesSpec
from meetings.schedule.registry import SpecRegistry, office_calendar_for
from meetings.schedule.spans import parse_span, shift

# The fewest calendar days a window of one unit can span: listings younger than this
# cannot be overdue, so they are not even read.
MIN_DAYS_PER_UNIT = {"d": 1, "wd": 1, "w": 7, "mo": 28}


def check_escalations(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Raise an ``escalation`` event, once, for each listed case undiscussed past its window."""
    raised: list[dict[str, Any]] = []
    rules = session.scalars(
        select(ListingRule).where(ListingRule.window.is_not(None), ListingRule.active.is_(True))
    ).all()
    for rule in rules:
        raised += _escalate_rule(session, rule, now)
    session.flush()
    return raised


@dataclass(frozen=True)
class Overdue:
    """A rule's open listing left undiscussed past the rule's window (``deadline``)."""

    listing: CaseListing
    case: Case
    deadline: date


def _overdue(
    session: Session, rule: ListingRule, city: City, now: datetime, *, escalated: bool
) -> tuple[list[Overdue], list[tuple[Series, SeriesSpec]]]:
    """The rule's open listings undiscussed past its window at ``now`` (in the city's zone),
    oldest first — with those already escalated when ``escalated`` — and the series whose
    agendas list under the rule."""
    assert rule.window is not None
    span = parse_span(rule.window)
    today = local_today(now, city.timezone)
    listed_before = today - timedelta(days=MIN_DAYS_PER_UNIT[span.unit] * span.amount)
    rows = _candidates(session, rule, listed_before, escalated=escalated)
    if not rows:
        return [], []
    calendar = office_calendar_for(session, city.id)
    series = series_for_rule(session, city.id, rule.rule_id)
    deadlines = {listing.id: shift(listing.listed_at, span, calendar) for listing, _c in rows}
    late = [(listing, case) for listing, case in rows if today > deadlines[listing.id]]
    discussed = _discussed(session, late, series)
    found = [
        Overdue(listing, case, deadlines[listing.id])
        for listing, case in late
        if listing.id not in discussed
    ]
    return found, series


def overdue_case_count(session: Session, city_id: int, now: datetime) -> int:
    """How many of the city's cases have a listing undiscussed past its rule's window at
    ``now``, escalated yet or not (a count only: the work queue shows no case data)."""
    city = session.get(City, city_id)
    if city is None:
        return 0
    rules = session.scalars(
        select(ListingRule).where(
            ListingRule.city_id == city_id,
            ListingRule.window.is_not(None),
            ListingRule.active.is_(True),
        )
    ).all()
    cases = {
        o.case.id for rule in rules for o in _overdue(session, rule, city, now, escalated=True)[0]
    }
    return len(cases)


def _escalate_rule(session: Session, rule: ListingRule, now: datetime) -> list[dict[str, Any]]:
    city = session.get(City, rule.city_id)
    assert city is not None
    overdue, series = _overdue(session, rule, city, now, escalated=False)
    raised = []
    for o in overdue:
        listing, case, deadline = o.listing, o.case, o.deadline
        nxt = next_meeting(session, series, case.district, now)
        payload = _payload(city, case, rule, listing, deadline, series, nxt)
        if _claim(session, listing, now):
            session.add(
                OutboxEvent(
                    kind=EventKind.ESCALATION,
                    occurrence_uid=nxt.uid if nxt else None,
                    sequence=nxt.sequence if nxt else None,
                    payload=payload,
                    created_at=now,
                )
            )
            raised.append(payload)
    return raised


def _candidates(
    session: Session, rule: ListingRule, listed_before: date, *, escalated: bool
) -> list[tuple[CaseListing, Case]]:
    """Open listings under ``rule`` listed before ``listed_before`` (not yet escalated
    ones only, unless ``escalated``)."""
    q = (
        select(CaseListing, Case)
        .join(Case, Case.id == CaseListing.case_id)
        .where(
            CaseListing.rule_id == rule.id,
            CaseListing.delisted_at.is_(None),
            CaseListing.listed_at < listed_before,
        )
        .order_by(CaseListing.listed_at, Case.case_no)
    )
    if not escalated:
        q = q.where(CaseListing.escalated_at.is_(None))
    rows = session.execute(q).all()
    return [(listing, case) for listing, case in rows]


def _discussed(
    session: Session, rows: list[tuple[CaseListing, Case]], series: list[tuple[Series, SeriesSpec]]
) -> set[int]:
    """The listings discussed (:mod:`meetings.cases.discussed`) for the meeting group that
    covers the case's district, in any of the rule's series: the groups that could take it."""
    wanted = [
        (listing.id, case.case_no, listing.listed_at, inst.key)
        for listing, case in rows
        for _s, spec in series
        if (inst := instance_for_case(spec, case.district)) is not None
    ]
    return discussed_listings(session, wanted)


def _payload(
    city: City,
    case: Case,
    rule: ListingRule,
    listing: CaseListing,
    deadline: date,
    series: list[tuple[Series, SeriesSpec]],
    nxt: Occurrence | None,
) -> dict[str, Any]:
    return {
        "city_id": city.id,
        "case_no": case.case_no,
        "masked_name": case.masked_name,
        "district": case.district,
        "rule": rule.rule_id,
        "rule_title": rule.title,
        "listed_at": listing.listed_at.isoformat(),
        "window": rule.window,
        "deadline": deadline.isoformat(),
        "series": nxt.series_id if nxt else (series[0][0].id if series else None),
        "uid": nxt.uid if nxt else None,
    }


def _claim(session: Session, listing: CaseListing, now: datetime) -> bool:
    """Mark the listing escalated; False if another daemon already did.

    With several daemons (PostgreSQL), the second UPDATE waits for the first to
    commit, then matches no row.
    """
    claimed = session.execute(
        update(CaseListing)
        .where(CaseListing.id == listing.id, CaseListing.escalated_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1


def series_for_rule(
    session: Session, city_id: int, rule_id: str
) -> list[tuple[Series, SeriesSpec]]:
    """The city's active series whose agendas list cases under ``rule_id``."""
    registry = SpecRegistry(session)
    out = []
    for s in session.scalars(
        select(Series).where(Series.city_id == city_id, Series.active.is_(True)).order_by(Series.id)
    ):
        if (s.spec.get("agenda") or {}).get("listing_rule") == rule_id:
            out.append((s, registry.spec(s)))
    return out


def next_meeting(
    session: Session, series: list[tuple[Series, SeriesSpec]], district: str, now: datetime
) -> Occurrence | None:
    """The next scheduled meeting, among ``series``, whose group covers ``district``."""
    best: Occurrence | None = None
    for s, spec in series:
        inst = instance_for_case(spec, district)
        if inst is None:
            continue
        occ = session.scalar(
            select(Occurrence)
            .where(
                Occurrence.series_id == s.id,
                Occurrence.instance_key == inst.key,
                Occurrence.status == OccurrenceStatus.SCHEDULED,
                Occurrence.start_at > now,
            )
            .order_by(Occurrence.start_at)
            .limit(1)
        )
        if occ is not None and (best is None or occ.start_at < best.start_at):
            best = occ
    return best
