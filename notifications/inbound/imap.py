"""Polling a mailbox (``LIAISON_IMAP_URL``) for replies, with the standard library's imaplib.

``imap://user:password@host[:port]/MAILBOX`` (plain) or ``imaps://…`` (TLS); the
mailbox defaults to INBOX. Each poll reads the UNSEEN messages (without marking them)
in batches, processes a batch in one transaction (a savepoint per message) and sets
``\\Seen`` only once that transaction committed: a crash in between means the batch is
read again next time, and the Message-IDs make the second pass a no-op. A message over the size cap is not fetched:
its header alone is, and it is quarantined as too large.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from notifications.inbound.parse import MAX_BYTES
from notifications.inbound.process import Outcome, receive_batch

MAX_PER_POLL = 1000  # messages per poll, at most (the next poll takes the rest)
BATCH = 50  # messages per transaction (one commit: B6)
BATCH_BYTES = 16 * 1024 * 1024  # and at most this much mail held in memory at once
TIMEOUT = 30.0  # seconds for the connection and each command
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The mailbox could not be read (its text says why; no password in it)."""


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str

    def __str__(self) -> str:  # for messages: never the password
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


def parse_imap_url(url: str) -> ImapTarget:
    """The mailbox ``url`` names; ValueError naming LIAISON_IMAP_URL when it cannot be used."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("imap", "imaps"):
        raise ValueError(
            "LIAISON_IMAP_URL: use imap://USER:PASSWORD@HOST[:PORT]/MAILBOX or imaps://…"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError("LIAISON_IMAP_URL: the port is not a number from 1 to 65535") from None
    if not parts.hostname or parts.username is None or parts.password is None:
        raise ValueError("LIAISON_IMAP_URL: give the host, a user and a password")
    tls = parts.scheme == "imaps"
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapTarget(
        parts.hostname,
        port or (993 if tls else 143),
        tls,
        unquote(parts.username),
        unquote(parts.password),
        mailbox,
    )


@dataclass
class PollReport:
    seen: int = 0  # messages read
    stored: int = 0  # accounted for (and marked \Seen)
    failed: int = 0  # not stored: left unseen for the next poll


def _connect(target: ImapTarget) -> imaplib.IMAP4:
    if target.tls:
        return imaplib.IMAP4_SSL(
            target.host, target.port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT
        )
    return imaplib.IMAP4(target.host, target.port, timeout=TIMEOUT)


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fetched(data: list[object]) -> bytes | None:
    """The literal of a FETCH answer (the message or its header)."""
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _said(exc: Exception) -> str:
    """An imaplib error's text: the server's words (imaplib passes them as bytes)."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(exc)


Mails = list[tuple[bytes, int | None]]
Deliver = Callable[[Mails], list[Outcome]]


def poll_once(target: ImapTarget, deliver: Deliver) -> PollReport:
    """Read the mailbox's unseen messages once; ``deliver(mails)`` stores a batch of
    (raw, size) and says for each whether it was stored."""
    report = PollReport()
    try:
        conn = _connect(target)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"{target}: cannot connect: {_said(exc)}") from None
    try:
        conn.login(target.user, target.password)
        typ, _ = conn.select(_quoted(target.mailbox))
        if typ != "OK":
            raise ImapError(f"{target}: no such mailbox")
        typ, found = conn.uid("SEARCH", "UNSEEN")
        uids = [u.decode() for u in (found[0] or b"").split()] if typ == "OK" and found else []
        batch: list[tuple[str, bytes, int | None]] = []
        for uid in uids[:MAX_PER_POLL]:
            report.seen += 1
            got = _fetch(conn, uid)
            if got is None:
                report.failed += 1
                continue
            batch.append((uid, *got))
            if len(batch) >= BATCH or sum(len(raw) for _u, raw, _s in batch) >= BATCH_BYTES:
                _store(conn, batch, deliver, report)
                batch = []
        _store(conn, batch, deliver, report)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"{target}: {_said(exc)}") from None
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return report


def _fetch(conn: imaplib.IMAP4, uid: str) -> tuple[bytes, int | None] | None:
    """One message (its header only when over the size cap) and its declared size."""
    typ, data = conn.uid("FETCH", uid, "(RFC822.SIZE)")
    match = _SIZE.search(b" ".join(d if isinstance(d, bytes) else b"" for d in data or []))
    size = int(match.group(1)) if match else None
    part = "BODY.PEEK[HEADER]" if size is not None and size > MAX_BYTES else "BODY.PEEK[]"
    typ, data = conn.uid("FETCH", uid, f"({part})")
    raw = _fetched(list(data or [])) if typ == "OK" else None
    return None if raw is None else (raw, size)


def _store(
    conn: imaplib.IMAP4,
    batch: list[tuple[str, bytes, int | None]],
    deliver: Deliver,
    report: PollReport,
) -> None:
    """Deliver a batch; mark \\Seen what it stored (after the commit), leave the rest."""
    if not batch:
        return
    outcomes = deliver([(raw, size) for _uid, raw, size in batch])
    for (uid, _raw, _size), outcome in zip(batch, outcomes, strict=True):
        if outcome.stored:
            conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            report.stored += 1
        else:
            report.failed += 1


def poll_mailbox(
    url: str, sessions: sessionmaker[Session], now: Callable[[], datetime]
) -> PollReport:
    """One poll of the mailbox ``url`` names, each batch received at ``now()``
    (`liaison inbound --imap-once` and the daemon's IMAP job)."""
    target = parse_imap_url(url)
    return poll_once(target, lambda mails: receive_batch(sessions, mails, now()))
