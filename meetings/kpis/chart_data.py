"""The KPI dashboard's interactive charts as data: labels for people, values, tables.

The same figures as the report's SVG charts (``meetings.kpis.reports.charts_svg``:
coverage, BC3.1, agencies, trend), as plain data for the page's Chart.js charts and
for the table beside each one. Labels are series titles (with their district) and
agency names, never ids. Bar charts list the lowest rate first — the instances and
agencies to follow up — and those without data (an empty denominator) last; the page
shows the first ``TOP`` and a 顯示全部 toggle. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meetings.kpis.formulas import KpiReport
from meetings.kpis.reports import KEY_ZH, SCALAR_KEYS, row_label

TOP = 10  # bars shown before 顯示全部
NO_DATA = "無資料"


@dataclass(frozen=True)
class Dataset:
    label: str
    values: tuple[float | int | None, ...]
    kind: str = "bar"  # or "line" (the trend's 個案研討次數, on its own axis)


@dataclass(frozen=True)
class Chart:
    """One chart: ``kind`` "rates" (horizontal bars, percent) or "trend" (by month)."""

    key: str
    title: str
    kind: str
    labels: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    label_header: str

    @property
    def top(self) -> int:
        """How many bars the chart first shows (all of them for the trend)."""
        return TOP if self.kind == "rates" else len(self.labels)

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """The chart's data as a table: one line per label, one column per dataset."""
        header = [self.label_header, *(d.label for d in self.datasets)]
        body = [
            [label, *(NO_DATA if d.values[i] is None else d.values[i] for d in self.datasets)]
            for i, label in enumerate(self.labels)
        ]
        return header, body

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "top": self.top,
            "labels": list(self.labels),
            "datasets": [
                {"label": d.label, "data": list(d.values), "type": d.kind} for d in self.datasets
            ],
        }


def rate_chart(
    key: str, title: str, label_header: str, items: Sequence[tuple[str, float | None]]
) -> Chart:
    """Horizontal percentage bars, lowest first, those without data last."""
    ordered = sorted(items, key=lambda item: (item[1] is None, item[1] or 0.0, item[0]))
    return Chart(
        key=key,
        title=title,
        kind="rates",
        labels=tuple(label for label, _ in ordered),
        datasets=(Dataset(title, tuple(value for _, value in ordered)),),
        label_header=label_header,
    )


def trend_chart(report: KpiReport) -> Chart:
    months = report.monthly
    return Chart(
        key="trend",
        title=f"民國{report.roc_year}年 月別會議召開情形",
        kind="trend",
        labels=tuple(f"{m.month}月" for m in months),
        datasets=(
            Dataset("應召開次數", tuple(m.scheduled for m in months)),
            Dataset("實際召開次數", tuple(m.held for m in months)),
            Dataset("個案研討次數", tuple(m.case_discussions for m in months), "line"),
        ),
        label_header="月份",
    )


def dashboard_charts(report: KpiReport) -> list[Chart]:
    """The dashboard's charts, in the report's order: coverage, BC3.1, agencies, trend."""
    rows = [(row_label(report, r), r.as_row()) for r in report.rows]
    agencies = report.total.as_row()["agency_attendance_rate"]
    return [
        rate_chart(
            "coverage",
            "各會議如期召開率(%)",
            "會議",
            [(label, data["held_on_schedule_rate"]) for label, data in rows],
        ),
        rate_chart(
            "bc31",
            "各會議列管案件納入討論比率(%)（BC3.1）",
            "會議",
            [(label, data["listed_case_discussion_rate"]) for label, data in rows],
        ),
        rate_chart(
            "agencies",
            "各機關出席率(%)",
            "機關",
            [(report.agency_names.get(code, code), value) for code, value in agencies.items()],
        ),
        trend_chart(report),
    ]


def kpi_rows(report: KpiReport) -> tuple[list[str], list[list[Any]]]:
    """The KPI table for the page: each row named by its title and district, no ids."""
    header = ["會議", "行政區", *(KEY_ZH[k] for k in SCALAR_KEYS)]
    body = [
        [row_label(report, row), row.district or "", *(row.as_row()[k] for k in SCALAR_KEYS)]
        for row in [*report.rows, report.total]
    ]
    return header, body
