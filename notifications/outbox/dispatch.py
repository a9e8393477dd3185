"""Sending what is due: claim, re-check, render, send, record — each message once.

A message is re-checked against the meeting just before sending: nothing is
sent for a cancelled meeting (except the cancellation) or for one already past.
Only a crash between the SMTP server's acceptance and our commit of ``sent``
can repeat a message, with the same Message-ID (SPEC §4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from meetings.access.users import secret
from meetings.db import (
    Agency,
    City,
    DeliverableSubmission,
    Minutes,
    Occurrence,
    OutboxMessage,
    Seat,
    SeatAnswer,
)
from meetings.kernel.errors import shorten
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.vocabulary import (
    SEAT_ROLE_ZH,
    SEAT_STATE_ZH,
    MessageKind,
    OccurrenceStatus,
    Origin,
    SeatRole,
    SeatState,
)
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.units import unit_for
from meetings.seats.seats import REPLY_SECRET, reply_token, sync_seats
from notifications.agenda_mail import agenda_for_email
from notifications.email import MeetingView, compose, one_line, render
from notifications.itip import calendar_for_message
from notifications.outbox.deliverables import plan_deliverables_due
from notifications.outbox.minutes import plan_minutes_due
from notifications.outbox.planner import plan_messages
from notifications.outbox.readiness import readiness_items
from notifications.outbox.store import (
    Outcome,
    Recorded,
    SendResult,
    claim_due,
    claimed_rows,
    mark_skipped,
    new_worker_id,
    record_outcomes,
)
from notifications.smtp import PermanentFailure, TemporaryFailure

CALENDAR_KINDS: dict[str, str] = {
    MessageKind.INVITATION: "REQUEST",
    MessageKind.UPDATE: "REQUEST",
    MessageKind.CANCELLATION: "CANCEL",
    MessageKind.RENUMBERED: "CANCEL",
}
# Notices that are only sent for the meeting's current version, before it starts.
MEETING_KINDS: set[str] = {
    MessageKind.INVITATION,
    MessageKind.AGENDA,
    MessageKind.REMINDER,
    MessageKind.UPDATE,
    MessageKind.READINESS,
    MessageKind.REPLY_CHASE,
}
# An agency's copy of these carries its seat's reply link (回條).
REPLY_LINK_KINDS = frozenset(
    {
        MessageKind.INVITATION,
        MessageKind.UPDATE,
        MessageKind.REMINDER,
        MessageKind.REPLY_CHASE,
        MessageKind.REPLY_CONFIRMATION,
    }
)
# Reminders of a held meeting's deliverables (成效檢核表 …), planned by outbox.deliverables.
DELIVERABLE_KINDS = frozenset({MessageKind.DELIVERABLE_DUE, MessageKind.DELIVERABLE_OVERDUE})
# What an escalation email may say (planned into the row's context; no names).
ESCALATION_FIELDS = ("case_no", "district", "rule_title", "listed_at", "deadline", "window")


class Mailer(Protocol):
    async def send(self, message: EmailMessage, sender: str, recipient: str) -> str: ...

    async def close(self) -> None: ...


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, recorded: Recorded) -> None:
        """Count a recorded batch."""
        self.sent += recorded.sent
        self.failed += recorded.failed
        self.retried += recorded.retried
        self.errors.extend(recorded.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Job:
    """Everything needed to build one email, read in the claiming transaction."""

    id: int
    kind: str
    message_id: str
    sender: Address
    recipient: Address
    reply_to: str | None
    view: MeetingView | None
    extra: dict[str, Any]
    calendar: bytes | None


@dataclass(frozen=True)
class Prepared:
    id: int
    message: EmailMessage | None  # None: no longer to be sent
    envelope_from: str
    recipient: str
    skip_reason: str | None = None


def _agency(session: Session, city_id: int, code: str | None) -> Agency | None:
    if code is None:
        return None
    return session.scalar(select(Agency).where(Agency.city_id == city_id, Agency.code == code))


def meeting_view(session: Session, occ: Occurrence, base_url: str) -> MeetingView:
    """The email/ICS view of a meeting (title, time, place, organiser — no case data)."""
    decl = SeriesDecl.model_validate(occ.series.spec)
    agency = _agency(session, occ.series.city_id, decl.organizer)
    # A district meeting organised by 各區公所 is that district's 區公所's.
    org = unit_for(agency, occ.district) if agency is not None else None
    return MeetingView(
        uid=occ.uid,
        sequence=occ.sequence,
        title=occ.title,
        start=occ.start_at,
        end=occ.end_at,
        location=occ.location,
        chair=decl.chair,
        organizer_name=org.name if org else occ.series.city.name,
        organizer_email=str(org.emails[0]) if org and org.emails else None,
        status=occ.status,
        moved_reason=occ.moved_reason if occ.origin != Origin.EVENT else None,
        timezone=occ.series.city.timezone,
        agenda_url=f"{base_url}/meetings/{occ.uid}",
    )


CalendarBuilder = Callable[[str, MeetingView, list[OutboxMessage], datetime], bytes]
AgendaRenderer = Callable[[Session, Occurrence, datetime], tuple[str, str] | None]


class _Skip(Exception):
    """A claimed message that is no longer to be sent (the reason is recorded)."""


@dataclass
class _BatchCache:
    """Per-transaction look-ups shared by the messages of one batch (same meeting, city)."""

    cities: dict[int, City] = field(default_factory=dict)
    occurrences: dict[str | None, Occurrence | None] = field(default_factory=dict)
    views: dict[str, MeetingView] = field(default_factory=dict)
    agendas: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    seats: dict[str, dict[str, Seat]] = field(default_factory=dict)
    reply_key: str | None = None

    def seat(self, session: Session, occ: Occurrence, code: str, now: datetime) -> Seat | None:
        """The agency's seat at ``occ`` (the meeting's seats are made on its first notice)."""
        if occ.uid not in self.seats:
            self.seats[occ.uid] = {
                s.agency_code: s for s in sync_seats(session, occ, self.key(session, now), now)
            }
        return self.seats[occ.uid].get(code)

    def key(self, session: Session, now: datetime) -> str:
        if self.reply_key is None:
            self.reply_key = secret(session, REPLY_SECRET, now)
        return self.reply_key

    def city(self, session: Session, city_id: int) -> City:
        if city_id not in self.cities:
            city = session.get(City, city_id)
            assert city is not None
            self.cities[city_id] = city
        return self.cities[city_id]

    def occurrence(self, session: Session, uid: str | None) -> Occurrence | None:
        if uid not in self.occurrences:
            self.occurrences[uid] = (
                session.scalar(select(Occurrence).where(Occurrence.uid == uid)) if uid else None
            )
        return self.occurrences[uid]

    def view(self, session: Session, occ: Occurrence, base_url: str) -> MeetingView:
        if occ.uid not in self.views:
            self.views[occ.uid] = meeting_view(session, occ, base_url)
        return self.views[occ.uid]


def make_job(
    session: Session,
    row: OutboxMessage,
    now: datetime,
    base_url: str,
    calendar_builder: CalendarBuilder = calendar_for_message,
    agenda_renderer: AgendaRenderer = agenda_for_email,
    cache: _BatchCache | None = None,
) -> Job:
    """Re-check a claimed row against its meeting and gather what its email says.

    Raises ``_Skip`` when the message is no longer to be sent.
    """
    cache = cache or _BatchCache()
    city = cache.city(session, row.city_id)
    view: MeetingView | None = None
    calendar: bytes | None = None
    if row.kind == MessageKind.ESCALATION:
        extra = _escalation_extra(session, row, city, now, cache)
    else:
        occ = cache.occurrence(session, row.occurrence_uid)
        if occ is None:
            raise _Skip("meeting no longer exists")
        _check_still_due(row, occ, now)
        view = cache.view(session, occ, base_url)
        extra = _meeting_extra(session, row, occ, now, base_url, agenda_renderer, cache)
        if row.kind in CALENDAR_KINDS:
            calendar = calendar_builder(row.kind, _calendar_view(row, view), [row], now)
    return Job(
        id=row.id,
        kind=row.kind,
        message_id=row.message_id,
        sender=Address(f"{city.name} Liaison 會議通知", "noreply", city.domain),
        recipient=Address(row.recipient_name or "", addr_spec=row.recipient),
        reply_to=view.organizer_email if view is not None else None,
        view=view,
        extra=extra,
        calendar=calendar,
    )


def _escalation_extra(
    session: Session, row: OutboxMessage, city: City, now: datetime, cache: _BatchCache
) -> dict[str, Any]:
    """What an escalation email says: the planned fields and the next meeting, if any."""
    extra = {k: str(row.context.get(k) or "") for k in ESCALATION_FIELDS}
    extra["organizer_name"] = f"{city.name} Liaison 會議系統"
    nxt = cache.occurrence(session, row.occurrence_uid)
    if nxt is not None and nxt.status == OccurrenceStatus.SCHEDULED and nxt.start_at > now:
        when = format_roc_datetime(local(nxt.start_at, city.timezone))
        extra["next_meeting"] = f"{when} {one_line(nxt.title)}"
    return extra


def _check_still_due(row: OutboxMessage, occ: Occurrence, now: datetime) -> None:
    """Raise ``_Skip`` when the meeting changed so that this message must not go out."""
    if row.kind == MessageKind.REPLY_CONFIRMATION and occ.status == OccurrenceStatus.CANCELLED:
        raise _Skip("meeting cancelled")
    if row.kind in MEETING_KINDS:
        if occ.status == OccurrenceStatus.CANCELLED:
            raise _Skip("meeting cancelled")
        if occ.start_at <= now:
            raise _Skip("meeting already past")
        if occ.sequence != row.sequence and row.kind != MessageKind.UPDATE:
            raise _Skip("meeting changed since planned")
    if row.kind == MessageKind.CANCELLATION and occ.status != OccurrenceStatus.CANCELLED:
        raise _Skip("meeting no longer cancelled")
    if row.kind == MessageKind.RENUMBERED and occ.start_at <= now:
        raise _Skip("meeting already past")


def _calendar_view(row: OutboxMessage, view: MeetingView) -> MeetingView:
    """The meeting as the calendar part names it: under the UID the recipient's calendar
    holds (``ics_uid``, planned for a meeting renumbered by migration 0010), else its own.
    """
    old_uid = row.context.get("ics_uid")
    if not old_uid:
        return view
    return replace(view, uid=str(old_uid), sequence=max(row.sequence, view.sequence))


def _meeting_extra(
    session: Session,
    row: OutboxMessage,
    occ: Occurrence,
    now: datetime,
    base_url: str,
    agenda_renderer: AgendaRenderer,
    cache: _BatchCache,
) -> dict[str, Any]:
    """The kind-specific part of a meeting email: the minutes deadline, the agenda, the
    seat's reply link."""
    extra: dict[str, Any] = {}
    if row.kind == MessageKind.MINUTES_DUE:
        if session.get(Minutes, occ.id) is not None:
            raise _Skip("minutes recorded meanwhile")
        extra["due"] = row.context.get("due_text", "")
        if row.context.get("held_text"):
            extra["when"] = row.context["held_text"]
    if row.kind in DELIVERABLE_KINDS:
        extra.update(_deliverable_extra(session, row, occ))
    if row.kind == MessageKind.READINESS:
        extra["readiness_items"] = readiness_items(session, occ, now)
    code = row.context.get("agency")
    if row.kind in REPLY_LINK_KINDS and code and occ.status == OccurrenceStatus.SCHEDULED:
        extra.update(_reply_extra(session, row, occ, str(code), now, base_url, cache))
    if row.kind == MessageKind.AGENDA:
        if occ.uid not in cache.agendas:
            cache.agendas[occ.uid] = agenda_renderer(session, occ, now)
        rendered_agenda = cache.agendas[occ.uid]
        if rendered_agenda is not None:
            extra["agenda_text"], extra["agenda_html"] = rendered_agenda
    return extra


