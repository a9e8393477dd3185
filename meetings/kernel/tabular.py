"""The one reader of tabular files people upload: CSV (UTF-8 or Big5) and xlsx.

Rows are streamed: an xlsx is read with openpyxl's ``read_only`` mode and its declared
dimension is ignored (a sheet that claims cell XFD1048576 must not make every row
16,384 cells wide), so memory stays bounded by the widest real row. Sheets beyond the
declared :class:`Limits` (rows, columns, characters in a cell; an xlsx's unpacked size,
a CSV's size) are refused as the reader meets them. Every problem is a ``TableError``
whose messages read ``FILE:ROW: field: message``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

XLSX = (".xlsx", ".xlsm")
CSV = (".csv", ".txt")
ENCODINGS = ("utf-8-sig", "cp950")


@dataclass(frozen=True)
class Limits:
    """What one uploaded sheet may hold. No city's case or attendance list comes near:
    they bound what a damaged or hostile file can cost (a 5 KB xlsx whose one cell is at
    XFD1048576 once grew a process to 24 GB)."""

    max_rows: int = 100_000  # data rows, i.e. nothing below row max_rows + 1
    max_columns: int = 100
    max_cell: int = 2_000  # characters
    max_bytes: int = 64 * 1024 * 1024  # a CSV file; an xlsx unpacked (ZIP bombs)
    max_shared_strings: int = 32 * 1024 * 1024  # openpyxl loads these whole


LIMITS = Limits()


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


def _check_row(cells: list[str], n: int, name: str, limits: Limits) -> None:
    """Refuse a (non-blank, trimmed) row beyond the limits."""
    if n > limits.max_rows + 1:
        raise TableError(
            [f"{name}:{n}: file: more than {limits.max_rows:,} rows (the limit of one sheet)"]
        )
    if len(cells) > limits.max_columns:
        raise TableError(
            [
                f"{name}:{n}: file: {len(cells):,} columns, more than {limits.max_columns} "
                "(the limit of one sheet)"
            ]
        )
    for col, cell in enumerate(cells, start=1):
        if len(cell) > limits.max_cell:
            raise TableError(
                [
                    f"{name}:{n}: column {col}: cell too long ({len(cell):,} characters; "
                    f"at most {limits.max_cell:,})"
                ]
            )


def _numbered(
    raw: Iterator[list[str]], name: str, limits: Limits
) -> Iterator[tuple[int, list[str]]]:
    n = 1
    try:
        for n, cells in enumerate(raw, start=2):
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                _check_row(cells, n, name, limits)
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


def _csv_rows(path: Path, name: str, limits: Limits) -> tuple[Iterator[list[str]], int]:
    """The rows, and the number of lines after the header (a progress estimate)."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise TableError([f"{name}:1: file: {size:,} bytes, more than {limits.max_bytes:,}"])
    text = decode(path.read_bytes(), name)
    lines = text.count("\n") - (1 if text.endswith("\n") else 0)
    return ([c.strip() for c in r] for r in csv.reader(io.StringIO(text, newline=""))), lines


def _check_zip(path: Path, name: str, limits: Limits) -> None:
    """Refuse a workbook whose parts unpack beyond the limits, before openpyxl unpacks
    them (it reads the shared-strings table whole)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError([f"{name}:1: file: not a readable xlsx workbook ({exc})"]) from None
    total = sum(i.file_size for i in infos)
    strings = sum(i.file_size for i in infos if i.filename.lower().endswith("sharedstrings.xml"))
    if total > limits.max_bytes or strings > limits.max_shared_strings:
        raise TableError(
            [f"{name}:1: file: unpacks to {total:,} bytes, more than one sheet may hold"]
        )


def _xlsx_rows(ws: Any) -> Iterator[list[str]]:
    """A read-only sheet's rows as text. Without ``max_col`` openpyxl makes a missing row
    an empty tuple and a real one as wide as its last cell: one row at a time in memory,
    however far away the last cell claims to be."""
    for r in ws.iter_rows(values_only=True):
        yield [cell_text(v) for v in r] if r else []


@contextmanager
def open_table(path: Path, limits: Limits = LIMITS) -> Iterator[Table]:
    """Open a CSV or the first sheet of an xlsx file for streaming (closed on exit).

    Rows beyond ``limits`` raise TableError when the reader reaches them.
    """
    name = str(path)
    if not path.is_file():
        raise TableError([f"{name}: file: no such file"])
    suffix = path.suffix.lower()
    if suffix in XLSX:
        from openpyxl import load_workbook

        _check_zip(path, name, limits)
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise TableError([f"{name}:1: file: not a readable xlsx workbook ({exc})"]) from None
        try:
            ws = wb.worksheets[0]
            declared = ws.max_row if isinstance(ws.max_row, int) else None
            ws.reset_dimensions()
            total = None if declared is None else min(max(declared - 1, 0), limits.max_rows)
            yield _table(name, _xlsx_rows(ws), total, limits)
        finally:
            wb.close()
    elif suffix in CSV:
        text_rows, lines = _csv_rows(path, name, limits)
        yield _table(name, text_rows, lines, limits)
    else:
        raise TableError([f"{name}: file: use a .csv or .xlsx file"])


def _table(name: str, raw: Iterator[list[str]], total: int | None, limits: Limits) -> Table:
    try:
        first = next(raw, None)
    except csv.Error as exc:
        raise TableError([f"{name}:1: file: not readable CSV ({exc})"]) from None
    header = _header(first, name)
    _check_row(header, 1, name, limits)
    return Table(name, header, _numbered(raw, name, limits), total)
