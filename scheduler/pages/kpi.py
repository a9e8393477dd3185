"""The KPI dashboard (SPEC §7) for the secretariat, and the same report as xlsx.

The charts and the table are those of `liaison kpi` (``meetings.kpis.reports``), so
the page and the printed report always agree.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Series
from meetings.kernel.errors import OperationError
from meetings.kernel.rocdate import format_roc_date, gregorian_year, roc_year
from meetings.kernel.vocabulary import Role
from meetings.kpis.formulas import KpiReport
from meetings.kpis.queries import compute_kpis
from meetings.kpis.reports import charts_svg, kpi_report_bytes, kpi_table, report_title
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


def _report(session: Session, params: dict[str, str], today: date) -> KpiReport:
    year, series_id, district = kpi_params(params, today)
    return compute_kpis(session, year, series_id=series_id, district=district)


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


def _query(report: KpiReport) -> dict[str, str]:
    """The report's filters as a query string's fields (the xlsx link)."""
    fields = (
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
        try:
            report = _report(session, params, today)
        except OperationError as exc:
            error = str(exc)
            report = _report(session, {}, today)
        all_series = session.execute(
            select(Series.id, Series.title).order_by(Series.city_id, Series.id)
        ).all()
    header, body = kpi_table(report)
    if error:
        v.flashes.append(("error", error))
    return render(
        v,
        "kpi.html",
        title=report_title(report),
        year=report.roc_year,
        as_of=format_roc_date(report.as_of),
        summary=_summary(report),
        charts=[Markup(svg.strip()) for svg in charts_svg(report).values()],
        header=header,
        body=body,
        xlsx_url="/kpi.xlsx?" + urlencode(_query(report)),
        series_options=all_series,
        f={"series": report.series_filter or "", "district": report.district_filter or ""},
    )


@router.get("/kpi.xlsx")
def kpi_xlsx(v: CurrentVisit, request: Request) -> Response:
    user = v.require(Role.SECRETARIAT)
    with v.site.app.transaction() as session:
        try:
            today = viewer_today(session, user.email, v.site.now())
            year, series_id, district = kpi_params(dict(request.query_params), today)
            data, media_type = kpi_report_bytes(
                session, year, "xlsx", series_id=series_id, district=district
            )
        except OperationError as exc:
            raise PageRefused(400, str(exc)) from None
    name = f"kpi-{roc_year(year)}.xlsx"
    return finish(
        v,
        Response(
            data,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        ),
    )
