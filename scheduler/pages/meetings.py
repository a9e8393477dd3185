"""The list of meetings (filters by series, district and days) and the personal feed link.

Days are local days: each meeting's in its city's zone, "today" in the viewer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meetings.access.feeds import ScopeKind, create_feed_token, feed_urls, revoke_feed_token
from meetings.access.principals import Scope
from meetings.db import FeedToken, Occurrence, Person, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, local_today
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from scheduler.pages.localdays import CityZones, viewer_timezone
from scheduler.pages.rendering import (
    Text,
    all_districts,
    occurrence_row,
    optional_date,
    redirect,
    render,
)
from scheduler.pages.session import CurrentVisit, Viewer, Visit

router = APIRouter(include_in_schema=False)
MAX_ROWS = 500
WEB_LABEL = "web:"  # feed tokens created from the subscribe panel: label "web:{user id}"
DAYS_BEFORE = timedelta(days=14)  # the default list: two weeks back …
DAYS_AFTER = timedelta(days=183)  # … to half a year ahead


@dataclass
class Filters:
    """The list's filters from the query string, and what was wrong with them."""

    series: str
    district: str
    start: date
    end: date
    errors: list[str]

    @classmethod
    def parse(cls, params: dict[str, str], today: date) -> Filters:
        errors: list[str] = []
        try:
            start = optional_date(params.get("from", ""), "起日") or today - DAYS_BEFORE
            end = optional_date(params.get("to", ""), "迄日") or today + DAYS_AFTER
        except OperationError as exc:
            errors.append(str(exc))
            start, end = today - DAYS_BEFORE, today + DAYS_AFTER
        if end < start:
            errors.append("迄日早於起日。")
            end = start + DAYS_AFTER
        series, district = params.get("series", "").strip(), params.get("district", "").strip()
        return cls(series, district, start, end, errors)

    def form(self) -> dict[str, str]:
        return {
            "series": self.series,
            "district": self.district,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
        }


def _occurrences(session: Session, f: Filters, scope: Scope) -> list[Occurrence]:
    """At most MAX_ROWS + 1 meetings of the viewer's cities (one more tells the list it
    was cut)."""
    q = select(Occurrence).where(
        scope.occurrences(), CityZones.load(session).starting_on(f.start, f.end)
    )
    if f.series:
        q = q.where(Occurrence.series_id == f.series)
    if f.district:
        q = q.where((Occurrence.district == f.district) | (Occurrence.zone == f.district))
    q = q.order_by(Occurrence.start_at, Occurrence.uid).limit(MAX_ROWS + 1)
    return list(session.scalars(q).all())


def _options(session: Session, scope: Scope) -> dict[str, Any]:
    """The filter choices: the viewer's cities' series, districts and zones."""
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


def meetings_page(v: Visit, params: dict[str, str], feed: dict[str, str] | None = None) -> Response:
    user = v.require()
    with v.site.app.transaction() as session:
        tz = viewer_timezone(session, user.email)
        f = Filters.parse(params, local_today(v.site.now(), tz))
        occs = _occurrences(session, f, user.scope)
        rows = [occurrence_row(o, user.staff, v.site.now()) for o in occs[:MAX_ROWS]]
        options = _options(session, user.scope)
        subscribe = _subscribe_panel(session, user, tz)
    for e in f.errors:
        v.flashes.append(("error", e))
    return render(
        v,
        "meetings.html",
        status=400 if f.errors else 200,  # the list of the default days, and why
        rows=rows,
        truncated=len(occs) > MAX_ROWS,
        **options,
        f=f.form(),
        roc_from=format_roc_date(f.start),
        roc_to=format_roc_date(f.end),
        subscribe=subscribe,
        feed=feed,
        errors=f.errors,
    )


@router.get("/meetings")
def meetings(v: CurrentVisit, request: Request) -> Response:
    return meetings_page(v, dict(request.query_params))


@router.post("/meetings/subscribe")
def subscribe(v: CurrentVisit, csrf: Text = "") -> Response:
    """Create the user's personal feed link (older links from this panel are revoked)."""
    user = v.require()
    v.check_csrf(csrf)
    now = v.site.now()
    try:
        with v.site.app.transaction() as session:
            for old in _web_links(session, user):
                revoke_feed_token(session, old.id, now)
            # The person of the user's own city (a ministry login: the only one there is).
            cities = user.scope.city_names(session)
            city = cities[0][1] if len(cities) == 1 else None
            issued = create_feed_token(
                session,
                ScopeKind.PERSON,
                user.email,
                now,
                city=city,
                label=f"{WEB_LABEL}{user.id}",
            )
    except OperationError:
        v.flash(
            "error",
            "您的帳號未對應到設定檔中的人員（people），無法建立個人行事曆；請洽管理者。",
        )
        return redirect(v, "/meetings")
    https, webcal = feed_urls(v.site.app.settings.base_url, issued.token)
    return meetings_page(v, {}, feed={"https": https, "webcal": webcal})
