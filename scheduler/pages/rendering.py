"""How a page is drawn: the Jinja2 environment, full-page responses, form fields, rows.

Dates are shown as ROC dates (民國), a meeting's times in its city's zone.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import ColumnElement, and_

from meetings.db import Occurrence
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import (
    FIRST_DAY,
    LAST_DAY,
    DayOutOfRange,
    format_roc_date,
    format_roc_time,
    parse_date,
    parse_month,
)
from meetings.kernel.templating import make_environment
from meetings.kernel.vocabulary import ATTENDANCE_ZH, ROLE_ZH, OccurrenceStatus, Origin
from meetings.records.queue import awaits_record
from scheduler.pages.session import Visit, finish
from scheduler.serialization import occurrence_json

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Served at /static/ (``scheduler.pages.routes``): the pages' scripts and vendored libraries.
STATIC = Path(__file__).resolve().parent / "static"
Text = Annotated[str, Form()]
Texts = Annotated[list[str] | None, Form()]


def environment() -> Environment:
    """The pages' Jinja2 environment (autoescaped; ROC date filters)."""
    env = make_environment(
        FileSystemLoader(str(TEMPLATES)),
        html_extensions=("html", "j2"),
        autoescape_default=True,
        strict=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ROLE_ZH"] = ROLE_ZH
    env.globals["ATTENDANCE_ZH"] = ATTENDANCE_ZH
    env.globals["OccurrenceStatus"] = OccurrenceStatus
    env.globals["CHART_JS"] = "/static/vendor/chart.umd.min.js?v=" + chart_js_version()
    return env


def chart_js_version() -> str:
    """The vendored Chart.js version (``static/vendor/VERSION``, kept by its update.sh)."""
    return (STATIC / "vendor" / "VERSION").read_text(encoding="utf-8").strip()


def render(visit: Visit, name: str, status: int = 200, **context: Any) -> Response:
    """A template as a full page (with the user, the CSRF token and any messages)."""
    page = visit.site.env.get_template(name).render(
        user=visit.user,
        csrf=visit.csrf,
        flashes=visit.take_flashes() + visit.flashes,
        path=visit.request.url.path,
        **context,
    )
    return finish(visit, HTMLResponse(page, status_code=status))


def redirect(visit: Visit, url: str) -> Response:
    return finish(visit, RedirectResponse(url, status_code=303))


def date_field(value: str, label: str) -> date:
    """A date typed in a form (ISO or ROC), or an OperationError naming the field."""
    try:
        return parse_date(value)
    except DayOutOfRange:
        raise OperationError(f"{label}：日期超出範圍（{FIRST_DAY} 至 {LAST_DAY}）") from None
    except ValueError:
        raise OperationError(
            f"{label}：日期格式錯誤（{value[:30]!r}），請寫 2023-03-08 或 112/03/08"
        ) from None


def month_field(value: str, label: str) -> date:
    """A month typed in a form (2023-03 or 112/03) as its first day, or an OperationError
    naming the field."""
    try:
        return parse_month(value)
    except DayOutOfRange:
        raise OperationError(f"{label}：月份超出範圍（{FIRST_DAY} 至 {LAST_DAY}）") from None
    except ValueError:
        raise OperationError(
            f"{label}：月份格式錯誤（{value[:30]!r}），請寫 2023-03 或 112/03"
        ) from None


MAX_ID = 2**63 - 1  # the largest id a database column holds (BIGINT)


def record_id(value: str) -> int | None:
    """A row id from a URL, or None for one no row can have (answered as not found):
    a bigger number would overflow the database driver."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def optional_date(value: str, label: str) -> date | None:
    return date_field(value, label) if value.strip() else None


def meeting_url(uid: str) -> str:
    return "/meetings/" + quote(uid, safe="@")


def all_districts(title: str) -> str:
    """A per-district series' title for a list that covers every district."""
    return title.replace("{district}", "各區").replace("{zone}", "各區")


STATUS_ZH = {
    OccurrenceStatus.SCHEDULED: "預定",
    OccurrenceStatus.HELD: "已召開",
    OccurrenceStatus.CANCELLED: "已取消",
    "unrecorded": "待補登",  # scheduled, started, and nothing recorded yet
}


def status_of(o: Occurrence, now: datetime) -> str:
    """A meeting's status as every page shows it (a STATUS_ZH key): a scheduled meeting
    that has started without a record is 待補登, not still 預定."""
    if awaits_record(o.status, o.start_at, now):  # the work queue's rule too
        return "unrecorded"
    return str(o.status)


def status_where(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL condition of the meetings whose :func:`status_of` is ``status`` (a
    STATUS_ZH key) at ``now``: the same rule, for a list filtered in the database."""
    scheduled = Occurrence.status == OccurrenceStatus.SCHEDULED
    if status == "unrecorded":
        return and_(scheduled, Occurrence.start_at <= now)
    if status == OccurrenceStatus.SCHEDULED:
        return and_(scheduled, Occurrence.start_at > now)
    return Occurrence.status == status


def badges(o: Occurrence, now: datetime) -> list[tuple[str, str]]:
    """(CSS class, label) of a meeting's badges: its status, moved, ad hoc."""
    status = status_of(o, now)
    out: list[tuple[str, str]] = [(status, STATUS_ZH[status])]
    if o.moved_reason and o.status != OccurrenceStatus.CANCELLED:
        out.append(("moved", "已改期"))
    if o.origin == Origin.ADHOC:
        out.append((Origin.ADHOC, "不定期"))
    return out


def occurrence_row(o: Occurrence, staff: bool, now: datetime) -> dict[str, Any]:
    """A meeting as a list row: its JSON form (``scheduler.serialization``) plus what the
    page shows — ROC date and time in its city's zone, badges, link."""
    data = occurrence_json(o, staff=staff)
    start = local(o.start_at, o.series.city.timezone)
    return {
        **data,
        "url": meeting_url(o.uid),
        "district": o.district or o.zone or "",
        "date": format_roc_date(start.date()),
        "time": format_roc_time(start),
        "location": o.location or "",
        "badges": badges(o, now),
        "moved_reason": data.get("moved_reason"),
        "nominal": format_roc_date(o.nominal_date),
    }
