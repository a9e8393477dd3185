"""Rendering outbox messages into multipart zh-TW emails (Jinja2 templates)."""

from __future__ import annotations

import email.policy
import functools
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_datetime
from meetings.kernel.templating import make_environment
from meetings.kernel.vocabulary import MessageKind

TEMPLATES = Path(__file__).resolve().parent / "templates"

SUBJECT_PREFIX: dict[str, str] = {
    MessageKind.INVITATION: "開會通知",
    MessageKind.AGENDA: "會議議程",
    MessageKind.REMINDER: "會議提醒",
    MessageKind.UPDATE: "會議異動通知",
    MessageKind.CANCELLATION: "會議取消通知",
    MessageKind.RENUMBERED: "行事曆項目更新",
    MessageKind.MINUTES_DUE: "會議紀錄待補",
    MessageKind.ESCALATION: "列管個案逾期未討論",
    MessageKind.DELIVERABLE_DUE: "應繳資料提醒",
    MessageKind.DELIVERABLE_OVERDUE: "應繳資料逾期",
    MessageKind.READINESS: "會前檢核",
    MessageKind.REPLY_CHASE: "請回覆出席人員",
    MessageKind.REPLY_CONFIRMATION: "回條已收到",
}


def one_line(text: str) -> str:
    """Header-safe text: no CR/LF or other control characters (no header injection)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


@dataclass(frozen=True)
class MeetingView:
    """What an email may say about a meeting: no case data."""

    uid: str
    sequence: int
    title: str
    start: datetime
    end: datetime
    location: str | None
    chair: str | None
    organizer_name: str
    organizer_email: str | None
    status: str
    moved_reason: str | None
    timezone: str
    agenda_url: str | None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.cache
def environment() -> Environment:
    """The mail templates' Jinja environment (built once, on first use)."""
    return make_environment(FileSystemLoader(str(TEMPLATES)))


def render(
    kind: str,
    recipient_name: str,
    meeting: MeetingView | None,
    extra: dict[str, Any] | None = None,
) -> Rendered:
    """Subject, text and HTML bodies for one message."""
    extra = dict(extra or {})
    ctx: dict[str, Any] = {
        "kind": kind,
        "recipient_name": recipient_name,
        "title": "",
        "when": "",
        "location": None,
        "chair": None,
        "organizer_name": extra.pop("organizer_name", "Liaison"),
        "agenda_url": None,
        "moved_reason": None,
        "agenda_text": extra.pop("agenda_text", None),
        "agenda_html": Markup(extra.pop("agenda_html")) if extra.get("agenda_html") else None,
        "due": extra.pop("due", ""),
        "window": "",
        "case_no": "",
        "district": "",
        "rule_title": "",
        "listed_at": "",
        "deadline": "",
        "next_meeting": "",
        "deliverable": "",
        "to_name": "",
        "readiness_items": [],
        "reply_url": None,
        "seat_role": "",
        "answer_text": "",
    }
    extra.pop("agenda_html", None)
    if meeting is not None:
        # The meeting's wall time in its city's zone (MeetingView.timezone).
        ctx.update(
            title=one_line(meeting.title),
            when=format_roc_datetime(local(meeting.start, meeting.timezone)),
            location=meeting.location,
            chair=meeting.chair,
            organizer_name=meeting.organizer_name,
            agenda_url=meeting.agenda_url,
            moved_reason=meeting.moved_reason if kind == MessageKind.UPDATE else None,
        )
    ctx.update({k: v for k, v in extra.items() if k in ctx})
    if kind == MessageKind.ESCALATION:
        subject = f"【{SUBJECT_PREFIX[kind]}】案號 {one_line(str(ctx['case_no']))}"
    elif ctx["deliverable"]:
        subject = f"【{SUBJECT_PREFIX[kind]}】{ctx['deliverable']}：{ctx['when']} {ctx['title']}"
    else:
        subject = f"【{SUBJECT_PREFIX[kind]}】{ctx['when']} {ctx['title']}"
    ctx["subject"] = subject
    env = environment()
    text = env.get_template("email/message.txt.j2").render(ctx)
    html = env.get_template("email/message.html.j2").render(ctx)
    return Rendered(subject=one_line(subject), text=text, html=html)


# --- memoised headers ----------------------------------------------------------------
#
# The email package re-parses every header it is given; for the zh-TW headers (RFC 2047
# encoded words) that dominated the cost of a message. The messages of a batch share
# most headers (Subject, From, Reply-To, Date), so the parsed (immutable) header objects
# are shared. Folding at send time is memoised likewise (``notifications.smtp.to_bytes``).

_HEADER_CACHE_MAX = 4096


@functools.lru_cache(maxsize=_HEADER_CACHE_MAX)
def _header(name: str, value: str) -> Any:
    """A parsed header object (immutable), shared by the messages that carry it."""
    return email.policy.default.header_factory(name, value)


def compose(
    *,
    rendered: Rendered,
    message_id: str,
    sender: Address,
    recipient: Address,
    reply_to: str | None,
    now: datetime,
    calendar: bytes | None = None,
    method: str | None = None,
) -> EmailMessage:
    """A multipart/alternative (text, HTML[, text/calendar]) message, plus an .ics attachment."""
    msg = EmailMessage()
    msg["Subject"] = _header("Subject", rendered.subject)
    msg["From"] = _header("From", str(sender))
    msg["To"] = recipient
    if reply_to:
        msg["Reply-To"] = _header("Reply-To", one_line(reply_to))
    msg["Message-ID"] = message_id
    msg["Date"] = _header("Date", format_datetime(now))
    msg["Content-Language"] = _header("Content-Language", "zh-TW")
    msg["Auto-Submitted"] = _header("Auto-Submitted", "auto-generated")
    msg.set_content(rendered.text, charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if calendar is not None and method is not None:
        # Calendar clients read the inline text/calendar part; others the attachment.
        msg.add_alternative(
            calendar,
            maintype="text",
            subtype="calendar",
            params={"method": method, "charset": "utf-8"},
        )
        return _with_attachment(msg, calendar, method)
    return msg


def _with_attachment(alternative: EmailMessage, calendar: bytes, method: str) -> EmailMessage:
    """Wrap the alternative message in multipart/mixed with invite.ics attached."""
    headers = [
        (k, v)
        for k, v in alternative.items()
        if k.lower() not in ("content-type", "content-transfer-encoding", "mime-version")
    ]
    body = EmailMessage()
    body.set_type("multipart/alternative")
    for part in alternative.iter_parts():
        body.attach(part)  # type: ignore[arg-type]
    outer = EmailMessage()
    for k, v in headers:
        outer[k] = v
    outer.set_type("multipart/mixed")
    outer.attach(body)
    att = EmailMessage()
    att.set_content(
        calendar,
        maintype="application",
        subtype="ics",
        filename="invite.ics",
        params={"method": method},
    )
    outer.attach(att)
    return outer
