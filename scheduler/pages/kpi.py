"""The KPI dashboard (SPEC §7) for the secretariat, and the same report as xlsx.

The figures are those of `liaison kpi` (``meetings.kpis.reports``), so the page and the
printed report always agree; the page draws them as interactive charts (Chart.js, served
from ``static/``, over ``meetings.kpis.chart_data``), each with its table, where the
printed report keeps its static SVG.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.access.principals import Scope
from meetings.db import Series
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import format_roc_date, gregorian_year, roc_year
from meetings.kernel.vocabulary import Role
from meetings.kpis.chart_data import dashboard_charts, kpi_rows
from meetings.kpis.formulas import KpiReport
from meetings.kpis.grant_sheets import grant_xlsx_bytes
from meetings.kpis.grants import grant_report
from meetings.kpis.queries import compute_kpis
from meetings.kpis.reports import (
    MEDIA_TYPES,
    kpi_report_bytes,
    report_title,
    target_table,
)
from scheduler.pages.localdays import viewer_today
from scheduler.pages.rendering import render
from scheduler.pages.session import CurrentVisit, PageRefused, finish

router = APIRouter(include_in_schema=False)
KpiParams = tuple[int, str | None, str | None]


def kpi_params(params: dict[str, str], today: date) -> KpiParams:
    """(Gregorian year, series, district) from the query string (the year of ``today``
    when none is given)."""
    raw = params.get("year", "").strip()
    try:
        year = gregorian_year(int(raw)) if raw else today.year
    except ValueError:
        raise OperationError(f"年度：不是數字（{raw[:10]!r}），請寫 112 或 2023") from None
    if not 1912 <= year <= 2200:
        raise OperationError(f"年度超出範圍：{raw[:10]}")
    series_id = params.get("series", "").strip() or None
    district = params.get("district", "").strip() or None
    return year, series_id, district


def kpi_city(session: Session, scope: Scope, params: dict[str, str]) -> tuple[int | None, str]:
    """The one city a KPI page counts, and its name: the viewer's own city; a ministry
    viewer picks one (``?city=NAME``, else the first by name). Never pooled."""
    cities = scope.city_names(session)
    wanted = params.get("city", "").strip()
    for cid, name in cities:
        if name == wanted:
            return cid, name
    if wanted and not scope.all_cities:
        raise PageRefused(404, "找不到這個縣市。")
    if wanted:
        raise OperationError("未知的縣市")
    return cities[0] if cities else (None, "")


def _report(
    session: Session, params: dict[str, str], today: date, city_id: int | None
) -> KpiReport:
    year, series_id, district = kpi_params(params, today)
    return compute_kpis(session, year, series_id=series_id, district=district, city_id=city_id)


def _summary(report: KpiReport) -> list[tuple[str, object]]:
    total = report.total.as_row()
    return [
        ("應召開次數", total["meetings_scheduled"]),
        ("實際召開次數", total["meetings_held"]),
        ("如期召開率(%)", total["held_on_schedule_rate"]),
        ("應出席機關出席率(%)", total["required_attendance_rate"]),
        ("個案研討案數", total["cases_discussed"]),
        ("會議紀錄如期完成率(%)", total["minutes_on_time_rate"]),
    ]


def _query(report: KpiReport, city: str) -> dict[str, str]:
    """The report's filters as a query string's fields (the xlsx link)."""
    fields = (
        ("city", city),
        ("year", str(report.roc_year)),
        ("series", report.series_filter or ""),
        ("district", report.district_filter or ""),
    )
    return {k: value for k, value in fields if value}


@router.get("/kpi")
def kpi(v: CurrentVisit, request: Request) -> Response:
    user = v.require(Role.SECRETARIAT)
    params = dict(request.query_params)
    error = None
    with v.site.app.transaction() as session:
        today = viewer_today(session, user.email, v.site.now())
        city_id, city = kpi_city(session, user.scope, params)
        try:
            report = _report(session, params, today, city_id)
        except OperationError as exc:
            error = str(exc)
            report = _report(session, {}, today, city_id)
        all_series = session.execute(
            select(Series.id, Series.title)
            .where(Series.city_id == city_id, user.scope.series())
            .order_by(Series.id)
        ).all()
        cities = [name for _cid, name in user.scope.city_names(session)]
    header, body = kpi_rows(report)
    charts = dashboard_charts(report)
    targets_header, targets_body = target_table(report)
    if error:
        v.flashes.append(("error", error))
    return render(
        v,
        "kpi.html",
        title=f"{city} {report_title(report)}".strip(),
        city=city,
        city_options=cities if user.scope.all_cities else [],
        year=report.roc_year,
        as_of=format_roc_date(report.as_of),
        summary=_summary(report),
        charts=charts,
        chart_data=[c.as_json() for c in charts],
        header=header,
        body=body,
        targets_header=targets_header,
        targets_body=targets_body,
        xlsx_url="/kpi.xlsx?" + urlencode(_query(report, city)),
        grant_url="/kpi/grant.xlsx?" + urlencode({"city": city, "year": str(report.roc_year)}),
        series_options=all_series,
        f={"series": report.series_filter or "", "district": report.district_filter or ""},
    )


def _workbook(
    v: CurrentVisit,
    request: Request,
    build: Callable[[Session, int, KpiParams, int | None], bytes],
    stem: str,
) -> Response:
    """An xlsx download of the viewer's city for the year asked (a bad year → 400)."""
    user = v.require(Role.SECRETARIAT)
    params = dict(request.query_params)
    with v.site.app.transaction() as session:
        try:
            today = viewer_today(session, user.email, v.site.now())
            asked = kpi_params(params, today)
            city_id, _city = kpi_city(session, user.scope, params)
            data = build(session, asked[0], asked, city_id)
        except OperationError as exc:
            raise PageRefused(400, str(exc)) from None
    name = f"{stem}-{roc_year(asked[0])}.xlsx"
    return finish(
        v,
        Response(
            data,
            media_type=MEDIA_TYPES["xlsx"],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        ),
    )


def _kpi_workbook(session: Session, year: int, asked: KpiParams, city_id: int | None) -> bytes:
    _year, series_id, district = asked
    data, _media = kpi_report_bytes(
        session, year, "xlsx", series_id=series_id, district=district, city_id=city_id
    )
    return data


def _grant_workbook(session: Session, year: int, _asked: KpiParams, city_id: int | None) -> bytes:
    return grant_xlsx_bytes(grant_report(session, year, city_id=city_id))


@router.get("/kpi.xlsx")
def kpi_xlsx(v: CurrentVisit, request: Request) -> Response:
    return _workbook(v, request, _kpi_workbook, "kpi")


@router.get("/kpi/grant.xlsx")
def grant_xlsx(v: CurrentVisit, request: Request) -> Response:
    """The grant report (補助成果) of the year: sessions, hours, participants per kind."""
    return _workbook(v, request, _grant_workbook, "grant")
