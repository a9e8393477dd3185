"""Shared fixtures: an injected clock, a real database per test, the CLI.

The database is a fresh SQLite file per test, or — when ``LIAISON_TEST_DATABASE_URL``
names a PostgreSQL server (``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``,
a superuser: see ``tests/pg.py`` and ``make test-pg``) — a fresh PostgreSQL database
per test, copied from a template migrated once per session and dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from scheduler.bootstrap import App, build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings

TAIPEI = ZoneInfo("Asia/Taipei")
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "config"


def taipei(*args: int) -> datetime:
    """An instant in Asia/Taipei, for readable tests."""
    return datetime(*args, tzinfo=TAIPEI)  # type: ignore[misc]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(taipei(2023, 1, 1, 9, 0))


# --- the database backend under test ---------------------------------------------------

PG_ADMIN_URL = os.environ.get("LIAISON_TEST_DATABASE_URL") or None
BACKEND = "postgresql" if PG_ADMIN_URL else "sqlite"

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite-specific behaviour")
postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="needs PostgreSQL")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "any_backend: uses the database, but nothing backend-specific (run on SQLite only)",
    )


def _on_postgresql(item: pytest.Item) -> bool:
    return "db_url" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
        "any_backend"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests that use the database under test (``db_url``):
    the others cannot behave differently there and already ran on SQLite (so do tests
    marked ``any_backend``). ``LIAISON_TEST_EVERYTHING=1`` keeps them all."""
    if BACKEND != "postgresql" or os.environ.get("LIAISON_TEST_EVERYTHING") == "1":
        return
    keep = [i for i in items if _on_postgresql(i)]
    dropped = [i for i in items if not _on_postgresql(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _libpq(url: str) -> str:
    """SQLAlchemy URL → libpq conninfo URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


class PgDatabases:
    """Creates and drops throwaway databases on one PostgreSQL server (superuser URL)."""

    _counter = itertools.count(1)

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self.conn: Any = psycopg.connect(_libpq(admin_url), autocommit=True)
        self.template: str | None = None

    def _exec(self, sql: str) -> None:
        self.conn.execute(sql)

    def make_template(self) -> str:
        """A database at the newest migration, to copy per test (much faster than migrating)."""
        from scheduler.db import make_engine, migrate

        name = f"liaison_tmpl_{os.getpid()}"
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._exec(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        engine = make_engine(_with_database(self.admin_url, name))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        self.template = name
        return name

    def create(self, migrated: bool = True) -> str:
        """A fresh database; its SQLAlchemy URL. ``migrated=False``: empty, no schema."""
        name = f"liaison_t_{os.getpid()}_{next(self._counter)}"
        template = (self.template or self.make_template()) if migrated else "template0"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return _with_database(self.admin_url, name)

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.template:
            self._exec(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.conn.close()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """Throwaway PostgreSQL databases (skips unless LIAISON_TEST_DATABASE_URL is set)."""
    if PG_ADMIN_URL is None:
        pytest.skip("LIAISON_TEST_DATABASE_URL is not set (see `make test-pg`)")
    dbs = PgDatabases(PG_ADMIN_URL)
    yield dbs
    dbs.close()


@pytest.fixture
def backend() -> str:
    """``sqlite`` or ``postgresql``: the backend ``db_url`` points at."""
    return BACKEND


@pytest.fixture
def db_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty-of-data database for this test (SQLite file or PostgreSQL database)."""
    if PG_ADMIN_URL is None:
        yield f"sqlite:///{tmp_path / 'liaison.db'}"
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    url = dbs.create()
    yield url
    dbs.drop(url)


@pytest.fixture
def app(db_url: str, clock: FixedClock) -> Iterator[App]:
    application = build_app(Settings(database_url=db_url), clock)
    yield application
    application.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


class Cli:
    """Runs `liaison` in-process against the test database."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner()

    def __call__(self, *args: str) -> CliResult:
        from scheduler.cli.main import app as typer_app

        result = self.runner.invoke(
            typer_app,
            list(args),
            env={"LIAISON_DATABASE_URL": self.db_url},
            catch_exceptions=False,
        )
        return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
