"""Reading the mail a test's SMTP sink received."""

from __future__ import annotations

from email.message import EmailMessage


def everything(msg: EmailMessage) -> str:
    """Headers and every decoded text part of a parsed email."""
    parts = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if part.get_content_maintype() == "text" or part.get_content_type() == "application/ics":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(parts)