def _reply_extra(
    session: Session,
    row: OutboxMessage,
    occ: Occurrence,
    code: str,
    now: datetime,
    base_url: str,
    cache: _BatchCache,
) -> dict[str, Any]:
    """The seat's reply link and role; a chase is skipped once the seat is answered, a
    confirmation says what was answered."""
    seat = cache.seat(session, occ, code, now)
    if seat is None:
        if row.kind in (MessageKind.REPLY_CHASE, MessageKind.REPLY_CONFIRMATION):
            raise _Skip("agency no longer invited")
        return {}
    if row.kind == MessageKind.REPLY_CHASE and seat.state != SeatState.INVITED:
        raise _Skip("seat answered meanwhile")
    extra: dict[str, Any] = {
        "reply_url": f"{base_url}/reply/{reply_token(cache.key(session, now), seat)}",
        "seat_role": SEAT_ROLE_ZH[SeatRole(seat.role)],
    }
    if row.kind == MessageKind.REPLY_CONFIRMATION:
        answer = session.get(SeatAnswer, row.context.get("answer_id"))
        if answer is None:
            raise _Skip("answer no longer exists")
        extra["answer_text"] = answer_text(answer)
    return extra


def answer_text(answer: SeatAnswer) -> str:
    """An answer in the words of the reply slip: 指派出席：王小明（科長） …"""
    state = SeatState(answer.state)
    label = SEAT_STATE_ZH[state]
    who = (answer.person or "") + (f"（{answer.title}）" if answer.title else "")
    if state == SeatState.DEPUTY and answer.for_whom:
        who += f"，代理{answer.for_whom}"
    if state in (SeatState.DECLINED, SeatState.TENTATIVE) and answer.reason:
        who = (who + "，" if who else "") + f"事由：{answer.reason}"
    return f"{label}：{who}" if who else label


