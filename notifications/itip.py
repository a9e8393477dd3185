"""iTIP calendar parts for emails: REQUEST for invitations/updates, CANCEL for cancellations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from notifications.email import MeetingView
from notifications.outbox import OutboxMessage

PRODID = "-//Liaison//Meeting scheduler//ZH-TW"


def build_itip(
    method: str, meeting: MeetingView, attendees: Sequence[tuple[str, str, str]], now: datetime
) -> bytes:
    """A METHOD:REQUEST or METHOD:CANCEL calendar for one meeting.

    ``attendees`` are (email, common name, ROLE). The UID and SEQUENCE are the
    feed's, so calendar clients update the same entry.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    ev = Event()
    ev.add("uid", meeting.uid)
    ev.add("sequence", meeting.sequence)
    ev.add("dtstamp", now)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(meeting.timezone)
    ev.add("dtstart", meeting.start.astimezone(tz))
    ev.add("dtend", meeting.end.astimezone(tz))
    ev.add("summary", meeting.title)
    if meeting.location:
        ev.add("location", meeting.location)
    if meeting.agenda_url:
        ev.add("description", f"議程：{meeting.agenda_url}")
        ev.add("url", meeting.agenda_url)
    ev.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    if meeting.organizer_email:
        org = vCalAddress(f"mailto:{meeting.organizer_email}")
        org.params["cn"] = vText(meeting.organizer_name)
        ev.add("organizer", org)
    for email, name, role in attendees:
        att = vCalAddress(f"mailto:{email}")
        att.params["cn"] = vText(name)
        att.params["role"] = vText(role)
        att.params["partstat"] = vText("NEEDS-ACTION")
        if method == "REQUEST":
            att.params["rsvp"] = vText("TRUE")
        ev.add("attendee", att, encode=False)
    cal.add_component(ev)
    cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data


def calendar_for_message(
    kind: str, meeting: MeetingView, rows: Sequence[OutboxMessage], now: datetime
) -> bytes:
    """The calendar part of an invitation, update or cancellation email."""
    method = "CANCEL" if kind == "cancellation" else "REQUEST"
    attendees = [
        (r.recipient, r.recipient_name or r.recipient, r.role or "REQ-PARTICIPANT") for r in rows
    ]
    return build_itip(method, meeting, attendees, now)
