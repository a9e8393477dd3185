"""The secretariat's records of a meeting: attendance, minutes, cases discussed, action items.

Each form runs one domain writer (``meetings.records``) in one transaction: a refused
form changes nothing, and the meeting page says why.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from meetings.db import ActionItem, Occurrence
from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import AttendanceStatus, Role
from meetings.records.action_items import add_action_item, close_action_item
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.deliverables import record_deliverable
from meetings.records.discussions import confirm_agenda_discussions, record_case_discussions
from meetings.records.minutes import record_minutes
from scheduler.pages.meeting import load_meeting
from scheduler.pages.rendering import (
    Text,
    Texts,
    date_field,
    meeting_url,
    optional_date,
    record_id,
    redirect,
)
from scheduler.pages.session import CurrentVisit, PageRefused, Visit

router = APIRouter(include_in_schema=False)
MAX_MINUTES_BYTES = 2_000_000
Writer = Callable[[Session], str]


def write(v: Visit, uid: str, what: str, fn: Writer, screened: list[str] | None = None) -> Response:
    """Run one writer in a transaction on a meeting of the viewer's cities (another city's
    is a 404, changing nothing); flash its outcome; back to the meeting.

    ``screened`` is filled by the writer with what screening redacted from the text it
    stored (``已遮蔽 1 項（電話）``); it is shown only once the transaction committed."""
    user = v.require(Role.SECRETARIAT)
    try:
        with v.site.app.transaction() as session:
            load_meeting(session, uid, user.scope)
            message = fn(session)
    except OperationError as exc:
        v.flash("error", f"{what}未儲存：{exc}")
    else:
        for summary in screened or ():
            # kinds only, never the values: the user learns what they typed was replaced
            v.flash("warning", f"{what}中{summary}：個資已以〔已遮蔽〕取代。")
        v.flash("ok", message)
    return redirect(v, meeting_url(uid))


def _staff_form(v: Visit, csrf: str) -> None:
    v.require(Role.SECRETARIAT)
    v.check_csrf(csrf)


@router.post("/meetings/{uid}/attendance")
def attendance(
    v: CurrentVisit,
    uid: str,
    agency: Texts = None,
    status: Texts = None,
    rank: Texts = None,
    held_on: Text = "",
    csrf: Text = "",
) -> Response:
    """Every invited agency's line at once (one transaction: all or nothing).

    The form sends parallel lists: ``agency``, ``status`` (empty = not recorded)
    and ``rank`` (kept for present and delegated attendance).
    """
    _staff_form(v, csrf)
    now = v.site.now()
    codes, states, ranks = agency or [], status or [], rank or []

    def do(session: Session) -> str:
        day = optional_date(held_on, "實際開會日期")
        if len(states) != len(codes):
            raise OperationError("表單不完整，請重新整理頁面")
        n = 0
        for i, code in enumerate(codes[:200]):
            st = states[i].strip()
            if not st:
                continue
            rk = ranks[i][:100] if i < len(ranks) and st != AttendanceStatus.ABSENT else ""
            record_attendance(
                session,
                AttendanceInput(uid=uid, agency=code, status=st, rank=rk, held_on=day),
                now,
            )
            n += 1
        if n == 0:
            raise OperationError("請至少選擇一個機關的出席情形")
        return f"已記錄 {n} 個機關的出席情形，會議標示為已召開。"

    return write(v, uid, "出席紀錄", do)


@router.post("/meetings/{uid}/minutes")
async def minutes_upload(v: CurrentVisit, uid: str, request: Request) -> Response:
    """Upload the minutes (multipart: ``file``, ``recorded_on``, ``confirm_agenda``,
    ``csrf``). The login and role are checked before the body is read, so a stranger's
    upload is refused unread (``scheduler.web.limits`` then closes the connection)."""
    v.require(Role.SECRETARIAT)
    async with request.form(max_files=1, max_fields=10) as form:
        fields = {k: value for k, value in form.items() if isinstance(value, str)}
        upload = form.get("file")
        data = await upload.read(MAX_MINUTES_BYTES + 1) if isinstance(upload, UploadFile) else b""
    v.check_csrf(fields.get("csrf", ""))
    on = fields.get("recorded_on", "")
    confirm = bool(fields.get("confirm_agenda"))
    return await run_in_threadpool(_save_minutes, v, uid, data, on, confirm)


def _save_minutes(v: Visit, uid: str, data: bytes, recorded_on: str, confirm: bool) -> Response:
    now = v.site.now()
    screened: list[str] = []

    def do(session: Session) -> str:
        if not data:
            raise OperationError("請選擇會議紀錄檔案（.md 或 .txt，UTF-8）")
        if len(data) > MAX_MINUTES_BYTES:
            raise OperationError("檔案超過 2 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise OperationError("檔案不是 UTF-8 文字檔") from None
        day = optional_date(recorded_on, "紀錄日期")
        record_minutes(session, uid, text, now, on=day, warnings=screened)
        extra = ""
        if confirm:
            done = confirm_agenda_discussions(session, uid, now)
            extra = f"；議程上 {len(done)} 案記為已討論"
        return "會議紀錄已儲存" + extra + "。"

    return write(v, uid, "會議紀錄", do, screened)


@router.post("/meetings/{uid}/deliverables")
def deliverable(
    v: CurrentVisit,
    uid: str,
    name: Text = "",
    submitted_on: Text = "",
    note: Text = "",
    csrf: Text = "",
) -> Response:
    """Record that a deliverable (成效檢核表 …) of the held meeting was handed in."""
    _staff_form(v, csrf)
    who = v.require(Role.SECRETARIAT).email
    now = v.site.now()
    screened: list[str] = []

    def do(session: Session) -> str:
        day = optional_date(submitted_on, "繳交日期")
        row = record_deliverable(
            session, uid, name, now, who, on=day, note=note[:2000], warnings=screened
        )
        return f"已登錄{row.name}繳交。"

    return write(v, uid, "應繳資料", do, screened)


@router.post("/meetings/{uid}/discussed")
def discussed(
    v: CurrentVisit, uid: str, case_no: Texts = None, more: Text = "", csrf: Text = ""
) -> Response:
    """Tick the agenda's cases (and/or type case numbers) as discussed at this meeting."""
    _staff_form(v, csrf)
    typed = more.replace("，", ",").replace("、", ",")
    cases = list(case_no or []) + [c for part in typed.split(",") for c in part.split()]
    now = v.site.now()

    def do(session: Session) -> str:
        done = record_case_discussions(session, uid, cases[:500], now)
        return f"已記錄 {len(done)} 案為本次會議討論個案。"

    return write(v, uid, "討論個案", do)


