"""The grant report (衛福部補助成果, seed 003): per kind of meeting, the sessions held, their
hours, the participants, case discussions and distinct cases discussed in a year.

The criteria ask grantees for 「專業督導與教育訓練辦理場次、時數、參與人數」 and
「家庭會談次數、個案研討次數」. A series' ``kind`` (``SeriesKind``) decides its row. Hours
and participants are what was recorded (``liaison attendance held UID --hours --participants``);
where nothing was, the scheduled duration and the attendance lines (present or delegated)
stand in, and the report says so per meeting. Same year rule as the KPI report: held
meetings whose nominal date is in the year.

``summarise`` is pure; ``grant_report`` reads the rows for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meetings.db import Attendance, CaseDiscussion, City, HeldMeeting, Occurrence, Series
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import gregorian_year
from meetings.kernel.vocabulary import ATTENDED, SeriesKind
from meetings.kpis.queries import report_city
from meetings.kpis.selection import Selection, held


@dataclass(frozen=True)
class HeldSession:
    """One held meeting as the grant report counts it. ``cases`` stays inside the report
    (for distinct counts); nothing renders it."""

    kind: SeriesKind
    title: str
    held_on: date
    hours: float
    hours_recorded: bool
    participants: int
    participants_recorded: bool
    discussions: int
    cases: frozenset[str] = frozenset()


@dataclass
class KindTotals:
    """One row of the report: a kind (None for the total)."""

    kind: SeriesKind | None
    sessions: int = 0
    hours: float = 0.0
    participants: int = 0
    discussions: int = 0
    cases: set[str] = field(default_factory=set)

    def add(self, s: HeldSession) -> None:
        self.sessions += 1
        self.hours = round(self.hours + s.hours, 1)
        self.participants += s.participants
        self.discussions += s.discussions
        self.cases |= s.cases

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": None if self.kind is None else str(self.kind),
            "sessions": self.sessions,
            "hours": self.hours,
            "participants": self.participants,
            "case_discussions": self.discussions,
            "cases_discussed": len(self.cases),
        }


@dataclass(frozen=True)
class GrantReport:
    city: str
    year: int  # Gregorian
    rows: list[KindTotals]  # every kind, in SeriesKind order
    total: KindTotals
    sessions: list[HeldSession]  # by date, then title

    @property
    def roc_year(self) -> int:
        return self.year - 1911


def summarise(city: str, year: int, sessions: list[HeldSession]) -> GrantReport:
    """Totals per kind (every kind, zero rows included) and over all."""
    rows = {kind: KindTotals(kind) for kind in SeriesKind}
    total = KindTotals(None)
    ordered = sorted(sessions, key=lambda s: (s.held_on, s.title))
    for s in ordered:
        rows[s.kind].add(s)
        total.add(s)
    return GrantReport(city, year, list(rows.values()), total, ordered)


def grant_report(session: Session, year: int, *, city_id: int | None = None) -> GrantReport:
    """The grant report of a year (ROC or Gregorian) of one city (may be left out when one
    city is loaded)."""
    g = gregorian_year(year)
    city = report_city(session, city_id, None)
    sel = Selection(date(g, 1, 1), date(g, 12, 31), None, None, city)
    filters = [*sel.occurrences(), *sel.in_year(), held()]
    rows = session.execute(
        select(Occurrence, Series.spec, HeldMeeting)
        .join(Series, Series.id == Occurrence.series_id)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .where(*filters)
    ).all()
    ids = [occ.id for occ, _spec, _held in rows]
    attended = _attended(session, ids)
    cases = _cases(session, [occ.uid for occ, _spec, _held in rows])
    sessions = []
    for occ, spec, record in rows:
        scheduled = round((occ.end_at - occ.start_at).total_seconds() / 3600, 1)
        tz = occ.series.city.timezone
        found = cases.get(occ.uid, [])
        sessions.append(
            HeldSession(
                kind=SeriesKind(spec.get("kind") or SeriesKind.NETWORK),
                title=occ.title,
                held_on=record.held_on if record else local(occ.start_at, tz).date(),
                hours=record.hours if record and record.hours is not None else scheduled,
                hours_recorded=bool(record and record.hours is not None),
                participants=(
                    record.participants
                    if record and record.participants is not None
                    else attended.get(occ.id, 0)
                ),
                participants_recorded=bool(record and record.participants is not None),
                discussions=len(found),
                cases=frozenset(found),
            )
        )
    row = session.get(City, city) if city is not None else None
    return summarise(row.name if row is not None else "", g, sessions)


def _attended(session: Session, ids: list[int]) -> dict[int, int]:
    """Attendance lines present or delegated, per meeting."""
    if not ids:
        return {}
    return {
        oid: int(n)
        for oid, n in session.execute(
            select(Attendance.occurrence_id, func.count())
            .where(Attendance.occurrence_id.in_(ids), Attendance.status.in_(sorted(ATTENDED)))
            .group_by(Attendance.occurrence_id)
        )
    }


def _cases(session: Session, uids: list[str]) -> dict[str, list[str]]:
    """The discussion records' case numbers, per meeting UID."""
    out: dict[str, list[str]] = defaultdict(list)
    if uids:
        for uid, case_no in session.execute(
            select(CaseDiscussion.occurrence_uid, CaseDiscussion.case_no).where(
                CaseDiscussion.occurrence_uid.in_(uids)
            )
        ):
            out[uid].append(case_no)
    return out
