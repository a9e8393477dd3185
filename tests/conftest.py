"""Shared fixtures: an injected clock, a real SQLite file per test, the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from scheduler.app import App, build_app
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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'liaison.db'}"


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
        from scheduler.cli import app as typer_app

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
