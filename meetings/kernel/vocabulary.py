"""The words Liaison's state is written in, defined once.

Every value stored in a status, origin, role or kind column is a member of one of
these StrEnums. They are ``str`` subclasses, so they compare equal to the stored text
and serialise as it; display words (zh-TW) live beside them in ``*_ZH`` tables and are
never used to decide anything.
"""

from __future__ import annotations

from enum import StrEnum


class OccurrenceStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class Origin(StrEnum):
    """Why an occurrence exists: its series' cadence, an admin's ad-hoc meeting, a case event."""

    CADENCE = "cadence"
    ADHOC = "adhoc"
    EVENT = "event"


class CancelCause(StrEnum):
    """Why an occurrence is cancelled, when the planner itself cancelled it."""

    HOLIDAY_SKIP = "holiday_skip"  # holiday policy ``skip``: back when the day is working again
    REPLANNED = "replanned"  # a changed cadence no longer has this date
    CASE_CLOSED = "case_closed"  # an event meeting whose case closed first
    SUPERSEDED = "superseded"  # an event meeting replaced by a newer event of its case


class EventKind(StrEnum):
    """Domain events written to ``outbox_events`` in the same transaction as the change."""

    CREATED = "occurrence.created"
    MOVED = "occurrence.moved"
    UPDATED = "occurrence.updated"
    CANCELLED = "occurrence.cancelled"
    REINSTATED = "occurrence.reinstated"
    HELD = "occurrence.held"
    # Its UID was replaced (migration 0010: hashed case numbers); payload {"old_uid": …}.
    REKEYED = "occurrence.rekeyed"
    MINUTES_RECORDED = "minutes.recorded"
    MINUTES_REVISED = "minutes.revised"
    ACTION_ITEM_ADDED = "action_item.added"
    ACTION_ITEM_CLOSED = "action_item.closed"
    DELIVERABLE_RECORDED = "deliverable.recorded"
    # An agency answered its seat (reply slip, calendar reply, or the secretariat);
    # payload {"seat_id": …, "answer_id": …}: the confirmation mail is planned from it.
    SEAT_ANSWERED = "seat.answered"
    # A listed case undiscussed past its window; written by meetings.cases.escalation, not
    # record(): it may name no meeting at all.
    ESCALATION = "escalation"


# The events that give a meeting a new version (each bumps SEQUENCE or creates it).
# ``occurrence.held`` is not one: holding a meeting changes nothing a calendar shows.
REVISION_KINDS = (
    EventKind.CREATED,
    EventKind.MOVED,
    EventKind.UPDATED,
    EventKind.CANCELLED,
    EventKind.REINSTATED,
)


class SeriesKind(StrEnum):
    """What a series' meetings are (a series' ``kind``, default network): the grant report
    (seed 003) counts sessions, hours and participants per kind."""

    # In the grant report's row order: the criteria's kinds first, network meetings last.
    CASE_REVIEW = "case_review"
    GROUP_SUPERVISION = "group_supervision"
    EXTERNAL_SUPERVISION = "external_supervision"
    TRAINING = "training"
    FAMILY_MEETING = "family_meeting"
    NETWORK = "network"


SERIES_KIND_ZH = {
    SeriesKind.CASE_REVIEW: "個案研討",
    SeriesKind.GROUP_SUPERVISION: "團體督導",
    SeriesKind.EXTERNAL_SUPERVISION: "外部督導",
    SeriesKind.TRAINING: "教育訓練",
    SeriesKind.FAMILY_MEETING: "家庭會談",
    SeriesKind.NETWORK: "網絡會議",
}


class Role(StrEnum):
    ADMIN = "admin"
    SECRETARIAT = "secretariat"
    PARTICIPANT = "participant"


ROLE_ZH = {Role.ADMIN: "系統管理者", Role.SECRETARIAT: "幕僚單位", Role.PARTICIPANT: "與會機關"}


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    DELEGATED = "delegated"


ATTENDED = frozenset({AttendanceStatus.PRESENT, AttendanceStatus.DELEGATED})
ATTENDANCE_ZH = {
    AttendanceStatus.PRESENT: "出席",
    AttendanceStatus.ABSENT: "缺席",
    AttendanceStatus.DELEGATED: "代理出席",
}


class CaseStatus(StrEnum):
    """A case's state as the source systems write it (stored in zh, as imported)."""

    OPEN = "開案"
    CLOSED = "結案"


class CaseEventKind(StrEnum):
    """What happens to a case (SPEC §3): stored in ``case_events``, and what a triggered
    series (``trigger: event:``) waits for."""

    REREPORTED = "rereported"
    ORDER_ISSUED = "order_issued"
    ORDER_EXPIRY = "order_expiry"
    DEVIANT_BEHAVIOUR_REPORT = "deviant_behaviour_report"
    NEEDS_ASSESSMENT_HELD = "needs_assessment_held"
    CLOSED = "closed"


