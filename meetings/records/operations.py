"""Writers for what happens at and after a meeting: attendance, minutes, action items.

Like ``meetings.schedule.operations`` these work inside the caller's transaction and write an
outbox event for each change. Minutes text never goes into an event (feeds and
emails must not carry it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from meetings.db import (
    ActionItem,
    Agency,
    Attendance,
    HeldMeeting,
    Minutes,
    Occurrence,
    Series,
)
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import parse_date
from meetings.kernel.vocabulary import EventKind
from meetings.schedule.cycles import HELD_AT_MAX_SHIFT, meeting_cycle
from meetings.schedule.declarations import parse_span
from meetings.schedule.events import record as record_event
from meetings.schedule.occurrences import get_occurrence
from meetings.schedule.operations import SpecRegistry, office_calendar_for

STATUSES = ("present", "absent", "delegated")
STATUS_ZH = {"present": "出席", "absent": "缺席", "delegated": "代理出席"}
ATTENDED = ("present", "delegated")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RowErrors(Exception):
    """Rows of an imported file that cannot be accepted (``FILE:ROW: column: message``)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# --- lookups -----------------------------------------------------------------------


def local_date(occ: Occurrence) -> date:
    """The scheduled date of a meeting in its city's time zone."""
    return occ.start_at.astimezone(ZoneInfo(occ.series.city.timezone)).date()


def today_for(occ: Occurrence, now: datetime) -> date:
    """Today (at ``now``) in the meeting's city."""
    return now.astimezone(ZoneInfo(occ.series.city.timezone)).date()


def _agency(session: Session, series: Series, code: str) -> Agency:
    code = code.strip()
    agency = session.scalar(
        select(Agency).where(Agency.city_id == series.city_id, Agency.code == code)
    )
    if agency is None:
        known = ", ".join(
            session.scalars(
                select(Agency.code).where(Agency.city_id == series.city_id).order_by(Agency.code)
            )
        )
        raise OperationError(
            f"unknown agency {code!r} in {series.city.name}"
            + (f" (known: {known})" if known else "")
        )
    return agency


def held_record(session: Session, occ: Occurrence) -> HeldMeeting | None:
    """When and in which cycle the meeting was held, if it was recorded held."""
    return session.get(HeldMeeting, occ.id)


def occurrence_cycle(session: Session, occ: Occurrence) -> tuple[date, date]:
    """The cadence cycle an occurrence belongs to (see ``schedule.cycles.meeting_cycle``)."""
    spec = SpecRegistry(session).spec(occ.series)
    try:
        cadence = spec.instance(occ.instance_key).cadence
    except KeyError:
        cadence = spec.cadence
    return meeting_cycle(cadence, occ.nominal_date)


def minutes_due_on(session: Session, occ: Occurrence, held_on: date) -> date:
    """The last day the minutes of a meeting held on ``held_on`` are on time."""
    spec = SpecRegistry(session).spec(occ.series)
    span = parse_span(spec.decl.minutes_due)
    if span.unit == "d":
        return held_on + timedelta(days=span.amount)
    if span.unit == "w":
        return held_on + timedelta(weeks=span.amount)
    if span.unit == "mo":
        due: date = held_on + relativedelta(months=span.amount)
        return due
    calendar = office_calendar_for(session, occ.series.city_id)
    return calendar.add_working_days(held_on, span.amount)


# --- held ----------------------------------------------------------------------------


def check_held_shift(occ: Occurrence, held_on: date) -> None:
    """Refuse a held date more than a year from the scheduled one (a typo, not a meeting).

    The KPI report relies on this bound to search discussions by date.
    """
    scheduled = local_date(occ)
    if abs(held_on - scheduled) > HELD_AT_MAX_SHIFT:
        raise OperationError(
            f"meeting {occ.uid} was scheduled for {scheduled}; {held_on} is more than "
            f"{HELD_AT_MAX_SHIFT.days} days away (add an ad-hoc meeting instead)"
        )


