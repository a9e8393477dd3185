"""BC3.1: listed cases discussed at the meetings of their series instance, and how soon.

"Discussed" is the agenda's rule, written once in :mod:`meetings.cases.discussed`.

Three statements whatever the number of series: listed cases per (rule, district);
then the (instance, case) pairs discussed in time, aggregated per instance and in total
with the median taken by window functions. The counting rules are in
``meetings.kpis.queries``' module docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    CTE,
    Integer,
    String,
    Subquery,
    and_,
    case,
    cast,
    column,
    func,
    null,
    or_,
    select,
    union_all,
    values,
)
from sqlalchemy.orm import Session

from meetings.cases.discussed import counts_as_discussion, discussion_day, with_meetings
from meetings.db import Case, CaseDiscussion, CaseListing, ListingRule
from meetings.kpis.formulas import RowCounts
from meetings.kpis.selection import days_between
from meetings.schedule.cycles import HELD_AT_MAX_SHIFT


def _first_listings(members: Sequence[RowCounts], start: date, end: date) -> CTE:
    """Each case's first listing in [start, end] under the rules the rows count."""
    pairs = {(r.city_id, r.listing_rule) for r in members}
    rule_match = or_(
        *(and_(ListingRule.city_id == c, ListingRule.rule_id == rid) for c, rid in pairs)
    )
    return (
        select(
            ListingRule.city_id.label("city_id"),
            ListingRule.rule_id.label("rule"),
            Case.case_no.label("case_no"),
            Case.district.label("district"),
            func.min(CaseListing.listed_at).label("listed_on"),
        )
        .select_from(CaseListing)
        .join(Case, Case.id == CaseListing.case_id)
        .join(ListingRule, ListingRule.id == CaseListing.rule_id)
        .where(
            rule_match,
            Case.city_id == ListingRule.city_id,
            CaseListing.listed_at >= start,
            CaseListing.listed_at <= end,
        )
        .group_by(ListingRule.city_id, ListingRule.rule_id, Case.case_no, Case.district)
        .cte("first_listing")
    )


def _count_listed(session: Session, fl: CTE, members: Sequence[RowCounts]) -> None:
    """Each row's denominator: its rule's listed cases in its districts."""
    listed = {
        (city_id, rule, district): int(n)
        for city_id, rule, district, n in session.execute(
            select(fl.c.city_id, fl.c.rule, fl.c.district, func.count()).group_by(
                fl.c.city_id, fl.c.rule, fl.c.district
            )
        )
    }
    for row in members:
        row.listed = sum(
            n
            for (city_id, rule, district), n in listed.items()
            if city_id == row.city_id
            and rule == row.listing_rule
            and (row.case_districts is None or district in row.case_districts)
        )


def _instance_rules(members: Sequence[RowCounts]) -> CTE:
    """Which rule and which districts' cases each selected instance counts (a VALUES table)."""
    return (
        values(
            column("k", String),
            column("city_id", Integer),
            column("rule", String),
            column("district", String),
            name="instance_rules",
            literal_binds=True,  # inline: hundreds of bind parameters cost more to compile
        )
        .data(
            [
                (r.instance, r.city_id, r.listing_rule, d)
                for r in members
                for d in (r.case_districts if r.case_districts is not None else (None,))
            ]
        )
        .cte("instance_rules")
    )


def _first_discussions(
    session: Session, fl: CTE, mapping: CTE, start: date, as_of: date
) -> Subquery:
    """(instance, case, days from first listing to first discussion) for each pair.

    A pair counts by the one rule of :mod:`meetings.cases.discussed` (the agenda's): a
    held meeting of that instance discussed the case on or after its first listing.
    """
    day = discussion_day()
    q = (
        select(
            mapping.c.k.label("k"),
            fl.c.case_no.label("case_no"),
            days_between(session, func.min(day), func.min(fl.c.listed_on)).label("days"),
        )
        .select_from(fl)
        .join(
            mapping,
            and_(
                mapping.c.city_id == fl.c.city_id,
                mapping.c.rule == fl.c.rule,
                or_(mapping.c.district.is_(None), mapping.c.district == fl.c.district),
            ),
        )
        .join(
            CaseDiscussion,
            and_(
                CaseDiscussion.case_no == fl.c.case_no,
                # An index-friendly bound: mark_held keeps the day held within
                # HELD_AT_MAX_SHIFT of the scheduled day that discussed_on records.
                CaseDiscussion.discussed_on >= start - HELD_AT_MAX_SHIFT,
                CaseDiscussion.discussed_on <= as_of + HELD_AT_MAX_SHIFT,
            ),
        )
    )
    return (
        with_meetings(q)
        .where(counts_as_discussion(fl.c.case_no, fl.c.listed_on, mapping.c.k), day <= as_of)
        .group_by(mapping.c.k, fl.c.case_no)
        .subquery("first_discussion")
    )


def _discussed_and_medians(
    session: Session, first: Subquery, members: Sequence[RowCounts]
) -> float | None:
    """Set each row's discussed pairs and median days; returns the total's median."""
    ranked = select(
        first.c.k,
        first.c.days,
        func.row_number().over(partition_by=first.c.k, order_by=first.c.days).label("rn_k"),
        func.count().over(partition_by=first.c.k).label("n_k"),
        func.row_number().over(order_by=first.c.days).label("rn_all"),
        func.count().over().label("n_all"),
    ).cte("ranked")

    def middle(rn: Any, n: Any) -> Any:
        """avg() of the middle value(s): the median."""
        return func.avg(case((rn.in_([(n + 1) // 2, (n + 2) // 2]), ranked.c.days), else_=null()))

    q = union_all(
        select(ranked.c.k, func.count(), middle(ranked.c.rn_k, ranked.c.n_k)).group_by(ranked.c.k),
        select(cast(null(), String), func.count(), middle(ranked.c.rn_all, ranked.c.n_all)),
    )
    by_key = {r.instance: r for r in members}
    total_median: float | None = None
    for key, n, mid in session.execute(q):
        if key is None:
            total_median = None if mid is None else float(mid)
        elif key in by_key:
            by_key[key].listed_discussed = int(n)
            by_key[key].median_days = None if mid is None else float(mid)
    return total_median


def listing_counts(
    session: Session, rows: Sequence[RowCounts], start: date, end: date, as_of: date
) -> float | None:
    """BC3.1 numerator, denominator and median days for every row with a listing rule.

    Discussions count up to ``as_of``. Returns the total's median.
    """
    members = [
        r
        for r in rows
        if r.instance is not None and r.listing_rule is not None and r.city_id is not None
    ]
    if not members:
        return None
    fl = _first_listings(members, start, end)
    _count_listed(session, fl, members)
    first = _first_discussions(session, fl, _instance_rules(members), start, as_of)
    return _discussed_and_medians(session, first, members)