def _deliverable_extra(session: Session, row: OutboxMessage, occ: Occurrence) -> dict[str, Any]:
    """A deliverable reminder: skipped once it was handed in (or the meeting is no longer
    held); it names the deliverable, the receiving agency and the due date."""
    name = str(row.context.get("deliverable") or "")
    if occ.status != OccurrenceStatus.HELD:
        raise _Skip("meeting no longer held")
    done = session.scalar(
        select(DeliverableSubmission.id).where(
            DeliverableSubmission.occurrence_id == occ.id, DeliverableSubmission.name == name
        )
    )
    if done is not None:
        raise _Skip("deliverable handed in meanwhile")
    return {
        "deliverable": name,
        "to_name": str(row.context.get("to_name") or ""),
        "due": str(row.context.get("due_text") or ""),
        "when": str(row.context.get("held_text") or ""),
    }


def build_message(job: Job, now: datetime) -> EmailMessage:
    """Render and compose a job's email (pure: no database)."""
    rendered = render(
        job.kind, job.recipient.display_name or job.recipient.addr_spec, job.view, job.extra
    )
    return compose(
        rendered=rendered,
        message_id=job.message_id,
        sender=job.sender,
        recipient=job.recipient,
        reply_to=job.reply_to,
        now=now,
        calendar=job.calendar,
        method=CALENDAR_KINDS.get(job.kind) if job.calendar is not None else None,
    )


