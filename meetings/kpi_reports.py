"""KPI reports: CSV, xlsx (one sheet per table) and a self-contained HTML page.

Titles use ROC years. The HTML charts are inline SVG, so the page needs no network,
no scripts and no image files: it can be attached to a 聯繫會議 work report as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from meetings.kpis import KEYS, KpiReport, RowCounts
from meetings.rocdate import format_roc_date

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
}
SCALAR_KEYS = tuple(k for k in KEYS if k != "agency_attendance_rate")


def _agency_codes(report: KpiReport) -> list[str]:
    return sorted(report.total.agencies)


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
    """One line per row (total last); agency rates as agency_attendance_rate[CODE] columns."""
    codes = _agency_codes(report)
    header = ["series", "district", *SCALAR_KEYS[:3]]
    header += [f"agency_attendance_rate[{c}]" for c in codes]
    header += list(SCALAR_KEYS[3:])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in [*report.rows, report.total]:
        data = row.as_row()
        line = [_cell(data["series"]), _cell(data["district"])]
        line += [_cell(data[k]) for k in SCALAR_KEYS[:3]]
        line += [_cell(data["agency_attendance_rate"].get(c)) for c in codes]
        line += [_cell(data[k]) for k in SCALAR_KEYS[3:]]
        w.writerow(line)
    return buf.getvalue()


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


def agency_table(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    """Agencies × series instances: attendance rate where the agency is required."""
    codes = _agency_codes(report)
    header = ["機關代碼", "機關", *(row_label(report, r) for r in report.rows), "合計"]
    body = []
    for code in codes:
        line: list[Any] = [code, report.agency_names.get(code, code)]
        for row in [*report.rows, report.total]:
            rates = row.as_row()["agency_attendance_rate"]
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


# --- xlsx ----------------------------------------------------------------------------------------


def write_xlsx(report: KpiReport, path: Path) -> None:
    """One sheet per table, each titled with the ROC year."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = [
        ("績效指標", "網絡會議績效指標", kpi_table(report)),
        ("機關出席率", "機關出席率(%)", agency_table(report)),
        ("月別趨勢", "月別召開情形", monthly_table(report)),
        ("補助成果統計", "會議及個案研討統計", grant_table(report)),
    ]
    first = True
    for name, title, (header, body) in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = name
        ws.append([f"民國{report.roc_year}年 {title}"])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([f"統計截至 {format_roc_date(report.as_of)}"])
        ws.append(header)
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for line in body:
            ws.append(["" if v is None else v for v in line])
        ws.column_dimensions["A"].width = 36
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


# --- HTML ----------------------------------------------------------------------------------------


def _html_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    rows = []
    for line in body:
        cells = "".join(f"<td>{'—' if v is None else escape(str(v))}</td>" for v in line)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def bar_chart_svg(
    title: str, items: Sequence[tuple[str, float | None]], *, max_value: float = 100.0
) -> str:
    """Horizontal bars (percentages by default); None is drawn as 無資料."""
    bar_h, gap, label_w, chart_w = 18, 8, 260, 360
    height = 30 + len(items) * (bar_h + gap) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + chart_w + 70}" '
        f'height="{height}" viewBox="0 0 {label_w + chart_w + 70} {height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = 30 + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        if value is None:
            parts.append(
                f'<text x="{label_w + 4}" y="{y + 13}" font-size="12" fill="#888">無資料</text>'
            )
            continue
        w = 0 if max_value <= 0 else round(chart_w * min(value, max_value) / max_value, 1)
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#3b7dd8"/>'
            f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart_svg(report: KpiReport) -> str:
    """Monthly scheduled vs held meetings (grouped columns)."""
    months = report.monthly
    top = max([1, *(m.scheduled for m in months), *(m.held for m in months)])
    col_w, plot_h, left, base = 40, 160, 40, 190
    width = left + col_w * len(months) + 20
    title = f"民國{report.roc_year}年 月別會議召開情形"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="250" '
        f'viewBox="0 0 {width} 250">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#444"/>',
    ]
    for i, m in enumerate(months):
        x = left + i * col_w + 4
        for j, (value, color) in enumerate(((m.scheduled, "#b8c7e0"), (m.held, "#3b7dd8"))):
            h = round(plot_h * value / top, 1)
            parts.append(
                f'<rect x="{x + j * 15}" y="{base - h}" width="14" height="{h}" fill="{color}">'
                f"<title>{m.month}月 {'應召開' if j == 0 else '已召開'} {value}</title></rect>"
            )
        parts.append(
            f'<text x="{x + 14}" y="{base + 16}" font-size="11" text-anchor="middle">'
            f"{m.month}月</text>"
        )
    parts.append(
        f'<rect x="{left}" y="225" width="12" height="12" fill="#b8c7e0"/>'
        f'<text x="{left + 16}" y="236" font-size="12">應召開</text>'
        f'<rect x="{left + 80}" y="225" width="12" height="12" fill="#3b7dd8"/>'
        f'<text x="{left + 96}" y="236" font-size="12">已召開</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:"Noto Sans TC","Microsoft JhengHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}
th{background:#eef2f8} td:first-child,th:first-child{text-align:left}
section{margin-bottom:2em} .note{color:#555;font-size:12px}
"""


def render_html(report: KpiReport) -> str:
    """A self-contained HTML report (inline SVG charts, no external resources)."""
    title = report_title(report)
    coverage = bar_chart_svg(
        "各會議如期召開率(%)",
        [(row_label(report, r), r.as_row()["held_on_schedule_rate"]) for r in report.rows],
    )
    listed = bar_chart_svg(
        "各會議列管案件納入討論比率(%)（BC3.1）",
        [(row_label(report, r), r.as_row()["listed_case_discussion_rate"]) for r in report.rows],
    )
    agencies = bar_chart_svg(
        "各機關出席率(%)",
        [
            (f"{report.agency_names.get(c, c)}（{c}）", rate)
            for c, rate in report.total.as_row()["agency_attendance_rate"].items()
        ],
    )
    sections = [
        ("網絡會議績效指標", _html_table(*kpi_table(report))),
        ("會議涵蓋情形", coverage + listed),
        ("機關出席率", agencies + _html_table(*agency_table(report))),
        ("月別趨勢", trend_chart_svg(report) + _html_table(*monthly_table(report))),
        ("會議及個案研討統計（補助成果）", _html_table(*grant_table(report))),
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
