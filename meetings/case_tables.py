"""KPI aggregates over the cases module's tables (migration 0003).

The tables are named here as lightweight Core tables (the migration fixes their
names and columns), so the KPI engine depends on the schema, not on ORM classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Date, Integer, String, column, distinct, extract, func, or_, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.models import HeldMeeting, Occurrence, UTCDateTime

if TYPE_CHECKING:
    from meetings.kpis import MonthCounts, RowCounts

case_discussions = table(
    "case_discussions",
    column("id", Integer),
    column("occurrence_uid", String),
    column("case_no", String),
    column("discussed_at", UTCDateTime()),
    column("source", String),
)
cases = table(
    "cases",
    column("id", Integer),
    column("city_id", Integer),
    column("case_no", String),
    column("district", String),
)
listing_rules = table(
    "listing_rules",
    column("id", Integer),
    column("city_id", Integer),
    column("rule_id", String),
)
case_listings = table(
    "case_listings",
    column("id", Integer),
    column("case_id", Integer),
    column("rule_id", Integer),
    column("listed_at", Date),
    column("delisted_at", Date),
)


def discussion_counts(
    session: Session,
    occ_filters: Sequence[ColumnElement[bool]],
    rows: Mapping[str, RowCounts],
    monthly: Sequence[MonthCounts],
) -> None:
    """case_discussions and cases_discussed per instance, discussions per month."""
    q = (
        select(
            Occurrence.instance_key,
            func.count(),
            func.count(distinct(case_discussions.c.case_no)),
        )
        .select_from(case_discussions)
        .join(Occurrence, Occurrence.uid == case_discussions.c.occurrence_uid)
        .where(*occ_filters, Occurrence.status == "held")
        .group_by(Occurrence.instance_key)
    )
    for key, n, distinct_cases in session.execute(q):
        row = rows.get(key)
        if row is not None:
            row.case_discussions, row.cases_discussed = int(n), int(distinct_cases)
    month = extract("month", Occurrence.nominal_date)
    qm = (
        select(month, func.count())
        .select_from(case_discussions)
        .join(Occurrence, Occurrence.uid == case_discussions.c.occurrence_uid)
        .where(*occ_filters, Occurrence.status == "held")
        .group_by(month)
    )
    by_month = {m.month: m for m in monthly}
    for m, n in session.execute(qm):
        by_month[int(m)].case_discussions = int(n)


def distinct_cases(session: Session, occ_filters: Sequence[ColumnElement[bool]]) -> int:
    """Distinct cases discussed at the selected held meetings (a case counts once)."""
    q = (
        select(func.count(distinct(case_discussions.c.case_no)))
        .select_from(case_discussions)
        .join(Occurrence, Occurrence.uid == case_discussions.c.occurrence_uid)
        .where(*occ_filters, Occurrence.status == "held")
    )
    return int(session.scalar(q) or 0)


def listing_counts(
    session: Session, rows: Sequence[RowCounts], start: date, end: date, as_of: date
) -> None:
    """BC3.1 numerator, denominator and days to discussion for each row with a rule.

    One pair of queries per (city, listing rule), whatever the number of instances.
    """
    groups: dict[tuple[int, str], list[RowCounts]] = {}
    for row in rows:
        if row.instance is not None and row.listing_rule is not None and row.city_id is not None:
            groups.setdefault((row.city_id, row.listing_rule), []).append(row)
    for (city_id, rule), members in groups.items():
        fl = (
            select(
                cases.c.case_no.label("case_no"),
                func.max(cases.c.district).label("district"),
                func.min(case_listings.c.listed_at).label("listed_on"),
            )
            .select_from(case_listings)
            .join(cases, cases.c.id == case_listings.c.case_id)
            .join(listing_rules, listing_rules.c.id == case_listings.c.rule_id)
            .where(
                listing_rules.c.city_id == city_id,
                listing_rules.c.rule_id == rule,
                cases.c.city_id == city_id,
                case_listings.c.listed_at >= start,
                case_listings.c.listed_at <= end,
            )
            .group_by(cases.c.case_no)
            .subquery("fl")
        )
        listed_by_district = {
            district: int(n)
            for district, n in session.execute(
                select(fl.c.district, func.count()).group_by(fl.c.district)
            )
        }
        for row in members:
            if row.case_district is None:
                row.listed = sum(listed_by_district.values())
            else:
                row.listed = listed_by_district.get(row.case_district, 0)
        held_on = func.coalesce(HeldMeeting.held_on, Occurrence.nominal_date)
        q = (
            select(
                Occurrence.instance_key,
                fl.c.case_no,
                fl.c.listed_on,
                func.min(held_on),
            )
            .select_from(fl)
            .join(case_discussions, case_discussions.c.case_no == fl.c.case_no)
            .join(Occurrence, Occurrence.uid == case_discussions.c.occurrence_uid)
            .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
            .where(
                Occurrence.instance_key.in_([r.instance for r in members]),
                Occurrence.status == "held",
                or_(Occurrence.district.is_(None), Occurrence.district == fl.c.district),
                held_on >= fl.c.listed_on,
                held_on <= as_of,
            )
            .group_by(Occurrence.instance_key, fl.c.case_no, fl.c.listed_on)
        )
        by_key = {r.instance: r for r in members}
        for key, _case_no, listed_on, first in session.execute(q):
            row = by_key[key]
            row.listed_discussed += 1
            row.days_to_discussion.append((_as_date(first) - _as_date(listed_on)).days)


def _as_date(value: object) -> date:
    """A date from a row (SQLite returns text for expressions such as coalesce)."""
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
