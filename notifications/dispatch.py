"""Sending what is due: claim, re-check, render, send, record — each message once.

A message is re-checked against the meeting just before sending: nothing is
sent for a cancelled meeting (except the cancellation) or for one already past.
Only a crash between the SMTP server's acceptance and our commit of ``sent``
can repeat a message, with the same Message-ID (SPEC §4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meetings.models import Agency, City, Occurrence
from meetings.series import SeriesDecl
from notifications.email import MeetingView, compose, due_text, render
from notifications.mailer import PermanentFailure, TemporaryFailure
from notifications.outbox import (
    MAX_ATTEMPTS,
    OutboxMessage,
    backoff,
    claim_due,
    new_worker_id,
    plan_messages,
)

CALENDAR_KINDS = {"invitation": "REQUEST", "update": "REQUEST", "cancellation": "CANCEL"}
MEETING_KINDS = {"invitation", "agenda", "reminder", "update"}


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "errors": self.errors,
        }


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
    org = _agency(session, occ.series.city_id, decl.organizer)
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
        moved_reason=occ.moved_reason if occ.origin != "event" else None,
        timezone=occ.series.city.timezone,
        agenda_url=f"{base_url}/meetings/{occ.uid}",
    )


CalendarBuilder = Callable[[str, MeetingView, list[OutboxMessage], datetime], bytes]


def _default_calendar_builder() -> CalendarBuilder | None:
    try:
        from notifications.itip import calendar_for_message
    except ImportError:
        return None
    return calendar_for_message


AgendaRenderer = Callable[[Session, Occurrence, datetime], tuple[str, str] | None]


def _default_agenda_renderer() -> AgendaRenderer | None:
    try:
        from notifications.agenda_mail import agenda_for_email
    except ImportError:
        return None
    renderer: AgendaRenderer = agenda_for_email
    return renderer


def prepare(
    session: Session,
    row: OutboxMessage,
    now: datetime,
    base_url: str,
    calendar_builder: CalendarBuilder | None,
    agenda_renderer: AgendaRenderer | None,
) -> Prepared:
    """Build the email for a claimed row, or say why it is no longer due."""
    city = session.get(City, row.city_id)
    assert city is not None
    sender = Address(f"{city.name} Liaison 會議通知", "noreply", city.domain)
    recipient = Address(row.recipient_name or "", addr_spec=row.recipient)
    extra: dict[str, Any] = {}
    view: MeetingView | None = None
    calendar: bytes | None = None
    reply_to: str | None = None
    if row.kind == "escalation":
        extra = dict(row.context)
        extra["window"] = extra.get("window") or ""
    else:
        occ = session.scalar(select(Occurrence).where(Occurrence.uid == row.occurrence_uid))
        if occ is None:
            return Prepared(row.id, None, "", row.recipient, "meeting no longer exists")
        if row.kind in MEETING_KINDS:
            if occ.status == "cancelled":
                return Prepared(row.id, None, "", row.recipient, "meeting cancelled")
            if occ.start_at <= now:
                return Prepared(row.id, None, "", row.recipient, "meeting already past")
            if occ.sequence != row.sequence and row.kind != "update":
                return Prepared(row.id, None, "", row.recipient, "meeting changed since planned")
        if row.kind == "cancellation" and occ.status != "cancelled":
            return Prepared(row.id, None, "", row.recipient, "meeting no longer cancelled")
        view = meeting_view(session, occ, base_url)
        reply_to = view.organizer_email
        if row.kind == "minutes_due":
            extra["due"] = row.context.get("due_text", "")
        if row.kind == "agenda" and agenda_renderer is not None:
            rendered_agenda = agenda_renderer(session, occ, now)
            if rendered_agenda is not None:
                extra["agenda_text"], extra["agenda_html"] = rendered_agenda
        method = CALENDAR_KINDS.get(row.kind)
        if method is not None and calendar_builder is not None:
            calendar = calendar_builder(row.kind, view, [row], now)
    rendered = render(row.kind, row.recipient_name or row.recipient, view, extra)
    message = compose(
        rendered=rendered,
        message_id=row.message_id,
        sender=sender,
        recipient=recipient,
        reply_to=reply_to,
        now=now,
        calendar=calendar,
        method=CALENDAR_KINDS.get(row.kind) if calendar is not None else None,
    )
    return Prepared(row.id, message, sender.addr_spec, row.recipient)


async def dispatch_due(
    sessions: sessionmaker[Session],
    mailer_factory: Callable[[], Mailer],
    now: datetime,
    *,
    base_url: str,
    batch: int = 50,
    concurrency: int = 2,
    worker: str | None = None,
    plan: bool = True,
    calendar_builder: CalendarBuilder | None = None,
    agenda_renderer: AgendaRenderer | None = None,
    max_batches: int = 10_000,
) -> DispatchReport:
    """Plan from pending events, then send everything due at ``now``."""
    worker = worker or new_worker_id()
    calendar_builder = calendar_builder or _default_calendar_builder()
    agenda_renderer = agenda_renderer or _default_agenda_renderer()
    report = DispatchReport()
    if plan:
        with sessions.begin() as session:
            plan_messages(session, now)
    mailers = [mailer_factory() for _ in range(max(1, concurrency))]
    try:
        for _ in range(max_batches):
            with sessions.begin() as session:
                ids = claim_due(session, worker, now, limit=batch)
            if not ids:
                break
            prepared: list[Prepared] = []
            with sessions.begin() as session:
                for mid in ids:
                    row = session.get(OutboxMessage, mid)
                    if row is None or row.status != "pending":
                        continue
                    p = prepare(session, row, now, base_url, calendar_builder, agenda_renderer)
                    if p.message is None:
                        row.status = "cancelled"
                        row.last_error = p.skip_reason
                        row.claimed_by = row.claimed_until = None
                        report.skipped += 1
                    else:
                        prepared.append(p)
            results = await _send_all(mailers, prepared)
            with sessions.begin() as session:
                for mid, outcome, error in results:
                    row = session.get(OutboxMessage, mid)
                    assert row is not None
                    row.claimed_by = row.claimed_until = None
                    if outcome == "sent":
                        row.status, row.sent_at, row.last_error = "sent", now, None
                        report.sent += 1
                        continue
                    row.attempts += 1
                    row.last_error = error
                    if outcome == "failed" or row.attempts >= MAX_ATTEMPTS:
                        row.status = "failed"
                        report.failed += 1
                        report.errors.append(f"{row.message_id} → {row.recipient}: {error}")
                    else:
                        row.next_attempt_at = now + backoff(row.attempts)
                        report.retried += 1
            if any(outcome == "retry" for _, outcome, _ in results) and len(results) == len(
                [r for r in results if r[1] == "retry"]
            ):
                break  # the server is refusing everything for now; try at the next tick
    finally:
        for m in mailers:
            await m.close()
    return report


async def _send_all(
    mailers: list[Mailer], prepared: list[Prepared]
) -> list[tuple[int, str, str | None]]:
    """Send over the workers' connections (bounded concurrency); outcome per message id."""
    queue: asyncio.Queue[Prepared] = asyncio.Queue()
    for p in prepared:
        queue.put_nowait(p)
    results: list[tuple[int, str, str | None]] = []

    async def work(mailer: Mailer) -> None:
        while not queue.empty():
            p = queue.get_nowait()
            assert p.message is not None
            try:
                await mailer.send(p.message, p.envelope_from, p.recipient)
                results.append((p.id, "sent", None))
            except PermanentFailure as exc:
                results.append((p.id, "failed", str(exc)))
            except TemporaryFailure as exc:
                results.append((p.id, "retry", str(exc)))

    await asyncio.gather(*(work(m) for m in mailers))
    return results


def minutes_due_check(session: Session, now: datetime) -> int:
    """Plan `minutes_due` for held meetings whose minutes are missing past the deadline."""
    try:
        from notifications.minutes_check import plan_minutes_due
    except ImportError:
        return 0
    planned: int = plan_minutes_due(session, now)
    return planned


def due_text_for(occ: Occurrence, when: datetime) -> str:
    return due_text(when, occ.series.city.timezone)
