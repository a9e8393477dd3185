"""House rules of the code's shape that import-linter does not see.

Import-linter (``.importlinter``, run by ``make test``) enforces the layers and forbids
cycles. These tests add: no private name imported across modules, no first-party
import hidden inside a function, small units, and local time only from the city's zone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from meetings.kernel.localtime import DEFAULT_TIMEZONE
from tests.conftest import REPO

PACKAGES = ("meetings", "notifications", "scheduler")
FIRST_PARTY = PACKAGES
MAX_FUNCTION = 80
MAX_MODULE = 600
ZONE_HOME = {"meetings/kernel/localtime.py"}
# Commands that start a server import the web stack when they run, not when any
# `liaison` command starts: measured 0.90 s vs 1.20 s for `liaison --help` (median of 10).
# No cycle hides behind these imports (import-linter sees them too).
LAZY_FOR_START_UP = {"scheduler/cli/serve.py", "scheduler/cli/notify.py"}


def production_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_no_private_name_is_imported_from_another_module() -> None:
    found = [
        f"{rel(p)}:{node.lineno}: from {node.module} import {alias.name}"
        for p in production_files()
        for node in ast.walk(parsed(p))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(FIRST_PARTY)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert found == []


def _nested_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    yield inner


def _first_party(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in FIRST_PARTY
    return any(a.name.split(".")[0] in FIRST_PARTY for a in node.names)


def test_no_first_party_import_inside_a_function() -> None:
    """An import inside a function is how a cycle hides from a reader (and a linter)."""
    found = [
        f"{rel(p)}:{node.lineno}"
        for p in production_files()
        if rel(p) not in LAZY_FOR_START_UP
        for node in _nested_imports(parsed(p))
        if _first_party(node)
    ]
    assert found == []


def test_functions_are_small() -> None:
    found = [
        f"{rel(p)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for p in production_files()
        for node in ast.walk(parsed(p))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION
    ]
    assert found == []


def test_modules_are_readable_in_one_sitting() -> None:
    found = [
        f"{rel(p)}: {n} lines"
        for p in production_files()
        if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_MODULE
    ]
    assert found == []


def test_no_time_zone_is_hard_coded() -> None:
    """Local time comes from the city's declared zone; the default zone is named once."""
    found = [
        rel(p)
        for p in production_files()
        if rel(p) not in ZONE_HOME and DEFAULT_TIMEZONE in p.read_text(encoding="utf-8")
    ]
    assert found == []
