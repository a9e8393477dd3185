"""Reading YAML declaration files (or folders of them) from disk into a validated Config.

Shared by `liaison config …` and the demo. Every problem of every file is reported
together, as ``FILE:LINE: message`` lines of one :class:`SourceError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from meetings.kernel.yamlsource import SourceError, YamlDocument, load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.declarations import Config


def config_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and the ``*.yaml``/``*.yml`` files of the folders named."""
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                problems.append(f"{p}: no .yaml files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    if problems:
        raise SourceError(problems)
    return files


def read_config(paths: Sequence[Path]) -> Config:
    """Read and validate config files; all problems are reported together."""
    docs: list[YamlDocument] = []
    errors: list[str] = []
    for f in config_files(paths):
        try:
            text = f.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            errors.append(f"{f}:1: not UTF-8 text ({exc.reason})")
            continue
        try:
            docs.append(load_yaml(text, str(f)))
        except SourceError as exc:
            errors.extend(exc.errors)
    if errors:
        raise SourceError(errors)
    return build_config(docs)
