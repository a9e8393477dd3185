"""Text in spreadsheet exports that a spreadsheet must not run (CSV/formula injection).

A series title or an agency name comes from a city's config, and a KPI export is
opened in Excel or LibreOffice by someone else: a cell that starts like a formula
(``=HYPERLINK(...)``, ``+1``, ``-2+3``, ``@SUM(A1)``, or a tab or CR before one) would
be evaluated there. Every export writer (CSV and xlsx) passes its cells through here:

- CSV (:func:`safe_text`): such text gets a leading ``'`` (OWASP's CSV-injection
  advice), which spreadsheets show as text and never evaluate.
- xlsx (:func:`append_row`): the value is kept as written, stored as a string cell
  with Excel's "quote prefix" style, so it is shown (and re-edited) as text.

Numbers stay numbers; only ``str`` values are touched. The full-width forms (＝＋－＠)
are included because CJK input methods type them and some spreadsheets accept them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def formula_like(value: object) -> bool:
    """True for text a spreadsheet could take for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_text(value: Any) -> Any:
    """A CSV cell: formula-like text with a leading ``'``; anything else unchanged."""
    return "'" + value if formula_like(value) else value


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """Append a row to an xlsx sheet; formula-like text is stored as a string cell."""
    row = ["" if v is None else v for v in values]
    ws.append(row)
    for cell in ws[ws.max_row]:
        if formula_like(cell.value):
            cell.data_type = "s"  # openpyxl made it a formula ("f"): make it text again
            cell.quotePrefix = True
