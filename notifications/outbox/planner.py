"""Planning the durable mail outbox from domain events.

Every message is a row in ``outbox_messages`` with a deterministic Message-ID
(unique), so planning twice plans nothing new and a sent row is never sent
again. Claiming and recording delivery is ``notifications.outbox.store``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from meetings.db import (
    Agency,
    City,
    Occurrence,
    OutboxEvent,
    OutboxMessage,
    Seat,
    SeatAnswer,
    Series,
)
from meetings.kernel.rocdate import format_roc_date
from meetings.kernel.vocabulary import (
    MEETING_NOTICES,
    EventKind,
    MessageKind,
    MessageStatus,
    OccurrenceStatus,
    ReplyChannel,
)
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.registry import office_calendar_for
from meetings.schedule.spans import Span, parse_span, shift
from meetings.schedule.units import unit_for
from meetings.schedule.workdays import OfficeCalendar
from notifications.outbox.recipients import (
    Recipient,
    message_id_for,
    recipients_for,
    secretariat_for,
)

DEFAULT_REMINDERS: tuple[tuple[str, MessageKind], ...] = (
    ("14d", MessageKind.INVITATION),
    ("7d", MessageKind.AGENDA),
    ("1d", MessageKind.REMINDER),
)
# The secretariat's readiness check, before every meeting (a series' ``readiness``).
DEFAULT_READINESS = "3wd"
# A meeting change re-announces the meeting with one of these, to those already told.
CHANGE_EVENTS = frozenset({EventKind.MOVED, EventKind.UPDATED, EventKind.REINSTATED})
# Messages that put the meeting into the recipient's calendar (METHOD:REQUEST).
CALENDAR_NOTICES = frozenset({MessageKind.INVITATION, MessageKind.UPDATE})
# Messages that do not tell invitees about the meeting (what "already told" ignores).
NOT_NOTICES = frozenset(
    {MessageKind.READINESS, MessageKind.REPLY_CHASE, MessageKind.REPLY_CONFIRMATION}
)


def _before(span_text: str, start: datetime, calendar: OfficeCalendar) -> datetime:
    """``start`` moved back by a reminder's span (``14d``, ``5wd``: always before), same
    time of day."""
    span = parse_span(span_text)
    day = shift(start.date(), Span(-abs(span.amount), span.unit), calendar)
    return datetime.combine(day, start.timetz())


@dataclass
class PlanReport:
    events: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    superseded: int = 0
    cancelled: int = 0

    def count(self, kind: str) -> None:
        self.planned[kind] = self.planned.get(kind, 0) + 1


class Planner:
    """Turns unprocessed domain events into outbox messages (same transaction)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.report = PlanReport()
        self._calendars: dict[int, OfficeCalendar] = {}
        self._occurrences: dict[str, Occurrence | None] = {}
        self._by_uid: dict[str, list[OutboxMessage]] = {}
        self._recipients: dict[tuple[str, str | None], list[Recipient]] = {}
        self._secretariats: dict[tuple[str, str | None], list[Recipient]] = {}
        self._decls: dict[str, SeriesDecl] = {}

    def run(self, limit: int = 5000) -> PlanReport:
        q = (
            select(OutboxEvent)
            .where(OutboxEvent.processed_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        events = self.session.scalars(q).all()
        self._preload({e.occurrence_uid for e in events if e.occurrence_uid})
        # New rows are inserted together at the end (one executemany), not per event.
        with self.session.no_autoflush:
            for event in events:
                self.handle(event)
                event.processed_at = self.now
                self.report.events += 1
        self.session.flush()
        return self.report

    # -- helpers --------------------------------------------------------------

    def _preload(self, uids: set[str]) -> None:
        """The events' meetings and their messages, a few queries for the whole run."""
        ordered = sorted(uids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            found = {
                o.uid: o
                for o in self.session.scalars(
                    select(Occurrence)
                    .where(Occurrence.uid.in_(chunk))
                    .options(selectinload(Occurrence.series).selectinload(Series.city))
                )
            }
            for uid in chunk:
                self._occurrences[uid] = found.get(uid)
                self._by_uid[uid] = []
            for m in self.session.scalars(
                select(OutboxMessage).where(OutboxMessage.occurrence_uid.in_(chunk))
            ):
                self._by_uid[m.occurrence_uid or ""].append(m)

    def _occurrence(self, uid: str) -> Occurrence | None:
        if uid not in self._occurrences:
            self._occurrences[uid] = self.session.scalar(
                select(Occurrence).where(Occurrence.uid == uid)
            )
        return self._occurrences[uid]

    def _decl(self, series: Series) -> SeriesDecl:
        if series.id not in self._decls:
            self._decls[series.id] = SeriesDecl.model_validate(series.spec)
        return self._decls[series.id]

    def _recipients_for(self, occ: Occurrence) -> list[Recipient]:
        """The meeting's recipients: its series' invitations, as its district's units."""
        key = (occ.series_id, occ.district)
        if key not in self._recipients:
            self._recipients[key] = recipients_for(self.session, occ.series, occ.district)
        return self._recipients[key]

    def _calendar(self, city_id: int) -> OfficeCalendar:
        if city_id not in self._calendars:
            self._calendars[city_id] = office_calendar_for(self.session, city_id)
        return self._calendars[city_id]

    def _messages(self, uid: str) -> list[OutboxMessage]:
        """Every message of a meeting, including those added in this run (not yet flushed)."""
        if uid not in self._by_uid:
            self._by_uid[uid] = list(
                self.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.occurrence_uid == uid)
                )
            )
        return self._by_uid[uid]

    def _add(
        self,
        occ_key: str,
        kind: str,
        sequence: int,
        city: City,
        rcpt: Recipient,
        due: datetime,
        context: dict[str, Any],
        existing: set[str],
    ) -> None:
        mid = message_id_for(kind, occ_key, sequence, rcpt.email, city.domain)
        if mid in existing:
            return
        existing.add(mid)
        message = OutboxMessage(
            message_id=mid,
            kind=kind,
            occurrence_uid=context.get("uid"),
            sequence=sequence,
            city_id=city.id,
            recipient=rcpt.email,
            recipient_name=rcpt.name,
            role=rcpt.role,
            due_at=due,
            status=MessageStatus.PENDING,
            attempts=0,
            context=context,
            created_at=self.now,
        )
        self.session.add(message)
        if message.occurrence_uid is not None:
            self._messages(message.occurrence_uid).append(message)
        self.report.count(kind)

    def _plan_regular(self, occ: Occurrence, sent_kinds: set[str], existing: set[str]) -> None:
        """Invitation/agenda/reminder at their times; past-due ones go now."""
        series = occ.series
        decl = self._decl(series)
        plan = (
            [(r.before, r.kind) for r in decl.reminders]
            if decl.reminders is not None
            else list(DEFAULT_REMINDERS)
        )
        calendar = self._calendar(series.city_id)
        due_list = [(kind, _before(before, occ.start_at, calendar)) for before, kind in plan]
        overdue_now = [k for k, due in due_list if due <= self.now and k != MessageKind.REMINDER]
        for kind, due in due_list:
            if kind in sent_kinds:
                continue
            if due <= self.now:
                # A reminder is pointless beside an invitation or agenda going out now.
                if kind == MessageKind.REMINDER and overdue_now:
                    continue
                due = self.now
            self._to_all(occ, kind, due, existing)
        self._plan_readiness(occ, decl, calendar, existing)

    def _plan_readiness(
        self, occ: Occurrence, decl: SeriesDecl, calendar: OfficeCalendar, existing: set[str]
    ) -> None:
        """The secretariat's readiness check of this version of the meeting (now if its
        time is past); what it lists is looked up when it is sent."""
        series = occ.series
        due = max(_before(decl.readiness or DEFAULT_READINESS, occ.start_at, calendar), self.now)
        key = (series.id, occ.district)
        if key not in self._secretariats:
            self._secretariats[key] = secretariat_for(
                self.session, series.city_id, series, occ.district
            )
        for rcpt in self._secretariats[key]:
            self._add(
                occ.uid,
                MessageKind.READINESS,
                occ.sequence,
                series.city,
                rcpt,
                due,
                {"uid": occ.uid},
                existing,
            )
        self._plan_chases(occ, decl, due, existing)

    def _to_all(self, occ: Occurrence, kind: str, due: datetime, existing: set[str]) -> None:
        """Plan one ``kind`` message about ``occ`` for each of its series' recipients (an
        agency's carries its seat's reply link, looked up when it is sent)."""
        series = occ.series
        for rcpt in self._recipients_for(occ):
            self._add(
                occ.uid, kind, occ.sequence, series.city, rcpt, due, _context(occ, rcpt), existing
            )

    def _plan_chases(
        self, occ: Occurrence, decl: SeriesDecl, due: datetime, existing: set[str]
    ) -> None:
        """At readiness time, a reply chase to each required agency's addresses; one whose
        seat is answered by then is skipped when it is due. A meeting announced or moved
        inside its readiness window gets none: its notice has just asked."""
        if due <= self.now:
            return
        required = set(decl.invite.required)
        for rcpt in self._recipients_for(occ):
            if rcpt.agency in required:
                self._add(
                    occ.uid,
                    MessageKind.REPLY_CHASE,
                    occ.sequence,
                    occ.series.city,
                    rcpt,
                    due,
                    _context(occ, rcpt),
                    existing,
                )

    def _answered(self, event: OutboxEvent) -> None:
        """A reply slip or the secretariat's answer is confirmed to the agency's addresses
        (a calendar's reply is not: the calendar shows it, and a mail could loop)."""
        answer = self.session.get(SeatAnswer, event.payload.get("answer_id"))
        occ = self._occurrence(event.occurrence_uid or "")
        if answer is None or occ is None or answer.channel == ReplyChannel.ITIP:
            return
        seat = self.session.get(Seat, answer.seat_id)
        agency = self.session.scalar(
            select(Agency).where(
                Agency.city_id == occ.series.city_id,
                Agency.code == (seat.agency_code if seat else ""),
            )
        )
        if seat is None or agency is None or not agency.active:
            return
        unit = unit_for(agency, occ.district)
        key = f"seat-answer-{answer.id}"
        context = {"uid": occ.uid, "agency": seat.agency_code, "answer_id": answer.id}
        existing = {m.message_id for m in self._messages(occ.uid)}
        for email in unit.emails:
            rcpt = Recipient(email, unit.name, "NON-PARTICIPANT", seat.agency_code)
            self._add(
                key,
                MessageKind.REPLY_CONFIRMATION,
                occ.sequence,
                occ.series.city,
                rcpt,
                self.now,
                context,
                existing,
            )

    # -- event handling -----------------------------------------------------------

    def handle(self, event: OutboxEvent) -> None:
        kind = event.kind
        if kind == EventKind.ESCALATION:
            self._escalation(event)
            return
        if kind == EventKind.SEAT_ANSWERED:
            self._answered(event)
            return
        if not kind.startswith("occurrence.") or event.occurrence_uid is None:
            return
        occ = self._occurrence(event.occurrence_uid)
        if occ is None:
            return
        if event.sequence is not None and occ.sequence > event.sequence:
            return  # a later event for this meeting will plan from its newest state
        messages = self._messages(occ.uid)
        existing = {m.message_id for m in messages}
        # What the invitees were told (readiness checks and reply-slip mails are not that).
        sent_kinds = {
            m.kind for m in messages if m.status == MessageStatus.SENT and m.kind not in NOT_NOTICES
        }
        past = occ.start_at <= self.now
        if kind == EventKind.REKEYED:
            if not past:
                self._rekeyed(occ, str(event.payload.get("old_uid") or ""), messages, existing)
            return
        if kind == EventKind.CANCELLED:
            self._cancelled(occ, messages, sent_kinds, existing, past=past)
            return
        if occ.status != OccurrenceStatus.SCHEDULED or past:
            return
        if kind in CHANGE_EVENTS:
            sent_kinds = self._changed(occ, messages, sent_kinds, existing)
        self._plan_regular(occ, sent_kinds, existing)

    def _cancelled(
        self,
        occ: Occurrence,
        messages: list[OutboxMessage],
        sent_kinds: set[str],
        existing: set[str],
        *,
        past: bool,
    ) -> None:
        """Cancel the pending notices; tell those already told (unless it is past)."""
        for m in messages:
            if (
                m.status == MessageStatus.PENDING
                and m.kind in MEETING_NOTICES
                and m.kind != MessageKind.CANCELLATION
            ):
                m.status = MessageStatus.CANCELLED
                self.report.cancelled += 1
        if sent_kinds and not past:
            self._to_all(occ, MessageKind.CANCELLATION, self.now, existing)

    def _changed(
        self,
        occ: Occurrence,
        messages: list[OutboxMessage],
        sent_kinds: set[str],
        existing: set[str],
    ) -> set[str]:
        """Supersede notices of older versions; send an update to those already told.

        Returns the kinds to treat as sent from now on.
        """
        for m in messages:
            if (
                m.status == MessageStatus.PENDING
                and m.kind in MEETING_NOTICES
                and m.sequence < occ.sequence
            ):
                m.status = MessageStatus.SUPERSEDED
                self.report.superseded += 1
        if sent_kinds - {MessageKind.CANCELLATION}:
            self._to_all(occ, MessageKind.UPDATE, self.now, existing)
            # the update carries the new calendar entry; don't invite again
            return sent_kinds | {MessageKind.INVITATION}
        return sent_kinds

    def _rekeyed(
        self, occ: Occurrence, old_uid: str, messages: list[OutboxMessage], existing: set[str]
    ) -> None:
        """The meeting's UID changed (migration 0010): calendars holding the old one get
        it removed and, while the meeting stands, an invitation under the new one."""
        if not old_uid:
            return
        if occ.status != OccurrenceStatus.SCHEDULED:
            # A cancellation still to go must remove the entry recipients actually hold.
            for m in messages:
                if m.status == MessageStatus.PENDING and m.kind == MessageKind.CANCELLATION:
                    m.context = {**m.context, "ics_uid": old_uid}
            return
        told: dict[str, Recipient] = {}
        for m in messages:
            if m.status == MessageStatus.SENT and m.kind in CALENDAR_NOTICES:
                told.setdefault(
                    m.recipient.lower(),
                    Recipient(m.recipient, m.recipient_name or m.recipient, m.role or ""),
                )
        if not told:
            return  # nobody's calendar holds the old UID (feeds just carry the new one)
        for m in messages:
            if (
                m.status == MessageStatus.PENDING
                and m.kind == MessageKind.UPDATE
                and m.recipient.lower() in told
            ):
                m.status = MessageStatus.SUPERSEDED  # the new invitation says it all
                self.report.superseded += 1
        city = occ.series.city
        context = {"uid": occ.uid, "ics_uid": old_uid}
        current = {r.email.lower() for r in self._recipients_for(occ)}
        for key, rcpt in told.items():
            self._add(
                occ.uid,  # not the old UID: a Message-ID must not derive from it
                MessageKind.RENUMBERED,
                occ.sequence + 1,
                city,
                rcpt,
                self.now,
                context,
                existing,
            )
            if key in current:
                self._add(
                    occ.uid,
                    MessageKind.INVITATION,
                    occ.sequence,
                    city,
                    rcpt,
                    self.now,
                    {"uid": occ.uid},
                    existing,
                )

    def _escalation(self, event: OutboxEvent) -> None:
        payload = event.payload
        city_id = payload.get("city_id")
        series = self.session.get(Series, payload["series"]) if payload.get("series") else None
        if city_id is None and event.occurrence_uid:
            occ = self.session.scalar(
                select(Occurrence).where(Occurrence.uid == event.occurrence_uid)
            )
            city_id = occ.series.city_id if occ else None
        if city_id is None and series is not None:
            city_id = series.city_id
        if city_id is None:
            return
        city = self.session.get(City, city_id)
        assert city is not None
        key = f"escalation-event-{event.id}"
        if series is not None and series.city_id != city_id:
            series = None  # never another city's secretariat
        # A per-district series' case is kept by the secretariat's unit of its district.
        district = (
            payload.get("district")
            if series is not None and series.spec.get("per_district")
            else None
        )
        secretariat = secretariat_for(self.session, city_id, series, district or None)
        mids = [
            message_id_for(MessageKind.ESCALATION, key, 0, r.email, city.domain)
            for r in secretariat
        ]
        existing = set(
            self.session.scalars(
                select(OutboxMessage.message_id).where(OutboxMessage.message_id.in_(mids))
            )
        )
        # Only what the escalation email may carry: no names (not even masked), no
        # narratives, and the case number masked (SPEC §4; the agenda has the rest).
        context: dict[str, Any] = {
            "case_no": mask_case_no(str(payload.get("case_no") or "")),
            "district": payload.get("district") or "",
            "rule": payload.get("rule") or "",
            "rule_title": payload.get("rule_title") or "",
            "listed_at": _roc_text(payload.get("listed_at")),
            "deadline": _roc_text(payload.get("deadline")),
            "window": _span_zh(str(payload.get("window") or "")),
            "series": payload.get("series"),
            "uid": payload.get("uid"),
        }
        context["key"] = key
        for rcpt in secretariat:
            self._add(key, MessageKind.ESCALATION, 0, city, rcpt, self.now, context, existing)


def _context(occ: Occurrence, rcpt: Recipient) -> dict[str, Any]:
    """A meeting message's planned context: the meeting, and the agency whose seat it is."""
    if rcpt.agency is None:
        return {"uid": occ.uid}
    return {"uid": occ.uid, "agency": rcpt.agency}


def mask_case_no(case_no: str) -> str:
    """Keep letters, separators and the last two digits: TY-CP-0001 → TY-CP-**01."""
    digits = [i for i, ch in enumerate(case_no) if ch.isdigit()]
    hidden = set(digits[:-2]) if len(digits) > 2 else set(digits[:-1])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(case_no))


def _span_zh(text: str) -> str:
    """60d → 60日, 5wd → 5個工作日, 2w → 2週, 3mo → 3個月."""
    try:
        span = parse_span(text)
    except ValueError:
        return text
    unit = {"d": "日", "wd": "個工作日", "w": "週", "mo": "個月"}.get(span.unit, span.unit)
    return f"{abs(span.amount)}{unit}"


def _roc_text(value: object) -> str:
    if not value:
        return ""
    try:
        return format_roc_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def plan_messages(session: Session, now: datetime) -> PlanReport:
    """Plan messages for every unprocessed domain event."""
    return Planner(session, now).run()
