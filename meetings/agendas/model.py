"""The agenda of a meeting (開會議程), built from already-fetched inputs. Pure.

Sections follow SPEC §3: 一、主席致詞 二、上次會議決議事項追蹤 三、工作報告
四、列管個案討論 五、提案討論 六、臨時動議. Case rows carry only the case number, the
masked name, the district, the risk, the listing rule's title and a screened,
length-capped listing reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from meetings.kernel.screening import cap, screen_text

SECTION_TITLES = (
    ("一", "主席致詞"),
    ("二", "上次會議決議事項追蹤"),
    ("三", "工作報告"),
    ("四", "列管個案討論"),
    ("五", "提案討論"),
    ("六", "臨時動議"),
)
REASON_MAX = 60  # characters of a listing reason an agenda carries


@dataclass(frozen=True)
class MeetingInfo:
    """What the agenda header says about the meeting."""

    uid: str
    series_id: str
    title: str
    city: str
    start: datetime  # local time
    end: datetime
    location: str | None
    chair: str | None
    organizer: str | None
    status: str
    sequence: int
    # The city's zone, for times the templates localise (when the agenda was frozen).
    # Not part of the agenda's content: not stored with a frozen copy, not compared.
    timezone: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ListedCase:
    """A listed case that may go on the agenda (input)."""

    case_no: str
    masked_name: str | None
    district: str
    sdm_risk: str | None
    tipvda_score: int | None
    listed_reason: str | None
    listed_at: date
    rule_title: str


@dataclass(frozen=True)
class CaseRow:
    """A case row on the agenda (output)."""

    position: int
    case_no: str
    masked_name: str
    district: str
    risk: str
    reason: str  # the screened listing reason, at most REASON_MAX characters ("" if none)
    listed_at: date
    carried_over: bool  # listed before the previous meeting and not yet discussed (續列)
    rule_title: str = ""  # the listing rule (or triggering event) that put it here


@dataclass(frozen=True)
class ActionItemRow:
    id: int
    owner: str
    text: str
    due_on: date


@dataclass(frozen=True)
class ReportSlot:
    agency_code: str
    agency_name: str


@dataclass(frozen=True)
class Agenda:
    meeting: MeetingInfo
    action_items: tuple[ActionItemRow, ...]
    report_slots: tuple[ReportSlot, ...]
    cases: tuple[CaseRow, ...]
    deferred: int  # listed cases beyond max_cases, carried to the next meeting
    rule_title: str | None
    frozen_at: datetime | None = None
    cases_withheld: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    # With ``cases_withheld``: whether this viewer could see them by giving a reason (the
    # secretariat) or never (participants), so the agenda says the right thing.
    cases_viewable: bool = True


def risk_label(sdm_risk: str | None, tipvda_score: int | None) -> str:
    """SDM高 / TIPVDA 9 / both, or 未評估."""
    parts = []
    if sdm_risk:
        parts.append(f"SDM{sdm_risk}")
    if tipvda_score is not None:
        parts.append(f"TIPVDA {tipvda_score}")
    return "、".join(parts) or "未評估"


def brief_reason(reason: str | None, rule_title: str, masked_name: str | None) -> str:
    """What an agenda (and so every invited agency's mail) may say beyond the rule's
    title: the reason screened (IDs, phones, addresses, the case's name) and cut."""
    if not reason or reason == rule_title:
        return ""
    return cap(screen_text(reason, [masked_name]), REASON_MAX)


def screened_agenda(agenda: Agenda) -> Agenda:
    """The agenda with its free text screened again as it is rendered: frozen agendas
    and rows stored before screening existed must not go out as they were written."""
    cases = tuple(
        replace(c, reason=brief_reason(c.reason, c.rule_title, c.masked_name)) for c in agenda.cases
    )
    names = [c.masked_name for c in agenda.cases]
    items = tuple(replace(a, text=screen_text(a.text, names)) for a in agenda.action_items)
    return replace(agenda, cases=cases, action_items=items)


def build_agenda(
    meeting: MeetingInfo,
    *,
    listed: Sequence[ListedCase],
    listed_total: int | None = None,
    action_items: Sequence[ActionItemRow] = (),
    report_slots: Sequence[ReportSlot] = (),
    max_cases: int = 15,
    previous_meeting_day: date | None = None,
    rule_title: str | None = None,
) -> Agenda:
    """Pick the listed, undiscussed cases: oldest listing first, up to ``max_cases``.

    ``listed`` may already be truncated by the query; ``listed_total`` is then the
    full count, so the agenda can say how many are carried to the next meeting.
    """
    ordered = sorted(listed, key=lambda c: (c.listed_at, c.case_no))
    chosen = ordered[:max_cases]
    total = max(listed_total if listed_total is not None else 0, len(ordered))
    rows = tuple(
        CaseRow(
            position=i,
            case_no=c.case_no,
            masked_name=c.masked_name or "（未提供）",
            district=c.district,
            risk=risk_label(c.sdm_risk, c.tipvda_score),
            reason=brief_reason(c.listed_reason, c.rule_title, c.masked_name),
            rule_title=c.rule_title,
            listed_at=c.listed_at,
            carried_over=previous_meeting_day is not None and c.listed_at < previous_meeting_day,
        )
        for i, c in enumerate(chosen, start=1)
    )
    return Agenda(
        meeting=meeting,
        action_items=tuple(sorted(action_items, key=lambda a: (a.due_on, a.id))),
        report_slots=tuple(report_slots),
        cases=rows,
        deferred=total - len(rows),
        rule_title=rule_title,
    )


def withhold_cases(agenda: Agenda, *, viewable: bool = True) -> Agenda:
    """The agenda without case rows (shown to a viewer who gave no --as/--reason; with
    ``viewable`` False, to one who may never see them)."""
    return replace(agenda, cases=(), cases_withheld=True, cases_viewable=viewable)


# --- JSON ---------------------------------------------------------------------------


def agenda_to_json(agenda: Agenda) -> dict[str, Any]:
    """A JSON-ready dict (also what a frozen agenda stores)."""
    m = agenda.meeting
    return {
        "meeting": {
            "uid": m.uid,
            "series": m.series_id,
            "title": m.title,
            "city": m.city,
            "start": m.start.isoformat(),
            "end": m.end.isoformat(),
            "roc_when": format_roc_datetime(m.start),
            "location": m.location,
            "chair": m.chair,
            "organizer": m.organizer,
            "status": m.status,
            "sequence": m.sequence,
        },
        "sections": [{"number": n, "title": t} for n, t in SECTION_TITLES],
        "action_items": [
            {"id": a.id, "owner": a.owner, "text": a.text, "due_on": a.due_on.isoformat()}
            for a in agenda.action_items
        ],
        "report_slots": [
            {"agency": s.agency_code, "name": s.agency_name} for s in agenda.report_slots
        ],
        "rule_title": agenda.rule_title,
        "cases": [
            {
                "position": c.position,
                "case_no": c.case_no,
                "masked_name": c.masked_name,
                "district": c.district,
                "risk": c.risk,
                "reason": c.reason,
                "rule_title": c.rule_title,
                "listed_at": c.listed_at.isoformat(),
                "listed_at_roc": format_roc_date(c.listed_at),
                "carried_over": c.carried_over,
            }
            for c in agenda.cases
        ],
        "deferred": agenda.deferred,
        "cases_withheld": agenda.cases_withheld,
        "frozen_at": agenda.frozen_at.isoformat() if agenda.frozen_at else None,
        "notes": list(agenda.notes),
    }


def agenda_from_json(data: dict[str, Any], timezone: str | None = None) -> Agenda:
    """Inverse of :func:`agenda_to_json` (reads a frozen agenda of a city in ``timezone``)."""
    m = data["meeting"]
    return Agenda(
        meeting=MeetingInfo(
            uid=m["uid"],
            series_id=m["series"],
            title=m["title"],
            city=m["city"],
            start=datetime.fromisoformat(m["start"]),
            end=datetime.fromisoformat(m["end"]),
            location=m["location"],
            chair=m["chair"],
            organizer=m["organizer"],
            status=m["status"],
            sequence=m["sequence"],
            timezone=timezone,
        ),
        action_items=tuple(
            ActionItemRow(a["id"], a["owner"], a["text"], date.fromisoformat(a["due_on"]))
            for a in data["action_items"]
        ),
        report_slots=tuple(ReportSlot(s["agency"], s["name"]) for s in data["report_slots"]),
        cases=tuple(
            CaseRow(
                position=c["position"],
                case_no=c["case_no"],
                masked_name=c["masked_name"],
                district=c["district"],
                risk=c["risk"],
                reason=c["reason"],
                listed_at=date.fromisoformat(c["listed_at"]),
                carried_over=c["carried_over"],
                # Agendas frozen before rows had a rule title: the agenda's own.
                rule_title=c.get("rule_title", data["rule_title"] or ""),
            )
            for c in data["cases"]
        ),
        deferred=data["deferred"],
        rule_title=data["rule_title"],
        frozen_at=datetime.fromisoformat(data["frozen_at"]) if data["frozen_at"] else None,
        cases_withheld=data["cases_withheld"],
        notes=tuple(data.get("notes", [])),
    )
