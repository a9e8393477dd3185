"""The daemon's periodic case work, one idempotent pass in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from meetings.cases.escalation import check_escalations
from meetings.cases.held import derive_held_events
from meetings.cases.triggers import roll_repeats
from meetings.schedule.operations import ChangeReport


@dataclass
class CaseJobsReport:
    """What one pass of :func:`run_case_jobs` did."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    meetings: ChangeReport = field(default_factory=ChangeReport)
    escalations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": [{"case_no": c, "kind": k, "at": d} for c, k, d in self.events],
            "meetings_created": self.meetings.created,
            "escalations": self.escalations,
            "warnings": self.meetings.warnings,
        }


def run_case_jobs(session: Session, now: datetime) -> CaseJobsReport:
    """The daemon tick's case work, in the caller's transaction (idempotent).

    1. held needs-assessment meetings → ``needs_assessment_held`` events (成效評估 follows);
    2. the next round of repeating case meetings once one has passed;
    3. escalations of listed cases undiscussed past their rule's window (once per listing).
    """
    report = CaseJobsReport()
    derived = derive_held_events(session, now)
    report.events += derived.events
    report.meetings.merge(derived.meetings)
    report.meetings.warnings += derived.warnings
    report.meetings.merge(roll_repeats(session, now))
    report.escalations = check_escalations(session, now)
    return report
