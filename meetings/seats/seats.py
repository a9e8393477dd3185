"""A meeting's seats: one per invited agency, kept in step with the series' invitations.

A seat's reply link carries a token derived from a server secret (``key``, passed in by
the caller: the secret lives above this layer) and the seat's random ``nonce``; only its
SHA-256 is stored, so a database copy opens no seat. Nothing in a token or link is
computable from the meeting or its cases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meetings.db import Agency, Occurrence, Seat, SeatAnswer
from meetings.kernel.vocabulary import OccurrenceStatus, SeatRole, SeatState
from meetings.schedule.declarations import SeriesDecl

TOKEN_LENGTH = 43  # base64url of a 256-bit HMAC, unpadded
# The server secret reply tokens derive from (meetings.access.users.secret).
REPLY_SECRET = "reply-links"


@dataclass(frozen=True)
class SeatSpec:
    """An agency a meeting's series invites, and how."""

    agency_code: str
    required: bool
    role: SeatRole


def expected_seats(decl: SeriesDecl, active: Iterable[str]) -> list[SeatSpec]:
    """The seats a series declares (required, optional, observers), active agencies only.

    An agency named twice keeps its first place: required before optional before observer.
    """
    live = set(active)
    out: dict[str, SeatSpec] = {}
    groups = (
        (decl.invite.required, True, SeatRole.MEMBER),
        (decl.invite.optional, False, SeatRole.MEMBER),
        (decl.invite.observers or [], False, SeatRole.OBSERVER),
    )
    for codes, required, role in groups:
        for code in codes:
            if code in live and code not in out:
                out[code] = SeatSpec(code, required, role)
    return list(out.values())


def _token_of(key: str, nonce: str) -> str:
    mac = hmac.new(key.encode(), f"reply-slip|{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def reply_token(key: str, seat: Seat) -> str:
    """The seat's reply link token (256 bits; only its hash is stored)."""
    return _token_of(key, seat.nonce)


def hash_reply_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_seat_row(key: str, occ: Occurrence, spec: SeatSpec, now: datetime) -> dict[str, object]:
    nonce = secrets.token_urlsafe(16)
    return {
        "occurrence_id": occ.id,
        "agency_code": spec.agency_code,
        "required": spec.required,
        "role": spec.role,
        "state": SeatState.INVITED,
        "nonce": nonce,
        "token_hash": hash_reply_token(_token_of(key, nonce)),
        "created_at": now,
        "updated_at": now,
    }


def _insert_missing(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert seats, skipping any another worker inserted meanwhile (same meeting and
    agency): two senders of one meeting's invitations must not fail each other."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Seat).values(rows)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["occurrence_id", "agency_code"]))


def active_agencies(session: Session, city_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Agency.code).where(Agency.city_id == city_id, Agency.active.is_(True))
        )
    )


def sync_seats(
    session: Session,
    occ: Occurrence,
    key: str,
    now: datetime,
    *,
    active: Iterable[str] | None = None,
    decl: SeriesDecl | None = None,
) -> list[Seat]:
    """Give ``occ`` a seat per agency its series invites (kept: answered seats, always).

    A seat no longer invited goes only while nobody answered it; ``required`` and the
    role follow the declaration. Returns the meeting's seats, by agency code.
    """
    decl = decl or SeriesDecl.model_validate(occ.series.spec)
    codes = active if active is not None else active_agencies(session, occ.series.city_id)
    wanted = {s.agency_code: s for s in expected_seats(decl, codes)}
    have = {s.agency_code: s for s in seats_of(session, occ)}
    answered = set(
        session.scalars(
            select(SeatAnswer.seat_id).where(SeatAnswer.seat_id.in_([s.id for s in have.values()]))
        )
    )
    gone = [s.id for c, s in have.items() if c not in wanted and s.id not in answered]
    if gone:
        session.execute(delete(Seat).where(Seat.id.in_(gone)))
    missing = [_new_seat_row(key, occ, s, now) for c, s in wanted.items() if c not in have]
    for code, seat in have.items():
        spec = wanted.get(code)
        if spec is not None and (seat.required, seat.role) != (spec.required, spec.role):
            seat.required, seat.role, seat.updated_at = spec.required, spec.role, now
    session.flush()
    if missing:
        _insert_missing(session, missing)
    if missing or gone:
        return seats_of(session, occ)
    return sorted(have.values(), key=lambda s: s.agency_code)


def seats_of(session: Session, occ: Occurrence) -> list[Seat]:
    """The meeting's stored seats, by agency code."""
    return list(
        session.scalars(select(Seat).where(Seat.occurrence_id == occ.id).order_by(Seat.agency_code))
    )


def seat_for_token(session: Session, token: str, now: datetime) -> tuple[Seat, Occurrence] | None:
    """The seat a reply link opens, while its meeting stands and has not ended; else None
    (a bad, unknown or expired token all look the same to the caller)."""
    if len(token) != TOKEN_LENGTH or not token.replace("-", "").replace("_", "").isalnum():
        return None
    seat = session.scalar(select(Seat).where(Seat.token_hash == hash_reply_token(token)))
    if seat is None:
        return None
    occ = session.get(Occurrence, seat.occurrence_id)
    if occ is None or occ.status == OccurrenceStatus.CANCELLED or occ.end_at <= now:
        return None
    return seat, occ


def history_of(session: Session, seat: Seat) -> list[SeatAnswer]:
    """Every answer the seat received, oldest first."""
    return list(
        session.scalars(
            select(SeatAnswer).where(SeatAnswer.seat_id == seat.id).order_by(SeatAnswer.id)
        )
    )
