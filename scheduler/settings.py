"""Runtime settings: the only module that reads the environment (``LIAISON_*``).

Everything else gets a :class:`Settings` handed down from ``scheduler.bootstrap``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///var/liaison.db"
DEFAULT_SMTP_URL = "smtp://127.0.0.1:8025"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Seconds a SQLite writer waits for the lock before "database is locked" (tests lower it).
DEFAULT_SQLITE_BUSY_TIMEOUT = 30.0
# Request bodies the web server reads at most (bytes): forms, and the minutes upload.
DEFAULT_MAX_BODY = 2 * 1024 * 1024
# The minutes file itself is at most 2 MB (pages.records.MAX_MINUTES_BYTES); a bigger
# upload cap would only let a body be spooled to disk before it is refused anyway.
DEFAULT_MAX_UPLOAD = 3 * 1024 * 1024
# How often the daemon polls LIAISON_IMAP_URL for calendar replies (seconds).
DEFAULT_IMAP_POLL_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smtp_url: str = DEFAULT_SMTP_URL
    base_url: str = DEFAULT_BASE_URL
    # The key that signs page session cookies; shorter than 16 characters (or unset)
    # means "use the random key kept in the database".
    secret_key: str = ""
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY
    max_upload: int = DEFAULT_MAX_UPLOAD
    # The mailbox calendar replies arrive in (imap://USER:PASSWORD@HOST/INBOX or imaps://);
    # empty: the daemon polls nothing (replies come over SMTP to `liaison inbound`).
    imap_url: str = ""
    imap_poll_seconds: float = DEFAULT_IMAP_POLL_SECONDS

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        default_database_url: str = DEFAULT_DATABASE_URL,
    ) -> Settings:
        """The settings the environment gives (``environ``: instead of ``os.environ``).

        ``default_database_url`` is used when ``LIAISON_DATABASE_URL`` is unset or empty
        (the demo has a database of its own).
        """
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("LIAISON_DATABASE_URL") or default_database_url,
            smtp_url=env.get("LIAISON_SMTP_URL") or DEFAULT_SMTP_URL,
            base_url=(env.get("LIAISON_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            secret_key=env.get("LIAISON_SECRET_KEY") or "",
            sqlite_busy_timeout=float(
                env.get("LIAISON_SQLITE_BUSY_TIMEOUT") or DEFAULT_SQLITE_BUSY_TIMEOUT
            ),
            max_body=_bytes(env, "LIAISON_MAX_BODY", DEFAULT_MAX_BODY),
            max_upload=_bytes(env, "LIAISON_MAX_UPLOAD", DEFAULT_MAX_UPLOAD),
            imap_url=(env.get("LIAISON_IMAP_URL") or "").strip(),
            imap_poll_seconds=_seconds(env, "LIAISON_IMAP_POLL_SECONDS", DEFAULT_IMAP_POLL_SECONDS),
        )


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    """A size in bytes (``2000000``, ``512k``, ``2M``); a ValueError naming ``name``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    scale = {"k": 1024, "m": 1024 * 1024}.get(raw[-1].lower(), 1)
    digits = raw[:-1] if scale > 1 else raw
    if not digits.isascii() or not digits.isdigit() or not 0 < int(digits) * scale <= 2**40:
        raise ValueError(f"{name}: a size in bytes, like 2000000, 512k or 2M (not {raw[:20]!r})")
    return int(digits) * scale


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """An interval in seconds, 1 to 3600; a ValueError naming ``name``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 1 <= value <= 3600:
        raise ValueError(f"{name}: seconds between 1 and 3600 (not {raw[:20]!r})")
    return value
