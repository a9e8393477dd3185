"""Wiring: the one place where settings, clock, database engine and mailer meet.

Entry points (the CLI, the web server, the daemon, the demo, tests) call
:func:`build_app` with the settings and clock they mean, and hand the resulting
:class:`App` down; nothing below this module reads the environment or opens a
connection on its own, and nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.clock import Clock, SystemClock
from scheduler.db import is_initialised, make_engine, migrate, session_factory, transaction
from scheduler.settings import Settings


@dataclass
class App:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work against the database (commit or roll back as a whole)."""
        with transaction(self.sessions) as session:
            yield session

    def mailer_factory(self) -> Callable[[], SmtpMailer]:
        """A maker of SMTP connections to ``settings.smtp_url`` (one per sending worker).

        Raises ValueError, naming LIAISON_SMTP_URL, when the URL cannot be used.
        """
        smtp = parse_smtp_url(self.settings.smtp_url)
        return lambda: SmtpMailer(smtp)

    def close(self) -> None:
        self.engine.dispose()


def engine_for(settings: Settings) -> Engine:
    """The database engine the settings describe (connects lazily, on first use)."""
    return make_engine(settings.database_url, busy_timeout=settings.sqlite_busy_timeout)


def build_app(
    settings: Settings | None = None, clock: Clock | None = None, *, init_schema: bool = True
) -> App:
    """Build the application. A database without a schema is migrated first.

    ``settings`` default to the environment's (``Settings.from_env``), ``clock`` to
    the system clock.
    """
    settings = settings or Settings.from_env()
    engine = engine_for(settings)
    if init_schema and not is_initialised(engine):
        migrate(engine)
    return App(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=session_factory(engine),
    )


def init_database(settings: Settings) -> None:
    """Create the schema, or bring it to the newest migration (`liaison init`)."""
    engine = engine_for(settings)
    try:
        migrate(engine)
    finally:
        engine.dispose()
