"""SQLAlchemy 2 tables. Schema changes go through Alembic (alembic/versions).

The base and shared column type are in ``meetings.db.base``; seats and inbound replies
in ``meetings.db.replies``; every table is importable from here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meetings.db.base import UID_LENGTH, Base, UTCDateTime
from meetings.db.replies import InboundMessage, Seat, SeatAnswer
from meetings.kernel.localtime import DEFAULT_TIMEZONE

__all__ = ["UID_LENGTH", "Base", "InboundMessage", "Seat", "SeatAnswer", "UTCDateTime"]


class City(Base):
    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    domain: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # What the city is judged by: {kpi key: target, or {ROC year: target}} (SPEC §7).
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
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
    # Per-district units: {district name: {"name": ..., "emails": [...]}}.
    units: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
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
    team: Mapped[str | None] = mapped_column(String(50))
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
    uid: Mapped[str] = mapped_column(String(UID_LENGTH), unique=True)
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
    # Why the planner cancelled it (a CancelCause); None when scheduled, held, or cancelled
    # otherwise. ``moved_reason`` is display text and never decides anything.
    cancel_cause: Mapped[str | None] = mapped_column(String(16))
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


# --- attendance, minutes and action items (migration 0004) ---------------------------


class HeldMeeting(Base):
    """When a held meeting actually took place, its cycle, and when its minutes were due."""

    __tablename__ = "held_meetings"

    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("occurrences.id", ondelete="CASCADE"), primary_key=True
    )
    held_on: Mapped[date] = mapped_column(Date, index=True)
    # The cadence cycle of the occurrence when it was held (held_on_schedule_rate).
    cycle_first: Mapped[date] = mapped_column(Date)
    cycle_last: Mapped[date] = mapped_column(Date)
    minutes_due_on: Mapped[date] = mapped_column(Date)
    # As recorded (migration 0014); None: the scheduled duration, and the attendance lines.
    hours: Mapped[float | None] = mapped_column(Float)
    participants: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Attendance(Base):
    """One agency's (or one person's) attendance at a meeting."""

    __tablename__ = "attendance"
    __table_args__ = (
        Index("ix_attendance_occurrence_agency", "occurrence_id", "agency_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(32))
    person_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Minutes(Base):
    """The minutes (會議紀錄) of a held meeting. Never sent in feeds or emails."""

    __tablename__ = "minutes"

    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("occurrences.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)
    recorded_on: Mapped[date] = mapped_column(Date)
    revised_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ActionItem(Base):
    """A decision to follow up (決議事項), owned by an agency, due on a date."""

    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_due", "due_on"),
        Index("ix_action_items_occurrence", "occurrence_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id", ondelete="CASCADE"))
    owner_code: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


# The KPI report selects a year of meetings by nominal date across every series.
Index("ix_occurrences_nominal_status", Occurrence.nominal_date, Occurrence.status)


# --- cases, listings, discussions, agendas and audit (migration 0003) -----------------


class Case(Base):
    """A protection case, as imported. The client's name is only ever stored masked."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("city_id", "case_no"),
        Index("ix_cases_city_district", "city_id", "district"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    case_no: Mapped[str] = mapped_column(String(64))
    case_type: Mapped[str] = mapped_column(String(20))
    district: Mapped[str] = mapped_column(String(50))
    masked_name: Mapped[str | None] = mapped_column(String(50))
    sdm_risk: Mapped[str | None] = mapped_column(String(4))
    tipvda_score: Mapped[int | None] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default="開案")
    agency: Mapped[str | None] = mapped_column(String(100))
    worker: Mapped[str | None] = mapped_column(String(50))
    reported_at: Mapped[date] = mapped_column(Date)
    rereported_at: Mapped[date | None] = mapped_column(Date)
    order_expiry: Mapped[date | None] = mapped_column(Date)
    order_type: Mapped[str | None] = mapped_column(String(30))
    listed_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseEvent(Base):
    """Something that happened to a case (rereported, order_expiry, closed …)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))  # manual | import
    created_at: Mapped[datetime]


class ListingRule(Base):
    """A city's declarative listing rule (列管指標), stored from config."""

    __tablename__ = "listing_rules"
    __table_args__ = (UniqueConstraint("city_id", "rule_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(300))
    window: Mapped[str | None] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class CaseListing(Base):
    """One listing (列管) of a case under a rule; a relisted case gets a new row."""

    __tablename__ = "case_listings"
    __table_args__ = (
        # Covers the agenda query: open listings of a rule, oldest first, by district.
        Index(
            "ix_case_listings_open", "rule_id", "delisted_at", "listed_at", "district", "case_no"
        ),
        Index("ix_case_listings_case", "case_id", "rule_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("listing_rules.id", ondelete="CASCADE"))
    # Copies of the case's number and district, written and kept in step by
    # meetings.cases.rules, so building an agenda (agendas.queries.listing_page) scans
    # the listings index alone and reads only the cases it shows. (NULL only in rows
    # written by other code.)
    case_no: Mapped[str | None] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(50))
    listed_at: Mapped[date] = mapped_column(Date)
    delisted_at: Mapped[date | None] = mapped_column(Date)
    delisted_reason: Mapped[str | None] = mapped_column(String(100))
    escalated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class CaseDiscussion(Base):
    """A case discussed at a meeting (個案研討); read by the KPI report."""

    __tablename__ = "case_discussions"
    __table_args__ = (
        UniqueConstraint("occurrence_uid", "case_no"),
        Index("ix_case_discussions_case", "case_no", "discussed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_uid: Mapped[str] = mapped_column(
        String(300), ForeignKey("occurrences.uid", ondelete="CASCADE")
    )
    case_no: Mapped[str] = mapped_column(String(64))
    discussed_at: Mapped[datetime]  # the meeting's start
    discussed_on: Mapped[date] = mapped_column(Date)  # its local date (for date comparisons)
    source: Mapped[str] = mapped_column(String(16))  # manual | agenda


class FrozenAgenda(Base):
    """The agenda as sent: later listings go to the next meeting."""

    __tablename__ = "frozen_agendas"

    occurrence_uid: Mapped[str] = mapped_column(
        String(300), ForeignKey("occurrences.uid", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[dict[str, Any]]
    frozen_at: Mapped[datetime]


class AgendaCase(Base):
    """A case row of a frozen agenda (reserves the case for that meeting)."""

    __tablename__ = "agenda_cases"
    __table_args__ = (Index("ix_agenda_cases_case", "case_no"),)

    occurrence_uid: Mapped[str] = mapped_column(
        String(300),
        ForeignKey("frozen_agendas.occurrence_uid", ondelete="CASCADE"),
        primary_key=True,
    )
    case_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    carried_over: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditRecord(Base):
    """Who looked at case rows, when, which meeting and cases, and why (TL3.1)."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_viewed_at", "viewed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    viewer: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))  # agenda.show | cases.list
    occurrence_uid: Mapped[str | None] = mapped_column(String(300))
    case_nos: Mapped[list[Any]] = mapped_column(default=list)
    viewed_at: Mapped[datetime]


class FeedToken(Base):
    """A calendar-feed token. Only the SHA-256 of the token is stored."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope_kind: Mapped[str] = mapped_column(String(16))  # person | agency | series | district
    scope_value: Mapped[str] = mapped_column(String(254))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token for the JSON API. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | secretariat | participant
    # The city it may see; NULL with all_cities=True is a ministry token (every city).
    # NULL with all_cities=False sees nothing (a token from before cities were scoped).
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    all_cities: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class CitySettings(Base):
    """Per-city settings that are not series: where its config (and templates) live."""

    __tablename__ = "city_settings"

    city_id: Mapped[int] = mapped_column(
        ForeignKey("cities.id", ondelete="CASCADE"), primary_key=True
    )
    config_dirs: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime]


# Event-triggered meetings are looked up by their case.
Index("ix_occurrences_case_no", Occurrence.case_no)


# Lets the feed server ask "has any meeting changed?" in O(log n) (see meetings.access.feeds).
Index("ix_occurrences_updated_at", Occurrence.updated_at)


class User(Base):
    """A login. ``email`` is stored lower-case; it links to a declared person, if any."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # The city the login belongs to; NULL with all_cities=True is a ministry login.
    # NULL with all_cities=False sees nothing until an admin assigns a city.
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    all_cities: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins per key (``account:EMAIL`` or ``address:IP``), shared by every process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class AppSecret(Base):
    """A server-side secret (the session signing key), generated once per database."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """One email to one recipient."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "due_at"),
        Index("ix_outbox_messages_uid", "occurrence_uid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    occurrence_uid: Mapped[str | None] = mapped_column(String(300))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(30))
    due_at: Mapped[datetime]
    # pending | sent | failed | superseded | cancelled
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Who last put it back in the queue (``notify retry``), kept through later attempts.
    requeued_at: Mapped[datetime | None]
    requeued_by: Mapped[str | None] = mapped_column(String(254))
    requeue_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    context: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class DeliverableSubmission(Base):
    """A series' deliverable (成效檢核表 …) handed in for a held meeting (migration 0013).

    ``submitted_on`` is the day it was handed in (the first recorded counts, like
    minutes); the due date follows from the series' ``deliverables`` and the day held.
    """

    __tablename__ = "deliverable_submissions"
    __table_args__ = (UniqueConstraint("occurrence_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    submitted_on: Mapped[date] = mapped_column(Date)
    submitted_by: Mapped[str] = mapped_column(String(254))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    updated_at: Mapped[datetime]
