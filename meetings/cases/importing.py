"""Reading case exports (CSV in UTF-8/Big5, or xlsx) into validated rows.

Every problem is reported as ``FILE:ROW: column: message`` (row 1 is the header);
names are masked as each row is read and the full name is never kept or echoed;
free text (``listed_reason``) is screened (:mod:`meetings.kernel.screening`). Messages
never quote a district (shifted columns put names there) and quote other cells only
cut short and when they do not look like a name, ID, phone or address. The file is
streamed by :func:`meetings.kernel.tabular.open_table` and so are the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from meetings.cases.masking import mask_name
from meetings.kernel.rocdate import BadDate, check_day, parse_date
from meetings.kernel.screening import quoted, screen
from meetings.kernel.tabular import Table, TableError, open_table
from meetings.kernel.vocabulary import CASE_IMPORT_COLUMNS, CaseStatus

REQUIRED = ("case_no", "case_type", "district", "reported_at")

CASE_TYPES = (
    "兒少保護",
    "家庭暴力",
    "性侵害",
    "性剝削",
    "老人保護",
    "身障保護",
    "高風險家庭",
    "脆弱家庭",
    "偏差行為",
    "其他",
)
SDM_RISKS = {"高": "高", "中": "中", "低": "低", "高風險": "高", "中風險": "中", "低風險": "低"}
STATUSES = {
    "開案": CaseStatus.OPEN,
    "處遇中": CaseStatus.OPEN,
    "結案": CaseStatus.CLOSED,
    "open": CaseStatus.OPEN,
    "closed": CaseStatus.CLOSED,
}
TIPVDA_MAX = 15  # 臺灣親密關係暴力危險評估表: 15 yes/no items
CASE_NO = re.compile(r"^[0-9A-Za-z\u3400-\u9fff][0-9A-Za-z\u3400-\u9fff_./-]{0,63}$")
NAME_MAX = 50  # the masked name
MAX_LENGTHS = {"service": 50, "agency": 100, "worker": 50, "order_type": 30}
PROGRESS_EVERY = 1000
DISTRICTS_SHOWN = 5  # district names an error message lists
_GREGORIAN_SLASH = re.compile(r"^\s*(\d{4})[/.](\d{1,2})[/.](\d{1,2})\s*$")

Progress = Callable[[int, int], None]


class CaseFileError(Exception):
    """A case file that cannot be imported; ``errors`` are FILE:ROW: column: message."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class CaseRow:
    """One validated row. ``masked_name`` only: the full name is not kept."""

    row: int
    case_no: str
    case_type: str
    district: str
    masked_name: str | None
    sdm_risk: str | None
    tipvda_score: int | None
    service: str | None
    status: str
    agency: str | None
    worker: str | None
    reported_at: date
    rereported_at: date | None
    order_expiry: date | None
    order_type: str | None
    listed_reason: str | None


def parse_case_date(text: str) -> date:
    """2023-03-08, 2023/03/08, 112/03/08, 112年3月8日 → date."""
    m = _GREGORIAN_SLASH.match(text)
    if m:
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise BadDate(f"not a valid date ({exc})", str(exc)) from None
        return check_day(day)
    return parse_date(text)


def read_cases(
    path: Path,
    districts: Sequence[str],
    progress: Progress | None = None,
    warnings: list[str] | None = None,
) -> Iterator[CaseRow]:
    """Stream a file's validated rows; raise CaseFileError listing every bad row.

    Rows are yielded as they are read, until the first bad one; the rest of the file
    is still checked (every problem is reported) but yields nothing more. The caller
    writes inside one transaction, so the CaseFileError at the end rolls back what the
    good rows wrote: no list of all rows is ever held. Free text that was screened is
    reported in ``warnings`` (``FILE:ROW: column: 已遮蔽 N 項（…）``).
    """
    try:
        with open_table(path) as table:
            check_header(table.name, table.header)
            yield from _parse_rows(table, set(districts), progress, warnings)
    except TableError as exc:
        raise CaseFileError(exc.errors) from None


def check_header(name: str, header: list[str]) -> None:
    """Refuse unknown, missing required and repeated columns (all of them at once)."""
    known = ", ".join(CASE_IMPORT_COLUMNS)
    errors = [
        f"{name}:1: {h or '(empty)'}: unknown column (known: {known})"
        for h in header
        if h not in CASE_IMPORT_COLUMNS
    ]
    errors += [f"{name}:1: {h}: required column missing" for h in REQUIRED if h not in header]
    errors += [
        f"{name}:1: {h}: column appears twice"
        for h in sorted({h for h in header if header.count(h) > 1})
    ]
    if errors:
        raise CaseFileError(errors)


def _parse_rows(
    table: Table, districts: set[str], progress: Progress | None, warnings: list[str] | None
) -> Iterator[CaseRow]:
    index = {h: i for i, h in enumerate(table.header)}
    seen: dict[str, int] = {}
    errors: list[str] = []
    estimate = table.total or 0
    last = 1
    try:
        for n, cells in table.rows:
            last = n
            if progress is not None and (n - 1) % PROGRESS_EVERY == 0:
                progress(n - 1, max(estimate, n - 1))
            cells_ = _Cells(table.name, n, cells, index)
            row = parse_row(cells_, districts, seen)
            if warnings is not None:
                warnings.extend(cells_.warnings)
            if row is None:
                errors.extend(cells_.errors)
            elif not errors:
                yield row
    except TableError as exc:  # the file broke off (a bad CSV line, a limit)
        raise CaseFileError([*errors, *exc.errors]) from None
    if progress is not None:
        progress(last - 1, last - 1)
    if errors:
        raise CaseFileError(errors)


