"""Seats, their answers and inbound replies (migration 0015; meetings.seats,
notifications.inbound). Re-exported by meetings.db."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meetings.db.base import UID_LENGTH, Base


class Seat(Base):
    """An invited agency's seat at one meeting (meetings.seats): invited until answered.

    ``token_hash`` is the SHA-256 of the seat's reply link token; the token itself is
    derived from a server secret and ``nonce`` when a mail is rendered, never stored.
    """

    __tablename__ = "seats"
    __table_args__ = (UniqueConstraint("occurrence_id", "agency_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(32))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    state: Mapped[str] = mapped_column(String(16), default="invited")
    person: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    for_whom: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(254))
    nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SeatAnswer(Base):
    """Every answer a seat received, applied or not (the seat's history)."""

    __tablename__ = "seat_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    seat_id: Mapped[int] = mapped_column(ForeignKey("seats.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    person: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    for_whom: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(254))
    # The meeting version the answer was about (a calendar reply's SEQUENCE), if known.
    sequence: Mapped[int | None] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime]


class InboundMessage(Base):
    """One mail received by ``liaison inbound`` or the IMAP poll, processed once.

    Only what the secretariat needs to act on it is kept (screened subject, sender,
    the reason): never the body.
    """

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID header (or a SHA-256 of the raw bytes when there is none).
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    sender: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    occurrence_uid: Mapped[str | None] = mapped_column(String(UID_LENGTH))
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("seats.id", ondelete="SET NULL"))
    # A COUNTER's proposed time (never applied).
    proposed_start: Mapped[datetime | None]
    proposed_end: Mapped[datetime | None]
    received_at: Mapped[datetime]
