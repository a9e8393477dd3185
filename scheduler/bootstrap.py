"""Wiring: the one place where settings, clock, database and (later) mail meet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

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

    def close(self) -> None:
        self.engine.dispose()


def build_app(
    settings: Settings | None = None, clock: Clock | None = None, *, init_schema: bool = True
) -> App:
    """Build the application. A database without a schema is migrated first."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    if init_schema and not is_initialised(engine):
        migrate(engine)
    return App(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=session_factory(engine),
    )