@dataclass
class _Cells:
    """One data row's cells by column name, and the problems found in them."""

    name: str
    n: int
    cells: list[str]
    index: dict[str, int]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def get(self, column: str) -> str:
        i = self.index.get(column)
        return self.cells[i].strip() if i is not None and i < len(self.cells) else ""

    def err(self, column: str, message: str) -> None:
        self.errors.append(f"{self.name}:{self.n}: {column}: {message}")

    def screened(self, column: str, names: Sequence[str | None]) -> str | None:
        """A free-text cell with IDs, phones, addresses and the case's name redacted."""
        text = self.get(column)
        if not text:
            return None
        found = screen(text, names)
        if found.count:
            self.warnings.append(f"{self.name}:{self.n}: {column}: {found.summary()}")
        return found.text

    def date(self, column: str) -> date | None:
        text = self.get(column)
        if not text:
            return None
        try:
            return parse_case_date(text)
        except BadDate as exc:  # its reason, not its message: that quotes the cell
            self.err(column, f"not a date: {quoted(text)} ({exc.reason})")
            return None


def parse_row(c: _Cells, districts: set[str], seen: dict[str, int]) -> CaseRow | None:
    """The validated row, or None with ``c.errors`` saying why."""
    if len(c.cells) > len(c.index):
        c.err("row", f"{len(c.cells)} cells but the header has {len(c.index)} columns")
    case_no = _case_no(c, seen)
    case_type = c.get("case_type")
    if case_type not in CASE_TYPES:
        c.err(
            "case_type",
            f"unknown case type {quoted(case_type)} (one of {'、'.join(CASE_TYPES)})"
            if case_type
            else "required",
        )
    district = c.get("district")
    if not district:
        c.err("district", "required")
    elif district not in districts:
        # Never the value: shifted columns put the name here.
        shown = "、".join(sorted(districts)[:DISTRICTS_SHOWN])
        more = "、…" if len(districts) > DISTRICTS_SHOWN else ""
        c.err("district", f"unknown district (not one of the city's districts: {shown}{more})")
    full = c.get("name")
    masked = mask_name(full)  # the full name goes no further than this row's checks
    if masked is not None and len(masked) > NAME_MAX:
        c.err("name", f"longer than {NAME_MAX} characters")
    risk, score, status = _risk(c), _score(c), _status(c)
    reported_at, rereported_at, order_expiry = _dates(c)
    for column, limit in MAX_LENGTHS.items():
        if len(c.get(column)) > limit:
            c.err(column, f"longer than {limit} characters")
    if c.errors:
        return None
    assert reported_at is not None and status is not None
    return CaseRow(
        row=c.n,
        case_no=case_no,
        case_type=case_type,
        district=district,
        masked_name=masked,
        sdm_risk=risk,
        tipvda_score=score,
        service=c.get("service") or None,
        status=status,
        agency=c.get("agency") or None,
        worker=c.get("worker") or None,
        reported_at=reported_at,
        rereported_at=rereported_at,
        order_expiry=order_expiry,
        order_type=c.get("order_type") or None,
        listed_reason=c.screened("listed_reason", (full, masked)),
    )


def _case_no(c: _Cells, seen: dict[str, int]) -> str:
    case_no = c.get("case_no")
    if not case_no:
        c.err("case_no", "required")
    elif not CASE_NO.match(case_no):
        c.err("case_no", f"not a case number: {quoted(case_no)} (letters, digits, - _ . /)")
    elif case_no in seen:
        c.err("case_no", f"duplicate case_no {quoted(case_no)} (also on row {seen[case_no]})")
    else:
        seen[case_no] = c.n
    return case_no


def _risk(c: _Cells) -> str | None:
    text = c.get("sdm_risk")
    risk = SDM_RISKS.get(text) if text else None
    if text and risk is None:
        c.err("sdm_risk", f"unknown SDM risk {quoted(text)} (高, 中 or 低)")
    return risk


def _score(c: _Cells) -> int | None:
    text = c.get("tipvda_score")
    if not text:
        return None
    try:
        score = int(text)
    except ValueError:
        c.err("tipvda_score", f"not a whole number: {quoted(text)}")
        return None
    if not 0 <= score <= TIPVDA_MAX:
        c.err("tipvda_score", f"must be between 0 and {TIPVDA_MAX}, got {score}")
    return score


def _status(c: _Cells) -> CaseStatus | None:
    text = c.get("status") or CaseStatus.OPEN
    status = STATUSES.get(text)
    if status is None:
        c.err("status", f"unknown status {quoted(text)} (開案, 處遇中 or 結案)")
    return status


def _dates(c: _Cells) -> tuple[date | None, date | None, date | None]:
    """reported_at (required), rereported_at (not before it) and order_expiry."""
    reported_at = c.date("reported_at")
    if reported_at is None and not c.get("reported_at"):
        c.err("reported_at", "required")
    rereported_at = c.date("rereported_at")
    order_expiry = c.date("order_expiry")
    if reported_at and rereported_at and rereported_at < reported_at:
        c.err("rereported_at", "is before reported_at")
    return reported_at, rereported_at, order_expiry
