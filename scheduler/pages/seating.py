"""How the pages show who is coming (出席回覆): the meeting page's seats and calendar
counter-proposals, the attendance form's prefill, the printable notice's 出席者/列席者,
and an answer form's refusal in the page's words.

Reads only (``meetings.seats.queries.seat_rows``); the one writer of an answer is
``meetings.seats.answers.answer_seat``, called by ``scheduler.pages.reply`` (the agency's
reply slip) and ``scheduler.pages.seats`` (the secretariat's override).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.agendas.render import Roster
from meetings.db import InboundMessage, Occurrence
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime, format_roc_time
from meetings.kernel.vocabulary import (
    SEAT_STATE_ZH,
    AttendanceStatus,
    InboundStatus,
    ReplyChannel,
    SeatRole,
    SeatState,
)
from meetings.seats.answers import AnswerError
from meetings.seats.queries import SeatRow, seat_rows, state_counts
from scheduler.serialization import seat_json

CHANNEL_ZH: dict[str, str] = {
    ReplyChannel.LINK: "回條",
    ReplyChannel.ITIP: "行事曆",
    ReplyChannel.SECRETARIAT: "秘書處",
}
# What a form may answer: the agency's three choices (a calendar's 暫定 is the secretariat's).
SLIP_STATES = (SeatState.DESIGNATED, SeatState.DEPUTY, SeatState.DECLINED)
OVERRIDE_STATES = (*SLIP_STATES, SeatState.TENTATIVE)
FIELD_ZH = {
    "state": "回覆",
    "person": "出席人員",
    "title": "職稱",
    "for_whom": "代理對象",
    "reason": "請假事由",
}
# The attendance form's line for an agency that answered (and has no record yet).
PREFILL = {
    SeatState.DESIGNATED: AttendanceStatus.PRESENT,
    SeatState.DEPUTY: AttendanceStatus.DELEGATED,
    SeatState.DECLINED: AttendanceStatus.ABSENT,
}
MAX_COUNTERS = 50  # shown on the page; more are in `liaison replies quarantine`/the CLI
_TOO_LONG = re.compile(r"at most (\d+) characters \(got (\d+)\)")


@dataclass(frozen=True)
class FormAnswer:
    """What someone typed into an answer form, kept to show it again after a refusal."""

    state: str = ""
    person: str = ""
    title: str = ""
    for_whom: str = ""
    reason: str = ""

    @classmethod
    def typed(cls, state: str, person: str, title: str, for_whom: str, reason: str) -> FormAnswer:
        # Cut far beyond every limit: the writer names the field that is too long.
        return cls(*(v[:1000] for v in (state.strip(), person, title, for_whom, reason)))


def answer_error_zh(exc: AnswerError) -> tuple[str, str]:
    """(form field, zh-TW message) for a refused answer; the writer's message starts with
    the field's name (``person: say who will come``)."""
    text = str(exc)
    name, _, rest = text.partition(":")
    label = FIELD_ZH.get(name.strip())
    if label is None:
        if "replies are closed" in text:
            return "", "會議已結束或已取消，不再受理回覆。"
        return "", f"無法記錄回覆：{text}"
    rest = rest.strip()
    too_long = _TOO_LONG.search(rest)
    if too_long:
        return name, f"{label}最多 {too_long.group(1)} 字（目前 {too_long.group(2)} 字）。"
    if "control characters" in rest:
        return name, f"{label}含有不允許的控制字元。"
    if name == "person":
        return name, "請填寫出席人員姓名。"
    if name == "reason":
        return name, "請填寫請假事由。"
    if name == "state":
        return name, "請選擇回覆方式。"
    return name, f"{label}：{rest}"


def seat_label(row: SeatRow) -> str:
    """An agency as the notice names it: 警察局（組長 王小明）, 警察局（代理：巡佐 李大華）."""
    who = " ".join(p for p in (row.title, row.person) if p)
    if not who:
        return row.agency_name
    if row.state == SeatState.DEPUTY:
        return f"{row.agency_name}（代理：{who}）"
    return f"{row.agency_name}（{who}）"


def notice_roster(rows: list[SeatRow]) -> Roster:
    """出席者: member seats, 列席者: observer seats; a seat that declined (請假) is in neither."""
    coming = [r for r in rows if r.state != SeatState.DECLINED]
    return Roster(
        members=tuple(seat_label(r) for r in coming if r.role == SeatRole.MEMBER),
        observers=tuple(seat_label(r) for r in coming if r.role == SeatRole.OBSERVER),
    )


def prefill(rows: list[SeatRow]) -> dict[str, tuple[str, str]]:
    """agency code → (attendance status, rank) from the seats that answered."""
    return {
        r.agency_code: (str(PREFILL[r.state]), r.title or "") for r in rows if r.state in PREFILL
    }


def seat_view(row: SeatRow, tz: str) -> dict[str, Any]:
    """A seat as the meeting page shows it: its JSON form plus the page's words."""
    return {
        **seat_json(row, tz),
        "required_zh": "必要" if row.required else "選擇",
        "channel_zh": CHANNEL_ZH.get(row.channel or "", row.channel or ""),  # StrEnum keys
        "when": format_roc_datetime(local(row.answered_at, tz)) if row.answered_at else "",
    }


def counter_proposals(session: Session, occ: Occurrence, tz: str) -> list[dict[str, Any]]:
    """Calendar replies proposing another time (iTIP COUNTER): shown, never applied."""
    rows = session.scalars(
        select(InboundMessage)
        .where(
            InboundMessage.status == InboundStatus.COUNTER,
            InboundMessage.occurrence_uid == occ.uid,
        )
        .order_by(InboundMessage.received_at, InboundMessage.id)
        .limit(MAX_COUNTERS)
    ).all()

    def when(m: InboundMessage) -> str:
        if m.proposed_start is None:
            return "（未載明時間）"
        start = local(m.proposed_start, tz)
        text = format_roc_datetime(start)
        if m.proposed_end is not None:
            text += "至" + format_roc_time(local(m.proposed_end, tz))
        return text

    return [
        {
            "sender": m.sender or "（不明）",
            "proposed": when(m),
            "received": format_roc_datetime(local(m.received_at, tz)),
        }
        for m in rows
    ]


def seats_section(session: Session, occ: Occurrence) -> dict[str, Any]:
    """The meeting page's 出席回覆: every seat, the counts per state, COUNTER proposals."""
    tz = occ.series.city.timezone
    rows = seat_rows(session, occ)
    counts = state_counts(rows)
    return {
        "seats": [seat_view(r, tz) for r in rows],
        "seat_counts": [(SEAT_STATE_ZH[s], counts[str(s)]) for s in SeatState],
        "seat_total": counts["total"],
        "counters": counter_proposals(session, occ, tz),
        "override_states": [(str(s), SEAT_STATE_ZH[s]) for s in OVERRIDE_STATES],
        "prefill": prefill(rows),  # for the attendance form
    }