def mark_held(
    session: Session, occ: Occurrence, now: datetime, held_on: date | None = None
) -> HeldMeeting:
    """Mark a meeting held on ``held_on`` (default: its scheduled date, or as recorded)."""
    if occ.status == "cancelled":
        raise OperationError(f"meeting {occ.uid} is cancelled; it cannot have been held")
    record = held_record(session, occ)
    if held_on is None:
        held_on = record.held_on if record is not None else local_date(occ)
    today = today_for(occ, now)
    if held_on > today:
        raise OperationError(
            f"meeting {occ.uid} is held on {held_on}, after today ({today}); record it once held"
        )
    check_held_shift(occ, held_on)
    changed = occ.status != "held" or record is None or record.held_on != held_on
    if record is None:
        first, last = occurrence_cycle(session, occ)
        record = HeldMeeting(
            occurrence_id=occ.id,
            held_on=held_on,
            cycle_first=first,
            cycle_last=last,
            minutes_due_on=minutes_due_on(session, occ, held_on),
            recorded_at=now,
            updated_at=now,
        )
        session.add(record)
    elif record.held_on != held_on:
        record.held_on = held_on
        record.minutes_due_on = minutes_due_on(session, occ, held_on)
        record.updated_at = now
    if changed:
        occ.status = "held"
        occ.updated_at = now
        record_event(session, EventKind.HELD, occ, now, held_on=held_on.isoformat())
    session.flush()
    return record


# --- attendance ------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceInput:
    uid: str
    agency: str
    status: str
    person: str | None = None
    rank: str | None = None
    held_on: date | None = None


def _check_status(status: str) -> str:
    s = status.strip().lower()
    if s not in STATUSES:
        raise OperationError(f"status must be present, absent or delegated, not {status!r}")
    return s


def _check_person(person: str | None) -> str | None:
    if person is None or not person.strip():
        return None
    p = person.strip().lower()
    if not _EMAIL.match(p):
        raise OperationError(f"person must be an email address, not {person!r}")
    return p


def record_attendance(session: Session, item: AttendanceInput, now: datetime) -> Attendance:
    """Record (or correct) one attendance line; the meeting becomes held."""
    occ = get_occurrence(session, item.uid)
    status = _check_status(item.status)
    person = _check_person(item.person)
    agency = _agency(session, occ.series, item.agency)
    rank = item.rank.strip() if item.rank and item.rank.strip() else None
    if rank is not None and len(rank) > 100:
        raise OperationError("rank is longer than 100 characters")
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


# --- tabular files (csv / xlsx) -----------------------------------------------------------


