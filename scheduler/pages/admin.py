"""The admin's pages: every series as understood, ad-hoc meetings, office closures.

A closure is previewed first: the same writer runs in a transaction that is rolled back,
so the preview shows exactly what confirming will move.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import City, Closure, Occurrence, Series
from meetings.kernel.errors import OperationError
from meetings.kernel.localtime import local, local_today
from meetings.kernel.rocdate import (
    FIRST_DAY,
    LAST_DAY,
    DayOutOfRange,
    check_day,
    format_duration_zh,
    format_roc_date,
    format_roc_datetime,
    format_roc_time,
)
from meetings.kernel.vocabulary import Role
from meetings.schedule.adhoc import add_adhoc_meeting
from meetings.schedule.closures import add_closure
from meetings.schedule.explain import explain_series
from meetings.schedule.registry import SpecRegistry
from meetings.schedule.spans import parse_duration, parse_time_of_day
from scheduler.pages.localdays import viewer_today
from scheduler.pages.rendering import (
    Text,
    all_districts,
    date_field,
    meeting_url,
    redirect,
    render,
)
from scheduler.pages.session import CurrentVisit, Visit
from scheduler.serialization import city_conflicts_json

router = APIRouter(include_in_schema=False)
CLOSURES_SHOWN = timedelta(days=365)  # the closures list goes back a year
# The meetings a closure may move lie days from it; this margin (in UTC, wider than any
# zone's offset) only bounds the snapshot of their times before the move.
SNAPSHOT_MARGIN = timedelta(days=62)


# -- series ---------------------------------------------------------------------------------


def explained(session: Session, series: Series, now: datetime) -> dict[str, Any]:
    """What `liaison series explain` prints, shaped for the admin page (from the series'
    city's today); a series that cannot be read says why instead of hiding the others."""
    try:
        out = explain_series(session, series, local_today(now, series.city.timezone))
        out["policy"] = out["policy_zh"]
        start = parse_time_of_day(out["time"])
        out["when_zh"] = format_roc_time(datetime.combine(date.min, start))
        out["duration_zh"] = format_duration_zh(
            int(parse_duration(out["duration"]).total_seconds() // 60)
        )
        for inst in out["instances"]:
            inst["next"] = [d["roc"] for d in inst["next"]]
    except Exception as exc:  # one odd series must not hide the others
        return {
            "id": series.id,
            "city": series.city.name,
            "title": series.title,
            "error": str(exc)[:200],
            "active": series.active,
            "instances": [],
        }
    return {**out, "active": series.active}


@router.get("/admin")
def admin_series(v: CurrentVisit) -> Response:
    scope = v.require(Role.ADMIN).scope
    with v.site.app.transaction() as session:
        series = session.scalars(
            select(Series).where(scope.series()).order_by(Series.city_id, Series.id)
        ).all()
        shown = [explained(session, s, v.site.now()) for s in series]
        clashes = upcoming_conflicts(session, scope.city_names(session), v.site.now())
    return render(v, "admin_series.html", series=shown, conflicts=clashes)


def upcoming_conflicts(
    session: Session, cities: list[tuple[int, str]], now: datetime
) -> list[dict[str, Any]]:
    """Double-bookings from each city's today to the end of next year (as the CLI's)."""
    registry = SpecRegistry(session)
    out: list[dict[str, Any]] = []
    for city_id, _name in cities:
        city = session.get(City, city_id)
        assert city is not None
        today = local_today(now, city.timezone)
        out += city_conflicts_json(
            session, registry, city, today, date(today.year + 1, 12, 31), now
        )
    for c in out:
        for side in ("first", "second"):
            c[side]["url"] = meeting_url(c[side]["uid"])
    return out


# -- ad-hoc meetings -------------------------------------------------------------------------


def adhoc_form(v: Visit, values: dict[str, str], status: int = 200) -> Response:
    scope = v.require(Role.ADMIN).scope
    with v.site.app.transaction() as session:
        options = [
            (s.id, all_districts(s.title), s.city.name)
            for s in session.scalars(
                select(Series)
                .where(Series.active.is_(True), scope.series())
                .order_by(Series.city_id, Series.id)
            )
            if not s.spec.get("trigger")
        ]
    return render(v, "admin_adhoc.html", status=status, options=options, f=values)


@router.get("/admin/adhoc")
def adhoc_get(v: CurrentVisit) -> Response:
    v.require(Role.ADMIN)
    return adhoc_form(v, {})


def _adhoc_time(at: str, duration: str) -> datetime:
    try:
        at_dt = datetime.fromisoformat(at.strip())
        check_day(at_dt.date())
    except DayOutOfRange:
        raise OperationError(f"開會時間超出範圍（{FIRST_DAY} 至 {LAST_DAY}）") from None
    except ValueError:
        raise OperationError(f"開會時間格式錯誤：{at[:30]!r}") from None
    if duration.strip():
        try:
            parse_duration(duration.strip())
        except ValueError as exc:
            raise OperationError(f"會議長度：{exc}") from None
    return at_dt


@router.post("/admin/adhoc")
def adhoc_post(
    v: CurrentVisit,
    series: Text = "",
    at: Text = "",
    district: Text = "",
    duration: Text = "",
    location: Text = "",
    title: Text = "",
    csrf: Text = "",
) -> Response:
    scope = v.require(Role.ADMIN).scope
    v.check_csrf(csrf)
    values = {
        "series": series,
        "at": at,
        "district": district,
        "duration": duration,
        "location": location,
        "title": title,
    }
    try:
        at_dt = _adhoc_time(at, duration)
        with v.site.app.transaction() as session:
            known = session.get(Series, series.strip())
            if known is None or not scope.sees(known.city_id):
                raise OperationError(f"unknown series {series.strip()[:63]!r}")
            occ, warnings = add_adhoc_meeting(
                session,
                series.strip(),
                at_dt,
                v.site.now(),
                district=district.strip() or None,
                duration=duration.strip() or None,
                location=location.strip()[:300] or None,
                title=title.strip()[:300] or None,
            )
            uid = occ.uid
    except OperationError as exc:
        v.flashes.append(("error", f"未新增：{exc}"))
        return adhoc_form(v, values, status=400)
    for w in warnings:
        v.flash("warning", w)
    v.flash("ok", "已新增不定期會議。")
    return redirect(v, meeting_url(uid))


# -- closures --------------------------------------------------------------------------------


def closures_page(
    v: Visit, values: dict[str, str], preview: dict[str, Any] | None = None, status: int = 200
) -> Response:
    user = v.require(Role.ADMIN)
    scope = user.scope
    with v.site.app.transaction() as session:
        since = viewer_today(session, user.email, v.site.now()) - CLOSURES_SHOWN
        names = dict(scope.city_names(session))
        cities = sorted(names.values())
        closures = [
            {
                "day": format_roc_date(c.day),
                "iso": c.day.isoformat(),
                "reason": c.reason,
                "city": names.get(c.city_id, "全部") if c.city_id else "全部",
            }
            for c in session.scalars(
                select(Closure).where(Closure.day >= since).order_by(Closure.day)
            )
            if c.city_id is None or scope.sees(c.city_id)
        ]
    return render(
        v,
        "admin_closures.html",
        status=status,
        cities=cities,
        all_cities=scope.all_cities,
        closures=closures,
        f=values,
        preview=preview,
    )


@router.get("/admin/closures")
def closures_get(v: CurrentVisit) -> Response:
    v.require(Role.ADMIN)
    return closures_page(v, {})


def _change(moved: bool, o: Occurrence, old: datetime | None) -> dict[str, str]:
    """A meeting the closure moves (or else cancels), its times in its city's zone."""
    tz = o.series.city.timezone
    return {
        "title": o.title,
        "url": meeting_url(o.uid),
        "kind": "改期" if moved else "停開",
        "from": format_roc_datetime(local(old, tz)) if old else "—",
        "to": format_roc_datetime(local(o.start_at, tz)) if moved else "—",
    }


def closure_effect(
    session: Session, day: date, reason: str, city: str | None, now: datetime
) -> dict[str, Any]:
    """Run the closure in ``session`` and describe which meetings move (caller decides commit)."""
    lo = datetime.combine(day - SNAPSHOT_MARGIN, time(0), UTC)
    hi = datetime.combine(day + SNAPSHOT_MARGIN, time(0), UTC)
    before = {
        o.uid: o.start_at
        for o in session.scalars(
            select(Occurrence).where(Occurrence.start_at >= lo, Occurrence.start_at < hi)
        )
    }
    report = add_closure(session, day, reason, now, city=city)
    changes = []
    for moved, uids in ((True, report.moved), (False, report.cancelled)):
        for u in uids:
            o = session.scalar(select(Occurrence).where(Occurrence.uid == u))
            if o is not None:
                changes.append(_change(moved, o, before.get(u)))
    return {"changes": changes, "warnings": report.warnings, "day": format_roc_date(day)}


def closure_inputs(v: Visit, day: str, reason: str, city: str) -> tuple[date, str, str | None]:
    """The closure asked for; a city admin closes only their own city (blank: theirs)."""
    d = date_field(day, "日期")
    if not reason.strip():
        raise OperationError("請填寫停班原因（例如：颱風停班）")
    scope = v.require(Role.ADMIN).scope
    wanted = city.strip() or None
    if scope.all_cities:
        return d, reason.strip()[:200], wanted
    with v.site.app.transaction() as session:
        own = [name for _cid, name in scope.city_names(session)]
    if wanted is None and len(own) == 1:
        wanted = own[0]
    if wanted not in own:
        raise OperationError("未知的縣市（僅能設定本縣市）")
    return d, reason.strip()[:200], wanted


@router.post("/admin/closures/preview")
def closures_preview(
    v: CurrentVisit, day: Text = "", reason: Text = "", city: Text = "", csrf: Text = ""
) -> Response:
    """What the closure would move, computed in a transaction that is rolled back."""
    v.require(Role.ADMIN)
    v.check_csrf(csrf)
    values = {"day": day, "reason": reason, "city": city}
    try:
        d, why, where = closure_inputs(v, day, reason, city)
        session = v.site.app.sessions()
        try:
            effect = closure_effect(session, d, why, where, v.site.now())
        finally:
            session.rollback()
            session.close()
    except OperationError as exc:
        v.flashes.append(("error", f"無法停班：{exc}"))
        return closures_page(v, values, status=400)
    values["day"] = d.isoformat()
    return closures_page(v, values, preview=effect)


@router.post("/admin/closures")
def closures_add(
    v: CurrentVisit, day: Text = "", reason: Text = "", city: Text = "", csrf: Text = ""
) -> Response:
    v.require(Role.ADMIN)
    v.check_csrf(csrf)
    values = {"day": day, "reason": reason, "city": city}
    try:
        d, why, where = closure_inputs(v, day, reason, city)
        with v.site.app.transaction() as session:
            effect = closure_effect(session, d, why, where, v.site.now())
    except OperationError as exc:
        v.flashes.append(("error", f"無法停班：{exc}"))
        return closures_page(v, values, status=400)
    moved = sum(1 for c in effect["changes"] if c["kind"] == "改期")
    stopped = len(effect["changes"]) - moved
    v.flash("ok", f"已設定 {effect['day']} 停班：{moved} 場會議改期，{stopped} 場停開。")
    return redirect(v, "/admin/closures")
