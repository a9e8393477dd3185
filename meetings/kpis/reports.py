"""KPI reports: CSV, xlsx (one sheet per table) and a self-contained HTML page.

Text cells that look like formulas are neutralised in CSV and xlsx
(``meetings.kernel.cells``): titles and agency names come from a city's config.

Titles use ROC years. The HTML page inlines its charts as SVG
(``meetings.kpis.charts``), so it needs no network, no scripts and no image files: it
can be attached to a 聯繫會議 work report as is. ``kpi_report_bytes`` is the one entry
point for callers that serve or save a report (CLI, web pages).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from meetings.kernel.cells import append_row, safe_text
from meetings.kernel.rocdate import format_roc_date
from meetings.kpis.charts import bar_chart_svg, trend_chart_svg
from meetings.kpis.formulas import KEYS, KpiReport, RowCounts, YearCounts
from meetings.kpis.queries import compute_kpis, grant_counts
from meetings.kpis.targets import TARGET_ZH, TargetResult, format_goal
from meetings.schedule.targets import TARGET_KEYS

KEY_ZH = {
    "meetings_scheduled": "應召開次數",
    "meetings_held": "實際召開次數",
    "held_on_schedule_rate": "如期召開率(%)",
    "agency_attendance_rate": "機關出席率(%)",
    "required_attendance_rate": "應出席機關出席率(%)",
    "cases_discussed": "個案研討案數",
    "case_discussions": "個案研討次數",
    "listed_case_discussion_rate": "列管案件納入定期會議討論比率(%)",
    "median_days_to_discussion": "列管至討論天數中位數",
    "minutes_on_time_rate": "會議紀錄如期完成率(%)",
    "action_items_closed_on_time_rate": "決議事項如期完成率(%)",
    "meetings_withdrawn": "撤銷場次（結案或事件取代）",
    "deliverables_on_time_rate": "應繳資料如期繳交率(%)",
    "reply_rate": "回條會前回覆率(%)",
    "designated_attendance_rate": "指派人員出席率(%)",
    "representative_continuity": "同一代表連續出席率(%)",
}
# The keys whose value is one rate per agency code; every other key is one number.
AGENCY_KEYS = ("agency_attendance_rate", "representative_continuity")
SCALAR_KEYS = tuple(k for k in KEYS if k not in AGENCY_KEYS)


def _agency_codes(report: KpiReport, key: str = "agency_attendance_rate") -> list[str]:
    return sorted(report.total.as_row()[key])


def row_label(report: KpiReport, row: RowCounts) -> str:
    """A row's name for people: the instance title, or 合計 for the total."""
    if row.series is None:
        return "合計"
    title = row.title or report.series_titles.get(row.series, row.series)
    if row.district and row.district not in title:
        title = f"{title}（{row.district}）"
    return title


def report_title(report: KpiReport) -> str:
    scope = ""
    if report.series_filter:
        scope += f" {report.series_titles.get(report.series_filter, report.series_filter)}"
    if report.district_filter:
        scope += f" {report.district_filter}"
    return f"民國{report.roc_year}年{scope} 網絡會議績效指標報告"


def _cell(value: Any) -> Any:
    return "" if value is None else value


# --- CSV ---------------------------------------------------------------------------------


def render_csv(report: KpiReport) -> str:
    """One line per row (total last); agency rates as agency_attendance_rate[CODE] columns,
    representative_continuity[CODE] after the other keys; then, for each target any row has, target[KEY], numerator[KEY], denominator[KEY] and
    met[KEY] (達成 / 未達成 / 無資料; empty on rows without that target)."""
    codes = _agency_codes(report)
    same = _agency_codes(report, "representative_continuity")
    results = {id(r): {t.key: t for t in report.target_results(r)} for r in _all_rows(report)}
    keys = [k for k in TARGET_KEYS if any(k in by_key for by_key in results.values())]
    header = ["series", "district", *SCALAR_KEYS[:3]]
    header += [f"agency_attendance_rate[{c}]" for c in codes]
    header += list(SCALAR_KEYS[3:])
    header += [f"representative_continuity[{c}]" for c in same]
    header += [f"{part}[{k}]" for k in keys for part in _TARGET_PARTS]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([safe_text(h) for h in header])
    for row in _all_rows(report):
        data = row.as_row()
        line = [_cell(data["series"]), _cell(data["district"])]
        line += [_cell(data[k]) for k in SCALAR_KEYS[:3]]
        line += [_cell(data["agency_attendance_rate"].get(c)) for c in codes]
        line += [_cell(data[k]) for k in SCALAR_KEYS[3:]]
        line += [_cell(data["representative_continuity"].get(c)) for c in same]
        for k in keys:
            line += _target_cells(results[id(row)].get(k))
        w.writerow([safe_text(c) for c in line])
    return buf.getvalue()