def read_table(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV (UTF-8 or Big5) or the first sheet of an xlsx, keyed by header.

    Returns (row number in the file, cells); the header is row 1. Unknown or missing
    columns are the caller's to check; header names are lower-cased and stripped.
    """
    if not path.is_file():
        raise RowErrors([f"{path}: no such file"])
    suffix = path.suffix.lower()
    raw_rows: list[list[str]]
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise RowErrors([f"{path}:1: not a readable xlsx file ({exc})"]) from None
        ws = wb.worksheets[0]
        raw_rows = [[_cell_text(c) for c in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    elif suffix in (".csv", ".txt"):
        data = path.read_bytes()
        text = None
        for enc in ("utf-8-sig", "cp950"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise RowErrors([f"{path}:1: cannot read the file as UTF-8 or Big5 (CP950)"])
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise RowErrors([f"{path}:{line}: NUL character (not a text file?)"])
        reader = csv.reader(io.StringIO(text))
        try:
            raw_rows = list(reader)
        except csv.Error as exc:  # e.g. a cell over the csv module's 128 KiB limit
            raise RowErrors([f"{path}:{reader.line_num}: not readable CSV ({exc})"]) from None
    else:
        raise RowErrors([f"{path}: use a .csv or .xlsx file"])
    if not raw_rows:
        raise RowErrors([f"{path}:1: the file is empty"])
    header = [h.strip().lower() for h in raw_rows[0]]
    out: list[tuple[int, dict[str, str]]] = []
    for n, cells in enumerate(raw_rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            row["\0extra"] = "1"
        out.append((n, row))
    return out


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


ATTENDANCE_COLUMNS = ("uid", "agency", "person", "status", "rank", "held_at")
ATTENDANCE_REQUIRED = ("uid", "agency", "status")


@dataclass
class ImportReport:
    rows: int = 0
    meetings: list[str] = field(default_factory=list)


def import_attendance(
    session: Session, path: Path, now: datetime, *, name: str | None = None
) -> ImportReport:
    """Import attendance lines from a file: all rows or none.

    Every bad row is reported (``FILE:ROW: column: message``) in a RowErrors.
    """
    label = name or str(path)
    rows = read_table(path)
    header = list(rows[0][1]) if rows else []
    errors: list[str] = []
    if rows:
        unknown = [h for h in header if h not in ATTENDANCE_COLUMNS and h != "\0extra"]
        missing = [c for c in ATTENDANCE_REQUIRED if c not in header]
        for h in unknown:
            errors.append(
                f"{label}:1: {h}: unknown column (columns: {', '.join(ATTENDANCE_COLUMNS)})"
            )
        for c in missing:
            errors.append(f"{label}:1: {c}: missing column")
        if errors:
            raise RowErrors(errors)
    else:
        raise RowErrors([f"{label}:2: no rows to import"])

    occurrences: dict[str, Occurrence | None] = {}
    agencies: dict[tuple[int, str], bool] = {}
    seen: dict[tuple[str, str, str], int] = {}
    held_dates: dict[str, tuple[date, int]] = {}
    items: list[AttendanceInput] = []
    for n, row in rows:
        where = f"{label}:{n}"
        if "\0extra" in row:
            errors.append(f"{where}: row: more cells than header columns")
        uid = row.get("uid", "")
        occ: Occurrence | None = None
        if not uid:
            errors.append(f"{where}: uid: missing")
        else:
            if uid not in occurrences:
                occurrences[uid] = session.scalar(select(Occurrence).where(Occurrence.uid == uid))
            occ = occurrences[uid]
            if occ is None:
                errors.append(f"{where}: uid: unknown meeting {uid!r}")
            elif occ.status == "cancelled":
                errors.append(f"{where}: uid: meeting {uid} is cancelled")
        code = row.get("agency", "")
        if not code:
            errors.append(f"{where}: agency: missing")
        elif occ is not None:
            key = (occ.series.city_id, code)
            if key not in agencies:
                agencies[key] = (
                    session.scalar(
                        select(Agency.id).where(Agency.city_id == key[0], Agency.code == code)
                    )
                    is not None
                )
            if not agencies[key]:
                errors.append(f"{where}: agency: unknown agency {code!r}")
        status = row.get("status", "").lower()
        if status not in STATUSES:
            errors.append(
                f"{where}: status: must be present, absent or delegated, not {row.get('status', '')!r}"
            )
        person = row.get("person") or None
        if person is not None and not _EMAIL.match(person):
            errors.append(f"{where}: person: not an email address: {person!r}")
        rank = row.get("rank") or None
        if rank is not None and len(rank) > 100:
            errors.append(f"{where}: rank: longer than 100 characters")
        held_on: date | None = None
        if row.get("held_at"):
            try:
                held_on = parse_date(row["held_at"])
            except ValueError as exc:
                errors.append(f"{where}: held_at: {exc}")
            else:
                if occ is not None and held_on > today_for(occ, now):
                    errors.append(f"{where}: held_at: {held_on} is in the future")
                elif occ is not None:
                    try:
                        check_held_shift(occ, held_on)
                    except OperationError as exc:
                        errors.append(f"{where}: held_at: {exc}")
                first = held_dates.setdefault(uid, (held_on, n))
                if first[0] != held_on:
                    errors.append(
                        f"{where}: held_at: {held_on} differs from {first[0]} in row {first[1]}"
                    )
        elif occ is not None and occ.status != "held" and local_date(occ) > today_for(occ, now):
            errors.append(
                f"{where}: uid: meeting {uid} is scheduled for {local_date(occ)}, after today"
            )
        dup_key = (uid, code, (person or "").lower())
        if dup_key in seen:
            errors.append(
                f"{where}: person: same meeting, agency and person as row {seen[dup_key]}"
            )
        else:
            seen[dup_key] = n
        items.append(AttendanceInput(uid, code, status, person, rank, held_on))
    if errors:
        raise RowErrors(errors)
    report = ImportReport()
    for item in items:
        record_attendance(session, item, now)
        report.rows += 1
        if item.uid not in report.meetings:
            report.meetings.append(item.uid)
    return report


# --- minutes --------------------------------------------------------------------------------


def require_held(session: Session, occ: Occurrence, what: str) -> HeldMeeting:
    if occ.status == "cancelled":
        raise OperationError(f"meeting {occ.uid} is cancelled; it has no {what}")
    record = held_record(session, occ)
    if occ.status != "held" or record is None:
        raise OperationError(
            f"meeting {occ.uid} is not recorded as held; record its attendance first "
            f"(liaison attendance record {occ.uid} --agency CODE --status present)"
        )
    return record


def record_minutes(
    session: Session, uid: str, text: str, now: datetime, *, on: date | None = None
) -> Minutes:
    """Store (or revise) the minutes of a held meeting. The first date recorded counts."""
    occ = get_occurrence(session, uid)
    held = require_held(session, occ, "minutes")
    if not text.strip():
        raise OperationError("the minutes file is empty")
    day = on or today_for(occ, now)
    if day < held.held_on:
        raise OperationError(f"minutes dated {day} are before the meeting ({held.held_on})")
    if day > today_for(occ, now):
        raise OperationError(f"--at {day} is in the future")
    row = session.get(Minutes, occ.id)
    if row is None:
        row = Minutes(
            occurrence_id=occ.id,
            text=text,
            recorded_on=day,
            revised_on=day,
            recorded_at=now,
            updated_at=now,
        )
        session.add(row)
        kind = EventKind.MINUTES_RECORDED
    else:
        row.text, row.revised_on, row.updated_at = text, max(day, row.recorded_on), now
        kind = EventKind.MINUTES_REVISED
    session.flush()
    on_time = row.recorded_on <= held.minutes_due_on
    record_event(
        session,
        kind,
        occ,
        now,
        recorded_on=row.recorded_on.isoformat(),
        due_on=held.minutes_due_on.isoformat(),
        on_time=on_time,
    )
    return row


# --- discussions -------------------------------------------------------------------------------


# --- minutes due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingMinutes:
    """A meeting whose minutes deadline has passed without minutes (``minutes_due``)."""

    uid: str
    series_id: str
    title: str
    held: bool  # recorded as held (else: its date passed and nothing was recorded)
    meeting_on: date  # the date held, or the scheduled date
    due_on: date  # the last day the minutes were on time

    def as_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "series": self.series_id,
            "title": self.title,
            "held": self.held,
            "meeting_on": self.meeting_on.isoformat(),
            "due_on": self.due_on.isoformat(),
        }


def meetings_missing_minutes(
    session: Session, now: datetime, *, lookback_days: int = 90
) -> list[MissingMinutes]:
    """Held or past meetings whose minutes are overdue at ``now`` and have no Minutes row.

    The deadline is the series' ``minutes_due`` (default 7d) after the date the meeting
    was held (or, when nothing was recorded, its scheduled date); the minutes are
    missing once that day has ended in the city's time zone. Cancelled meetings never
    owe minutes. Only deadlines in the last ``lookback_days`` days are returned, so a
    daemon does not dig up years of history; oldest deadline first. Reads only.
    """
    # Generous bounds in SQL (deadlines are checked exactly below): minutes_due is days or
    # weeks, so a meeting more than lookback + 120 days old is past any deadline window.
    horizon = now - timedelta(days=lookback_days + 120)
    oldest_due = now.date() - timedelta(days=lookback_days + 1)
    candidates = session.execute(
        select(Occurrence, HeldMeeting)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
        .outerjoin(Minutes, Minutes.occurrence_id == Occurrence.id)
        .where(
            Minutes.occurrence_id.is_(None),
            Occurrence.status != "cancelled",
            Occurrence.start_at < now,
            or_(
                HeldMeeting.minutes_due_on >= oldest_due,
                and_(HeldMeeting.occurrence_id.is_(None), Occurrence.start_at >= horizon),
            ),
        )
        .order_by(Occurrence.start_at, Occurrence.id)
    ).all()
    out: list[MissingMinutes] = []
    for occ, held in candidates:
        today = today_for(occ, now)
        if held is not None:
            meeting_on, due = held.held_on, held.minutes_due_on
        else:
            meeting_on = local_date(occ)
            if meeting_on >= today:
                continue
            due = minutes_due_on(session, occ, meeting_on)
        if due < today and (today - due).days <= lookback_days:
            out.append(
                MissingMinutes(
                    uid=occ.uid,
                    series_id=occ.series_id,
                    title=occ.title,
                    held=held is not None,
                    meeting_on=meeting_on,
                    due_on=due,
                )
            )
    out.sort(key=lambda m: (m.due_on, m.uid))
    return out


# --- action items ----------------------------------------------------------------------------------


def add_action_item(
    session: Session, uid: str, owner: str, due: date, text: str, now: datetime
) -> ActionItem:
    """Add a decision to follow up (決議事項) to a held meeting."""
    occ = get_occurrence(session, uid)
    held = require_held(session, occ, "action items")
    agency = _agency(session, occ.series, owner)
    if not text.strip():
        raise OperationError("the action item text is empty")
    if due < held.held_on:
        raise OperationError(f"--due {due} is before the meeting ({held.held_on})")
    item = ActionItem(
        occurrence_id=occ.id,
        owner_code=agency.code,
        text=text.strip(),
        due_on=due,
        closed_on=None,
        created_at=now,
        closed_at=None,
    )
    session.add(item)
    session.flush()
    record_event(session, EventKind.ACTION_ITEM_ADDED, occ, now, item=item.id, owner=agency.code)
    return item


def close_action_item(
    session: Session, item_id: int, now: datetime, *, on: date | None = None
) -> ActionItem:
    """Close an action item on ``on`` (default: today)."""
    item = session.get(ActionItem, item_id)
    if item is None:
        raise OperationError(f"unknown action item #{item_id}")
    occ = session.get(Occurrence, item.occurrence_id)
    assert occ is not None
    if item.closed_on is not None:
        raise OperationError(f"action item #{item_id} was already closed on {item.closed_on}")
    today = today_for(occ, now)
    day = on or today
    if day > today:
        raise OperationError(f"--at {day} is in the future")
    held = held_record(session, occ)
    if held is not None and day < held.held_on:
        raise OperationError(f"--at {day} is before the meeting ({held.held_on})")
    item.closed_on, item.closed_at = day, now
    session.flush()
    record_event(
        session, EventKind.ACTION_ITEM_CLOSED, occ, now, item=item.id, closed_on=day.isoformat()
    )
    return item


@dataclass(frozen=True)
class ActionItemView:
    """An action item with its meeting, for lists and agendas."""

    id: int
    uid: str
    series: str
    meeting_date: date
    owner: str
    owner_name: str
    text: str
    due_on: date
    closed_on: date | None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "series": self.series,
            "meeting_date": self.meeting_date.isoformat(),
            "owner": self.owner,
            "owner_name": self.owner_name,
            "text": self.text,
            "due": self.due_on.isoformat(),
            "closed": self.closed_on.isoformat() if self.closed_on else None,
            "open": self.is_open,
        }


def _views(session: Session, rows: Iterable[Any]) -> list[ActionItemView]:
    names: dict[tuple[int, str], str] = {}
    out: list[ActionItemView] = []
    for item, occ, held_on, city_id in rows:
        key = (city_id, item.owner_code)
        if key not in names:
            names[key] = (
                session.scalar(
                    select(Agency.name).where(
                        Agency.city_id == city_id, Agency.code == item.owner_code
                    )
                )
                or item.owner_code
            )
        out.append(
            ActionItemView(
                id=item.id,
                uid=occ.uid,
                series=occ.series_id,
                meeting_date=held_on or occ.nominal_date,
                owner=item.owner_code,
                owner_name=names[key],
                text=item.text,
                due_on=item.due_on,
                closed_on=item.closed_on,
            )
        )
    return out


def _item_query() -> Any:
    return (
        select(ActionItem, Occurrence, HeldMeeting.held_on, Series.city_id)
        .join(Occurrence, Occurrence.id == ActionItem.occurrence_id)
        .join(Series, Series.id == Occurrence.series_id)
        .outerjoin(HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id)
    )


def list_action_items(
    session: Session, *, open_only: bool = False, series_id: str | None = None
) -> list[ActionItemView]:
    """Action items, oldest due first."""
    q = _item_query()
    if open_only:
        q = q.where(ActionItem.closed_on.is_(None))
    if series_id is not None:
        q = q.where(Occurrence.series_id == series_id)
    q = q.order_by(ActionItem.due_on, ActionItem.id)
    return _views(session, session.execute(q).all())


def open_action_items(
    session: Session,
    series_id: str,
    before: date | datetime,
    *,
    instance_key: str | None = None,
) -> list[ActionItemView]:
    """Items from earlier held meetings of a series still open on ``before``.

    For section 二 (上次會議決議事項追蹤) of the agenda of a meeting on ``before``:
    items of meetings held before that date, not closed or closed on/after it.
    ``instance_key`` narrows a per-district series to one district's meetings.
    """
    day = before.date() if isinstance(before, datetime) else before
    q = _item_query().where(
        Occurrence.series_id == series_id,
        HeldMeeting.held_on < day,
        (ActionItem.closed_on.is_(None)) | (ActionItem.closed_on >= day),
    )
    if instance_key is not None:
        q = q.where(Occurrence.instance_key == instance_key)
    q = q.order_by(HeldMeeting.held_on, ActionItem.id)
    return _views(session, session.execute(q).all())
