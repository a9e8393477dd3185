"""The pages tests' live site: the seeded city on a loopback server, at 12 Jan 2023."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.feeds import live_server
from tests.support.pages import seed


@pytest.fixture
def site(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[str]:
    clock.set(taipei(2023, 1, 12, 10, 0))
    seed(app, tmp_path)
    with live_server(app) as server:
        yield server.base