_TARGET_PARTS = ("target", "numerator", "denominator", "met")


def _target_cells(t: TargetResult | None) -> list[Any]:
    if t is None:
        return ["" for _ in _TARGET_PARTS]
    return [t.target, _cell(t.figure.numerator), _cell(t.figure.denominator), t.status]


def _all_rows(report: KpiReport) -> list[RowCounts]:
    return [*report.rows, report.total]


# --- tables shared by xlsx and HTML ------------------------------------------------------------


def kpi_table(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    header = ["會議", "系列", "區", *(KEY_ZH[k] for k in SCALAR_KEYS)]
    body = []
    for row in [*report.rows, report.total]:
        data = row.as_row()
        body.append(
            [
                row_label(report, row),
                row.series or "",
                row.district or "",
                *(data[k] for k in SCALAR_KEYS),
            ]
        )
    return header, body


def target_label(key: str) -> str:
    return KEY_ZH.get(key) or TARGET_ZH.get(key, key)


def target_table(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    """Every target beside its figure: the series' rows that have their own, then the
    total (the city's targets, or the one series')."""
    header = ["會議", "指標", "目標", "實際值", "分子", "分母", "達成情形"]
    body: list[list[Any]] = []
    for row in _all_rows(report):
        for t in report.target_results(row):
            f = t.figure
            body.append(
                [
                    row_label(report, row),
                    target_label(t.key),
                    format_goal(t),
                    f.value,
                    f.numerator,
                    f.denominator,
                    t.status,
                ]
            )
    return header, body


def agency_table(
    report: KpiReport, key: str = "agency_attendance_rate"
) -> tuple[list[str], list[list[Any]]]:
    """Agencies × series instances: the attendance rate where the agency is required (or
    another per-agency key: ``representative_continuity`` where it named someone)."""
    codes = _agency_codes(report, key)
    header = ["機關代碼", "機關", *(row_label(report, r) for r in report.rows), "合計"]
    body = []
    for code in codes:
        line: list[Any] = [code, report.agency_names.get(code, code)]
        for row in [*report.rows, report.total]:
            rates = row.as_row()[key]
            line.append(rates.get(code) if code in rates else "—")
        body.append(line)
    return header, body


def monthly_table(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    header = ["月份", "應召開次數", "實際召開次數", "如期召開次數", "個案研討次數"]
    body = [
        [f"{report.roc_year}年{m.month}月", m.scheduled, m.held, m.on_schedule, m.case_discussions]
        for m in report.monthly
    ]
    return header, body


def grant_table(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    """The counts grant reports ask for (衛福部補助成果): per series instance and in total."""
    header = ["會議", "年度", "會議召開次數", "個案研討次數", "個案研討案數"]
    body = [
        [
            row_label(report, row),
            f"{report.roc_year}年",
            row.held,
            row.case_discussions,
            row.cases_discussed,
        ]
        for row in [*report.rows, report.total]
    ]
    return header, body


def history_table(history: Sequence[YearCounts]) -> tuple[list[str], list[list[Any]]]:
    """Grant-report counts per ROC year (補助成果: 會議召開次數, 個案研討次數, 個案研討案數)."""
    header = ["年度", "會議召開次數", "個案研討次數", "個案研討案數"]
    body: list[list[Any]] = [
        [f"{y.roc_year}年", y.meetings_held, y.case_discussions, y.cases_discussed] for y in history
    ]
    return header, body


# --- xlsx ----------------------------------------------------------------------------------------


def xlsx_bytes(report: KpiReport, history: Sequence[YearCounts] = ()) -> bytes:
    """The xlsx workbook: one sheet per table, each titled with the ROC year."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = [
        ("績效指標", "網絡會議績效指標", kpi_table(report)),
        ("機關出席率", "機關出席率(%)", agency_table(report)),
        ("月別趨勢", "月別召開情形", monthly_table(report)),
        ("補助成果統計", "會議及個案研討統計", grant_table(report)),
    ]
    targets = target_table(report)
    if targets[1]:
        sheets.insert(1, ("目標達成", "績效指標目標達成情形", targets))
    continuity = agency_table(report, "representative_continuity")
    if continuity[1]:  # only once seats named someone
        at = [name for name, _, _ in sheets].index("機關出席率") + 1
        sheets.insert(at, ("代表連續性", KEY_ZH["representative_continuity"], continuity))
    if history:
        first_year = history[0].roc_year
        sheets.append(
            (
                "歷年補助成果",
                f"會議及個案研討歷年統計（{first_year}年至{report.roc_year}年）",
                history_table(history),
            )
        )
    first = True
    for name, title, (header, body) in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = name
        append_row(ws, [f"民國{report.roc_year}年 {title}"])
        ws["A1"].font = Font(bold=True, size=14)
        append_row(ws, [f"統計截至 {format_roc_date(report.as_of)}"])
        append_row(ws, header)
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for line in body:
            append_row(ws, line)  # text that looks like a formula stays text
        ws.column_dimensions["A"].width = 36
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- HTML ----------------------------------------------------------------------------------------


def _html_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    rows = []
    for line in body:
        cells = "".join(f"<td>{'—' if v is None else escape(str(v))}</td>" for v in line)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


_CSS = """
body{font-family:"Noto Sans TC","Microsoft JhengHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}
th{background:#eef2f8} td:first-child,th:first-child{text-align:left}
section{margin-bottom:2em} .note{color:#555;font-size:12px}
figure{margin:1em 0} svg{max-width:100%;height:auto}
"""


def charts_svg(report: KpiReport) -> dict[str, str]:
    """The report's charts as inline SVG: coverage, bc31, agencies, trend."""
    return {
        "coverage": bar_chart_svg(
            "coverage",
            "各會議如期召開率(%)",
            [(row_label(report, r), r.as_row()["held_on_schedule_rate"]) for r in report.rows],
        ),
        "bc31": bar_chart_svg(
            "bc31",
            "各會議列管案件納入討論比率(%)（BC3.1）",
            [
                (row_label(report, r), r.as_row()["listed_case_discussion_rate"])
                for r in report.rows
            ],
        ),
        "agencies": bar_chart_svg(
            "agencies",
            "各機關出席率(%)",
            [
                (f"{report.agency_names.get(c, c)}（{c}）", value)
                for c, value in report.total.as_row()["agency_attendance_rate"].items()
            ],
        ),
        "trend": trend_chart_svg(report),
    }


def render_html(report: KpiReport, history: Sequence[YearCounts] = ()) -> str:
    """A self-contained HTML report (inline SVG charts, no scripts or external resources)."""
    title = report_title(report)
    charts = charts_svg(report)
    grant = _html_table(*grant_table(report))
    if history:
        grant += _html_table(*history_table(history))
    sections = [("網絡會議績效指標", _html_table(*kpi_table(report)))]
    targets = target_table(report)
    if targets[1]:
        sections.append(("目標達成情形", _html_table(*targets)))
    sections += [
        (
            "會議涵蓋情形",
            f"<figure>{charts['coverage']}</figure><figure>{charts['bc31']}</figure>",
        ),
        (
            "機關出席率",
            f"<figure>{charts['agencies']}</figure>" + _html_table(*agency_table(report)),
        ),
    ]
    continuity = agency_table(report, "representative_continuity")
    if continuity[1]:  # only once seats named someone
        sections.append((KEY_ZH["representative_continuity"], _html_table(*continuity)))
    sections += [
        (
            "月別趨勢",
            f"<figure>{charts['trend']}</figure>" + _html_table(*monthly_table(report)),
        ),
        ("會議及個案研討統計（補助成果）", grant),
    ]
    body = "".join(f"<section><h2>{escape(h)}</h2>{content}</section>" for h, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="zh-TW"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="note">統計期間：民國{report.roc_year}年1月1日至12月31日；'
        f"列管案件討論統計截至{escape(format_roc_date(report.as_of))}。"
        "比率為百分比（小數一位），分母為0者以「—」表示。</p>"
        f"{body}</body></html>\n"
    )


# --- one entry point --------------------------------------------------------------------------

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


def kpi_report_bytes(
    session: Session,
    year: int,
    fmt: str,
    *,
    series_id: str | None = None,
    district: str | None = None,
    as_of: date | None = None,
    city_id: int | None = None,
) -> tuple[bytes, str]:
    """The KPI report of a year as (content, media type), for the CLI and the web pages.

    ``fmt`` is json, csv, xlsx or html; bad arguments raise OperationError (or ValueError
    for an unknown format). xlsx and html include the grant counts of the last 5 years.
    """
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"format must be one of {', '.join(MEDIA_TYPES)}, not {fmt!r}")
    report = compute_kpis(
        session, year, series_id=series_id, district=district, as_of=as_of, city_id=city_id
    )
    if fmt == "json":
        data = json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n"
        return data.encode("utf-8"), MEDIA_TYPES[fmt]
    if fmt == "csv":
        return render_csv(report).encode("utf-8"), MEDIA_TYPES[fmt]
    history = grant_counts(
        session, year, series_id=series_id, district=district, city_id=report.city_id
    )
    if fmt == "xlsx":
        return xlsx_bytes(report, history), MEDIA_TYPES[fmt]
    return render_html(report, history).encode("utf-8"), MEDIA_TYPES[fmt]