@router.post("/meetings/{uid}/actions")
def action_add(
    v: CurrentVisit,
    uid: str,
    owner: Text = "",
    due: Text = "",
    text: Text = "",
    csrf: Text = "",
) -> Response:
    _staff_form(v, csrf)
    now = v.site.now()
    screened: list[str] = []

    def do(session: Session) -> str:
        if not owner:
            raise OperationError("請選擇主責機關")
        day = date_field(due, "期限")
        item = add_action_item(session, uid, owner, day, text[:2000], now, warnings=screened)
        return f"已新增決議事項 #{item.id}。"

    return write(v, uid, "決議事項", do, screened)


@router.post("/actions/{item_id}/close")
def action_close(v: CurrentVisit, item_id: str, closed_on: Text = "", csrf: Text = "") -> Response:
    _staff_form(v, csrf)
    scope = v.require(Role.SECRETARIAT).scope
    number = record_id(item_id)
    if number is None:
        raise PageRefused(404, "找不到這個決議事項。")
    with v.site.app.transaction() as session:
        item = session.get(ActionItem, number)
        occ = session.get(Occurrence, item.occurrence_id) if item is not None else None
        if occ is None or not scope.sees(occ.series.city_id):
            raise PageRefused(404, "找不到這個決議事項。")
        uid = occ.uid
    now = v.site.now()

    def do(session: Session) -> str:
        close_action_item(session, number, now, on=optional_date(closed_on, "完成日期"))
        return f"決議事項 #{number} 已結案。"

    return write(v, uid, "結案", do)
