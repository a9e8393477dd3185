"""TL3.1 (case-data look-ups with a legitimate reason) per team, beside its target.

``meetings.cases.audit.audit_report`` counts the look-ups; this adds what the KPI
layer knows: each viewer's team (``people[].team`` of the city, matched by email) and
the city's ``legitimate_reason_rate`` target, for the whole and for every team. Seed
001 names the figure "TL3.1 各組…比例": each 組 is judged against the same target.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.cases.audit import audit_report
from meetings.cases.lookup import resolve_city
from meetings.db import City, Person
from meetings.kernel.errors import OperationError
from meetings.kpis.formulas import rate
from meetings.kpis.targets import Figure, compare, results_json

NO_TEAM = "未分組"
KEY = "legitimate_reason_rate"


def _city(session: Session, city: str | None) -> City | None:
    """The named city, or the only one; None when several are loaded and none is named
    (their look-ups are not filed by city, so no one city's targets apply)."""
    try:
        return resolve_city(session, city)
    except OperationError:
        if city is not None:
            raise
        return None


def _teams(session: Session, city: City | None) -> dict[str, str]:
    """Email (lower case) → team, of the city's people (every city's when None)."""
    q = select(Person.email, Person.team).where(Person.team.is_not(None))
    if city is not None:
        q = q.where(Person.city_id == city.id)
    return {email.strip().lower(): team for email, team in session.execute(q) if team}


def audit_kpis(session: Session, year: int, *, city: str | None = None) -> dict[str, Any]:
    """The look-up audit of a year (``audit_report``) with ``targets`` (TL3.1 beside the
    city's target) and ``by_team`` ({team: lookups, legitimate, rate, targets})."""
    report = audit_report(session, year, city=city)
    where = _city(session, city)
    targets = dict(where.targets or {}) if where is not None else {}
    teams = _teams(session, where)
    counts: dict[str, list[int]] = {}
    for r in report["records"]:
        team = teams.get(str(r["viewer"]).strip().lower(), NO_TEAM)
        n = counts.setdefault(team, [0, 0])
        n[0] += 1
        n[1] += int(bool(r["legitimate"]))

    def judged(legit: int, lookups: int) -> dict[str, Any]:
        figure = Figure(rate(legit, lookups), legit, lookups)
        return results_json(compare(targets, report["year"], {KEY: figure}))

    report["targets"] = judged(report["with_legitimate_reason"], report["lookups"])
    report["by_team"] = {
        team: {
            "lookups": lookups,
            "legitimate": legit,
            KEY: rate(legit, lookups),
            "targets": judged(legit, lookups),
        }
        for team, (lookups, legit) in sorted(
            counts.items(), key=lambda kv: (kv[0] == NO_TEAM, kv[0])
        )
    }
    return report
