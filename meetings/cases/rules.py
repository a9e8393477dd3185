"""Listing rules (列管指標) in the database: storing a city's rules from its config, and
listing or delisting a case under them (the listing history is kept).

The rules themselves are evaluated by the pure :mod:`meetings.cases.listing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.listing import facts_of, listing_date, matches
from meetings.db import Case, CaseListing, City, CitySettings, ListingRule
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import CaseStatus
from meetings.schedule.declarations import CityConfig, ListingRuleDecl


def store_city_case_config(session: Session, city: City, cc: CityConfig, now: datetime) -> None:
    """Store a city's listing rules and config folders (called by ``load_config``).

    A new or changed rule re-evaluates the city's open cases, listing date = today.
    """
    changed = _store_rules(session, city, cc.listing_rules, now)
    _store_config_dirs(session, city, cc.files, now)
    session.flush()
    if changed:
        today = local_today(now, city.timezone)
        rules = active_rules(session, city.id)
        q = select(Case).where(Case.city_id == city.id, Case.status != CaseStatus.CLOSED)
        for case in session.scalars(q).yield_per(1000):
            evaluate_listings(session, case, rules, today, now)


def _store_rules(
    session: Session, city: City, declared: dict[str, ListingRuleDecl], now: datetime
) -> list[ListingRule]:
    """Upsert the declared rules, deactivate the others; the rules that changed."""
    existing = {
        r.rule_id: r
        for r in session.scalars(select(ListingRule).where(ListingRule.city_id == city.id))
    }
    changed: list[ListingRule] = []
    for rid, decl in declared.items():
        spec: dict[str, Any] = decl.model_dump(mode="json", by_alias=True, exclude_none=True)
        row = existing.pop(rid, None)
        if row is None:
            row = ListingRule(
                city_id=city.id,
                rule_id=rid,
                title=decl.title,
                window=decl.window,
                spec=spec,
                active=True,
                updated_at=now,
            )
            session.add(row)
            changed.append(row)
        elif row.spec != spec or not row.active or row.title != decl.title:
            row.title, row.window, row.spec = decl.title, decl.window, spec
            row.active, row.updated_at = True, now
            changed.append(row)
    for row in existing.values():
        if row.active:
            row.active, row.updated_at = False, now
            changed.append(row)
    return changed


def _store_config_dirs(session: Session, city: City, files: Sequence[str], now: datetime) -> None:
    """Remember the folders the city's config came from (its agenda template overrides)."""
    dirs = sorted({str(Path(f).resolve().parent) for f in files})
    settings = session.get(CitySettings, city.id)
    if settings is None:
        session.add(CitySettings(city_id=city.id, config_dirs=dirs, updated_at=now))
    elif settings.config_dirs != dirs:
        settings.config_dirs, settings.updated_at = dirs, now


def active_rules(session: Session, city_id: int) -> list[ListingRule]:
    """A city's listing rules, by rule id (inactive ones too: they delist)."""
    return list(
        session.scalars(
            select(ListingRule).where(ListingRule.city_id == city_id).order_by(ListingRule.rule_id)
        )
    )


@dataclass
class ListingChange:
    listed: list[tuple[str, str]] = field(default_factory=list)  # (case_no, rule_id)
    delisted: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: ListingChange) -> None:
        self.listed += other.listed
        self.delisted += other.delisted


def evaluate_listings(
    session: Session,
    case: Case,
    rules: Sequence[ListingRule],
    on: date,
    now: datetime,
    event_days: Mapping[str, date] | None = None,
) -> ListingChange:
    """List or delist ``case`` under each rule as of ``on`` (history is kept).

    A new listing is dated by the event that made the case meet the rule: the latest of
    ``event_days`` the rule looks at (:func:`meetings.cases.listing.listing_date`), else ``on``.
    """
    change = ListingChange()
    open_rows = {
        lst.rule_id: lst
        for lst in session.scalars(
            select(CaseListing).where(
                CaseListing.case_id == case.id, CaseListing.delisted_at.is_(None)
            )
        )
    }
    facts = facts_of(case)
    closed = case.status == CaseStatus.CLOSED
    for lst in open_rows.values():  # the case may have moved district (re-import)
        if lst.district != case.district or lst.case_no != case.case_no:
            lst.district, lst.case_no = case.district, case.case_no
    for rule in rules:
        meets = rule.active and not closed and matches(rule.spec, facts)
        current = open_rows.get(rule.id)
        if meets and current is None:
            session.add(
                CaseListing(
                    case_id=case.id,
                    rule_id=rule.id,
                    case_no=case.case_no,
                    district=case.district,
                    listed_at=listing_date(rule.spec, event_days or {}, on),
                    created_at=now,
                )
            )
            change.listed.append((case.case_no, rule.rule_id))
        elif not meets and current is not None:
            current.delisted_at = max(on, current.listed_at)
            current.delisted_reason = _delisted_reason(closed, rule.active)
            change.delisted.append((case.case_no, rule.rule_id))
    session.flush()
    return change


def _delisted_reason(closed: bool, rule_active: bool) -> str:
    if closed:
        return "結案"
    return "不再符合列管指標" if rule_active else "列管指標已停用"
