"""Email addresses, checked once, by ``email-validator`` (syntax only: no DNS lookups)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from meetings.kernel.errors import shorten


def normalise_email(text: str) -> str:
    """A valid address, stripped and lower-cased (how Liaison stores and compares them);
    ``ValueError("not an email address: …")`` otherwise."""
    value = text.strip()
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: '{shorten(text)}' ({shorten(exc, 200)})") from None
    return checked.normalized.lower()


def is_email(text: str) -> bool:
    """True for an address ``normalise_email`` accepts."""
    try:
        normalise_email(text)
    except ValueError:
        return False
    return True
