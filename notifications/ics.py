"""iCalendar builders: subscription feeds and iTIP invitations (RFC 5545 / 5546 / 7986).

Pure functions on plain values: nothing here reads the database. Occurrence rows
are mapped to :class:`FeedEvent` by ``notifications.feeds.feed_snapshot``.

Public API (the email notifications import these):

- :class:`FeedEvent` — one meeting as a calendar sees it (no case data by design).
- :class:`Party` / :class:`Attendee` — organizer and invitees (``CN`` may be Chinese).
- :func:`build_feed` — a ``VCALENDAR`` for ``GET /feeds/{token}.ics``.
- :func:`build_request` — ``METHOD:REQUEST`` for an invitation or an update
  (pass the occurrence's current ``sequence``; clients replace the older copy).
- :func:`build_cancel` — ``METHOD:CANCEL`` with ``STATUS:CANCELLED``.

Every builder takes ``tz``, the city's zone (``City.timezone``): local times and the
VTIMEZONE are written in it. Every builder returns UTF-8 bytes with CRLF line endings and lines folded at 75
octets (``icalendar`` folds on octets without splitting a UTF-8 character).
The same ``uid`` is used in feeds and invitations, so a client that got an
invitation by email and also subscribes to a feed sees one meeting, not two.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration

from meetings.kernel.localtime import zone as local_zone

PRODID = "-//Liaison//Liaison meeting feeds 1.0//ZH-TW"
Status = Literal["scheduled", "cancelled", "held"]
_ICAL_STATUS = {"scheduled": "CONFIRMED", "held": "CONFIRMED", "cancelled": "CANCELLED"}
# Control characters and the double quote, which cannot appear inside a quoted
# parameter value (RFC 5545 §3.2); TEXT keeps tab and line feed (escaped as \n).
_PARAM_UNSAFE = re.compile(r'[\x00-\x1f\x7f"]')
_TEXT_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class FeedEvent:
    """One meeting, as published. Deliberately has no field for case data.

    ``start``/``end``/``last_modified`` are timezone-aware instants;
    ``description_url`` is the agenda link ``{base_url}/meetings/{uid}`` (or None:
    then there is no DESCRIPTION or URL).
    """

    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    location: str | None
    status: Status
    organizer_name: str | None
    organizer_email: str | None
    description_url: str | None
    last_modified: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end", "last_modified"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{self.uid}: {name} must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"{self.uid}: end is not after start")
        if self.status not in _ICAL_STATUS:
            raise ValueError(f"{self.uid}: unknown status {self.status!r}")
        if self.description_url is not None and any(c in self.description_url for c in '\r\n"<> '):
            raise ValueError(f"{self.uid}: unsafe characters in description_url")


@dataclass(frozen=True)
class Party:
    """An organizer: an email address and an optional display name (``CN``)."""

    email: str
    name: str | None = None


AttendeeRole = Literal["CHAIR", "REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT"]
ATTENDEE_ROLES: tuple[AttendeeRole, ...] = (
    "CHAIR",
    "REQ-PARTICIPANT",
    "OPT-PARTICIPANT",
    "NON-PARTICIPANT",
)


@dataclass(frozen=True)
class Attendee:
    """An invitee: ``ROLE`` (RFC 5545 §3.2.16), ``CN`` (may be Chinese), ``RSVP`` on requests."""

    email: str
    name: str | None = None
    role: AttendeeRole = "REQ-PARTICIPANT"
    rsvp: bool = True

    def __post_init__(self) -> None:
        if self.role not in ATTENDEE_ROLES:
            raise ValueError(f"{self.email}: unknown attendee role {self.role!r}")


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return dt


def _text(value: str) -> str:
    """A single TEXT value with stray control characters removed (escaping is icalendar's)."""
    return _TEXT_UNSAFE.sub("", value).strip()


def _one_line(value: str) -> str:
    """A name shown on one line (calendar names): whitespace runs become one space."""
    return " ".join(_text(value).split())


def _param(value: str) -> str:
    """A parameter value (CN): no control characters, no double quotes."""
    return _PARAM_UNSAFE.sub("", value).strip()


def _address(email: str, name: str | None, **params: str) -> vCalAddress:
    if not email or any(c in email for c in '\r\n"<> '):
        raise ValueError(f"not an email address: {email!r}")
    addr = vCalAddress(f"mailto:{email}")
    if name and _param(name):
        addr.params["CN"] = _param(name)
    for key, value in params.items():
        addr.params[key.replace("_", "-").upper()] = value
    return addr


def _utc(dt: datetime) -> datetime:
    return _aware(dt, "instant").astimezone(UTC).replace(microsecond=0)


def _vevent(ev: FeedEvent, zone: ZoneInfo, dtstamp: datetime, *, organizer: bool) -> Event:
    e = Event()
    e.add("uid", ev.uid)
    e.add("dtstamp", _utc(dtstamp))
    e.add("sequence", ev.sequence)
    e.add("dtstart", _aware(ev.start, "start").astimezone(zone).replace(microsecond=0))
    e.add("dtend", _aware(ev.end, "end").astimezone(zone).replace(microsecond=0))
    e.add("summary", _text(ev.summary))
    if ev.location and _text(ev.location):
        e.add("location", _text(ev.location))
    if organizer and ev.organizer_email:
        e.add("organizer", _address(ev.organizer_email, ev.organizer_name))
    e.add("status", _ICAL_STATUS[ev.status])
    if ev.description_url is not None:
        e.add("description", _description(ev.description_url))
        e.add("url", ev.description_url, parameters={"VALUE": "URI"})
    e.add("last-modified", _utc(ev.last_modified))
    return e


def _description(url: str) -> str:
    """The whole DESCRIPTION: the agenda link, nothing else (no case data by construction)."""
    return f"議程 Agenda: {url}"


def _finish(cal: Calendar, events: Sequence[FeedEvent]) -> bytes:
    """Add VTIMEZONEs for the span the events use (small and deterministic) and serialise."""
    if events:
        first, last = _tz_span(events)
        # What ``cal.add_missing_timezones`` does, with the VTIMEZONE built once per
        # (zone, span): building one takes ~10 ms, more than the rest of an invitation.
        at = len(cal.timezones)
        for i, tzid in enumerate(sorted(cal.get_missing_tzids())):
            cal.subcomponents.insert(at + i, _timezone(tzid, first, last))
    data: bytes = cal.to_ical()
    return data


@functools.lru_cache(maxsize=64)
def _timezone(tzid: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE of ``tzid`` over [first, last]; shared read-only by the calendars
    that serialise it (tzdata is fixed per process)."""
    return Timezone.from_tzid(tzid, first_date=first, last_date=last)


def _calendar(method: str | None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    return cal


def _feed_calendar(calname: str, tz: str, refresh: timedelta) -> Calendar:
    cal = _calendar(None)
    name = _one_line(calname) or "Liaison"
    cal.add("x-wr-calname", name)
    cal.add("name", name)
    cal.add("x-wr-timezone", tz)
    cal.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    return cal


def _tz_span(events: Sequence[FeedEvent]) -> tuple[date, date]:
    first = min(e.start for e in events).date()
    last = max(e.end for e in events).date()
    return date(first.year, 1, 1), date(last.year + 1, 1, 1)


def build_feed(
    events: Sequence[FeedEvent],
    *,
    calname: str,
    now: datetime,
    tz: str,
    refresh: timedelta = timedelta(hours=1),
) -> bytes:
    """A subscription calendar (no METHOD) with one VEVENT per meeting.

    Cancelled meetings stay in the feed with ``STATUS:CANCELLED`` so clients drop them.
    Without METHOD, DTSTAMP is "when the information was last revised in the
    calendar store" (RFC 5545 §3.8.7.2): each event's ``last_modified``, capped
    at ``now``. The output therefore depends only on the events, which lets the
    server use a strong ETag and serve identical bytes from every instance.

    The calendar header, VTIMEZONE and ORGANIZER lines come from ``icalendar``;
    the per-event lines are written by a small fast writer that produces the
    very bytes ``icalendar`` would (``tests/test_ics.py`` checks this against
    :func:`build_feed_reference` on generated input): ``icalendar`` alone needs
    ~0.4 ms per event, too slow for a 2,000-event feed.
    """
    _aware(now, "now")
    zone = local_zone(tz)
    head = _feed_calendar(calname, tz, refresh).to_ical()
    assert head.endswith(b"END:VCALENDAR\r\n")
    out: list[bytes] = [head[: -len(b"END:VCALENDAR\r\n")]]
    if events:
        out.append(_vtimezone(tz, *_tz_span(events)))
    lines = _Lines()
    for ev in sorted(events, key=lambda e: (e.start, e.uid)):
        _fast_vevent(out, ev, zone, min(ev.last_modified, now), lines)
    out.append(b"END:VCALENDAR\r\n")
    return b"".join(out)


def build_feed_reference(
    events: Sequence[FeedEvent],
    *,
    calname: str,
    now: datetime,
    tz: str,
    refresh: timedelta = timedelta(hours=1),
) -> bytes:
    """:func:`build_feed` done entirely with ``icalendar`` (the reference; slow)."""
    _aware(now, "now")
    zone = local_zone(tz)
    cal = _feed_calendar(calname, tz, refresh)
    for ev in sorted(events, key=lambda e: (e.start, e.uid)):
        cal.add_component(_vevent(ev, zone, min(ev.last_modified, now), organizer=True))
    return _finish(cal, events)


# --- the fast per-event writer ---------------------------------------------------


def _escape(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT escaping, exactly as icalendar does it."""
    return (
        text.replace(r"\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\r\n", r"\n")
        .replace("\n", r"\n")
        .replace("\r", r"\n")
    )


def fold(line: str) -> str:
    """Fold one content line exactly like icalendar (see :func:`_fold`)."""
    return _fold(line.encode("utf-8")).decode("utf-8")


def _fold(line: bytes) -> bytes:
    """Fold a UTF-8 content line: at most 74 octets a physical line, never inside a
    UTF-8 character, never between a backslash or caret and what it escapes."""
    if len(line) < 75:
        return line
    parts: list[bytes] = []
    pos, size = 0, len(line)
    while size - pos >= 75:
        cut = pos + 74
        while line[cut] & 0xC0 == 0x80:  # inside a multi-byte character: back off
            cut -= 1
        if line[cut - 1] in b"\\^":  # keep an escape with the character it escapes
            cut -= 1
        parts.append(line[pos:cut])
        pos = cut
    parts.append(line[pos:])
    return b"\r\n ".join(parts)


def _stamp(dt: datetime) -> str:
    """``YYYYMMDDTHHMMSS`` of a datetime's wall time (faster than strftime)."""
    return "%04d%02d%02dT%02d%02d%02d" % (  # noqa: UP031 - measured faster
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
    )


@functools.lru_cache(maxsize=32)
def _vtimezone(tz: str, first: date, last: date) -> bytes:
    """A VTIMEZONE for ``tz`` valid from ``first`` to ``last`` (tzdata is fixed per process)."""
    data: bytes = _timezone(tz, first, last).to_ical()
    return data


def _organizer_line(email: str, name: str | None) -> bytes:
    """The ORGANIZER content line as icalendar writes it (quoting of CN included)."""
    e = Event()
    e.add("organizer", _address(email, name))
    data: bytes = e.to_ical()
    return data[len(b"BEGIN:VEVENT\r\n") : -len(b"END:VEVENT\r\n")]


class _Lines:
    """Per-build memo of lines that repeat across a feed's events (titles, places,
    organizers, time stamps). Lives for one :func:`build_feed` call only."""

    def __init__(self) -> None:
        self.summary: dict[str, bytes] = {}
        self.location: dict[str, bytes] = {}
        self.organizer: dict[tuple[str, str | None], bytes] = {}
        self.utc: dict[datetime, str] = {}

    def summary_line(self, text: str) -> bytes:
        line = self.summary.get(text)
        if line is None:
            line = self.summary[text] = _fold(("SUMMARY:" + _escape(_text(text))).encode())
        return line

    def location_line(self, text: str) -> bytes:
        line = self.location.get(text)
        if line is None:
            clean = _text(text)
            line = b""
            if clean:
                line = _fold(("LOCATION:" + _escape(clean)).encode()) + b"\r\n"
            self.location[text] = line
        return line

    def organizer_line(self, email: str, name: str | None) -> bytes:
        key = (email, name)
        line = self.organizer.get(key)
        if line is None:
            line = self.organizer[key] = _organizer_line(email, name)
        return line

    def utc_stamp(self, dt: datetime) -> str:
        stamp = self.utc.get(dt)
        if stamp is None:
            stamp = self.utc[dt] = _stamp(_utc(dt)) + "Z"
        return stamp


def _fast_vevent(
    out: list[bytes], ev: FeedEvent, zone: ZoneInfo, dtstamp: datetime, lines: _Lines
) -> None:
    tzid = zone.key
    start = _aware(ev.start, "start").astimezone(zone)
    end = _aware(ev.end, "end").astimezone(zone)
    url = ev.description_url
    out.append(
        b"BEGIN:VEVENT\r\n"
        + lines.summary_line(ev.summary)
        + (
            f"\r\nDTSTART;TZID={tzid}:{_stamp(start)}\r\n"
            f"DTEND;TZID={tzid}:{_stamp(end)}\r\n"
            f"DTSTAMP:{lines.utc_stamp(dtstamp)}\r\n"
        ).encode()
        + _fold(("UID:" + _escape(ev.uid)).encode())
        + f"\r\nSEQUENCE:{int(ev.sequence)}\r\n".encode()
        + (
            _fold(("DESCRIPTION:" + _escape(_description(url))).encode()) + b"\r\n"
            if url is not None
            else b""
        )
        + f"LAST-MODIFIED:{lines.utc_stamp(ev.last_modified)}\r\n".encode()
        + (lines.location_line(ev.location) if ev.location else b"")
        + (
            lines.organizer_line(ev.organizer_email, ev.organizer_name)
            if ev.organizer_email
            else b""
        )
        + f"STATUS:{_ICAL_STATUS[ev.status]}\r\n".encode()
        + (_fold(("URL;VALUE=URI:" + url).encode()) + b"\r\n" if url is not None else b"")
        + b"END:VEVENT\r\n"
    )


def _itip(
    method: Literal["REQUEST", "CANCEL"],
    event: FeedEvent,
    organizer: Party,
    attendees: Sequence[Attendee],
    now: datetime,
    tz: str,
) -> bytes:
    cal = _calendar(method)
    e = _vevent(event, local_zone(tz), now, organizer=False)
    if method == "CANCEL":
        e["status"] = "CANCELLED"
    e.add("organizer", _address(organizer.email, organizer.name))
    seen: set[str] = set()
    for a in attendees:
        if a.email.lower() in seen:
            continue
        seen.add(a.email.lower())
        params = {"ROLE": a.role, "PARTSTAT": "NEEDS-ACTION"}
        if a.rsvp and method == "REQUEST":
            params["RSVP"] = "TRUE"
        e.add("attendee", _address(a.email, a.name, **params))
    cal.add_component(e)
    return _finish(cal, [event])


def build_request(
    event: FeedEvent,
    organizer: Party,
    attendees: Sequence[Attendee],
    now: datetime,
    *,
    tz: str,
) -> bytes:
    """``METHOD:REQUEST`` for an invitation or an update (DTSTAMP = ``now``).

    For an update pass the event with its new ``sequence``; the UID stays the same.
    """
    if event.status == "cancelled":
        raise ValueError(f"{event.uid} is cancelled: use build_cancel")
    return _itip("REQUEST", event, organizer, attendees, now, tz)


def build_cancel(
    event: FeedEvent,
    organizer: Party,
    attendees: Sequence[Attendee],
    now: datetime,
    *,
    tz: str,
) -> bytes:
    """``METHOD:CANCEL`` with ``STATUS:CANCELLED`` for the attendees named."""
    return _itip("CANCEL", event, organizer, attendees, now, tz)
