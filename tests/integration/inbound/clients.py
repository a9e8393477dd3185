"""Calendar replies in the shapes real clients send them, built with ``icalendar``.

Outlook (Exchange): METHOD:REPLY without ORGANIZER, X-MICROSOFT/X-MS fields, a Windows
time zone, base64 text/calendar in multipart/alternative. Google Calendar: ORGANIZER,
CUTYPE/ROLE/X-NUM-GUESTS, the calendar inline and again as an ``invite.ics``
attachment. Apple Calendar: quoted-printable ``iCal-….ics`` attachment. Thunderbird:
8bit UTF-8, delegation with DELEGATED-TO and the delegate's own line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Calendar, Event, vCalAddress

STAMP = datetime(2023, 1, 2, 1, 0, tzinfo=UTC)
ORGANIZER = "dvpc@dvpc.example.org"


@dataclass
class Who:
    address: str
    name: str | None = None
    partstat: str = "ACCEPTED"
    params: dict[str, str] = field(default_factory=dict)


def attendee(who: Who, **extra: str) -> vCalAddress:
    a = vCalAddress(f"mailto:{who.address}")
    if who.name:
        a.params["CN"] = who.name
    a.params["PARTSTAT"] = who.partstat
    for k, v in {**who.params, **extra}.items():
        a.params[k] = v
    return a


def calendar(
    prodid: str,
    uid: str,
    attendees: list[vCalAddress],
    *,
    method: str = "REPLY",
    sequence: int | None = 0,
    organizer: bool = True,
    comment: str | None = None,
    extra: dict[str, str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> bytes:
    cal = Calendar()
    cal.add("PRODID", prodid)
    cal.add("VERSION", "2.0")
    cal.add("METHOD", method)
    ev = Event()
    ev.add("UID", uid)
    if sequence is not None:
        ev.add("SEQUENCE", sequence)
    ev.add("DTSTAMP", STAMP)
    if start is not None:
        ev.add("DTSTART", start)
    if end is not None:
        ev.add("DTEND", end)
    if organizer:
        ev.add("ORGANIZER", vCalAddress(f"mailto:{ORGANIZER}"))
    for a in attendees:
        ev.add("ATTENDEE", a)
    if comment:
        ev.add("COMMENT", comment)
    for k, v in (extra or {}).items():
        ev.add(k, v)
    cal.add_component(ev)
    return bytes(cal.to_ical())


def envelope(sender: str, subject: str, message_id: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ORGANIZER
    msg["Subject"] = subject
    msg["Date"] = format_datetime(STAMP)
    if message_id is not None:
        msg["Message-ID"] = message_id
    return msg


def outlook_reply(
    uid: str,
    who: Who,
    *,
    sequence: int = 0,
    message_id: str = "<outlook-1@mail.police.example.org>",
    method: str = "REPLY",
    start: datetime | None = None,
    end: datetime | None = None,
    comment: str | None = None,
) -> bytes:
    """Exchange/Outlook: no ORGANIZER, X-MICROSOFT-CDO fields, base64 in alternative."""
    ics = calendar(
        "Microsoft Exchange Server 2010",
        uid,
        [attendee(who)],
        method=method,
        sequence=sequence,
        organizer=False,
        comment=comment,
        extra={
            "X-MICROSOFT-CDO-APPT-SEQUENCE": str(sequence),
            "X-MICROSOFT-CDO-OWNERAPPTID": "2117402519",
            "X-MICROSOFT-CDO-BUSYSTATUS": "BUSY",
            "X-MS-OLK-AUTOFILLLOCATION": "FALSE",
        },
        start=start,
        end=end,
    )
    verb = {"ACCEPTED": "已接受", "DECLINED": "已拒絕", "TENTATIVE": "暫訂"}.get(who.partstat, "")
    subject = f"{verb}: 兒少保護網絡會議" if method == "REPLY" else "新的時間建議: 兒少保護網絡會議"
    msg = envelope(f"{who.name or ''} <{who.address}>", subject, message_id)
    msg.set_content(f"{who.name} 已回覆。")
    msg.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": method, "charset": "utf-8"}
    )
    # EmailMessage picks base64 for non-ASCII bytes; Outlook does the same.
    return wire(msg)


def google_reply(
    uid: str, who: Who, *, sequence: int = 0, message_id: str, comment: str | None = None
) -> bytes:
    """Google Calendar: ORGANIZER, CUTYPE/ROLE/X-NUM-GUESTS, inline part + invite.ics."""
    a = attendee(who, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", **{"X-NUM-GUESTS": "0"})
    ics = calendar(
        "-//Google Inc//Google Calendar 70.9054//EN", uid, [a], sequence=sequence, comment=comment
    )
    msg = envelope(f"{who.name} <{who.address}>", f"Invitation reply: {who.partstat}", message_id)
    msg.set_content("Reply from Google Calendar")
    msg.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": "REPLY", "charset": "UTF-8"}
    )
    msg.add_attachment(
        ics,
        maintype="application",
        subtype="ics",
        filename="invite.ics",
        params={"name": "invite.ics"},
    )
    return wire(msg)


def apple_reply(uid: str, who: Who, *, sequence: int = 0, message_id: str) -> bytes:
    """Apple Calendar: an iCal-….ics attachment in quoted-printable."""
    ics = calendar("-//Apple Inc.//Mac OS X 10.15.7//EN", uid, [attendee(who)], sequence=sequence)
    msg = envelope(f"{who.name} <{who.address}>", f"Invitation: {who.partstat}", message_id)
    msg.set_content("")
    msg.add_attachment(
        ics.decode("utf-8"),
        subtype="calendar",
        charset="utf-8",
        cte="quoted-printable",
        filename="iCal-20230102-010000.ics",
        params={"method": "REPLY"},
    )
    return wire(msg)


def thunderbird_delegation(
    uid: str, delegator: Who, delegate: Who, *, sequence: int = 0, message_id: str
) -> bytes:
    """Thunderbird (Lightning): PARTSTAT=DELEGATED with DELEGATED-TO, plus the delegate's
    line with DELEGATED-FROM; the calendar as 8bit UTF-8."""
    delegator.partstat = "DELEGATED"
    delegate.partstat = "NEEDS-ACTION"
    ics = calendar(
        "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
        uid,
        [
            attendee(delegator, **{"DELEGATED-TO": f"mailto:{delegate.address}"}),
            attendee(delegate, **{"DELEGATED-FROM": f"mailto:{delegator.address}"}),
        ],
        sequence=sequence,
    )
    msg = envelope(
        f"{delegator.name} <{delegator.address}>", "Delegated: 兒少保護網絡會議", message_id
    )
    msg.set_content("委由代理人出席。")
    msg.add_alternative(
        ics.decode("utf-8"),
        subtype="calendar",
        charset="utf-8",
        cte="8bit",
        params={"method": "REPLY"},
    )
    return wire(msg)


def wire(msg: EmailMessage) -> bytes:
    """The message as it travels: CRLF line ends (smtplib sends bytes as they are)."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def plain_mail(sender: str, subject: str, body: str, message_id: str | None) -> bytes:
    msg = envelope(sender, subject, message_id)
    msg.set_content(body)
    return wire(msg)
