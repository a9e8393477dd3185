"""One received mail, processed once: a seat answered, kept as history, a COUNTER kept
for the secretariat, or quarantined with the reason. Nothing is dropped silently.

:func:`process_message` works in the caller's transaction. :func:`receive` (the SMTP
receiver) gives each message a transaction of its own; :func:`receive_batch` (the IMAP
poll, the benchmark) one transaction for many and a savepoint for each. Either way one
bad message (or a database error on it) never blocks the others. The
Message-ID is unique in ``inbound_messages``: a second delivery changes nothing.

Only what the secretariat needs is kept: sender, a screened one-line subject, the
meeting, the seat, the reason. Never the mail or its calendar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from meetings.access.users import secret
from meetings.db import Agency, City, InboundMessage, Occurrence, Seat
from meetings.kernel.localtime import local
from meetings.kernel.vocabulary import InboundStatus, OccurrenceStatus
from meetings.seats.answers import AnswerError, answer_seat
from meetings.seats.seats import sync_seats
from notifications.inbound.mapping import Directory, NotAnAnswer, answer_of, candidates
from notifications.inbound.parse import Mail, Reply, one_line, parse_mail, read_envelope

log = logging.getLogger("liaison.inbound")

DUPLICATE = "duplicate"  # an outcome only: the message was processed before
ERROR = "error"  # an outcome only: not stored (database trouble); deliver it again
REASON_LENGTH = 300


@dataclass(frozen=True)
class Outcome:
    message_id: str
    status: str  # an InboundStatus, DUPLICATE or ERROR
    reason: str | None = None
    seat_id: int | None = None

    @property
    def stored(self) -> bool:
        """Whether the message is accounted for (it need not be delivered again)."""
        return self.status != ERROR


@dataclass
class _Result:
    status: InboundStatus
    reason: str | None = None
    occ: Occurrence | None = None
    seat: Seat | None = None
    proposed: tuple[datetime, datetime] | None = None


def process_message(
    session: Session, raw: bytes, now: datetime, *, size: int | None = None
) -> Outcome:
    """Process one mail in ``session``'s transaction (the caller commits); ``size``: the
    size a mailbox declares for a message of which only the header was fetched."""
    envelope = read_envelope(raw)  # a second delivery is known from its header alone
    if session.scalar(
        select(InboundMessage.id).where(InboundMessage.message_id == envelope.message_id)
    ):
        return Outcome(envelope.message_id, DUPLICATE)
    mail = parse_mail(raw, size, envelope)
    result = _handle(session, mail, now)
    row = InboundMessage(
        message_id=mail.message_id,
        city_id=_city_id(session, mail, result.occ),
        sender=mail.sender,
        subject=mail.subject,
        status=result.status,
        reason=(result.reason or None) and result.reason[:REASON_LENGTH],
        occurrence_uid=result.occ.uid if result.occ is not None else None,
        seat_id=result.seat.id if result.seat is not None else None,
        proposed_start=result.proposed[0] if result.proposed else None,
        proposed_end=result.proposed[1] if result.proposed else None,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return Outcome(mail.message_id, result.status, result.reason, row.seat_id)


def _handle(session: Session, mail: Mail, now: datetime) -> _Result:
    if mail.reply is None:
        return _Result(InboundStatus.QUARANTINED, mail.problem)
    reply = mail.reply
    occ = session.scalar(
        select(Occurrence)
        .options(joinedload(Occurrence.series))  # its city is asked for at once
        .where(Occurrence.uid == reply.uid[:300])
    )
    if occ is None:
        return _Result(InboundStatus.QUARANTINED, "unknown meeting UID")
    if occ.status == OccurrenceStatus.CANCELLED:
        return _Result(InboundStatus.QUARANTINED, "the meeting was cancelled", occ)
    if occ.status != OccurrenceStatus.SCHEDULED or occ.end_at <= now:
        return _Result(InboundStatus.QUARANTINED, "the meeting is over", occ)
    seat = _seat_of_sender(session, occ, reply, mail.sender, now)
    if seat is None:
        return _Result(InboundStatus.QUARANTINED, "unknown sender", occ)
    if reply.method == "COUNTER":
        return _counter(occ, seat, reply)
    try:
        answer = answer_of(reply, mail.sender)
        row = answer_seat(session, seat, occ, answer, now)
    except (NotAnAnswer, AnswerError) as exc:
        return _Result(InboundStatus.QUARANTINED, str(exc), occ, seat)
    if not row.applied:
        why = f"about an older version of the meeting (SEQUENCE {reply.sequence} < {occ.sequence})"
        return _Result(InboundStatus.HISTORY, why, occ, seat)
    return _Result(InboundStatus.APPLIED, None, occ, seat)


def _seat_of_sender(
    session: Session, occ: Occurrence, reply: Reply, sender: str | None, now: datetime
) -> Seat | None:
    """The seat of the agency the reply comes from, in the meeting's city only."""
    directory = _directory(session, occ.series.city_id)
    # ids and codes only: loading every seat of the meeting was a third of the lookup (B6)
    rows = session.execute(select(Seat.agency_code, Seat.id).where(Seat.occurrence_id == occ.id))
    seat_ids: dict[str, int] = {code: seat_id for code, seat_id in rows}
    if not seat_ids:  # invitations not sent yet (or seats never made): make them now
        key = secret(session, "reply-links", now)
        seat_ids = {s.agency_code: s.id for s in sync_seats(session, occ, key, now)}
    code = directory.agency_for(candidates(reply, sender), seat_ids)
    return session.get(Seat, seat_ids[code]) if code is not None and code in seat_ids else None


