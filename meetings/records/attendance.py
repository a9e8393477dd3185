"""Attendance (簽到) of held meetings: one line at a time, or a whole file (all rows or none).

Recording attendance marks the meeting held (``meetings.records.held.mark_held``).
Files are read by the one tabular reader (``meetings.kernel.tabular``), streaming.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, Attendance, Occurrence
from meetings.kernel.emails import is_email, normalise_email
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import parse_date
from meetings.kernel.screening import quoted
from meetings.kernel.tabular import Table, TableError, open_table
from meetings.kernel.vocabulary import AttendanceStatus, OccurrenceStatus
from meetings.records.held import (
    check_held_shift,
    city_agency,
    local_date,
    mark_held,
    today_for,
)
from meetings.schedule.occurrences import get_occurrence

ATTENDANCE_COLUMNS = ("uid", "agency", "person", "status", "rank", "held_at")
ATTENDANCE_REQUIRED = ("uid", "agency", "status")
MAX_RANK = 100
UID_ECHO = 80  # meeting UIDs are long but not personal: quoted further than other cells
_WORDS = [s.value for s in AttendanceStatus]
STATUS_CHOICES = f"{', '.join(_WORDS[:-1])} or {_WORDS[-1]}"  # "present, absent or delegated"


class RowErrors(TableError):
    """Rows of an imported file that cannot be accepted (``FILE:ROW: column: message``)."""


@dataclass(frozen=True)
class AttendanceInput:
    uid: str
    agency: str
    status: str
    person: str | None = None
    rank: str | None = None
    held_on: date | None = None


@dataclass
class ImportReport:
    rows: int = 0
    meetings: list[str] = field(default_factory=list)


# --- one line --------------------------------------------------------------------------


def check_status(status: str) -> AttendanceStatus:
    """An attendance status word (any case), or an OperationError naming the choices."""
    try:
        return AttendanceStatus(status.strip().lower())
    except ValueError:
        raise OperationError(f"status must be {STATUS_CHOICES}, not {status!r}") from None


def check_person(person: str | None) -> str | None:
    """The attendee's normalised email address; None when not given."""
    if person is None or not person.strip():
        return None
    try:
        return normalise_email(person)
    except ValueError:
        raise OperationError(f"person must be an email address, not {person!r}") from None


def record_attendance(session: Session, item: AttendanceInput, now: datetime) -> Attendance:
    """Record (or correct) one attendance line; the meeting becomes held."""
    occ = get_occurrence(session, item.uid)
    status = check_status(item.status)
    person = check_person(item.person)
    agency = city_agency(session, occ.series, item.agency)
    rank = item.rank.strip() if item.rank and item.rank.strip() else None
    if rank is not None and len(rank) > MAX_RANK:
        raise OperationError(f"rank is longer than {MAX_RANK} characters")
    mark_held(session, occ, now, item.held_on)
    q = select(Attendance).where(
        Attendance.occurrence_id == occ.id, Attendance.agency_code == agency.code
    )
    q = q.where(
        Attendance.person_email.is_(None) if person is None else Attendance.person_email == person
    )
    row = session.scalar(q)
    if row is None:
        row = Attendance(
            occurrence_id=occ.id,
            agency_code=agency.code,
            person_email=person,
            status=status,
            rank=rank,
            recorded_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.status, row.rank, row.updated_at = status, rank, now
    session.flush()
    return row


def attendance_of(session: Session, uid: str) -> list[Attendance]:
    """The attendance lines of a meeting, by agency and person."""
    occ = get_occurrence(session, uid)
    return list(
        session.scalars(
            select(Attendance)
            .where(Attendance.occurrence_id == occ.id)
            .order_by(Attendance.agency_code, Attendance.person_email, Attendance.id)
        )
    )


# --- a file --------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    cells: dict[str, str]
    extra: bool  # more cells than the header has columns


def _keyed_rows(table: Table) -> Iterator[_Row]:
    for n, cells in table.rows:
        row = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(table.header) if h}
        yield _Row(n, row, len(cells) > len(table.header))


def _header_errors(name: str, header: list[str]) -> list[str]:
    columns = list(dict.fromkeys(h for h in header if h))
    errors = [
        f"{name}:1: {h}: unknown column (columns: {', '.join(ATTENDANCE_COLUMNS)})"
        for h in columns
        if h not in ATTENDANCE_COLUMNS
    ]
    return errors + [
        f"{name}:1: {c}: missing column" for c in ATTENDANCE_REQUIRED if c not in columns
    ]


