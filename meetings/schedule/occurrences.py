"""Finding one series or meeting by its identifier, for every caller alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Occurrence, Series
from meetings.kernel.errors import OperationError


def get_series(session: Session, series_id: str) -> Series:
    s = session.get(Series, series_id)
    if s is None:
        known = ", ".join(session.scalars(select(Series.id).order_by(Series.id)).all()[:20])
        raise OperationError(
            f"unknown series {series_id!r}" + (f" (known: {known})" if known else "")
        )
    return s


def get_occurrence(session: Session, uid: str) -> Occurrence:
    """The meeting with this UID, or an OperationError naming it."""
    occ = session.scalar(select(Occurrence).where(Occurrence.uid == uid.strip()))
    if occ is None:
        raise OperationError(
            f"unknown meeting UID {uid!r} (see `liaison schedule list --json` for UIDs)"
        )
    return occ
