"""Storing an imported case file: upsert by case number, the case events a re-import
implies, listings and triggered meetings — all in the caller's transaction.

The file itself is read and validated by :mod:`meetings.cases.importing`; full names
never reach this module, rows arrive already masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.events import CaseReport
from meetings.cases.importing import CaseRow
from meetings.cases.rules import active_rules, evaluate_listings
from meetings.cases.triggers import TriggerContext
from meetings.db import Case, CaseEvent, City, ListingRule
from meetings.kernel.localtime import local_today
from meetings.kernel.vocabulary import CASE_STORED_FIELDS, CaseEventKind, CaseStatus

DEVIANT_CASE_TYPE = "偏差行為"
# Case numbers per IN (...) look-up: well under every backend's bound-parameter limit.
LOOKUP_CHUNK = 500


def derived_events(old: Case | None, row: CaseRow, today: date) -> list[tuple[str, date]]:
    """Case events implied by a (re-)imported row: date changes and closing."""
    events: list[tuple[str, date]] = []
    if old is None:
        if row.status == CaseStatus.CLOSED:
            return events
        if row.case_type == DEVIANT_CASE_TYPE:
            events.append((CaseEventKind.DEVIANT_BEHAVIOUR_REPORT, row.reported_at))
        if row.rereported_at is not None:
            events.append((CaseEventKind.REREPORTED, row.rereported_at))
        if row.order_expiry is not None:
            events.append((CaseEventKind.ORDER_EXPIRY, row.order_expiry))
        return events
    if row.rereported_at is not None and row.rereported_at != old.rereported_at:
        events.append((CaseEventKind.REREPORTED, row.rereported_at))
    if row.order_expiry is not None and (
        row.order_expiry != old.order_expiry or row.order_type != old.order_type
    ):  # another order (or a corrected type) is another expiry
        events.append((CaseEventKind.ORDER_EXPIRY, row.order_expiry))
    if row.status == CaseStatus.CLOSED and old.status != CaseStatus.CLOSED:
        events.append((CaseEventKind.CLOSED, today))
    return events


def event_days(old: Case | None, row: CaseRow, today: date) -> dict[str, date]:
    """The row's dated events a new listing may take its date from, by field: all of a
    new case's dates, only the changed ones of a known case; none later than today."""
    out: dict[str, date] = {}
    for name in ("reported_at", "rereported_at", "order_expiry"):
        day = getattr(row, name)
        if day is None or day > today:
            continue
        if old is None or getattr(old, name) != day:
            out[name] = day
    return out


class _Importer:
    """One import: the city's cases, rules and triggered series, loaded once."""

    def __init__(self, session: Session, city: City, now: datetime):
        self.session = session
        self.city = city
        self.now = now
        self.today = local_today(now, city.timezone)
        self.existing: dict[str, Case] = {}
        self.rules: list[ListingRule] = active_rules(session, city.id)
        self.triggers = TriggerContext(session, city, now)
        self.report = CaseReport()

    def add_batch(self, rows: Sequence[CaseRow]) -> None:
        """Upsert a batch of rows, their existing cases looked up in one query."""
        numbers = [r.case_no for r in rows]
        self.existing = {
            c.case_no: c
            for c in self.session.scalars(
                select(Case).where(Case.city_id == self.city.id, Case.case_no.in_(numbers))
            )
        }
        for row in rows:
            self.add(row)

    def add(self, row: CaseRow) -> None:
        """Upsert one row; an unchanged row changes nothing else."""
        old = self.existing.get(row.case_no)
        events = derived_events(old, row, self.today)
        days = event_days(old, row, self.today)  # before the update overwrites ``old``
        case = self._create(row) if old is None else self._update(old, row)
        if case is None:
            return
        report = self.report
        for kind, at in events:
            self.session.add(
                CaseEvent(case_id=case.id, kind=kind, at=at, source="import", created_at=self.now)
            )
            report.events.append((case.case_no, kind, at.isoformat()))
        past = [at for _k, at in events if at <= self.today]
        on = max(past) if past else self.today
        report.listing.merge(evaluate_listings(self.session, case, self.rules, on, self.now, days))
        for kind, at in events:
            report.meetings.merge(self.triggers.on_event(case, kind, at, report.warnings))

    def _create(self, row: CaseRow) -> Case:
        case = Case(
            city_id=self.city.id,
            case_no=row.case_no,
            created_at=self.now,
            updated_at=self.now,
            **{f: getattr(row, f) for f in CASE_STORED_FIELDS},
        )
        case.closed_at = self.today if row.status == CaseStatus.CLOSED else None
        self.session.add(case)
        self.session.flush()
        self.report.created += 1
        return case

    def _update(self, case: Case, row: CaseRow) -> Case | None:
        """The case with the row's changes, or None when nothing differs."""
        diff = {
            f: getattr(row, f) for f in CASE_STORED_FIELDS if getattr(case, f) != getattr(row, f)
        }
        if not diff:
            self.report.unchanged += 1
            return None
        for f, v in diff.items():
            setattr(case, f, v)
        if "status" in diff:
            case.closed_at = self.today if row.status == CaseStatus.CLOSED else None
        case.updated_at = self.now
        self.report.updated += 1
        return case


def import_cases(
    session: Session, city: City, rows: Iterable[CaseRow], now: datetime
) -> CaseReport:
    """Upsert validated rows by case number; derive events; re-evaluate listings.

    ``rows`` may be a stream (:func:`meetings.cases.importing.read_cases`): they are
    taken a batch at a time, so only one batch is held. An error the stream raises
    propagates, and the caller's transaction rolls back what earlier batches wrote.
    """
    importer = _Importer(session, city, now)
    batch: list[CaseRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == LOOKUP_CHUNK:
            importer.add_batch(batch)
            batch = []
    importer.add_batch(batch)
    session.flush()
    return importer.report
