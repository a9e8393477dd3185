"""The documentation shows only commands that exist, with options that parse.

Every ``liaison …`` line in a fenced ``sh`` block of README.md and docs/*.md is parsed
against the real command tree (``scheduler.cli.main.app``): the subcommand path must
exist and the arguments must parse as click would parse them (known options, values
where an option takes one, required options present, no extra arguments). Nothing is
run. docs/cli.md must show every command and name every option. The README stays short,
its quick start is the two commands, and its benchmark table is the one in
docs/benchmarks.md.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.main import get_command

from scheduler.cli.main import app
from tests.conftest import REPO

README = REPO / "README.md"
CLI_DOC = REPO / "docs" / "cli.md"
BENCH_DOC = REPO / "docs" / "benchmarks.md"
DOCS = (README, *sorted((REPO / "docs").glob("*.md")))
MAX_README_LINES = 500
SHELL_BLOCKS = {"sh", "bash", "shell"}
SEPARATORS = {"|", "||", "&&", ";"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
ROOT = get_command(app)


@dataclass(frozen=True)
class Line:
    """One logical shell line of a fenced block (continuations joined)."""

    path: Path
    number: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.number}"


@dataclass(frozen=True)
class Example:
    """A ``liaison`` invocation shown in the docs: its arguments after ``liaison``."""

    line: Line
    argv: tuple[str, ...]


def shell_blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    """The (line number, text) lines of each fenced sh/bash/shell block of a file."""
    fence: str | None = None
    block: list[tuple[int, str]] | None = None
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(text)
        if fence is None:
            if match:
                fence = match.group(1)
                block = [] if match.group(2) in SHELL_BLOCKS else None
            continue
        if match and match.group(1).startswith(fence) and not match.group(2):
            if block is not None:
                yield block
            fence, block = None, None
        elif block is not None:
            block.append((number, text))


def logical_lines(path: Path) -> Iterator[Line]:
    """Shell lines with ``\\`` continuations joined, blank lines dropped."""
    for block in shell_blocks(path):
        pending: list[str] = []
        start = 0
        for number, text in block:
            if not pending:
                start = number
            stripped = text.strip()
            if stripped.endswith("\\"):
                pending.append(stripped[:-1])
                continue
            pending.append(stripped)
            joined = " ".join(pending).strip()
            pending = []
            if joined:
                yield Line(path, start, joined)


def words(line: Line) -> list[str]:
    """The shell words of a line, comments dropped; none when quotes do not balance
    (``test_every_shell_line_splits`` reports those)."""
    try:
        return shlex.split(line.text, comments=True)
    except ValueError:
        return []


def commands(line: Line) -> Iterator[list[str]]:
    """The simple commands of a line (split at pipes and lists), without VAR= prefixes."""
    current: list[str] = []
    for word in [*words(line), ";"]:
        if word in SEPARATORS:
            while current and ASSIGNMENT.match(current[0]):
                current.pop(0)
            if current:
                yield current
            current = []
        else:
            current.append(word)


def examples(paths: tuple[Path, ...] = DOCS) -> list[Example]:
    found: list[Example] = []
    for path in paths:
        for line in logical_lines(path):
            for argv in commands(line):
                if argv[0] == "liaison" or argv[0].endswith("/liaison"):
                    found.append(Example(line, tuple(argv[1:])))
    return found


def subcommands(group: TyperGroup) -> dict[str, typer.core.TyperCommand | TyperGroup]:
    return {name: cmd for name, cmd in group.commands.items()}  # type: ignore[misc]


def option_names(command: typer.core.TyperCommand | TyperGroup) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def leaves(
    command: typer.core.TyperCommand | TyperGroup, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], typer.core.TyperCommand | TyperGroup]]:
    """Every runnable command with its path below ``liaison``."""
    if isinstance(command, TyperGroup):
        for name, sub in sorted(subcommands(command).items()):
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


def problem(example: Example) -> str | None:
    """Why the example would not parse, or None."""
    command: typer.core.TyperCommand | TyperGroup = ROOT  # type: ignore[assignment]
    path = ["liaison"]
    args = list(example.argv)
    while isinstance(command, TyperGroup):
        if not args:
            return f"`{' '.join(path)}` needs a subcommand"
        if args[0] == "--help":
            return None
        sub = subcommands(command).get(args[0])
        if sub is None:
            known = ", ".join(sorted(subcommands(command)))
            return f"`{' '.join(path)}` has no command {args[0]!r} (known: {known})"
        command, path, args = sub, [*path, args.pop(0)], args
    if "--help" in args:
        return None
    declared = option_names(command)
    unknown = [a for a in args if a.startswith("--") and a.split("=")[0] not in declared]
    if unknown:
        return f"`{' '.join(path)}` has no option {', '.join(unknown)} (known: {', '.join(sorted(declared))})"
    try:
        command.make_context(" ".join(path), args)
    except typer.TyperException as exc:
        return f"`{' '.join(path)}` does not accept these arguments: {exc}"
    return None


EXAMPLES = examples()


def test_the_docs_show_commands() -> None:
    """The collector finds the examples (a broken fence parser would pass vacuously)."""
    assert len(EXAMPLES) >= 80, f"only {len(EXAMPLES)} `liaison` lines found in sh blocks"
    assert {e.line.path for e in EXAMPLES} >= {README, CLI_DOC}


def test_every_shell_line_splits() -> None:
    bad = []
    for path in DOCS:
        for line in logical_lines(path):
            try:
                shlex.split(line.text, comments=True)
            except ValueError as exc:
                bad.append(f"{line.where}: {line.text!r}: {exc}")
    assert bad == [], "shell lines that do not split into words:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.line.where for e in EXAMPLES])
def test_a_documented_command_exists_and_parses(example: Example) -> None:
    why = problem(example)
    assert why is None, f"{example.line.where}: {example.line.text}\n  {why}"


def test_the_cli_reference_shows_every_command_and_names_every_option() -> None:
    shown = [e.argv for e in examples((CLI_DOC,))]
    text = CLI_DOC.read_text(encoding="utf-8")
    missing: list[str] = []
    for path, command in leaves(ROOT):  # type: ignore[arg-type]
        name = " ".join(("liaison", *path))
        if not any(argv[: len(path)] == path for argv in shown):
            missing.append(f"{name}: no example in an sh block")
        for option in sorted(option_names(command) - {"--help"}):
            if not re.search(rf"{re.escape(option)}(?![\w-])", text):
                missing.append(f"{name}: option {option} not mentioned")
    assert missing == [], f"{CLI_DOC.relative_to(REPO)} is incomplete:\n  " + "\n  ".join(missing)


def test_every_make_target_shown_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))
    bad = [
        f"{line.where}: make {argv[1]}"
        for path in DOCS
        for line in logical_lines(path)
        for argv in commands(line)
        if argv[0] == "make" and len(argv) > 1 and argv[1] not in targets
    ]
    assert bad == [], "no such Makefile target:\n  " + "\n  ".join(bad)


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"


def section(path: Path, heading: str) -> list[str]:
    """The lines of a ``## heading`` section, up to the next heading of that level."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{path.relative_to(REPO)}: no heading {heading!r}"
    level = heading.split(" ")[0] + " "
    rest = lines[lines.index(heading) + 1 :]
    end = next((i for i, t in enumerate(rest) if t.startswith(level)), len(rest))
    return rest[:end]