@dataclass
class _RowCheck:
    """Checks the rows of one file, remembering what earlier rows looked up and used."""

    session: Session
    now: datetime
    name: str
    errors: list[str] = field(default_factory=list)
    occurrences: dict[str, Occurrence | None] = field(default_factory=dict)
    agencies: dict[tuple[int, str], bool] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], int] = field(default_factory=dict)
    held_dates: dict[str, tuple[date, int]] = field(default_factory=dict)

    def row(self, row: _Row) -> AttendanceInput:
        """The row as an AttendanceInput; its problems are added to ``errors``."""
        where = f"{self.name}:{row.number}"
        if row.extra:
            self.errors.append(f"{where}: row: more cells than header columns")
        cells = row.cells
        uid, code = cells.get("uid", ""), cells.get("agency", "")
        occ = self._meeting(where, uid)
        self._agency(where, occ, code)
        status = cells.get("status", "").lower()
        if status not in _WORDS:
            self.errors.append(
                f"{where}: status: must be {STATUS_CHOICES}, not {quoted(cells.get('status', ''))}"
            )
        person = cells.get("person") or None
        if person is not None and not is_email(person):
            self.errors.append(f"{where}: person: not an email address: {quoted(person)}")
        rank = cells.get("rank") or None
        if rank is not None and len(rank) > MAX_RANK:
            self.errors.append(f"{where}: rank: longer than {MAX_RANK} characters")
        held_on = self._held_on(where, row.number, occ, uid, cells.get("held_at", ""))
        self._duplicate(where, row.number, (uid, code, (person or "").lower()))
        return AttendanceInput(uid, code, status, person, rank, held_on)

    def _meeting(self, where: str, uid: str) -> Occurrence | None:
        if not uid:
            self.errors.append(f"{where}: uid: missing")
            return None
        if uid not in self.occurrences:
            self.occurrences[uid] = self.session.scalar(
                select(Occurrence).where(Occurrence.uid == uid)
            )
        occ = self.occurrences[uid]
        if occ is None:
            self.errors.append(f"{where}: uid: unknown meeting {quoted(uid, UID_ECHO)}")
        elif occ.status == OccurrenceStatus.CANCELLED:
            self.errors.append(f"{where}: uid: meeting {uid} is cancelled")
        return occ

    def _agency(self, where: str, occ: Occurrence | None, code: str) -> None:
        if not code:
            self.errors.append(f"{where}: agency: missing")
            return
        if occ is None:
            return
        key = (occ.series.city_id, code)
        if key not in self.agencies:
            found = self.session.scalar(
                select(Agency.id).where(Agency.city_id == key[0], Agency.code == code)
            )
            self.agencies[key] = found is not None
        if not self.agencies[key]:
            self.errors.append(f"{where}: agency: unknown agency {quoted(code)}")

    def _held_on(
        self, where: str, n: int, occ: Occurrence | None, uid: str, text: str
    ) -> date | None:
        if not text:
            if (
                occ is not None
                and occ.status != OccurrenceStatus.HELD
                and local_date(occ) > today_for(occ, self.now)
            ):
                self.errors.append(
                    f"{where}: uid: meeting {uid} is scheduled for {local_date(occ)}, after today"
                )
            return None
        try:
            held_on = parse_date(text)
        except ValueError as exc:
            self.errors.append(f"{where}: held_at: {exc}")
            return None
        if occ is not None and held_on > today_for(occ, self.now):
            self.errors.append(f"{where}: held_at: {held_on} is in the future")
        elif occ is not None:
            try:
                check_held_shift(occ, held_on)
            except OperationError as exc:
                self.errors.append(f"{where}: held_at: {exc}")
        first = self.held_dates.setdefault(uid, (held_on, n))
        if first[0] != held_on:
            self.errors.append(
                f"{where}: held_at: {held_on} differs from {first[0]} in row {first[1]}"
            )
        return held_on

    def _duplicate(self, where: str, n: int, key: tuple[str, str, str]) -> None:
        if key in self.seen:
            self.errors.append(
                f"{where}: person: same meeting, agency and person as row {self.seen[key]}"
            )
        else:
            self.seen[key] = n


def _check_rows(session: Session, table: Table, now: datetime) -> None:
    """The first pass: every row checked against the database as it is, none kept."""
    rows = _keyed_rows(table)
    first = next(rows, None)
    if first is None:
        raise RowErrors([f"{table.name}:2: no rows to import"])
    errors = _header_errors(table.name, table.header)
    if errors:
        raise RowErrors(errors)
    check = _RowCheck(session, now, table.name)
    for row in chain([first], rows):
        check.row(row)
    if check.errors:
        raise RowErrors(check.errors)


def _items(table: Table) -> Iterator[AttendanceInput]:
    """The second pass: the (already checked) rows as inputs, one at a time."""
    for row in _keyed_rows(table):
        c = row.cells
        held_at = c.get("held_at", "")
        yield AttendanceInput(
            c.get("uid", ""),
            c.get("agency", ""),
            c.get("status", "").lower(),
            c.get("person") or None,
            c.get("rank") or None,
            parse_date(held_at) if held_at else None,
        )


def import_attendance(session: Session, path: Path, now: datetime) -> ImportReport:
    """Import attendance lines from a CSV or xlsx file: all rows or none.

    Every bad row is reported (``FILE:ROW: column: message``) in a RowErrors, and so is
    a file that cannot be read as a table. The file is streamed twice, never held: a
    first pass checks every row, a second records them (each write checks again, so a
    file changed in between fails in the caller's transaction, which rolls back).
    """
    report = ImportReport()
    try:
        with open_table(path) as table:
            _check_rows(session, table, now)
        with open_table(path) as table:
            for item in _items(table):
                record_attendance(session, item, now)
                report.rows += 1
                if item.uid not in report.meetings:
                    report.meetings.append(item.uid)
    except RowErrors:
        raise
    except TableError as exc:  # the file itself: reported the way its rows are
        raise RowErrors(exc.errors) from None
    return report
