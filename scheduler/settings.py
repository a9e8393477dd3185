"""Runtime settings, from the environment (LIAISON_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///var/liaison.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smtp_url: str = "smtp://127.0.0.1:8025"
    base_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("LIAISON_DATABASE_URL") or DEFAULT_DATABASE_URL,
            smtp_url=env.get("LIAISON_SMTP_URL") or "smtp://127.0.0.1:8025",
            base_url=(env.get("LIAISON_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        )
