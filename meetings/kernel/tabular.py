"""The one reader of tabular files people upload: CSV (UTF-8 or Big5) and xlsx.

Rows are streamed: an xlsx is read with openpyxl's ``read_only`` mode and its declared
dimension is ignored (a sheet that claims cell XFD1048576 must not make every row
16,384 cells wide), so memory stays bounded by the widest real row. Every problem is a
``TableError`` whose messages read ``FILE:ROW: field: message``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

XLSX = (".xlsx", ".xlsm")
CSV = (".csv", ".txt")
ENCODINGS = ("utf-8-sig", "cp950")


class TableError(Exception):
    """A file that cannot be read as a table; ``errors`` are FILE:ROW: field: message."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Table:
    """A header (lower-cased, stripped, trailing blanks dropped) and the data rows.

    ``rows`` yields (row number in the file, cells as stripped text); the header is row
    1 and blank rows are skipped. ``total`` is the number of data rows as far as it is
    known before reading them (for progress), or None.
    """

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    total: int | None


def cell_text(value: Any) -> str:
    """A cell as text: dates as ISO dates, whole floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def decode(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else Big5 (CP950), as Taiwanese offices save CSV."""
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise TableError([f"{name}:{line}: file: NUL character (not a text file?)"])
        return text
    raise TableError([f"{name}:1: encoding: not UTF-8 or Big5 (CP950) text"])


def _numbered(raw: Iterator[list[str]], name: str) -> Iterator[tuple[int, list[str]]]:
    n = 1
    try:
        for n, cells in enumerate(raw, start=2):
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                yield n, cells
    except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB limit
        raise TableError([f"{name}:{n + 1}: file: not readable CSV ({exc})"]) from None


def _header(first: list[str] | None, name: str) -> list[str]:
    if first is None:
        raise TableError([f"{name}:1: file: empty (expected a header row)"])
    header = [h.strip().lower() for h in first]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise TableError([f"{name}:1: file: empty (expected a header row)"])
    return header


def _csv_rows(path: Path, name: str) -> tuple[Iterator[list[str]], int]:
    """The rows, and the number of lines after the header (a progress estimate)."""
    text = decode(path.read_bytes(), name)
    lines = text.count("\n") - (1 if text.endswith("\n") else 0)
    return ([c.strip() for c in r] for r in csv.reader(io.StringIO(text, newline=""))), lines


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    """Open a CSV or the first sheet of an xlsx file for streaming (closed on exit)."""
    name = str(path)
    if not path.is_file():
        raise TableError([f"{name}: file: no such file"])
    suffix = path.suffix.lower()
    if suffix in XLSX:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise TableError([f"{name}:1: file: not a readable xlsx workbook ({exc})"]) from None
        try:
            ws = wb.worksheets[0]
            declared = ws.max_row if isinstance(ws.max_row, int) else None
            ws.reset_dimensions()
            raw = ([cell_text(v) for v in r] for r in ws.iter_rows(values_only=True))
            yield _table(name, raw, None if declared is None else max(declared - 1, 0))
        finally:
            wb.close()
    elif suffix in CSV:
        text_rows, lines = _csv_rows(path, name)
        yield _table(name, text_rows, lines)
    else:
        raise TableError([f"{name}: file: use a .csv or .xlsx file"])


def _table(name: str, raw: Iterator[list[str]], total: int | None) -> Table:
    try:
        first = next(raw, None)
    except csv.Error as exc:
        raise TableError([f"{name}:1: file: not readable CSV ({exc})"]) from None
    return Table(name, _header(first, name), _numbered(raw, name), total)
