"""The list of meetings (filters, month groups, pages) and the personal feed link.

Days are local days: each meeting's in its city's zone, "today" in the viewer's. The
filters are the query string (a GET form), so a list can be bookmarked and paged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from meetings.access.feeds import ScopeKind, create_feed_token, feed_urls, revoke_feed_token
from meetings.access.principals import Scope
from meetings.access.tokens import IssuedToken
from meetings.db import FeedToken, Occurrence, Person, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, local_today
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime, format_roc_month
from meetings.kernel.vocabulary import OccurrenceStatus
from scheduler.pages.localdays import CityZones, viewer_timezone
from scheduler.pages.rendering import (
    STATUS_ZH,
    Text,
    all_districts,
    month_field,
    occurrence_row,
    optional_date,
    redirect,
    render,
    status_where,
)
from scheduler.pages.session import CurrentVisit, Viewer, Visit

router = APIRouter(include_in_schema=False)
PER_PAGE = 30  # meetings on one page of the list
MAX_PAGE = 10**6  # a larger page number is a typo, not a page
WEB_LABEL = "web:"  # feed tokens created from the subscribe panel: label "web:{user id}"
DAYS_BEFORE = timedelta(days=14)  # the default list: two weeks back …
DAYS_AFTER = timedelta(days=183)  # … to half a year ahead
STATUS_ORDER = (  # the status filter's choices, in a meeting's life order
    OccurrenceStatus.SCHEDULED,
    "unrecorded",
    OccurrenceStatus.HELD,
    OccurrenceStatus.CANCELLED,
)


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _days(params: dict[str, str], today: date, errors: list[str]) -> tuple[date, date, date | None]:
    """(first day, last day, the month filter's first day or None) of the list: a month
    when one is asked for, else the from/to days, else the default days."""
    month = params.get("month", "").strip()
    if month:
        try:
            first = month_field(month, "月份")
        except OperationError as exc:
            errors.append(str(exc))
        else:
            return first, _month_end(first), first
    try:
        start = optional_date(params.get("from", ""), "起日") or today - DAYS_BEFORE
        end = optional_date(params.get("to", ""), "迄日") or today + DAYS_AFTER
    except OperationError as exc:
        errors.append(str(exc))
        start, end = today - DAYS_BEFORE, today + DAYS_AFTER
    if end < start:
        errors.append("迄日早於起日。")
        end = start + DAYS_AFTER
    return start, end, None


def _page_number(text: str, errors: list[str]) -> int:
    text = text.strip()
    if not text:
        return 1
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    errors.append(f"頁碼：請寫正整數（{text[:30]!r}）。")
    return 1


@dataclass
class Filters:
    """The list's filters from the query string, and what was wrong with them (a wrong
    filter is dropped, and the page says so with status 400)."""

    series: str
    district: str
    status: str
    month: date | None
    start: date
    end: date
    page: int
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str], today: date) -> Filters:
        errors: list[str] = []
        start, end, month = _days(params, today, errors)
        status = params.get("status", "").strip()
        if status and status not in STATUS_ZH:
            errors.append(f"狀態：沒有這種狀態（{status[:30]!r}）。")
            status = ""
        page = _page_number(params.get("page", ""), errors)
        series, district = params.get("series", "").strip(), params.get("district", "").strip()
        return cls(series, district, status, month, start, end, page, errors)

    def check(self, series_ids: set[str], districts: set[str]) -> None:
        """Drop a series or district the viewer has none of (another city's, or a typo).
        The message does not repeat it: another city's id reads as any unknown one."""
        if self.series and self.series not in series_ids:
            self.errors.append("會議系列：找不到這個系列，已列出全部系列。")
            self.series = ""
        if self.district and self.district not in districts:
            self.errors.append("行政區／分區：找不到這個地區，已列出全部地區。")
            self.district = ""

    def where(self, session: Session, scope: Scope, now: datetime) -> list[ColumnElement[bool]]:
        where = [scope.occurrences(), CityZones.load(session).starting_on(self.start, self.end)]
        if self.series:
            where.append(Occurrence.series_id == self.series)
        if self.district:
            where.append(
                (Occurrence.district == self.district) | (Occurrence.zone == self.district)
            )
        if self.status:
            where.append(status_where(self.status, now))
        return where

    def form(self) -> dict[str, str]:
        """The filters as the form shows them (and the query string keeps them): a month
        stands for its days, so from/to are left empty beside it."""
        month = self.month.strftime("%Y-%m") if self.month else ""
        return {
            "series": self.series,
            "district": self.district,
            "status": self.status,
            "month": month,
            "from": "" if month else self.start.isoformat(),
            "to": "" if month else self.end.isoformat(),
        }

    def url(self, page: int) -> str:
        """This list's page ``page``, with every filter kept."""
        query = {k: v for k, v in self.form().items() if v}
        if page > 1:
            query["page"] = str(page)
        return "/meetings" + ("?" + urlencode(query) if query else "")


@dataclass
class ListPage:
    """One page of the filtered list: its meetings grouped by local month."""

    total: int
    number: int
    pages: int
    groups: list[dict[str, Any]]


def _list_page(session: Session, f: Filters, scope: Scope, now: datetime, staff: bool) -> ListPage:
    where = f.where(session, scope, now)
    total = session.scalar(select(func.count()).select_from(Occurrence).where(*where)) or 0
    pages = max(1, -(-total // PER_PAGE))
    number = min(f.page, pages)  # past the end (a list that shrank): its last page
    occs = session.scalars(
        select(Occurrence)
        .where(*where)
        .order_by(Occurrence.start_at, Occurrence.uid)
        .offset((number - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    groups: list[dict[str, Any]] = []
    for o in occs:
        month = local(o.start_at, o.series.city.timezone).date().replace(day=1)
        if not groups or groups[-1]["month"] != month:
            groups.append({"month": month, "heading": format_roc_month(month), "rows": []})
        groups[-1]["rows"].append(occurrence_row(o, staff, now))
    return ListPage(total, number, pages, groups)


def _options(session: Session, scope: Scope) -> dict[str, Any]:
    """The filter choices: the viewer's cities' series, districts and zones, statuses."""
    all_series = session.execute(
        select(Series.id, Series.title).where(scope.series()).order_by(Series.city_id, Series.id)
    ).all()
    places = {
        p
        for column in (Occurrence.district, Occurrence.zone)
        for (p,) in session.execute(
            select(column).where(column.is_not(None), scope.occurrences()).distinct()
        )
        if p
    }
    return {
        "series_options": [(sid, all_districts(title)) for sid, title in all_series],
        "districts": sorted(places),
        "status_options": [(s, STATUS_ZH[s]) for s in STATUS_ORDER],
    }


def _web_links(session: Session, user: Viewer) -> list[FeedToken]:
    """The user's live feed links made on this page (oldest first)."""
    return list(
        session.scalars(
            select(FeedToken).where(
                FeedToken.label == f"{WEB_LABEL}{user.id}", FeedToken.revoked_at.is_(None)
            )
        ).all()
    )


def _subscribe_panel(session: Session, user: Viewer, tz: str) -> dict[str, Any]:
    person = session.scalar(
        select(Person)
        .where(func.lower(Person.email) == user.email, user.scope.cities(Person.city_id))
        .order_by(Person.city_id)
        .limit(1)
    )
    links = _web_links(session, user)
    return {
        "person": person.name if person is not None else None,
        "active_since": format_roc_datetime(local(links[-1].created_at, tz)) if links else None,
    }


def meetings_page(
    v: Visit, params: dict[str, str], notice: dict[str, Any] | None = None
) -> Response:
    """The list; ``notice`` is the panel shown first (a new feed link, or its confirmation)."""
    user = v.require()
    now = v.site.now()
    with v.site.app.transaction() as session:
        tz = viewer_timezone(session, user.email)
        f = Filters.parse(params, local_today(now, tz))
        options = _options(session, user.scope)
        f.check({sid for sid, _ in options["series_options"]}, set(options["districts"]))
        listing = _list_page(session, f, user.scope, now, user.staff)
        subscribe = _subscribe_panel(session, user, tz)
    for e in f.errors:
        v.flashes.append(("error", e))
    return render(
        v,
        "meetings.html",
        status=400 if f.errors else 200,  # the list without the wrong filters, and why
        listing=listing,
        per_page=PER_PAGE,
        prev_url=f.url(listing.number - 1) if listing.number > 1 else None,
        next_url=f.url(listing.number + 1) if listing.number < listing.pages else None,
        **options,
        f=f.form(),
        roc_from=format_roc_date(f.start),
        roc_to=format_roc_date(f.end),
        subscribe=subscribe,
        notice=notice,
        errors=f.errors,
    )


@router.get("/meetings")
def meetings(v: CurrentVisit, request: Request) -> Response:
    return meetings_page(v, dict(request.query_params))


def qr_svg(url: str) -> str:
    """``url`` as a QR code in inline SVG (dark on white, quiet zone included)."""
    code = segno.make(url, error="m")
    return code.svg_inline(scale=4, dark="#000", light="#fff", title="行事曆連結的 QR code")


def _new_link(v: Visit, user: Viewer, confirmed: bool) -> tuple[IssuedToken | None, bool]:
    """(the new link, whether older links were revoked); no link and nothing changed
    when the user has a live link and has not confirmed replacing it."""
    now = v.site.now()
    with v.site.app.transaction() as session:
        old = _web_links(session, user)
        if old and not confirmed:
            return None, False
        for token in old:
            revoke_feed_token(session, token.id, now)
        # The person of the user's own city (a ministry login: the only one there is).
        cities = user.scope.city_names(session)
        city = cities[0][1] if len(cities) == 1 else None
        issued = create_feed_token(
            session, ScopeKind.PERSON, user.email, now, city=city, label=f"{WEB_LABEL}{user.id}"
        )
        return issued, bool(old)


@router.post("/meetings/subscribe")
def subscribe(v: CurrentVisit, csrf: Text = "", confirm: Text = "") -> Response:
    """Create the user's personal feed link. When one is live, the first POST only asks
    to confirm (older links from this panel are revoked only with ``confirm=1``)."""
    user = v.require()
    v.check_csrf(csrf)
    try:
        issued, replaced = _new_link(v, user, confirmed=confirm == "1")
    except OperationError:
        v.flash(
            "error",
            "您的帳號未對應到設定檔中的人員（people），無法建立個人行事曆；請洽管理者。",
        )
        return redirect(v, "/meetings")
    if issued is None:
        return meetings_page(v, {}, notice={"kind": "confirm"})
    https, webcal = feed_urls(v.site.app.settings.base_url, issued.token)
    link = {"kind": "link", "https": https, "webcal": webcal, "replaced": replaced}
    return meetings_page(v, {}, notice={**link, "qr": qr_svg(https)})
