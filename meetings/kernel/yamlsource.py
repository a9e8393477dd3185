"""YAML loading that remembers the line of every key and item.

PyYAML's composer gives each node a start mark; we build plain Python data from
the node tree ourselves so that validation errors can say ``FILE:LINE``.
Keys are always taken as written (so ``on:`` stays the string "on", not YAML
1.1's True) and ``14:00`` stays a string rather than becoming sexagesimal 840.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from meetings.kernel.errors import shorten

Path_ = tuple[str | int, ...]


class SourceError(Exception):
    """One or more user-facing problems, each formatted ``FILE:LINE: message``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class YamlDocument:
    """Plain data plus the line of every path within it."""

    filename: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def where(self, path: Path_) -> str:
        return f"{self.filename}:{self.line_of(path)}"


class _ScalarLoader(yaml.SafeLoader):
    """SafeLoader used only to construct individual scalar nodes."""


def _construct_scalar(loader: _ScalarLoader, node: yaml.ScalarNode) -> Any:
    if node.tag == "tag:yaml.org,2002:int" and ":" in node.value:
        return node.value  # 14:00 is a time, not sexagesimal
    if node.tag == "tag:yaml.org,2002:float" and ":" in node.value:
        return node.value
    if node.tag == "tag:yaml.org,2002:bool" and node.style is None:
        # YAML 1.1 turns yes/no/on/off into booleans; only true/false mean that here.
        if node.value.lower() not in ("true", "false"):
            return node.value
    return loader.construct_object(node, deep=True)


# Bounds on what one document may expand to: aliases can make a few lines stand for
# billions of values ("billion laughs") or for themselves (a cycle).
MAX_DEPTH = 40
# NUL, ESC and the like (escaped in double quotes): no text needs them, PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_VALUES = 100_000
# No name, title, rule or note needs more; a longer scalar is refused before any check
# quotes it (a 20 MB value must give a short message, not a 20 MB one).
MAX_SCALAR = 10_000
# Checked before parsing (PyYAML takes seconds per 10 MB): a line longer than any value
# may be, and a file larger than any city needs.
MAX_LINE = 2 * MAX_SCALAR
MAX_TEXT = 4_000_000


def _check_size(text: str, filename: str) -> None:
    for n, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE:
            raise SourceError(
                [f"{filename}:{n}: line too long ({len(line):,} characters; at most {MAX_LINE:,})"]
            )
    if len(text) > MAX_TEXT:
        raise SourceError(
            [f"{filename}:1: file too large ({len(text):,} characters; at most {MAX_TEXT:,})"]
        )


def _compose(text: str, filename: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise SourceError([f"{filename}:1: invalid YAML: nested too deeply"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = shorten(exc.problem or exc.context or "invalid YAML", 200)
        raise SourceError([f"{filename}:{line}: invalid YAML: {problem}"]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (binary data)
        line = text.count("\n", 0, exc.position) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "byte"
        raise SourceError(
            [f"{filename}:{line}: invalid YAML: unacceptable character {what} (binary data?)"]
        ) from None
    except yaml.YAMLError as exc:
        raise SourceError([f"{filename}:1: invalid YAML: {shorten(exc, 200)}"]) from None


def _check_length(node: yaml.Node, filename: str) -> None:
    if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_SCALAR:
        line = node.start_mark.line + 1
        raise SourceError(
            [
                f"{filename}:{line}: value too long ({len(node.value):,} characters; at most "
                f"{MAX_SCALAR:,})"
            ]
        )


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Parse one YAML document, keeping line numbers. Raises SourceError."""
    _check_size(text, filename)
    root = _compose(text, filename)
    doc = YamlDocument(filename=filename, data=None)
    if root is None:
        return doc
    loader = _ScalarLoader("")
    errors: list[str] = []
    built = [0]

    def build(node: yaml.Node, path: Path_) -> Any:
        doc.lines.setdefault(path, node.start_mark.line + 1)
        built[0] += 1
        if built[0] > MAX_VALUES or len(path) > MAX_DEPTH:
            line = node.start_mark.line + 1
            what = "too many values" if built[0] > MAX_VALUES else "nested too deeply"
            raise SourceError([f"{filename}:{line}: invalid YAML: {what} (aliases?)"])
        _check_length(node, filename)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    errors.append(
                        f"{filename}:{key_node.start_mark.line + 1}: keys must be plain text"
                    )
                    continue
                _check_length(key_node, filename)
                key = str(key_node.value)
                if key == "<<":
                    errors.append(
                        f"{filename}:{key_node.start_mark.line + 1}: merge keys (<<) are not supported"
                    )
                    continue
                if key in out:
                    errors.append(
                        f"{filename}:{key_node.start_mark.line + 1}: duplicate key '{shorten(key)}'"
                    )
                    continue
                doc.lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        try:
            value = _construct_scalar(loader, node)
        except yaml.YAMLError as exc:
            errors.append(f"{filename}:{node.start_mark.line + 1}: {shorten(exc, 200)}")
            return None
        if isinstance(value, str) and _CONTROL.search(value):
            errors.append(
                f"{filename}:{node.start_mark.line + 1}: control character in text: "
                f"'{shorten(value)}'"
            )
            return None
        return value

    doc.data = build(root, ())
    if errors:
        raise SourceError(errors)
    return doc