def _directory(session: Session, city_id: int) -> Directory:
    """The city's agency addresses, read once per session (a batch is one transaction)."""
    cache: dict[int, Directory] = session.info.setdefault("inbound.directories", {})
    if city_id not in cache:
        rows = session.execute(
            select(Agency.code, Agency.emails, Agency.units).where(Agency.city_id == city_id)
        ).all()
        cache[city_id] = Directory.of(rows)
    return cache[city_id]


def _counter(occ: Occurrence, seat: Seat, reply: Reply) -> _Result:
    """A proposed new time: kept for the secretariat, never applied."""
    if reply.start is None:
        return _Result(InboundStatus.QUARANTINED, "COUNTER without a proposed DTSTART", occ, seat)
    tz = occ.series.city.timezone
    start = local(reply.start, tz).astimezone(UTC)
    end = local(reply.end, tz).astimezone(UTC) if reply.end else start + (occ.end_at - occ.start_at)
    if end <= start:
        return _Result(InboundStatus.QUARANTINED, "COUNTER ends before it starts", occ, seat)
    return _Result(
        InboundStatus.COUNTER, one_line(reply.comment, 200), occ, seat, proposed=(start, end)
    )


def _city_id(session: Session, mail: Mail, occ: Occurrence | None) -> int | None:
    """The meeting's city; for an unknown meeting, the one city whose domain its UID
    names (our UIDs end in the city's domain); else None (seen by the operator only)."""
    if occ is not None:
        return occ.series.city_id
    if mail.reply is None:
        return None
    domain = mail.reply.uid.rpartition("@")[2].strip().lower()
    if not domain:
        return None
    ids = list(session.scalars(select(City.id).where(City.domain == domain).limit(2)))
    return ids[0] if len(ids) == 1 else None


def receive(
    sessions: sessionmaker[Session], raw: bytes, now: datetime, *, size: int | None = None
) -> Outcome:
    """Process one mail in a transaction of its own (the SMTP receiver: each message is
    answered 250 only once it is committed). A database error is reported as an ``error``
    outcome (nothing stored: the sender or the mailbox keeps the mail)."""
    try:
        with sessions.begin() as session:
            return process_message(session, raw, now, size=size)
    except IntegrityError:
        # The same Message-ID committed meanwhile by another receiver (SMTP and IMAP).
        with sessions() as session:
            return _refused(session, read_envelope(raw).message_id)
    except SQLAlchemyError as exc:
        return _failed(read_envelope(raw).message_id, exc)


def receive_batch(
    sessions: sessionmaker[Session], mails: Sequence[tuple[bytes, int | None]], now: datetime
) -> list[Outcome]:
    """Process ``mails`` (raw, size) in one transaction, each in a savepoint of its own.

    One commit for the batch: measured (B6), the commit's fsync is most of a reply's cost
    on SQLite. A bad message, or a database error on one, still rolls back only its own
    savepoint. The caller acknowledges (IMAP ``\\Seen``) only after this returns; if the
    commit fails, every outcome is ``error`` and nothing is stored.
    """
    outcomes: list[Outcome] = []
    try:
        with sessions.begin() as session:
            for raw, size in mails:
                outcomes.append(_in_savepoint(session, raw, now, size))
    except SQLAlchemyError as exc:
        done = [o.message_id for o in outcomes]
        rest = [read_envelope(raw).message_id for raw, _size in mails[len(done) :]]
        return [_failed(mid, exc) for mid in done + rest]
    return outcomes


def _in_savepoint(session: Session, raw: bytes, now: datetime, size: int | None) -> Outcome:
    try:
        with session.begin_nested():
            return process_message(session, raw, now, size=size)
    except IntegrityError:
        return _refused(session, read_envelope(raw).message_id)
    except SQLAlchemyError as exc:
        if not session.in_transaction():
            raise  # the transaction itself is lost: the whole batch fails
        return _failed(read_envelope(raw).message_id, exc)


def _refused(session: Session, mid: str) -> Outcome:
    """The database refused the row: a duplicate committed meanwhile, or an error."""
    if session.scalar(select(InboundMessage.id).where(InboundMessage.message_id == mid)):
        return Outcome(mid, DUPLICATE)
    log.warning("inbound %s: integrity error, not stored", mid)
    return Outcome(mid, ERROR, "database refused the message")


def _failed(mid: str, exc: SQLAlchemyError) -> Outcome:
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    log.warning("inbound message not stored: database: %s", reason)
    return Outcome(mid, ERROR, f"database: {reason}")