def prepare(
    session: Session,
    row: OutboxMessage,
    now: datetime,
    base_url: str,
    calendar_builder: CalendarBuilder = calendar_for_message,
    agenda_renderer: AgendaRenderer = agenda_for_email,
) -> Prepared:
    """Build the email for a claimed row, or say why it is no longer due."""
    try:
        job = make_job(session, row, now, base_url, calendar_builder, agenda_renderer)
    except _Skip as skip:
        return Prepared(row.id, None, "", row.recipient, str(skip))
    return Prepared(row.id, build_message(job, now), job.sender.addr_spec, row.recipient)


async def dispatch_due(
    sessions: sessionmaker[Session],
    mailer_factory: Callable[[], Mailer],
    now: datetime,
    *,
    base_url: str,
    batch: int = 50,
    concurrency: int = 4,
    worker: str | None = None,
    plan: bool = True,
    calendar_builder: CalendarBuilder = calendar_for_message,
    agenda_renderer: AgendaRenderer = agenda_for_email,
    max_batches: int = 10_000,
) -> DispatchReport:
    """Plan from pending events and minutes deadlines, then send everything due at ``now``.

    Batch by batch: claim up to ``batch`` rows and re-check them in one transaction,
    then ``concurrency`` workers — each with its own reused SMTP connection — render
    and send them (one worker renders while the others wait for the server), then
    the outcomes are recorded in one transaction. At most one batch is ever claimed
    and not yet recorded, so a crash can repeat at most that batch (SPEC §4).
    """
    worker = worker or new_worker_id()
    report = DispatchReport()
    if plan:
        with sessions.begin() as session:
            plan_messages(session, now)
            plan_minutes_due(session, now)
            plan_deliverables_due(session, now)

    def jobs_of(session: Session, ids: list[int]) -> tuple[list[Job], list[SendResult]]:
        return _jobs(session, ids, now, base_url, calendar_builder, agenda_renderer, report)

    mailers = [mailer_factory() for _ in range(max(1, concurrency))]
    try:
        for _ in range(max_batches):
            with sessions.begin() as session:
                ids = claim_due(session, worker, now, limit=batch)
            if not ids:
                break
            with sessions.begin() as session:
                jobs, unbuildable = jobs_of(session, ids)
            results = unbuildable + await _send_all(mailers, jobs, now)
            if results:
                with sessions.begin() as session:
                    report.add(record_outcomes(session, results, now))
            if results and all(r.outcome == Outcome.RETRY for r in results):
                break  # the server is refusing everything for now; try at the next tick
    finally:
        for m in mailers:
            await m.close()
    return report


