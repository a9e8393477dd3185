"""Reading case exports (CSV in UTF-8/Big5, or xlsx) into validated rows.

Every problem is reported as ``FILE:ROW: column: message`` (row 1 is the header);
names are masked as each row is read and the full name is never kept or echoed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from meetings.cases.masking import mask_name
from meetings.kernel.rocdate import parse_date

COLUMNS = (
    "case_no",
    "case_type",
    "district",
    "name",
    "sdm_risk",
    "tipvda_score",
    "service",
    "status",
    "agency",
    "worker",
    "reported_at",
    "rereported_at",
    "order_expiry",
    "listed_reason",
)
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
STATUSES = {"開案": "開案", "處遇中": "開案", "結案": "結案", "open": "開案", "closed": "結案"}
TIPVDA_MAX = 15  # 臺灣親密關係暴力危險評估表: 15 yes/no items
CASE_NO = re.compile(r"^[0-9A-Za-z\u3400-\u9fff][0-9A-Za-z\u3400-\u9fff_./-]{0,63}$")
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
    listed_reason: str | None


def parse_case_date(text: str) -> date:
    """2023-03-08, 2023/03/08, 112/03/08, 112年3月8日 → date."""
    m = _GREGORIAN_SLASH.match(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise ValueError(f"not a valid date: {text!r} ({exc})") from None
    return parse_date(text)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _decode(raw: bytes, filename: str) -> str:
    for enc in ("utf-8-sig", "cp950"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise CaseFileError([f"{filename}:1: encoding: not UTF-8 or Big5 (CP950) text"])


def read_rows(path: Path) -> tuple[list[str], Iterator[list[str]], int]:
    """Header, data rows (as text) and the number of data rows of a CSV or xlsx file."""
    name = str(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise CaseFileError([f"{name}:1: file: not a readable xlsx workbook ({exc})"]) from None
        ws = wb.worksheets[0]
        rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
        wb.close()
    else:
        text = _decode(path.read_bytes(), name)
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise CaseFileError([f"{name}:{line}: file: NUL character (not a text file?)"])
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            rows = [[c.strip() for c in r] for r in reader]
        except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB limit
            raise CaseFileError(
                [f"{name}:{reader.line_num}: file: not readable CSV ({exc})"]
            ) from None
    while rows and not any(rows[-1]):
        rows.pop()
    if not rows:
        raise CaseFileError([f"{name}:1: file: empty (expected a header row)"])
    header = [h.strip().lower() for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    return header, iter(rows[1:]), len(rows) - 1


def parse_cases(
    path: Path, districts: Sequence[str], progress: Progress | None = None
) -> list[CaseRow]:
    """Validate a whole file; raise CaseFileError listing every bad row."""
    name = str(path)
    header, rows, total = read_rows(path)
    errors: list[str] = []
    unknown = [h for h in header if h not in COLUMNS]
    for h in unknown:
        errors.append(f"{name}:1: {h or '(empty)'}: unknown column (known: {', '.join(COLUMNS)})")
    for h in REQUIRED:
        if h not in header:
            errors.append(f"{name}:1: {h}: required column missing")
    dupes = sorted({h for h in header if header.count(h) > 1})
    for h in dupes:
        errors.append(f"{name}:1: {h}: column appears twice")
    if errors:
        raise CaseFileError(errors)
    index = {h: i for i, h in enumerate(header)}
    known_districts = set(districts)
    seen: dict[str, int] = {}
    out: list[CaseRow] = []
    for n, cells in enumerate(rows, start=2):
        if progress is not None and (n - 1) % 1000 == 0:
            progress(n - 1, total)
        if not any(cells):
            continue
        row_errors: list[str] = []

        def err(column: str, message: str, n: int = n, row_errors: list[str] = row_errors) -> None:
            row_errors.append(f"{name}:{n}: {column}: {message}")

        if len(cells) > len(header) and any(cells[len(header) :]):
            err("row", f"{len(cells)} cells but the header has {len(header)} columns")

        def get(column: str, cells: list[str] = cells) -> str:
            i = index.get(column)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        def opt_date(column: str) -> date | None:
            text = get(column)
            if not text:
                return None
            try:
                return parse_case_date(text)
            except ValueError as exc:
                err(column, str(exc))
                return None

        case_no = get("case_no")
        if not case_no:
            err("case_no", "required")
        elif not CASE_NO.match(case_no):
            err("case_no", f"not a case number: {case_no!r} (letters, digits, - _ . /)")
        elif case_no in seen:
            err("case_no", f"duplicate case_no {case_no!r} (also on row {seen[case_no]})")
        else:
            seen[case_no] = n
        case_type = get("case_type")
        if case_type not in CASE_TYPES:
            err(
                "case_type",
                f"unknown case type {case_type!r} (one of {'、'.join(CASE_TYPES)})"
                if case_type
                else "required",
            )
        district = get("district")
        if not district:
            err("district", "required")
        elif district not in known_districts:
            err("district", f"unknown district {district!r} for this city")
        raw_name = get("name")
        masked = mask_name(raw_name)
        del raw_name
        if masked is not None and len(masked) > 50:
            err("name", "longer than 50 characters")
        risk_text = get("sdm_risk")
        risk = SDM_RISKS.get(risk_text) if risk_text else None
        if risk_text and risk is None:
            err("sdm_risk", f"unknown SDM risk {risk_text!r} (高, 中 or 低)")
        score_text = get("tipvda_score")
        score: int | None = None
        if score_text:
            try:
                score = int(score_text)
            except ValueError:
                err("tipvda_score", f"not a whole number: {score_text!r}")
            else:
                if not 0 <= score <= TIPVDA_MAX:
                    err("tipvda_score", f"must be between 0 and {TIPVDA_MAX}, got {score}")
        status_text = get("status") or "開案"
        status = STATUSES.get(status_text)
        if status is None:
            err("status", f"unknown status {status_text!r} (開案, 處遇中 or 結案)")
        reported_at = opt_date("reported_at")
        if reported_at is None and not get("reported_at"):
            err("reported_at", "required")
        rereported_at = opt_date("rereported_at")
        order_expiry = opt_date("order_expiry")
        if reported_at and rereported_at and rereported_at < reported_at:
            err("rereported_at", "is before reported_at")
        for column, limit in (("service", 50), ("agency", 100), ("worker", 50)):
            if len(get(column)) > limit:
                err(column, f"longer than {limit} characters")
        if row_errors:
            errors.extend(row_errors)
            continue
        assert reported_at is not None and status is not None
        out.append(
            CaseRow(
                row=n,
                case_no=case_no,
                case_type=case_type,
                district=district,
                masked_name=masked,
                sdm_risk=risk,
                tipvda_score=score,
                service=get("service") or None,
                status=status,
                agency=get("agency") or None,
                worker=get("worker") or None,
                reported_at=reported_at,
                rereported_at=rereported_at,
                order_expiry=order_expiry,
                listed_reason=get("listed_reason") or None,
            )
        )
    if progress is not None:
        progress(total, total)
    if errors:
        raise CaseFileError(errors)
    return out
