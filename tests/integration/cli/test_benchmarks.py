"""The benchmark scripts still import: a refactor that moves a module must move them too.

Running them is `make bench` (figures, not pass/fail); this only loads each script.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("b*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_loads(script: Path) -> None:
    namespace = runpy.run_path(str(script), run_name="benchmark_import_check")
    assert callable(namespace.get("main")), f"{script.name} has no main()"


def test_every_benchmark_is_found() -> None:
    assert len(SCRIPTS) >= 6