def _jobs(
    session: Session,
    ids: list[int],
    now: datetime,
    base_url: str,
    calendar_builder: CalendarBuilder,
    agenda_renderer: AgendaRenderer,
    report: DispatchReport,
) -> tuple[list[Job], list[SendResult]]:
    """The claimed rows' jobs, and the rows that cannot be addressed or rendered (as
    failures, recorded with the batch); rows no longer to be sent are marked skipped."""
    cache = _BatchCache()
    jobs: list[Job] = []
    failures: list[SendResult] = []
    for row in claimed_rows(session, ids):
        try:
            jobs.append(
                make_job(session, row, now, base_url, calendar_builder, agenda_renderer, cache)
            )
        except _Skip as skip:
            mark_skipped(row, str(skip))
            report.skipped += 1
        except SQLAlchemyError:
            raise  # the transaction is gone: not this message's fault
        except Exception as exc:  # one bad row (CR/LF in a name, a broken template) fails alone
            failures.append(SendResult(row.id, Outcome.FAILED, _unbuildable(exc)))
    return jobs, failures


def _unbuildable(exc: Exception) -> str:
    """The error recorded for a message that cannot be addressed or rendered."""
    return f"cannot address or render the message: {shorten(exc, 200)}"


async def _send_all(mailers: list[Mailer], jobs: list[Job], now: datetime) -> list[SendResult]:
    """Render and send over the workers' connections (bounded concurrency); outcome per id."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: list[SendResult] = []

    async def work(mailer: Mailer) -> None:
        while not queue.empty():
            job = queue.get_nowait()
            try:
                message = build_message(job, now)
                await mailer.send(message, job.sender.addr_spec, job.recipient.addr_spec)
                results.append(SendResult(job.id, Outcome.SENT))
            except PermanentFailure as exc:
                results.append(SendResult(job.id, Outcome.FAILED, str(exc)))
            except TemporaryFailure as exc:
                results.append(SendResult(job.id, Outcome.RETRY, str(exc)))
            except Exception as exc:  # rendering or serialising this one message failed
                results.append(SendResult(job.id, Outcome.FAILED, _unbuildable(exc)))

    await asyncio.gather(*(work(m) for m in mailers))
    return results
