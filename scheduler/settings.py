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


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smtp_url: str = DEFAULT_SMTP_URL
    base_url: str = DEFAULT_BASE_URL
    # The key that signs page session cookies; shorter than 16 characters (or unset)
    # means "use the random key kept in the database".
    secret_key: str = ""
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT

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
        )
