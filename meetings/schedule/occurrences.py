"""Finding one series or meeting by its identifier, for every caller alike."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import UID_LENGTH, Occurrence, Series
from meetings.kernel.errors import OperationError, shorten


def get_series(session: Session, series_id: str, cities: Collection[int] | None = None) -> Series:
    """The series with this id, or an OperationError naming up to 20 known ones.

    ``cities``: only a series of these cities (None: any). Another city's series gets the
    same error as an unknown id, and only these cities' series are named as known.
    """
    s = session.get(Series, series_id)
    if s is None or (cities is not None and s.city_id not in cities):
        q = select(Series.id).order_by(Series.id).limit(20)
        if cities is not None:
            q = q.where(Series.city_id.in_(list(cities)))
        known = ", ".join(session.scalars(q).all())
        raise OperationError(
            f"unknown series {series_id!r}" + (f" (known: {known})" if known else "")
        )
    return s


def get_occurrence(session: Session, uid: str, cities: Collection[int] | None = None) -> Occurrence:
    """The meeting with this UID, or an OperationError naming it.

    ``cities``: only a meeting of these cities (None: any). Another city's meeting gets
    the same error as an unknown UID, so a UID says nothing about other cities.
    """
    key = uid.strip()
    # Longer than the column: no such meeting (and no point sending it to the database).
    too_long = len(key) > UID_LENGTH
    occ = None if too_long else session.scalar(select(Occurrence).where(Occurrence.uid == key))
    if occ is None or (cities is not None and occ.series.city_id not in cities):
        raise OperationError(
            f"unknown meeting UID '{shorten(key)}' (see `liaison schedule list --json` for UIDs)"
        )
    return occ
