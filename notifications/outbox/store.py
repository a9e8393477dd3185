"""The outbox's delivery state: claiming due messages with a lease, recording outcomes.

Rows are claimed with a lease (``claimed_until``): on PostgreSQL with
``SELECT … FOR UPDATE SKIP LOCKED``, on SQLite by a compare-and-set UPDATE (SQLite
is single-daemon; see docs). A daemon that dies mid-batch leaves its claims to
expire and be taken again. Outcomes (sent, to retry with backoff, failed) are
recorded per batch in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, update
from sqlalchemy.orm import Session

from meetings.db import OutboxMessage
from meetings.kernel.vocabulary import MessageStatus

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)


class Outcome(StrEnum):
    """What became of one send attempt."""

    SENT = "sent"
    RETRY = "retry"  # a temporary failure: try again after the backoff
    FAILED = "failed"  # a permanent failure: never tried again


@dataclass(frozen=True)
class SendResult:
    message: int  # the outbox row's id
    outcome: Outcome
    error: str | None = None


@dataclass
class Recorded:
    """The outcomes of one batch as recorded (``errors``: one line per failed message)."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


def new_worker_id() -> str:
    return uuid.uuid4().hex[:16]


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, due, not waiting for a retry, not claimed by a live lease."""
    return and_(
        OutboxMessage.status == MessageStatus.PENDING,
        OutboxMessage.due_at <= now,
        or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def claim_due(session: Session, worker: str, now: datetime, limit: int = 50) -> list[int]:
    """Claim up to ``limit`` due messages for ``worker``; returns their ids."""
    if session.get_bind().dialect.name == "postgresql":
        return _claim_skip_locked(session, worker, now, limit)
    return _claim_compare_and_set(session, worker, now, limit)


def _claim_skip_locked(session: Session, worker: str, now: datetime, limit: int) -> list[int]:
    """PostgreSQL: lock due rows no other daemon holds, then lease them."""
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(_due(now))
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(claimed_by=worker, claimed_until=now + LEASE)
        )
    return ids


def _claim_compare_and_set(session: Session, worker: str, now: datetime, limit: int) -> list[int]:
    """SQLite: one compare-and-set statement (the write lock makes it atomic)."""
    due = _due(now)
    until = now + LEASE
    candidates = (
        select(OutboxMessage.id)
        .where(due)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
        .scalar_subquery()
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), due)
        .values(claimed_by=worker, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.claimed_by == worker,
                OutboxMessage.claimed_until == until,
                OutboxMessage.status == MessageStatus.PENDING,
            )
        )
    )


def claimed_rows(session: Session, ids: Sequence[int]) -> list[OutboxMessage]:
    """The claimed rows still pending, in sending order."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == MessageStatus.PENDING)
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
        )
    )


def mark_skipped(row: OutboxMessage, reason: str) -> None:
    """A claimed message no longer to be sent: cancelled, with the reason, claim released."""
    row.status = MessageStatus.CANCELLED
    row.last_error = reason
    row.claimed_by = row.claimed_until = None


def record_outcomes(session: Session, results: Sequence[SendResult], now: datetime) -> Recorded:
    """Record a batch's outcomes: sent, retry later (with backoff), or failed."""
    recorded = Recorded()
    outcomes = {r.message: r for r in results}
    sent = [mid for mid, r in outcomes.items() if r.outcome == Outcome.SENT]
    if sent:
        session.execute(
            update(OutboxMessage),
            [
                {
                    "id": mid,
                    "status": MessageStatus.SENT,
                    "sent_at": now,
                    "last_error": None,
                    "claimed_by": None,
                    "claimed_until": None,
                }
                for mid in sent
            ],
        )
        recorded.sent = len(sent)
    others = [mid for mid, r in outcomes.items() if r.outcome != Outcome.SENT]
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(others))):
        result = outcomes[row.id]
        row.claimed_by = row.claimed_until = None
        row.attempts += 1
        row.last_error = result.error
        if result.outcome == Outcome.FAILED or row.attempts >= MAX_ATTEMPTS:
            row.status = MessageStatus.FAILED
            recorded.failed += 1
            recorded.errors.append(f"{row.message_id} → {row.recipient}: {result.error}")
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            recorded.retried += 1
    return recorded


def requeue_failed(
    session: Session,
    now: datetime,
    *,
    by: str,
    kinds: Sequence[str] = (),
    due_since: datetime | None = None,
) -> int:
    """Put failed messages back in the queue (once the cause is fixed): pending, due at
    once, attempts from zero. Returns how many.

    A 5xx answer marks a message failed for good (the server will not take it as it
    is); this is the way out. ``kinds``: only these kinds; ``due_since``: only messages
    due at or after that instant. The trail is kept on each row: ``requeued_at``,
    ``requeued_by`` and ``requeue_count`` are never touched by a delivery attempt, and
    ``last_error`` reads "re-queued AT by WHO; was: …" until the next attempt's outcome.
    (Not an ``AuditRecord``: those record look-ups of case data and feed the TL3.1
    look-up KPI, which a re-queue is not.) Dispatch re-checks every message, so one
    whose meeting has passed or changed meanwhile is skipped, not sent.
    """
    cond = [OutboxMessage.status == MessageStatus.FAILED]
    if kinds:
        cond.append(OutboxMessage.kind.in_(list(kinds)))
    if due_since is not None:
        cond.append(OutboxMessage.due_at >= due_since)
    trail = f"re-queued {now.isoformat(timespec='seconds')} by {by}; was: "
    result = session.execute(
        update(OutboxMessage)
        .where(*cond)
        .values(
            status=MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            last_error=literal(trail) + func.coalesce(OutboxMessage.last_error, ""),
            requeued_at=now,
            requeued_by=by,
            requeue_count=OutboxMessage.requeue_count + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
