"""iTIP calendar parts for emails: REQUEST for invitations/updates, CANCEL for cancellations.

A thin adapter: the calendar itself is built by :mod:`notifications.ics` (the one
iCalendar builder of the project), so an emailed invitation carries the same
UID, SEQUENCE, times and ORGANIZER as the subscription feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meetings.db import OutboxMessage
from meetings.kernel.vocabulary import MessageKind, OccurrenceStatus
from notifications.email import MeetingView
from notifications.ics import (
    ATTENDEE_ROLES,
    Attendee,
    FeedEvent,
    Party,
    Status,
    build_cancel,
    build_request,
)


def meeting_event(meeting: MeetingView, now: datetime, *, cancelled: bool = False) -> FeedEvent:
    """A meeting as the iCalendar builder sees it (no case data: MeetingView has none)."""
    is_cancelled = cancelled or meeting.status == OccurrenceStatus.CANCELLED
    status: Status = "cancelled" if is_cancelled else "scheduled"
    return FeedEvent(
        uid=meeting.uid,
        sequence=meeting.sequence,
        start=meeting.start,
        end=meeting.end,
        summary=meeting.title,
        location=meeting.location,
        status=status,
        organizer_name=meeting.organizer_name,
        organizer_email=meeting.organizer_email,
        description_url=meeting.agenda_url,
        last_modified=now,
    )


def organizer_of(meeting: MeetingView) -> Party:
    """The ORGANIZER: the organizing agency, else the city's no-reply sender.

    iTIP requires an ORGANIZER on every REQUEST and CANCEL; when the organizing
    agency has no email address, the address mails are sent from
    (``noreply@`` the UID's domain, which is the city's domain) stands in.
    """
    if meeting.organizer_email:
        return Party(meeting.organizer_email, meeting.organizer_name)
    domain = meeting.uid.rpartition("@")[2] or "localhost"
    return Party(f"noreply@{domain}", meeting.organizer_name)


def _attendee(row: OutboxMessage) -> Attendee:
    for role in ATTENDEE_ROLES:
        if row.role == role:
            return Attendee(row.recipient, row.recipient_name or None, role=role)
    return Attendee(row.recipient, row.recipient_name or None)


def calendar_for_message(
    kind: str, meeting: MeetingView, rows: Sequence[OutboxMessage], now: datetime
) -> bytes:
    """The calendar part of an invitation, update or cancellation email.

    ``cancellation``, ``renumbered`` (the entry under a meeting's old UID; the caller
    passes that UID in ``meeting``) or a cancelled meeting → ``METHOD:CANCEL``; anything
    else → ``METHOD:REQUEST`` at the meeting's current SEQUENCE, with RSVP.
    """
    cancel = (
        kind in (MessageKind.CANCELLATION, MessageKind.RENUMBERED)
        or meeting.status == OccurrenceStatus.CANCELLED
    )
    event = meeting_event(meeting, now, cancelled=cancel)
    attendees = [_attendee(r) for r in rows]
    build = build_cancel if cancel else build_request
    return build(event, organizer_of(meeting), attendees, now, tz=meeting.timezone)