CASE_EVENT_ZH = {
    CaseEventKind.REREPORTED: "再通報",
    CaseEventKind.ORDER_ISSUED: "核發保護令／裁定",
    CaseEventKind.ORDER_EXPIRY: "裁定期滿",
    CaseEventKind.DEVIANT_BEHAVIOUR_REPORT: "偏差行為通報",
    CaseEventKind.NEEDS_ASSESSMENT_HELD: "需求評估會議已召開",
    CaseEventKind.CLOSED: "結案",
}


class MessageKind(StrEnum):
    INVITATION = "invitation"
    AGENDA = "agenda"
    REMINDER = "reminder"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    # Removes the calendar entry under a meeting's old UID (the meeting stands; a fresh
    # invitation carries the new UID). Not a MEETING_NOTICE: whatever happens to the
    # meeting afterwards, the old entry must still go.
    RENUMBERED = "renumbered"
    MINUTES_DUE = "minutes_due"
    ESCALATION = "escalation"
    # A series' deliverable (成效檢核表 …) of a held meeting: due soon, then overdue.
    DELIVERABLE_DUE = "deliverable_due"
    DELIVERABLE_OVERDUE = "deliverable_overdue"
    # To the series' secretariat, ``readiness`` (3 working days) before the meeting: what
    # is not ready (agencies double-booked, notices undelivered, agencies without address).
    READINESS = "readiness"
    # To a required agency that has not answered its seat by the readiness check.
    REPLY_CHASE = "reply_chase"
    # To the agency's address after its seat was answered (what was recorded).
    REPLY_CONFIRMATION = "reply_confirmation"


# Messages about the meeting itself: a move supersedes them, a cancellation cancels them
# (not minutes_due or an escalation that merely points at the meeting).
MEETING_NOTICES = frozenset(
    {
        MessageKind.INVITATION,
        MessageKind.AGENDA,
        MessageKind.REMINDER,
        MessageKind.UPDATE,
        MessageKind.CANCELLATION,
        MessageKind.READINESS,
        MessageKind.REPLY_CHASE,
    }
)


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


# A case's data fields, in import-file order (SPEC §3), defined once: the import columns
# add ``case_no`` and ``name`` (masked before it is stored, never kept in clear), the
# stored row has ``masked_name``, listing rules may also test ``rereported_during_service``.
CASE_DATA_FIELDS = (
    "case_type",
    "district",
    "sdm_risk",
    "tipvda_score",
    "service",
    "status",
    "agency",
    "worker",
    "reported_at",
    "rereported_at",
    "order_expiry",
    "order_type",  # 監護處分, 保護管束, 保護令 … (the order that expires; trigger conditions)
    "listed_reason",
)
CASE_IMPORT_COLUMNS = ("case_no", *CASE_DATA_FIELDS[:2], "name", *CASE_DATA_FIELDS[2:])
CASE_STORED_FIELDS = (*CASE_DATA_FIELDS[:2], "masked_name", *CASE_DATA_FIELDS[2:])
CASE_RULE_FIELDS = ("case_no", *CASE_DATA_FIELDS, "rereported_during_service")


class SeatState(StrEnum):
    """An invited agency's seat at one meeting (meetings.seats): who sits in it."""

    INVITED = "invited"  # not answered yet
    DESIGNATED = "designated"  # its representative (person, title/rank)
    DEPUTY = "deputy"  # 代理: someone else, for whom
    TENTATIVE = "tentative"  # a calendar's TENTATIVE: answered, not settled
    DECLINED = "declined"  # 請假 (reason)


SEAT_STATE_ZH = {
    SeatState.INVITED: "未回覆",
    SeatState.DESIGNATED: "指派出席",
    SeatState.DEPUTY: "代理出席",
    SeatState.TENTATIVE: "暫定",
    SeatState.DECLINED: "請假",
}
# Seats whose agency is expected at the meeting (the attendance form's prefill).
SEAT_COMING = frozenset({SeatState.DESIGNATED, SeatState.DEPUTY})


class SeatRole(StrEnum):
    MEMBER = "member"  # 出席
    OBSERVER = "observer"  # 列席


SEAT_ROLE_ZH = {SeatRole.MEMBER: "出席", SeatRole.OBSERVER: "列席"}


class ReplyChannel(StrEnum):
    LINK = "link"  # the reply slip (回條) page
    ITIP = "itip"  # a calendar client's METHOD:REPLY
    SECRETARIAT = "secretariat"  # typed in by the secretariat (an override)


class InboundStatus(StrEnum):
    """What became of one inbound mail (``inbound_messages``)."""

    APPLIED = "applied"  # a seat was answered
    HISTORY = "history"  # kept in the seat's history, not applied (an older SEQUENCE)
    COUNTER = "counter"  # a proposed new time: shown to the secretariat, never applied
    QUARANTINED = "quarantined"  # unknown sender, unparseable, no such meeting …