def test_the_quick_start_is_make_demo_and_make_test() -> None:
    body = section(README, "## Quick start")
    first = next(block for block in shell_blocks(README) if block[0][1] in body)
    shown = [" ".join(shlex.split(text, comments=True)) for _, text in first]
    assert [c for c in shown if c] == ["make demo", "make test"], (
        f"README.md:{first[0][0]}: the quick start must be exactly `make demo` and `make test`"
    )


def table(lines: list[str]) -> list[str]:
    """The first Markdown table in ``lines``."""
    start = next(i for i, t in enumerate(lines) if t.startswith("|"))
    end = next((i for i, t in enumerate(lines[start:], start) if not t.startswith("|")), len(lines))
    return lines[start:end]


def test_the_benchmark_table_is_said_once_and_agrees() -> None:
    readme = table(section(README, "## Benchmarks"))
    docs = table(section(BENCH_DOC, "## Latest figures"))
    assert readme == docs, "README.md and docs/benchmarks.md show different benchmark tables"
    headings = README.read_text(encoding="utf-8").splitlines()
    assert headings.count("## Benchmarks") == 1


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_links_between_the_docs_resolve() -> None:
    broken: list[str] = []
    for path in DOCS:
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target):
                    continue  # an external address
                file, _, anchor = target.partition("#")
                dest = (path.parent / file).resolve() if file else path
                if not dest.exists():
                    broken.append(f"{path.relative_to(REPO)}:{number}: {target} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(f"{path.relative_to(REPO)}:{number}: {target} (no such heading)")
    assert broken == [], "broken links:\n  " + "\n  ".join(broken)
