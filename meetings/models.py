"""SQLAlchemy 2 tables. Schema changes go through Alembic (alembic/versions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware instants, stored as UTC on every backend.

    SQLite keeps no offset, so there we store the UTC wall time as the same
    text SQLAlchemy's DATETIME would write ("YYYY-MM-DD HH:MM:SS.ffffff"),
    formatted here directly (it sorts and compares correctly as text, and
    skipping the generic processor makes bulk generation much faster).
    Naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        result: datetime = value.astimezone(UTC)
        return result


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class City(Base):
    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    domain: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Taipei")
    updated_at: Mapped[datetime]


class Agency(Base):
    __tablename__ = "agencies"
    __table_args__ = (UniqueConstraint("city_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(50))
    emails: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class District(Base):
    __tablename__ = "districts"
    __table_args__ = (UniqueConstraint("city_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    code: Mapped[str | None] = mapped_column(String(63))


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("city_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(100))
    agency_code: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[Any]] = mapped_column(default=list)


class Series(Base):
    """A declared series. ``spec`` holds the validated declaration as JSON."""

    __tablename__ = "series"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    spec: Mapped[dict[str, Any]]
    rrule: Mapped[str | None] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]

    city: Mapped[City] = relationship()


class Occurrence(Base):
    """One meeting. Identity = series instance + nominal date, forever."""

    __tablename__ = "occurrences"
    __table_args__ = (
        Index("ix_occurrences_series_nominal", "series_id", "instance_key", "nominal_date"),
        Index("ix_occurrences_start", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(300), unique=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    instance_key: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(50))
    zone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    nominal_date: Mapped[date] = mapped_column(Date)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    origin: Mapped[str] = mapped_column(String(16), default="cadence")
    case_no: Mapped[str | None] = mapped_column(String(64))
    moved_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    series: Mapped[Series] = relationship()


class Closure(Base):
    """A day the offices are closed (typhoon 停班, …). city_id NULL = every city."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="admin")
    created_at: Mapped[datetime]


class OfficeDay(Base):
    """A day of the DGPA's published office calendar (overrides the holidays package)."""

    __tablename__ = "office_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    day_off: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime]


class OutboxEvent(Base):
    """A domain event, written in the same transaction as the change behind it.

    Notifications consume these (``processed_at`` marks consumption).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unprocessed", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    occurrence_uid: Mapped[str | None] = mapped_column(String(300), index=True)
    sequence: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
